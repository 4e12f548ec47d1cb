// Proves the harness: the built worker loads (JS glue + wasm) under Miniflare and answers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { SignJWT } from "jose";
import { keyFixture, startWorker, verifyJwt } from "./helpers.mjs";

// /healthz (not /) because the service answers unknown paths with 404, and scripts/serve.sh
// waits on the same endpoint.
test("the built worker answers GET /healthz", async () => {
  const w = await startWorker();
  try {
    const res = await w.fetch("/healthz");
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  } finally {
    await w.dispose();
  }
});

test("KV seeding is visible through the binding", async () => {
  const w = await startWorker({ kv: { "user:alice": { groups: ["dev"] }, plain: "text" } });
  try {
    assert.deepEqual(JSON.parse(await w.kv.get("user:alice")), { groups: ["dev"] });
    assert.equal(await w.kv.get("plain"), "text");
    assert.equal(await w.kv.get("missing"), null);
  } finally {
    await w.dispose();
  }
});

test("vars and secrets are bound, undefined removes one", async () => {
  const w = await startWorker({ vars: { MODE: "proxy" }, secrets: { RSA_SIGNING_KEY: undefined } });
  try {
    assert.equal(w.bindings.MODE, "proxy");
    assert.equal(w.bindings.ISSUER, "tollgate-dev");
    assert.match(w.bindings.SIGNING_KEY, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal("RSA_SIGNING_KEY" in w.bindings, false);
    const env = await w.mf.getBindings();
    assert.equal(env.MODE, "proxy");
    assert.equal(env.RSA_SIGNING_KEY, undefined);
  } finally {
    await w.dispose();
  }
});

test("key fixture: certificate matches the ES256 key", () => {
  const k = keyFixture();
  const cert = new X509Certificate(k.es256.certPem);
  assert.ok(cert.publicKey.equals(k.es256.publicKey));
  assert.equal(k.es256.jwk.crv, "P-256");
  assert.equal(k.rs256.jwk.kty, "RSA");
});

test("verifyJwt accepts the fixture key's signature and rejects others", async () => {
  const k = keyFixture();
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims, pem, alg) =>
    new SignJWT(claims).setProtectedHeader({ alg, typ: "JWT" }).sign(createPrivateKey(pem));
  const claims = { iss: "tollgate-dev", aud: "registry.local", exp: now + 60, iat: now };
  const es = await sign(claims, k.es256.privateKeyPem, "ES256");
  const { payload } = await verifyJwt(es, { audience: "registry.local", issuer: "tollgate-dev" });
  assert.equal(payload.aud, "registry.local");
  await assert.rejects(verifyJwt(es, { audience: "chartmuseum.local" }));
  await assert.rejects(verifyJwt(es, { alg: "RS256" }));
  const rs = await sign(claims, k.rs256.privateKeyPem, "RS256");
  assert.equal((await verifyJwt(rs, { alg: "RS256" })).protectedHeader.alg, "RS256");
  const tampered = es.slice(0, -4) + (es.endsWith("AAAA") ? "BBBB" : "AAAA");
  await assert.rejects(verifyJwt(tampered));
});

// The second review: with REALM unset, the realm in challenges follows the request's Host header.
// The worker says so once per isolate, unless the request came to loopback (local development).
test("REALM unset outside local development: one warning per isolate; set or on loopback: none", async () => {
  const warnings = (w) => w.stdout.filter((l) => l.includes("REALM is not set"));
  const settle = () => new Promise((r) => setTimeout(r, 300)); // stdout arrives asynchronously
  const unset = await startWorker({ captureStdout: true });
  try {
    for (let i = 0; i < 3; i++) await (await unset.fetch("https://registry.example.com/token?service=registry.local")).arrayBuffer();
    await settle();
    assert.equal(warnings(unset).length, 1, unset.stdout.join("\n"));
    assert.match(warnings(unset)[0], /registry\.example\.com/);
  } finally {
    await unset.dispose();
  }
  const local = await startWorker({ captureStdout: true });
  const set = await startWorker({ captureStdout: true, vars: { REALM: "https://auth.example.com/token" } });
  try {
    await (await local.fetch("http://127.0.0.1:8787/healthz")).arrayBuffer();
    await (await set.fetch("https://registry.example.com/healthz")).arrayBuffer();
    await settle();
    assert.equal(warnings(local).length, 0, local.stdout.join("\n"));
    assert.equal(warnings(set).length, 0, set.stdout.join("\n"));
  } finally {
    await local.dispose();
    await set.dispose();
  }
});
