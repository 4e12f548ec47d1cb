// Browser sign-in (issue 14) through the BUILT worker under Miniflare, against a real OpenID
// provider (npm oidc-provider, tests/fixtures/oidc-provider.mjs) on loopback. The "browser" here is
// fetch with a cookie jar (the real-browser test is tests/interop/signin-browser.sh): sign-in with
// PKCE/state/nonce, the hardened session cookie and page headers, CSRF on every form, a personal
// credential used at the token endpoint with the IdP's groups, revoke, and the refusals: state
// mismatch, replayed callback, tampered cookies, open redirect, a provider refusal, the
// allow-list, a disabled user record, and throttling of failed sign-ins.
//
//   node --test tests/miniflare/signin.test.mjs      (after scripts/build.sh)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { basic, startWorker } from "./helpers.mjs";
import { startProvider } from "../fixtures/oidc-provider.mjs";
import { IdpBrowser, cookieValue, setCookie } from "./signin-browser.mjs";

const SIGNIN_URL = "http://127.0.0.1:8787";
const REDIRECT = `${SIGNIN_URL}/login/callback`;
const SERVICE = "registry.local";
const ACL = [
  { match: { group: "staff", type: "repository", name: "team/*" }, actions: ["pull", "push"], comment: "staff build" },
  { match: { group: "readers", type: "repository", name: "team/*" }, actions: ["pull"] },
  { match: { account: "sso-*", type: "repository", name: "${account}/*" }, actions: ["*"] },
];

let idp;
let w;

function vars(extra = {}) {
  return {
    SIGNIN_PROVIDERS: JSON.stringify([{
      name: "corp", label: "Corp SSO", issuer: idp.url, client_id: idp.clientId,
      account_claim: "preferred_username", prefix: "sso-", groups_claim: "groups",
      scopes: ["profile", "email", "groups"], allow_domains: ["example.com"],
    }]),
    SIGNIN_URL,
    SIGNIN_REGISTRY: "registry.example.com",
    CACHE_TTL: "0",
    ...extra,
  };
}

const secrets = () => ({ SIGNIN_SECRET_CORP: idp.clientSecret, SIGNIN_SESSION_KEY: "x".repeat(48) });

/** GET /login, the provider's login as `who`: the callback path and the login cookie. */
async function toCallback(who, ip = "192.0.2.1") {
  const start = await w.fetch("/login", { redirect: "manual", headers: { "cf-connecting-ip": ip } });
  assert.equal(start.status, 302);
  const login = setCookie(start, "tg_login");
  assert.ok(login, "login cookie");
  const back = await new IdpBrowser(REDIRECT).signIn(start.headers.get("location"), who);
  const u = new URL(back);
  return { path: u.pathname + u.search, login: cookieValue(login), authz: new URL(start.headers.get("location")) };
}

async function callback(path, login, ip = "192.0.2.1") {
  return w.fetch(path, { redirect: "manual", headers: { cookie: `tg_login=${login}`, "cf-connecting-ip": ip } });
}

/** A full sign-in: the session cookie's value. */
async function session(who = "alice") {
  const { path, login } = await toCallback(who);
  const res = await callback(path, login);
  assert.equal(res.status, 303, await res.text());
  assert.equal(res.headers.get("location"), "/account");
  return cookieValue(setCookie(res, "tg_session"));
}

const page = (s, q = "") => w.fetch(`/account${q}`, { redirect: "manual", headers: { cookie: `tg_session=${s}` } });
const csrfOf = (html) => html.match(/name="csrf" value="([^"]+)"/)[1];
const post = (path, s, fields, origin = SIGNIN_URL) => w.fetch(path, {
  method: "POST",
  redirect: "manual",
  headers: { cookie: `tg_session=${s}`, "content-type": "application/x-www-form-urlencoded", origin },
  body: new URLSearchParams(fields).toString(),
});
const token = (user, secret, scope) => w.fetch(
  `/token?service=${SERVICE}&scope=${encodeURIComponent(scope)}&offline_token=true&client_id=docker`,
  { headers: { authorization: basic(user, secret) } },
);
const access = async (res) => {
  const body = await res.json();
  return JSON.parse(Buffer.from(body.token.split(".")[1], "base64url")).access;
};

describe("sign-in with a real OpenID provider", () => {
  before(async () => {
    idp = await startProvider({ redirectUri: REDIRECT });
    w = await startWorker({ vars: vars(), secrets: secrets(), kv: { acl: ACL }, captureStdout: true });
  });
  after(async () => {
    await w?.dispose();
    await idp?.close();
  });

  test("the authorization request carries PKCE S256, state and nonce", async () => {
    const { authz } = await toCallback("alice");
    const q = authz.searchParams;
    assert.equal(q.get("code_challenge_method"), "S256");
    assert.match(q.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.get("state"), /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.get("nonce"), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(q.get("redirect_uri"), REDIRECT);
    assert.equal(q.get("scope"), "openid profile email groups");
  });

  test("sign-in sets an HttpOnly SameSite=Lax session cookie and the page shows who, groups and the ACL", async () => {
    const { path, login } = await toCallback("alice");
    const res = await callback(path, login);
    const c = setCookie(res, "tg_session");
    assert.match(c, /HttpOnly/);
    assert.match(c, /SameSite=Lax/);
    assert.doesNotMatch(c, /Secure/, "plain http on 127.0.0.1 only");
    const p = await page(cookieValue(c));
    assert.equal(p.status, 200);
    assert.equal(p.headers.get("x-frame-options"), "DENY");
    assert.match(p.headers.get("content-security-policy"), /default-src 'none'.*frame-ancestors 'none'/);
    const html = await p.text();
    assert.match(html, /<dd id="account">sso-alice<\/dd>/);
    assert.match(html, /<dd id="groups">dev, staff<\/dd>/);
    assert.match(html, /rule #0 grants \[pull,push\] on repository team\/\* \(staff build\)/);
    assert.match(html, /rule #2 grants \[\*\] on repository sso-alice\/\*/);
    assert.doesNotMatch(html, /<script|https?:\/\/(?!127\.0\.0\.1)/, "no scripts, no third-party assets");
    const line = w.stdout.find((l) => l.includes("signin ok"));
    assert.match(line, /account=sso-alice groups=dev,staff/);
  });

  test("a credential made on the page works at the token endpoint with the IdP groups, until revoked", async () => {
    const s = await session("bob");
    const csrf = csrfOf(await (await page(s)).text());
    const made = await post("/account/credentials", s, { name: "laptop", days: "7", csrf });
    assert.equal(made.status, 200);
    const html = await made.text();
    const secret = html.match(/<pre id="secret">(tgp_[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]+)<\/pre>/)[1];
    assert.equal(Buffer.from(secret.split(".")[1], "base64url").toString(), "sso-bob", "the owner as the hint");
    assert.match(html, /docker login &#39;registry.example.com&#39; --username &#39;sso-bob&#39;/);
    assert.ok(w.stdout.every((l) => !l.includes(secret)), "the credential is never logged");

    let res = await token("sso-bob", secret, "repository:team/app:pull,push");
    assert.equal(res.status, 200);
    const body = await res.clone().json();
    assert.equal(body.refresh_token, undefined, "no refresh token for a personal credential");
    assert.deepEqual(await access(res), [{ type: "repository", name: "team/app", actions: ["pull", "push"] }],
      "bob is in staff (first rule) at the IdP");
    assert.equal((await token("sso-alice", secret, "repository:team/app:pull")).status, 401, "another username");

    const listed = await (await page(s)).text();
    assert.match(listed, /<td>laptop<\/td>/);
    const id = listed.match(/name="id" value="([0-9a-f]{64})"/)[1];
    const revoked = await post("/account/credentials/revoke", s, { id, csrf });
    assert.equal(revoked.status, 200);
    assert.match(await revoked.text(), /Revoked/);
    res = await token("sso-bob", secret, "repository:team/app:pull");
    assert.equal(res.status, 401, "refused right after the revoke (no cache for personal credentials)");
  });

  test("every form needs the session's CSRF token and a same-origin Origin", async () => {
    const s = await session("alice");
    const csrf = csrfOf(await (await page(s)).text());
    assert.equal((await post("/account/credentials", s, { name: "x", days: "1" })).status, 403);
    assert.equal((await post("/account/credentials", s, { name: "x", days: "1", csrf: "forged" })).status, 403);
    assert.equal((await post("/account/credentials", s, { name: "x", days: "1", csrf }, "https://evil.example")).status, 403);
    const other = await session("alice");
    assert.equal((await post("/logout", other, { csrf })).status, 403, "another session's token");
    const out = await post("/logout", s, { csrf });
    assert.equal(out.status, 200);
    assert.match(setCookie(out, "tg_session"), /Max-Age=0/);
    assert.equal((await post("/account/credentials", "garbage", { csrf })).status, 401);
  });

  test("a tampered session cookie is not a session", async () => {
    const s = await session("mallory".replace("mallory", "alice"));
    const [body, tag] = s.split(".");
    const claims = JSON.parse(Buffer.from(body, "base64url"));
    claims.a = "sso-admin";
    const forged = `${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${tag}`;
    const res = await page(forged);
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/login");
  });

  test("state mismatch, a missing login cookie and a replayed callback are refused", async () => {
    let { path, login } = await toCallback("alice");
    const u = new URL(path, SIGNIN_URL);
    u.searchParams.set("state", "A".repeat(43));
    assert.equal((await callback(u.pathname + u.search, login, "198.51.100.1")).status, 401, "state mismatch");
    ({ path, login } = await toCallback("alice"));
    const noCookie = await w.fetch(path, { redirect: "manual", headers: { "cf-connecting-ip": "198.51.100.2" } });
    assert.equal(noCookie.status, 401, "no login cookie");
    ({ path, login } = await toCallback("alice"));
    assert.equal((await callback(path, login, "198.51.100.3")).status, 303);
    const replay = await callback(path, login, "198.51.100.3");
    assert.equal(replay.status, 401, "replayed code");
    assert.match(await replay.text(), /already used/);
    const logs = w.stdout.join("\n");
    assert.ok(!logs.includes(new URL(path, SIGNIN_URL).searchParams.get("code")), "codes are never logged");
  });

  test("no return URL is followed (no open redirect)", async () => {
    for (const evil of ["https://evil.example/", "//evil.example", "/\\evil.example"]) {
      const start = await w.fetch(`/login?return=${encodeURIComponent(evil)}&redirect_uri=${encodeURIComponent(evil)}`, { redirect: "manual" });
      const authz = new URL(start.headers.get("location"));
      assert.equal(authz.searchParams.get("redirect_uri"), REDIRECT);
      const back = await new IdpBrowser(REDIRECT).signIn(authz.href, "alice");
      const u = new URL(back);
      const res = await callback(`${u.pathname}${u.search}&return=${encodeURIComponent(evil)}`, cookieValue(setCookie(start, "tg_login")), "198.51.100.9");
      assert.equal(res.headers.get("location"), "/account", evil);
    }
  });

  test("the allow-list refuses people outside the allowed email domains", async () => {
    const { path, login } = await toCallback("mallory", "198.51.100.20");
    const res = await callback(path, login, "198.51.100.20");
    assert.equal(res.status, 401);
    assert.match(await res.text(), /not allowed to sign in/);
  });

  test("a disabled user record blocks sign-in", async () => {
    await w.kv.put("user:sso-alice", JSON.stringify({ disabled: true }));
    try {
      const { path, login } = await toCallback("alice", "198.51.100.30");
      const res = await callback(path, login, "198.51.100.30");
      assert.equal(res.status, 401);
      assert.match(await res.text(), /disabled/);
    } finally {
      await w.kv.delete("user:sso-alice");
    }
  });

  test("failed sign-ins are throttled per client address", async () => {
    let last;
    for (let i = 0; i < 12; i++) {
      const start = await w.fetch("/login", { redirect: "manual" });
      last = await callback(`/login/callback?code=x&state=wrong`, cookieValue(setCookie(start, "tg_login")), "203.0.113.77");
      if (last.status === 429) break;
    }
    assert.equal(last.status, 429);
    assert.ok(Number(last.headers.get("retry-after")) > 0);
  });
});

// ID tokens a certified provider would never mint (expired, alg-confused, another audience, a
// wrong nonce) come from a scripted provider: discovery, JWKS and a token endpoint that answers
// with whatever ID token the test made for the nonce of the authorization request.
describe("ID token checks (scripted provider)", () => {
  let server;
  let base;
  let mint;
  let key;
  let jwk;
  let w2;
  before(async () => {
    const { createServer } = await import("node:http");
    const jose = await import("jose");
    const pair = await jose.generateKeyPair("ES256");
    key = pair.privateKey;
    jwk = await jose.exportJWK(pair.publicKey);
    server = createServer(async (req, res) => {
      const json = (v) => { res.writeHead(200, { "content-type": "application/json" }); res.end(JSON.stringify(v)); };
      if (req.url === "/.well-known/openid-configuration") {
        return json({ issuer: base, authorization_endpoint: `${base}/auth`, token_endpoint: `${base}/token`, jwks_uri: `${base}/jwks` });
      }
      if (req.url === "/jwks") return json({ keys: [{ ...jwk, kid: "k1", alg: "ES256", use: "sig" }] });
      if (req.url === "/token") return json({ id_token: await mint(), token_type: "Bearer", access_token: "x" });
      res.writeHead(404);
      res.end();
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${server.address().port}`;
    w2 = await startWorker({
      vars: {
        SIGNIN_PROVIDERS: JSON.stringify([{ name: "corp", issuer: base, client_id: "tg", groups_claim: "groups" }]),
        SIGNIN_URL, CACHE_TTL: "0",
      },
      secrets: { SIGNIN_SECRET_CORP: "s", SIGNIN_SESSION_KEY: "y".repeat(48) },
      kv: { acl: ACL },
    });
  });
  after(async () => {
    await w2?.dispose();
    await new Promise((r) => (server ? server.close(r) : r()));
  });

  /** Starts a sign-in and answers the exchange with `make(nonce)`; the callback's status. */
  async function attempt(make, ip) {
    const jose = await import("jose");
    const start = await w2.fetch("/login", { redirect: "manual" });
    const q = new URL(start.headers.get("location")).searchParams;
    mint = () => make(q.get("nonce"), jose);
    const res = await w2.fetch(`/login/callback?code=c&state=${q.get("state")}`, {
      redirect: "manual",
      headers: { cookie: `tg_login=${cookieValue(setCookie(start, "tg_login"))}`, "cf-connecting-ip": ip },
    });
    return res;
  }
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (nonce, extra = {}) => ({ iss: base, aud: "tg", sub: "u1", preferred_username: "carol", nonce,
    iat: now() - 5, exp: now() + 300, groups: ["staff"], ...extra });
  const sign = (jose, c, header = { alg: "ES256", kid: "k1" }) => new jose.SignJWT(c).setProtectedHeader(header).sign(key);
  const unsigned = (header, c) => `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(c)).toString("base64url")}.`;

  test("a valid ID token signs in (the control case)", async () => {
    const res = await attempt((n, jose) => sign(jose, claims(n)), "10.0.0.1");
    assert.equal(res.status, 303, await res.text());
  });

  const refusals = {
    "a wrong nonce": (n, jose) => sign(jose, claims(`${n}x`)),
    "no nonce": (n, jose) => sign(jose, claims(undefined)),
    "an expired ID token": (n, jose) => sign(jose, claims(n, { iat: now() - 4000, exp: now() - 600 })),
    "another audience": (n, jose) => sign(jose, claims(n, { aud: "someone-else" })),
    "another issuer": (n, jose) => sign(jose, claims(n, { iss: "https://evil.example" })),
    "alg none": (n) => unsigned({ alg: "none", kid: "k1" }, claims(n)),
    "alg HS256 keyed with the public key": async (n) => {
      const { createHmac } = await import("node:crypto");
      const head = `${Buffer.from(JSON.stringify({ alg: "HS256", kid: "k1" })).toString("base64url")}.${Buffer.from(JSON.stringify(claims(n))).toString("base64url")}`;
      return `${head}.${createHmac("sha256", JSON.stringify(jwk)).update(head).digest("base64url")}`;
    },
  };
  let ip = 10;
  for (const [what, make] of Object.entries(refusals)) {
    test(`${what} is refused`, async () => {
      ip += 1;
      const res = await attempt(make, `10.0.1.${ip}`);
      assert.equal(res.status, 401, `${what}: ${await res.clone().text()}`);
      assert.equal(setCookie(res, "tg_session"), undefined);
    });
  }
});
