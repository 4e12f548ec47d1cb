// Device login (issue 15, RFC 8628) through the BUILT worker under Miniflare, with the real OpenID
// provider (tests/fixtures/oidc-provider.mjs) for the person's sign-in: a device code, the poll's
// pending and slow_down answers, the /device page sending the person through /login and back,
// Approve with the session's CSRF token, the poll's credential, that credential at GET /token with
// Basic, single use, revocation on /account, a denial, and the paths when sign-in is off.
//
//   node --test tests/miniflare/device.test.mjs      (after scripts/build.sh)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { basic, startWorker } from "./helpers.mjs";
import { startProvider } from "../fixtures/oidc-provider.mjs";
import { IdpBrowser, cookieValue, setCookie } from "./signin-browser.mjs";

const SIGNIN_URL = "http://127.0.0.1:8787";
const REDIRECT = `${SIGNIN_URL}/login/callback`;
const SERVICE = "registry.local";
const CLIENT = "docker-credential-tollgate";
const GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const ACL = [{ match: { group: "staff", type: "repository", name: "team/*" }, actions: ["pull", "push"] }];

let idp;
let w;

const form = (path, fields, headers = {}) => w.fetch(path, {
  method: "POST",
  redirect: "manual",
  headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": "192.0.2.20", ...headers },
  body: new URLSearchParams(fields).toString(),
});
const deviceCode = async () => {
  const res = await form("/device/code", { client_id: CLIENT });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
};
const poll = async (code, client = CLIENT) => {
  const res = await form("/token", { grant_type: GRANT, device_code: code, client_id: client });
  assert.equal(res.headers.get("cache-control"), "no-store");
  return { status: res.status, body: await res.json() };
};
const withSession = (s) => ({ cookie: `tg_session=${s}` });
const csrfOf = (html) => html.match(/name="csrf" value="([^"]+)"/)[1];

/** Opens `path` (a /device URL) signed out, and signs in as `who` the way a browser would: the
 *  page sends it to /login and the callback sends it back. Returns the session and the landing. */
async function signInFrom(path, who) {
  const first = await w.fetch(path, { redirect: "manual" });
  assert.equal(first.status, 303);
  const login = first.headers.get("location");
  assert.match(login, /^\/login\?next=%2Fdevice/);
  const start = await w.fetch(login, { redirect: "manual" });
  assert.equal(start.status, 302);
  const back = new URL(await new IdpBrowser(REDIRECT).signIn(start.headers.get("location"), who));
  const res = await w.fetch(back.pathname + back.search, {
    redirect: "manual",
    headers: { cookie: `tg_login=${cookieValue(setCookie(start, "tg_login"))}`, "cf-connecting-ip": "192.0.2.20" },
  });
  assert.equal(res.status, 303, await res.text());
  return { session: cookieValue(setCookie(res, "tg_session")), landing: res.headers.get("location") };
}

/** Signs in from the code's verification_uri_complete and presses `decision`. */
async function decide(auth, who, decision) {
  const u = new URL(auth.verification_uri_complete);
  const { session, landing } = await signInFrom(u.pathname + u.search, who);
  assert.equal(landing, u.pathname + u.search, "back to the same /device URL");
  const confirm = await w.fetch(landing, { headers: withSession(session) });
  assert.equal(confirm.status, 200);
  const html = await confirm.text();
  const res = await form("/device", { csrf: csrfOf(html), user_code: auth.user_code, decision },
    { ...withSession(session), origin: SIGNIN_URL });
  assert.equal(res.status, 200);
  return { session, html, result: await res.text() };
}

describe("device login with a real OpenID provider", () => {
  before(async () => {
    idp = await startProvider({ redirectUri: REDIRECT });
    w = await startWorker({
      vars: {
        SIGNIN_PROVIDERS: JSON.stringify([{
          name: "corp", issuer: idp.url, client_id: idp.clientId, prefix: "sso-",
          groups_claim: "groups", scopes: ["profile", "email", "groups"],
        }]),
        SIGNIN_URL,
        SIGNIN_REGISTRY: "registry.example.com",
        CACHE_TTL: "0",
      },
      secrets: { SIGNIN_SECRET_CORP: idp.clientSecret, SIGNIN_SESSION_KEY: "x".repeat(48) },
      kv: { acl: ACL },
      captureStdout: true,
    });
  });
  after(async () => {
    await w?.dispose();
    await idp?.close();
  });

  test("code -> sign in -> approve -> the poll's credential works with Basic, once, until revoked", async () => {
    const auth = await deviceCode();
    assert.match(auth.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.equal(auth.verification_uri, `${SIGNIN_URL}/device`);
    assert.equal(auth.verification_uri_complete, `${SIGNIN_URL}/device?user_code=${auth.user_code}`);
    assert.equal(auth.expires_in, 600);
    assert.equal(auth.interval, 5);

    let p = await poll(auth.device_code);
    assert.deepEqual([p.status, p.body.error], [400, "authorization_pending"]);
    p = await poll(auth.device_code);
    assert.deepEqual([p.status, p.body.error], [400, "slow_down"], "polled faster than the interval");
    assert.equal((await poll(auth.device_code, "someone-else")).body.error, "invalid_client");

    const { session, html, result } = await decide(auth, "alice", "approve");
    assert.match(html, new RegExp(`<dd id="user-code">${auth.user_code}</dd>`));
    assert.match(html, new RegExp(`<dd id="client">${CLIENT}</dd>`));
    assert.match(html, /registry\.example\.com/);
    assert.doesNotMatch(html, /<script/);
    assert.match(result, /id="result">Approved/);

    p = await poll(auth.device_code);
    assert.equal(p.status, 200, JSON.stringify(p.body));
    const { username, password, password_expires_at: until, access_token: at } = p.body;
    assert.equal(username, "sso-alice");
    assert.equal(p.body.service, SERVICE);
    assert.match(password, /^tgp_[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(password.split(".")[1], "base64url").toString(), "sso-alice", "the owner as the hint");
    assert.ok(Math.abs(until - (Date.now() / 1000 + 28800)) < 60, "8 hours by default");
    assert.deepEqual(JSON.parse(Buffer.from(at.split(".")[1], "base64url")).access, []);
    assert.equal((await poll(auth.device_code)).body.error, "invalid_grant", "single use");

    const token = () => w.fetch(`/token?service=${SERVICE}&scope=repository:team/app:pull,push`,
      { headers: { authorization: basic(username, password) } });
    let res = await token();
    assert.equal(res.status, 200);
    const granted = JSON.parse(Buffer.from((await res.json()).token.split(".")[1], "base64url")).access;
    assert.deepEqual(granted, [{ type: "repository", name: "team/app", actions: ["pull", "push"] }],
      "alice's IdP group 'staff' reached the ACL");
    for (const secret of [password, auth.device_code]) {
      assert.ok(w.stdout.every((l) => !l.includes(secret)), "no secret is ever logged");
    }
    assert.ok(w.stdout.some((l) => l.includes("device approved account=sso-alice")));

    const account = await (await w.fetch("/account", { headers: withSession(session) })).text();
    assert.match(account, new RegExp(`${CLIENT} \\(device approval `));
    const id = account.match(/name="id" value="([0-9a-f]{64})"/)[1];
    const revoked = await form("/account/credentials/revoke", { id, csrf: csrfOf(account) },
      { ...withSession(session), origin: SIGNIN_URL });
    assert.equal(revoked.status, 200);
    res = await token();
    assert.equal(res.status, 401, "refused once revoked");
  });

  test("a denial answers access_denied and spends the user code", async () => {
    const auth = await deviceCode();
    const { session, result } = await decide(auth, "bob", "deny");
    assert.match(result, /id="result">Denied/);
    assert.equal((await poll(auth.device_code)).body.error, "access_denied");
    const again = await w.fetch(`/device?user_code=${auth.user_code}`, { headers: withSession(session) });
    assert.equal(again.status, 404);
    assert.match(await again.text(), /role="alert">That code is not valid/);
  });
});

describe("device login without sign-in configured", () => {
  test("/device/code is a 404 in OAuth2 shape and the grant is unsupported", async () => {
    const plain = await startWorker({});
    try {
      const code = await plain.fetch("/device/code", { method: "POST", body: "client_id=x",
        headers: { "content-type": "application/x-www-form-urlencoded" } });
      assert.equal(code.status, 404);
      assert.equal((await code.json()).error, "invalid_request");
      const tok = await plain.fetch("/token", { method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: GRANT, device_code: "tgd_x", client_id: "x" }).toString() });
      assert.equal(tok.status, 400);
      assert.equal((await tok.json()).error, "unsupported_grant_type");
    } finally {
      await plain.dispose();
    }
  });
});
