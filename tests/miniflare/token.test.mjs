// The token endpoints of the BUILT worker (scripts/build.sh) under Miniflare: every protocol,
// every refusal, and every issued JWT verified independently with `jose` against the keys the
// worker publishes (JWKS) AND the keys the test generated (helpers.keyFixture), with the header
// `kid` checked against a libtrust key ID computed here.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, exportJWK, jwtVerify } from "jose";
import { basic, keyFixture, libtrustKid, startWorker } from "./helpers.mjs";

const REGISTRY = "registry.local";
const CHARTS = "chartmuseum.local";
const ISSUER = "tollgate-dev";

// Demo credentials from policy/demo.toml (public, demo only): bcrypt cost 10 hashes.
const PASSWORDS = {
  alice: ["alice-demo-pass", "$2b$10$LffUs7B/MgHNcUX/TGSZYu5Udvl1T2wR2PoJ2m4cD1SiTsdCocDrK"],
  bob: ["bob-demo-pass", "$2b$10$JFHrGIkq1H9fUaPZhWgZPOwAyuLWiiACDu.bQgw8frEJk3E8Wc0ny"],
  "disabled-user": ["disabled-demo-pass", "$2b$10$Xn9Mn3KwLrHiRcKaqN0oJe/ljFwtdO9iRymkqDgeN/mkyrFk5dKp6"],
};
const CI_KEY = "tgk_Lsz1CsKo6xnYht2ybBbHfEn8vl5ZdQIszo6se_vOGDk.Y2ktYm90";
const CHART_KEY = "tgk_1TIk6LOvIEHkSqA1Zg0WOvI47ycEwjruD_m15CUvwW0.Y2hhcnQtdXNlcg";

const sha256hex = (s) => createHash("sha256").update(s, "utf8").digest("hex");

const ACL = [
  { match: { type: "repository", name: "org/secret*" }, actions: [], comment: "explicit deny" },
  { match: { type: "repository", name: "public/*" }, actions: ["pull"] },
  { match: { group: "dev", type: "repository", name: "${account}/*" }, actions: ["pull", "push"] },
  { match: { group: "org-writers", type: "repository", name: "org/*" }, actions: ["pull", "push"] },
  { match: { group: "org-readers", type: "repository", name: "org/*" }, actions: ["pull"] },
  { match: { group: "charts", type: "artifact-repository", name: "org1/*" }, actions: ["pull", "push"] },
];

function seed() {
  return {
    "user:alice": { password: PASSWORDS.alice[1], groups: ["dev", "org-writers"], labels: { team: ["platform"] } },
    "user:bob": { password: PASSWORDS.bob[1], groups: ["org-readers"] },
    "user:disabled-user": { password: PASSWORDS["disabled-user"][1], disabled: true, groups: ["org-writers"] },
    "user:ci-bot": { groups: ["org-writers"] },
    "user:chart-user": { groups: ["charts"] },
    [`apikey:${sha256hex(CI_KEY)}`]: { account: "ci-bot", name: "ci", created: 1764316800, expires: null },
    [`apikey:${sha256hex(CHART_KEY)}`]: { account: "chart-user", name: "chartmuseum", created: 1764316800, expires: null },
    acl: ACL,
  };
}

const keys = keyFixture();

/**
 * Verifies a JWT three ways: with the worker's published JWKS, with the fixture key directly
 * (so a JWKS that published the wrong key fails), and checks kid/alg/claims shape.
 */
async function verifyToken(w, jwt, { service = REGISTRY, alg = "ES256", sub } = {}) {
  const header = decodeProtectedHeader(jwt);
  assert.equal(header.alg, alg);
  assert.equal(header.typ ?? "JWT", "JWT");
  const fixtureKey = alg === "ES256" ? keys.es256.publicKey : keys.rs256.publicKey;
  assert.equal(header.kid, libtrustKid(fixtureKey), "kid must be the libtrust key ID of the signing key");
  const jwks = await (await w.fetch("/.well-known/jwks.json")).json();
  const opts = { issuer: ISSUER, audience: service, algorithms: [alg] };
  const viaJwks = await jwtVerify(jwt, createLocalJWKSet(jwks), opts);
  const direct = await jwtVerify(jwt, fixtureKey, opts);
  assert.deepEqual(viaJwks.payload, direct.payload);
  const p = direct.payload;
  assert.equal(typeof p.aud, "string", "aud must be a string (docker-registry 2.8 rejects arrays)");
  for (const claim of ["exp", "nbf", "iat"]) assert.ok(Number.isInteger(p[claim]), `${claim} integer`);
  assert.equal(p.exp - p.iat, 300);
  assert.ok(Math.abs(p.iat - Date.now() / 1000) < 120, "iat is now");
  assert.ok(typeof p.jti === "string" && p.jti.length >= 22, "jti is random and long");
  assert.ok(Array.isArray(p.access));
  if (sub !== undefined) assert.equal(p.sub, sub);
  if (alg === "ES256" && header.x5c) {
    const cert = new X509Certificate(Buffer.from(header.x5c[0], "base64"));
    assert.ok(cert.publicKey.equals(keys.es256.publicKey), "x5c[0] is the signing key's certificate");
  }
  return { header, payload: p };
}

const form = (params) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(params).toString(),
});

async function errorBody(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`error body is not JSON: ${text}`);
  }
}

describe("token endpoints (default settings)", () => {
  let w;
  before(async () => {
    w = await startWorker({ kv: seed() });
  });
  after(async () => w?.dispose());

  test("GET /token with repeated scopes and Basic: merged, verified, x5c present", async () => {
    const q = new URLSearchParams([
      ["service", REGISTRY],
      ["scope", "repository:org/app:pull"],
      ["scope", "repository:org/app:push"],
      ["scope", "repository:alice/tools:pull,push"],
      ["account", "alice"],
      ["client_id", "docker"],
    ]);
    const res = await w.fetch(`/token?${q}`, { headers: { authorization: basic("alice", PASSWORDS.alice[0]) } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    const body = await res.json();
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 300);
    assert.match(body.issued_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(body.refresh_token, undefined);
    const { header, payload } = await verifyToken(w, body.token, { sub: "alice" });
    assert.ok(header.x5c, "SIGNING_CERT is configured, so x5c is sent");
    const byName = Object.fromEntries(payload.access.map((a) => [a.name, a]));
    assert.deepEqual(byName["org/app"].actions.sort(), ["pull", "push"]);
    assert.equal(byName["org/app"].type, "repository");
    assert.deepEqual(byName["alice/tools"].actions.sort(), ["pull", "push"]);
  });

  test("login probe without scope: access []", async () => {
    const res = await w.fetch(`/token?service=${REGISTRY}`, { headers: { authorization: basic("bob", PASSWORDS.bob[0]) } });
    assert.equal(res.status, 200);
    const { payload } = await verifyToken(w, (await res.json()).token, { sub: "bob" });
    assert.deepEqual(payload.access, []);
  });

  test("partial grant is 200 with fewer actions", async () => {
    const res = await w.fetch(`/token?service=${REGISTRY}&scope=repository:org/app:pull,push`, {
      headers: { authorization: basic("bob", PASSWORDS.bob[0]) },
    });
    assert.equal(res.status, 200);
    const { payload } = await verifyToken(w, (await res.json()).token, { sub: "bob" });
    const granted = payload.access.flatMap((a) => a.actions);
    assert.deepEqual(granted, ["pull"]);
  });

  test("explicit deny grants nothing even to a writer", async () => {
    const res = await w.fetch(`/token?service=${REGISTRY}&scope=repository:org/secret-app:pull`, {
      headers: { authorization: basic("alice", PASSWORDS.alice[0]) },
    });
    assert.equal(res.status, 200);
    const { payload } = await verifyToken(w, (await res.json()).token);
    assert.deepEqual(payload.access.flatMap((a) => a.actions), []);
  });

  test("anonymous pull of a public repository, push not granted", async () => {
    const res = await w.fetch(`/token?service=${REGISTRY}&scope=repository:public/busybox:pull,push`);
    assert.equal(res.status, 200);
    const { payload } = await verifyToken(w, (await res.json()).token, { sub: "" });
    assert.deepEqual(payload.access.flatMap((a) => a.actions), ["pull"]);
    const res2 = await w.fetch(`/token?service=${REGISTRY}&scope=repository:org/app:pull`);
    const { payload: p2 } = await verifyToken(w, (await res2.json()).token, { sub: "" });
    assert.deepEqual(p2.access.flatMap((a) => a.actions), []);
  });

  test("API key as the Basic password (docker login with a machine key)", async () => {
    const res = await w.fetch(`/token?service=${REGISTRY}&scope=repository:org/app:push`, {
      headers: { authorization: basic("ci-bot", CI_KEY) },
    });
    assert.equal(res.status, 200);
    const { payload } = await verifyToken(w, (await res.json()).token, { sub: "ci-bot" });
    assert.deepEqual(payload.access.flatMap((a) => a.actions), ["push"]);
    // The key belongs to ci-bot: naming someone else is refused.
    const res2 = await w.fetch(`/token?service=${REGISTRY}`, { headers: { authorization: basic("alice", CI_KEY) } });
    assert.equal(res2.status, 401);
    await res2.arrayBuffer();
  });

  test("POST password grant with a space-separated scope (containerd)", async () => {
    const res = await w.fetch("/token", form({
      grant_type: "password",
      username: "alice",
      password: PASSWORDS.alice[0],
      service: REGISTRY,
      client_id: "containerd-client",
      scope: "repository:org/app:pull repository:org/app:push repository:public/x:pull",
    }));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.expires_in, 300);
    assert.match(body.issued_at, /Z$/);
    assert.equal(body.refresh_token, undefined);
    const scopes = body.scope.split(" ").sort();
    assert.deepEqual(scopes, ["repository:org/app:pull,push", "repository:public/x:pull"]);
    const { payload } = await verifyToken(w, body.access_token, { sub: "alice" });
    assert.equal(payload.access.length, 2);
  });

  test("POST with a chunked body and no Content-Length (skopeo)", async () => {
    const text = new URLSearchParams({
      grant_type: "password", username: "bob", password: PASSWORDS.bob[0], service: REGISTRY,
      scope: "repository:org/app:pull",
    }).toString();
    const enc = new TextEncoder();
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(enc.encode(text.slice(0, 10)));
        c.enqueue(enc.encode(text.slice(10)));
        c.close();
      },
    });
    const res = await w.fetch("/token", {
      method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: stream, duplex: "half",
    });
    assert.equal(res.status, 200);
    const { payload } = await verifyToken(w, (await res.json()).access_token, { sub: "bob" });
    assert.deepEqual(payload.access.flatMap((a) => a.actions), ["pull"]);
  });

  test("refresh token: minted on offline_token=true, stored as a digest, usable, bound to service", async () => {
    const res = await w.fetch(`/token?service=${REGISTRY}&offline_token=true&client_id=docker&account=alice`, {
      headers: { authorization: basic("alice", PASSWORDS.alice[0]) },
    });
    assert.equal(res.status, 200);
    const { refresh_token: rt, token } = await res.json();
    await verifyToken(w, token, { sub: "alice" });
    // 256 random bits, then the account as an untrusted read-ahead hint (issue 17).
    assert.match(rt, /^tgr_[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(rt.split(".")[1], "base64url").toString(), "alice");
    const record = JSON.parse(await w.kv.get(`refresh:${sha256hex(rt)}`));
    assert.equal(record.account, "alice");
    assert.equal(record.service, REGISTRY);
    assert.equal(record.client_id, "docker");
    assert.ok(record.expires > record.created);
    const list = await w.kv.list({ prefix: "refresh:" });
    for (const k of list.keys) assert.ok(!k.name.includes(rt), "the token itself is never a key");

    const refreshed = await w.fetch("/token", form({
      grant_type: "refresh_token", refresh_token: rt, service: REGISTRY, client_id: "docker",
      scope: "repository:org/app:pull,push",
    }));
    assert.equal(refreshed.status, 200);
    const body = await refreshed.json();
    const { payload } = await verifyToken(w, body.access_token, { sub: "alice" });
    assert.deepEqual(payload.access.flatMap((a) => a.actions).sort(), ["pull", "push"]);

    // The hint altered to name bob: the digest of the whole token names no record.
    const forged = `${rt.split(".")[0]}.${Buffer.from("bob").toString("base64url")}`;
    const altered = await w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: forged, service: REGISTRY }));
    assert.equal(altered.status, 401);
    assert.equal((await errorBody(altered)).error, "invalid_grant");

    // Another service: refused.
    const other = await w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: CHARTS }));
    assert.equal(other.status, 401);
    assert.equal((await errorBody(other)).error, "invalid_grant");

    // Revoked by deleting the KV record: within CACHE_TTL (see "fail closed and revocation").
  });

  test("password grant with access_type=offline returns a refresh token", async () => {
    const res = await w.fetch("/token", form({
      grant_type: "password", username: "bob", password: PASSWORDS.bob[0], service: REGISTRY, access_type: "offline",
    }));
    assert.equal(res.status, 200);
    assert.match((await res.json()).refresh_token, /^tgr_/);
  });

  test("ChartMuseum client_credentials in the query string, RS256, Bearer API key", async () => {
    const res = await w.fetch(
      "/oauth/token?grant_type=client_credentials&scope=artifact-repository:org1/repo1:pull,push",
      { method: "POST", headers: { authorization: `Bearer ${CHART_KEY}` } },
    );
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.scope, "artifact-repository:org1/repo1:pull,push");
    const { payload } = await verifyToken(w, body.access_token, { service: CHARTS, alg: "RS256", sub: "chart-user" });
    assert.deepEqual(payload.access, [{ type: "artifact-repository", name: "org1/repo1", actions: ["pull", "push"] }]);
  });

  test("ChartMuseum parameters in a form body, explicit service", async () => {
    const res = await w.fetch("/oauth/token", {
      ...form({ grant_type: "client_credentials", service: CHARTS, scope: "artifact-repository:org1/repo1:pull" }),
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${CHART_KEY}` },
    });
    assert.equal(res.status, 200);
    await verifyToken(w, (await res.json()).access_token, { service: CHARTS, alg: "RS256" });
  });

  test("client_credentials without or with a wrong API key: 401 invalid_client + Bearer challenge", async () => {
    for (const headers of [{}, { authorization: "Bearer tgk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }]) {
      const res = await w.fetch("/oauth/token?grant_type=client_credentials&service=chartmuseum.local", {
        method: "POST", headers,
      });
      assert.equal(res.status, 401);
      assert.match(res.headers.get("www-authenticate"), /^Bearer realm="/);
      assert.equal((await errorBody(res)).error, "invalid_client");
    }
  });

  test("bad credentials: 401 + Basic challenge, no secret in the body", async () => {
    for (const [user, pass] of [["alice", "wrong-password"], ["nobody", "whatever"], ["disabled-user", PASSWORDS["disabled-user"][0]]]) {
      const res = await w.fetch(`/token?service=${REGISTRY}&scope=repository:org/app:pull`, {
        headers: { authorization: basic(user, pass) },
      });
      assert.equal(res.status, 401, user);
      assert.match(res.headers.get("www-authenticate"), /^Basic realm="[^"]+"$/);
      const body = await errorBody(res);
      assert.equal(body.errors[0].code, "UNAUTHORIZED");
      assert.ok(!JSON.stringify(body).includes(pass));
    }
  });

  test("POST password grant with a wrong password: 401 invalid_grant in OAuth2 format", async () => {
    const res = await w.fetch("/token", form({ grant_type: "password", username: "alice", password: "nope", service: REGISTRY }));
    assert.equal(res.status, 401);
    const body = await errorBody(res);
    assert.equal(body.error, "invalid_grant");
    assert.ok(body.error_description.length > 0);
  });

  test("account that disagrees with the Basic user is refused", async () => {
    const res = await w.fetch(`/token?service=${REGISTRY}&account=bob`, {
      headers: { authorization: basic("alice", PASSWORDS.alice[0]) },
    });
    assert.equal(res.status, 403);
    const body = await errorBody(res);
    assert.equal(body.errors[0].code, "DENIED");
    assert.match(body.errors[0].message, /bob/);
  });

  test("unknown or missing service: 400 naming the valid ones", async () => {
    const res = await w.fetch("/token?service=evil.example&scope=repository:public/x:pull");
    assert.equal(res.status, 400);
    const body = await errorBody(res);
    assert.match(body.errors[0].message, /registry\.local/);
    assert.match(body.errors[0].message, /evil\.example/);
    const res2 = await w.fetch("/token?scope=repository:public/x:pull");
    assert.equal(res2.status, 400);
    assert.match((await errorBody(res2)).errors[0].message, /service/);
  });

  test("malformed Basic headers: 400, never 5xx", async () => {
    for (const h of ["Basic !!!notbase64", `Basic ${Buffer.from("nocolon").toString("base64")}`, "Basic", "Digest abc", "Basic " + "A".repeat(9000)]) {
      const res = await w.fetch(`/token?service=${REGISTRY}`, { headers: { authorization: h } });
      assert.ok(res.status === 400 || res.status === 401, `${h.slice(0, 20)} -> ${res.status}`);
      const body = await errorBody(res);
      assert.ok(body.errors[0].message.length > 0);
    }
  });

  test("non-UTF-8 input: 400", async () => {
    const res = await w.fetch(`/token?service=${REGISTRY}&scope=repository:%FF%FE:pull`);
    assert.equal(res.status, 400);
    assert.match((await errorBody(res)).errors[0].message, /UTF-8/);
    const bad = Buffer.concat([Buffer.from("alice:"), Buffer.from([0xff, 0xfe])]).toString("base64");
    const res2 = await w.fetch(`/token?service=${REGISTRY}`, { headers: { authorization: `Basic ${bad}` } });
    assert.equal(res2.status, 400);
    await res2.arrayBuffer();
  });

  test("oversize scope list, oversize body (with and without Content-Length)", async () => {
    const q = new URLSearchParams([["service", REGISTRY]]);
    for (let i = 0; i < 33; i++) q.append("scope", `repository:public/r${i}:pull`);
    const res = await w.fetch(`/token?${q}`);
    assert.equal(res.status, 400);
    assert.match((await errorBody(res)).errors[0].message, /32/);

    const big = "scope=" + "a".repeat(17 * 1024);
    const res2 = await w.fetch("/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: big });
    assert.equal(res2.status, 413);
    assert.equal((await errorBody(res2)).error, "invalid_request");

    const chunk = new TextEncoder().encode("a".repeat(4096));
    let n = 0;
    const stream = new ReadableStream({
      pull(c) {
        if (n++ < 8) c.enqueue(chunk);
        else c.close();
      },
    });
    const res3 = await w.fetch("/token", { method: "POST", body: stream, duplex: "half" });
    assert.equal(res3.status, 413);
    await res3.arrayBuffer();
  });

  test("unknown grant type and bad Content-Type", async () => {
    const res = await w.fetch("/token", form({ grant_type: "implicit", service: REGISTRY }));
    assert.equal(res.status, 400);
    assert.equal((await errorBody(res)).error, "unsupported_grant_type");
    const res2 = await w.fetch("/token", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(res2.status, 400);
    assert.equal((await errorBody(res2)).error, "invalid_request");
  });

  test("malformed scope: 400 invalid_scope / UNSUPPORTED", async () => {
    const res = await w.fetch(`/token?service=${REGISTRY}&scope=repository:UPPER:pull`);
    assert.equal(res.status, 400);
    await res.arrayBuffer();
    const res2 = await w.fetch("/token", form({ grant_type: "password", username: "bob", password: "x", service: REGISTRY, scope: "nonsense" }));
    assert.equal(res2.status, 400);
    assert.equal((await errorBody(res2)).error, "invalid_scope");
  });

  test("wrong method: 405 with Allow; unknown path: 404; both in distribution format", async () => {
    const res = await w.fetch("/token", { method: "PUT", body: "x" });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET, POST");
    assert.equal((await errorBody(res)).errors[0].code, "UNSUPPORTED");
    const res2 = await w.fetch("/oauth/token", { method: "DELETE" });
    assert.equal(res2.status, 405);
    assert.equal((await errorBody(res2)).error, "invalid_request");
    const res3 = await w.fetch("/.well-known/jwks.json", { method: "POST", body: "" });
    assert.equal(res3.status, 405);
    await res3.arrayBuffer();
    const res4 = await w.fetch("/v2/");
    assert.equal(res4.status, 404);
    assert.equal((await errorBody(res4)).errors[0].code, "UNSUPPORTED");
  });

  test("jwks.json publishes the ES256 and RS256 keys with libtrust kids", async () => {
    const res = await w.fetch("/.well-known/jwks.json");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /json/);
    const { keys: published } = await res.json();
    const ec = published.find((k) => k.kty === "EC");
    const rsa = published.find((k) => k.kty === "RSA");
    assert.ok(ec && rsa);
    assert.equal(ec.kid, libtrustKid(keys.es256.publicKey));
    assert.equal(ec.crv, "P-256");
    assert.equal(ec.x, keys.es256.jwk.x);
    assert.equal(ec.y, keys.es256.jwk.y);
    assert.equal(rsa.kid, libtrustKid(keys.rs256.publicKey));
    assert.equal(rsa.n, keys.rs256.jwk.n);
    for (const k of published) assert.equal(k.d, undefined, "no private parts");
  });

  test("certs.pem is the certificate bundle with the signing certificate", async () => {
    const res = await w.fetch("/certs.pem");
    assert.equal(res.status, 200);
    const pem = await res.text();
    assert.match(pem, /-----BEGIN CERTIFICATE-----/);
    assert.doesNotMatch(pem, /PRIVATE KEY/);
    const first = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)[0];
    assert.ok(new X509Certificate(first).publicKey.equals(keys.es256.publicKey));
  });
});

describe("fail closed and revocation (CACHE_TTL=0)", () => {
  let w;
  before(async () => {
    w = await startWorker({ vars: { CACHE_TTL: "0" }, kv: seed() });
  });
  after(async () => w?.dispose());

  test("disabling the user stops their refresh token", async () => {
    const res = await w.fetch("/token", form({
      grant_type: "password", username: "bob", password: PASSWORDS.bob[0], service: REGISTRY, access_type: "offline",
    }));
    const { refresh_token: rt } = await res.json();
    const ok = await w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: REGISTRY }));
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    await w.kv.put("user:bob", JSON.stringify({ ...seed()["user:bob"], disabled: true }));
    const refused = await w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: REGISTRY }));
    assert.equal(refused.status, 401);
    assert.equal((await errorBody(refused)).error, "invalid_grant");
    await w.kv.put("user:bob", JSON.stringify(seed()["user:bob"]));
  });

  test("deleting a refresh token's KV record revokes it", async () => {
    const res = await w.fetch(`/token?service=${REGISTRY}&offline_token=true&client_id=docker`, {
      headers: { authorization: basic("alice", PASSWORDS.alice[0]) },
    });
    const { refresh_token: rt } = await res.json();
    const ok = await w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: REGISTRY }));
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    await w.kv.delete(`refresh:${sha256hex(rt)}`);
    const revoked = await w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: REGISTRY }));
    assert.equal(revoked.status, 401);
    const err = await errorBody(revoked);
    assert.equal(err.error, "invalid_grant");
    assert.ok(!JSON.stringify(err).includes(rt), "the refresh token is not echoed");
  });

  test("a malformed user record fails closed with 500 and grants nothing", async () => {
    await w.kv.put("user:alice", "{not json");
    const res = await w.fetch(`/token?service=${REGISTRY}&scope=repository:org/app:pull`, {
      headers: { authorization: basic("alice", PASSWORDS.alice[0]) },
    });
    assert.equal(res.status, 500);
    const body = await errorBody(res);
    assert.equal(body.errors[0].code, "UNKNOWN");
    assert.equal(body.token, undefined);
    await w.kv.put("user:alice", JSON.stringify(seed()["user:alice"]));
  });

  test("a malformed ACL fails closed, even for anonymous", async () => {
    await w.kv.put("acl", '[{"match": {"nmae": "typo"}, "actions": ["pull"]}]x');
    const res = await w.fetch(`/token?service=${REGISTRY}&scope=repository:public/x:pull`);
    assert.equal(res.status, 500);
    assert.equal((await errorBody(res)).token, undefined);
    await w.kv.put("acl", JSON.stringify(ACL));
    const again = await w.fetch(`/token?service=${REGISTRY}&scope=repository:public/x:pull`);
    assert.equal(again.status, 200);
    await again.arrayBuffer();
  });
});

describe("configuration errors", () => {
  for (const [name, opts, setting] of [
    ["missing signing key", { secrets: { SIGNING_KEY: undefined } }, "SIGNING_KEY"],
    ["malformed signing key", { secrets: { SIGNING_KEY: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" } }, "SIGNING_KEY"],
    ["bad TOKEN_TTL", { vars: { TOKEN_TTL: "abc" } }, "TOKEN_TTL"],
    ["RS256 service without an RSA key", { secrets: { RSA_SIGNING_KEY: undefined } }, "RSA_SIGNING_KEY"],
  ]) {
    test(`${name}: every request is a 500 naming ${setting}`, async () => {
      const w = await startWorker(opts);
      try {
        for (const path of ["/token?service=registry.local", "/healthz"]) {
          const res = await w.fetch(path);
          assert.equal(res.status, 500);
          const body = await errorBody(res);
          assert.match(body.errors[0].message, new RegExp(setting));
          const text = JSON.stringify(body);
          assert.ok(!text.includes("AAAA"), "the malformed key's content is not echoed");
          for (const secret of [keys.es256.privateKeyPem, keys.rs256.privateKeyPem]) {
            const line = secret.split("\n")[1];
            assert.ok(!text.includes(line), "no secret echoed");
          }
        }
      } finally {
        await w.dispose();
      }
    });
  }
});

describe("settings", () => {
  test("TOKEN_TTL is honoured and a cert-less key sends no x5c", async () => {
    const w = await startWorker({ vars: { TOKEN_TTL: "900" }, secrets: { SIGNING_CERT: undefined }, kv: seed() });
    try {
      const res = await w.fetch(`/token?service=${REGISTRY}&scope=repository:public/x:pull`);
      const body = await res.json();
      assert.equal(body.expires_in, 900);
      const jwks = await (await w.fetch("/.well-known/jwks.json")).json();
      const { payload, protectedHeader } = await jwtVerify(body.token, createLocalJWKSet(jwks), { issuer: ISSUER, audience: REGISTRY });
      assert.equal(payload.exp - payload.iat, 900);
      assert.equal(protectedHeader.x5c, undefined);
      assert.equal(protectedHeader.kid, libtrustKid(keys.es256.publicKey));
    } finally {
      await w.dispose();
    }
  });

  // Registry 3.x finds a kid-only token's key by RFC 7638 thumbprint (rootcertbundle) or by the
  // kid of its jwks file: the built worker's thumbprint must be jose's, and the JWKS must list it.
  test("TOKEN_KID=thumbprint with TOKEN_X5C=off: kid-only tokens under the RFC 7638 thumbprint", async () => {
    const w = await startWorker({ vars: { TOKEN_KID: `${REGISTRY}=thumbprint`, TOKEN_X5C: `${REGISTRY}=off` }, kv: seed() });
    try {
      const body = await (await w.fetch(`/token?service=${REGISTRY}&scope=repository:public/x:pull`)).json();
      const header = decodeProtectedHeader(body.token);
      const thumbprint = await calculateJwkThumbprint(await exportJWK(keys.es256.publicKey));
      assert.equal(header.kid, thumbprint);
      assert.equal(header.x5c, undefined);
      const jwks = await (await w.fetch("/.well-known/jwks.json")).json();
      const kids = jwks.keys.map((k) => k.kid);
      assert.ok(kids.includes(thumbprint) && kids.includes(libtrustKid(keys.es256.publicKey)), kids.join(" "));
      await jwtVerify(body.token, createLocalJWKSet(jwks), { issuer: ISSUER, audience: REGISTRY });
    } finally {
      await w.dispose();
    }
  });

  test("x5c asked for without SIGNING_CERT is a 500 naming TOKEN_X5C", async () => {
    const w = await startWorker({ vars: { TOKEN_X5C: "on" }, secrets: { SIGNING_CERT: undefined }, kv: seed() });
    try {
      const res = await w.fetch(`/token?service=${REGISTRY}&scope=repository:public/x:pull`);
      assert.equal(res.status, 500);
      const body = await res.json();
      assert.equal(body.errors[0].detail.setting, "TOKEN_X5C");
      assert.match(body.errors[0].message, /SIGNING_CERT is not set/);
    } finally {
      await w.dispose();
    }
  });
});
