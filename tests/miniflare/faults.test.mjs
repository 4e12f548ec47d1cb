// Faults around the BUILT worker (issue 6, "hardening"): storage that is missing, not a KV
// namespace, throwing, or returning malformed records; an origin that resets, talks garbage,
// closes mid-body or trickles; clock skew between token issuer and verifier. The rules checked:
// fail closed (a fault is never a grant: 503 for storage, 500 for a malformed record, 502/504 for
// the origin, each in the endpoint's error format with a log line naming the cause), nothing
// written is lost (a refresh token is handed out only once stored; stored records survive a
// restart; Tollgate never rewrites user or ACL records), and the worker keeps serving afterwards.
//
// The faulty KV is a second worker bound AS `TOLLGATE_KV` (a Miniflare wrapped binding calling it
// over JS RPC): Tollgate's own code is unchanged, no test hook exists in it. Covered elsewhere, not repeated:
// a malformed `user:` record and a malformed `acl` (token.test.mjs "fail closed and revocation"),
// an origin that refuses connections (502) or never answers (504) (proxy.test.mjs).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes, sign } from "node:crypto";
import { createServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import bcrypt from "bcryptjs";
import { COMPATIBILITY_DATE, basic, captureStdio, keyFixture, libtrustKid, startWorker } from "./helpers.mjs";

const SERVICE = "registry.local";
const PASS = `pw-${randomBytes(12).toString("hex")}`;
const HASH = bcrypt.hashSync(PASS, 4);
const ALICE = basic("alice", PASS);
const sha256hex = (s) => createHash("sha256").update(s, "utf8").digest("hex");
const API_KEY = `tgk_${randomBytes(32).toString("base64url")}`;
const ACL = [
  { match: { group: "dev", type: "repository", name: "org/*" }, actions: ["pull", "push"] },
  { match: { type: "repository", name: "public/*" }, actions: ["pull"] },
];
function seed() {
  return {
    "user:alice": { password: HASH, groups: ["dev"] },
    "user:bob": { password: HASH, groups: ["dev"] },
    "user:ci": { groups: ["dev"] },
    [`apikey:${sha256hex(API_KEY)}`]: { account: "ci", name: "ci", created: 1764316800, expires: null },
    acl: ACL,
  };
}
const kvText = (v) => (typeof v === "string" ? v : JSON.stringify(v));

const form = (params) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(params).toString(),
});

/** Collects workerd's stdout/stderr (the worker's console lines). */
function stdio() {
  const chunks = [];
  return {
    chunks,
    options: captureStdio(chunks),
    /** JSON lines printed so far that match `pred` (waits briefly: stdout is asynchronous). */
    async lines(pred, { atLeast = 1 } = {}) {
      for (let i = 0; i < 40; i++) {
        const found = chunks.join("").split("\n").flatMap((l) => {
          const at = l.indexOf("{");
          if (at < 0) return [];
          try {
            return [JSON.parse(l.slice(at))];
          } catch {
            return [];
          }
        }).filter(pred);
        if (found.length >= atLeast) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.fail(`no log line matched; output was:\n${chunks.join("").slice(-2000)}`);
    },
  };
}

async function json(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`not JSON (${res.status}): ${text.slice(0, 300)}`);
  }
}

/** Asserts a refusal: status, format and no token anywhere in the body. */
async function refused(res, status, format, fragment) {
  const body = await json(res);
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.token, undefined);
  assert.equal(body.access_token, undefined);
  assert.equal(body.refresh_token, undefined);
  const message = format === "oauth2" ? body.error_description : body.errors?.[0]?.message;
  assert.equal(typeof message, "string", `${format} format: ${JSON.stringify(body)}`);
  if (fragment) assert.match(message, fragment);
  return body;
}

// ---------------------------------------------------------------------------------------------
// A KV namespace stand-in with injectable faults. Bound to Tollgate as TOLLGATE_KV through a
// service binding to this entrypoint: Tollgate calls get/put/delete on it exactly as on KV.
// Mode "ok" passes through to a real (Miniflare) namespace REAL; the others fail on purpose.

const FAULTY_KV = `
import { WorkerEntrypoint } from "cloudflare:workers";
let mode = "ok";
const calls = [];
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/mode") mode = url.searchParams.get("m");
    if (url.pathname === "/calls") return Response.json(calls.splice(0));
    return new Response(mode);
  },
};
export class FaultyKv extends WorkerEntrypoint {
  async get(key, options) {
    calls.push(["get", key]);
    if (mode === "throw") throw new Error("injected: KV get failed (503 from the KV API)");
    // A bulk get (an array of keys) answers a Map of key to value, as KV does.
    const one = (k) => (mode === "garbage" ? '{"injected": garbage' : k === "acl" ? '{"rules": []}' : "[]");
    if (mode === "garbage" || mode === "wrong-type") {
      return Array.isArray(key) ? new Map(key.map((k) => [k, one(k)])) : one(key);
    }
    // A bulk answer of a shape KV never gives: the first key left out, or its value not text.
    if (Array.isArray(key) && (mode === "bulk-missing-key" || mode === "bulk-not-text")) {
      const found = await this.env.REAL.get(key, options);
      if (mode === "bulk-missing-key") found.delete(key[0]);
      else found.set(key[0], 42);
      return found;
    }
    return this.env.REAL.get(key, options);
  }
  async getWithMetadata(key, options) {
    if (mode === "throw") throw new Error("injected: KV getWithMetadata failed");
    return this.env.REAL.getWithMetadata(key, options);
  }
  async put(key, value, options) {
    calls.push(["put", key]);
    if (mode === "throw" || mode === "throw-put") throw new Error("injected: KV put failed (429 too many writes)");
    return this.env.REAL.put(key, value, options);
  }
  async delete(key) {
    calls.push(["delete", key]);
    if (mode === "throw") throw new Error("injected: KV delete failed");
    return this.env.REAL.delete(key);
  }
  async list(options) {
    if (mode === "throw") throw new Error("injected: KV list failed");
    return this.env.REAL.list(options);
  }
}
`;

// The binding object itself: Miniflare's wrapped binding (a plain object of functions, as a KV
// binding is) forwarding each call over RPC to FaultyKv. workers-rs invokes KV methods with
// Function.prototype.call, which an RPC stub does not support, hence this adapter.
const KV_ADAPTER = `
export default function (env) {
  const kv = env.UPSTREAM;
  return {
    get: (key, options) => kv.get(key, options),
    getWithMetadata: (key, options) => kv.getWithMetadata(key, options),
    put: (key, value, options) => kv.put(key, value, options),
    delete: (key) => kv.delete(key),
    list: (options) => kv.list(options),
  };
}
`;

async function startWithFaultyKv(vars = {}) {
  const log = stdio();
  const w = await startWorker({
    vars,
    worker: { kvNamespaces: [], wrappedBindings: { TOLLGATE_KV: { scriptName: "kv-adapter" } } },
    workers: [
      { name: "kv-adapter", modules: true, script: KV_ADAPTER,
        serviceBindings: { UPSTREAM: { name: "faulty-kv", entrypoint: "FaultyKv" } } },
      { name: "faulty-kv", modules: true, script: FAULTY_KV, compatibilityDate: COMPATIBILITY_DATE,
        kvNamespaces: ["REAL"] },
    ],
    miniflare: log.options,
  });
  const real = await w.mf.getKVNamespace("REAL", "faulty-kv");
  for (const [k, v] of Object.entries(seed())) await real.put(k, kvText(v));
  const control = await w.mf.getWorker("faulty-kv");
  const mode = async (m) => {
    const res = await control.fetch(`http://faulty-kv/mode?m=${m}`);
    assert.equal(await res.text(), m);
  };
  const calls = async () => (await control.fetch("http://faulty-kv/calls")).json();
  return { w, real, mode, calls, log };
}

/** Every key and value of a namespace, to show what a fault did (not) change. */
async function snapshot(kv) {
  const out = {};
  for (const { name } of (await kv.list()).keys) out[name] = await kv.get(name);
  return out;
}

// ---------------------------------------------------------------------------------------------

describe("TOLLGATE_KV missing or not a KV namespace: 503, nothing issued, a log line says why", () => {
  for (const [what, vars] of [
    ["no TOLLGATE_KV binding at all", {}],
    ["TOLLGATE_KV bound to a text var", { TOLLGATE_KV: "not a namespace" }],
  ]) {
    test(what, async () => {
      const log = stdio();
      const w = await startWorker({ vars, worker: { kvNamespaces: [] }, miniflare: log.options });
      try {
        // The configuration itself is fine: health and keys are served.
        let res = await w.fetch("/healthz");
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        res = await w.fetch("/.well-known/jwks.json");
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        // Anonymous (needs the ACL), password, refresh, ChartMuseum: all 503 in their formats.
        const body = await refused(await w.fetch(`/token?service=${SERVICE}&scope=repository:public/x:pull`), 503,
          "distribution", /could not be read.*nothing was granted/);
        // One line, no JS stack trace (bundle paths, wasm offsets) in what the client sees.
        assert.doesNotMatch(body.errors[0].message, /\n|file:|wasm-function/);
        await refused(await w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull`,
          { headers: { authorization: ALICE } }), 503, "distribution", /try again/);
        await refused(await w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: `tgr_${"A".repeat(43)}`,
          service: SERVICE })), 503, "oauth2", /nothing was granted/);
        await refused(await w.fetch("/oauth/token?grant_type=client_credentials&service=chartmuseum.local",
          { method: "POST", headers: { authorization: `Bearer ${API_KEY}` } }), 503, "oauth2");
        const lines = await log.lines((l) => l.event === "token" && l.outcome === "failed", { atLeast: 4 });
        for (const l of lines) {
          assert.equal(l.status, 503);
          assert.doesNotMatch(l.reason, /\n|file:|wasm-function/);
          assert.match(l.reason, /KV binding TOLLGATE_KV is not available/);
          assert.deepEqual(l.granted, []);
          assert.equal(l.jti, null);
        }
        assert.ok(!log.chunks.join("").includes(PASS), "the password was printed");
      } finally {
        await w.dispose();
      }
    });
  }
});

describe("a KV namespace that throws, returns garbage or fails only writes", () => {
  let f;
  let before0;
  before(async () => {
    f = await startWithFaultyKv({ CACHE_TTL: "0" });
    before0 = await snapshot(f.real);
  });
  after(async () => f?.w.dispose());

  test("control: with the pass-through the faulty binding behaves like KV", async () => {
    await f.mode("ok");
    const res = await f.w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull&offline_token=true`,
      { headers: { authorization: ALICE } });
    assert.equal(res.status, 200);
    const { refresh_token: rt } = await res.json();
    assert.ok(await f.real.get(`refresh:${sha256hex(rt)}`), "the refresh record was written through");
    const again = await f.w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: SERVICE }));
    assert.equal(again.status, 200);
    await again.arrayBuffer();
  });

  test("every call throws: 503 for every credential kind, in each endpoint's format", async () => {
    await f.mode("throw");
    await refused(await f.w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull`,
      { headers: { authorization: ALICE } }), 503, "distribution", /credential store could not be read/);
    await refused(await f.w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull`,
      { headers: { authorization: basic("ci", API_KEY) } }), 503, "distribution");
    await refused(await f.w.fetch(`/token?service=${SERVICE}&scope=repository:public/x:pull`), 503, "distribution");
    await refused(await f.w.fetch("/token", form({ grant_type: "password", username: "alice", password: PASS,
      service: SERVICE })), 503, "oauth2");
    const [line] = await f.log.lines((l) => l.event === "token" && l.outcome === "failed" && /injected: KV get/.test(l.reason ?? ""));
    assert.equal(line.status, 503);
  });

  test("a bulk get that leaves a key out, or answers a value that is not text: 503, never 'not found'", async () => {
    for (const mode of ["bulk-missing-key", "bulk-not-text"]) {
      await f.mode(mode);
      await refused(await f.w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull`,
        { headers: { authorization: ALICE } }), 503, "distribution");
      await refused(await f.w.fetch(`/token?service=${SERVICE}&scope=repository:public/x:pull`), 503, "distribution");
    }
    const lines = await f.log.lines((l) => l.event === "token" && /missing from the answer|not text/.test(l.reason ?? ""), { atLeast: 2 });
    assert.ok(lines.every((l) => l.status === 503 && l.jti === null), JSON.stringify(lines));
  });

  test("writes fail, reads work: no refresh token is handed out that was not stored", async () => {
    await f.mode("throw-put");
    await f.calls();
    const res = await f.w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull&offline_token=true`,
      { headers: { authorization: ALICE } });
    await refused(res, 503, "distribution", /nothing was granted|try again/);
    const res2 = await f.w.fetch("/token", form({ grant_type: "password", username: "bob", password: PASS,
      service: SERVICE, access_type: "offline" }));
    await refused(res2, 503, "oauth2");
    const puts = (await f.calls()).filter(([op]) => op === "put");
    assert.equal(puts.length, 2, "each request tried to store its refresh token once");
    // An online request needs no write and still works.
    const online = await f.w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull`,
      { headers: { authorization: ALICE } });
    assert.equal(online.status, 200);
    await online.arrayBuffer();
    const [line] = await f.log.lines((l) => l.event === "token" && /injected: KV put/.test(l.reason ?? ""));
    assert.equal(line.refresh_token_issued, false);
    assert.equal(line.jti, null);
  });

  test("garbage or wrongly typed records: 500, nothing granted, the log names the record", async () => {
    for (const mode of ["garbage", "wrong-type"]) {
      await f.mode(mode);
      await refused(await f.w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull`,
        { headers: { authorization: ALICE } }), 500, "distribution", /malformed.*nothing was granted/);
      await refused(await f.w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull`,
        { headers: { authorization: basic("ci", API_KEY) } }), 500, "distribution", /malformed/);
      await refused(await f.w.fetch(`/token?service=${SERVICE}&scope=repository:public/x:pull`), 500,
        "distribution", /ACL/);
      await refused(await f.w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: `tgr_${"B".repeat(43)}`,
        service: SERVICE })), 500, "oauth2", /malformed/);
    }
    const lines = await f.log.lines((l) => l.event === "token" && l.status === 500, { atLeast: 8 });
    assert.ok(lines.some((l) => /user:alice/.test(l.reason)), "the log names the user record");
    assert.ok(lines.some((l) => /ACL/.test(l.reason)));
  });

  test("after the faults: service resumes, and no user, key or ACL record was rewritten", async () => {
    await f.mode("ok");
    const res = await f.w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull,push`,
      { headers: { authorization: ALICE } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const now = await snapshot(f.real);
    for (const [k, v] of Object.entries(before0)) assert.equal(now[k], v, `${k} changed`);
    const added = Object.keys(now).filter((k) => !(k in before0));
    assert.ok(added.every((k) => k.startsWith("refresh:")), `only refresh records were added: ${added}`);
  });

  test("proxy mode with KV down: Basic is 503 (nothing forwarded), a bearer token still works", async () => {
    const origin = await startOrigin((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
    const p = await startWithFaultyKv({ MODE: "both", ORIGIN: origin.url, CACHE_TTL: "0" });
    try {
      await p.mode("throw");
      const res = await p.w.fetch("/v2/org/app/tags/list", { headers: { authorization: ALICE } });
      await refused(res, 503, "distribution", /unavailable.*nothing was forwarded/);
      assert.equal(origin.seen.length, 0);
      const token = esToken({ access: [{ type: "repository", name: "org/app", actions: ["pull"] }] });
      const ok = await p.w.fetch("/v2/org/app/tags/list", { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      await ok.arrayBuffer();
      assert.equal(origin.seen.length, 1);
      const [line] = await p.log.lines((l) => l.event === "proxy" && l.reason === "store_unavailable");
      assert.equal(line.status, 503);
      // A second line says why, in one line, without the credential.
      const [why] = await p.log.lines((l) => l.event === "proxy" && l.outcome === "store_error");
      assert.match(why.reason, /^storage error: KV get failed: Error: injected: KV get failed/);
      assert.ok(!p.log.chunks.join("").includes(PASS));
    } finally {
      await p.w.dispose();
      await origin.close();
    }
  });
});

describe("malformed records in a real KV namespace (beyond user:/acl, see token.test.mjs)", () => {
  let w;
  const log = stdio();
  before(async () => {
    w = await startWorker({ vars: { CACHE_TTL: "0" }, kv: seed(), miniflare: log.options });
  });
  after(async () => w?.dispose());

  test("an apikey: record that is not JSON or lacks the account: 500, not a login", async () => {
    const key = `apikey:${sha256hex(API_KEY)}`;
    for (const bad of ["{", '{"name":"ci"}', '{"account":"ci","admin":true}', "null", '"ci"']) {
      await w.kv.put(key, bad);
      await refused(await w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull`,
        { headers: { authorization: basic("ci", API_KEY) } }), 500, "distribution", /API key record is malformed/);
    }
    await w.kv.put(key, kvText(seed()[key]));
  });

  test("a refresh: record that is malformed or expired: refused, never a token", async () => {
    const res = await w.fetch(`/token?service=${SERVICE}&offline_token=true`, { headers: { authorization: ALICE } });
    const { refresh_token: rt } = await res.json();
    const key = `refresh:${sha256hex(rt)}`;
    const good = JSON.parse(await w.kv.get(key));
    const use = () => w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: SERVICE,
      scope: "repository:org/app:pull" }));
    for (const bad of ["{", JSON.stringify({ ...good, expires: "never" }), JSON.stringify({ ...good, extra: 1 })]) {
      await w.kv.put(key, bad);
      await refused(await use(), 500, "oauth2", /malformed/);
    }
    // Expired by its own record (a clock or TTL skew between writer and reader): refused.
    await w.kv.put(key, JSON.stringify({ ...good, expires: Math.floor(Date.now() / 1000) - 1 }));
    await refused(await use(), 401, "oauth2");
    await w.kv.put(key, JSON.stringify(good));
    const ok = await use();
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
  });

  test("a password field that is not a bcrypt hash never matches, even the same text", async () => {
    await w.kv.put("user:plain", JSON.stringify({ password: "plain-text-pass", groups: ["dev"] }));
    const res = await w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull`,
      { headers: { authorization: basic("plain", "plain-text-pass") } });
    assert.ok(res.status === 401 || res.status === 500, `status ${res.status}`);
    const body = await json(res);
    assert.equal(body.token, undefined);
  });

  test("an acl that is an object, or too large: 500, and anonymous gets nothing either", async () => {
    for (const bad of ['{"rules": []}', JSON.stringify(Array.from({ length: 5000 }, () => ACL[1]))]) {
      await w.kv.put("acl", bad);
      await refused(await w.fetch(`/token?service=${SERVICE}&scope=repository:public/x:pull`), 500, "distribution",
        /ACL/);
    }
    await w.kv.put("acl", JSON.stringify(ACL));
  });
});

// ---------------------------------------------------------------------------------------------
// Nothing written is lost.

describe("refresh tokens are durable", () => {
  test("issued before a restart, usable after it (persisted KV, new workerd)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-kv-"));
    try {
      let w = await startWorker({ kv: seed(), miniflare: { kvPersist: dir } });
      const res = await w.fetch(`/token?service=${SERVICE}&offline_token=true`, { headers: { authorization: ALICE } });
      const { refresh_token: rt } = await res.json();
      await w.dispose();
      w = await startWorker({ miniflare: { kvPersist: dir } });
      try {
        const again = await w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: SERVICE,
          scope: "repository:org/app:push" }));
        assert.equal(again.status, 200);
        const body = await again.json();
        const claims = JSON.parse(Buffer.from(body.access_token.split(".")[1], "base64url"));
        assert.equal(claims.sub, "alice");
        assert.deepEqual(claims.access, [{ type: "repository", name: "org/app", actions: ["push"] }]);
      } finally {
        await w.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("60 concurrent offline logins by 3 users: every refresh token is stored and works", async () => {
    const w = await startWorker({ kv: seed() });
    try {
      const users = [["alice", ALICE], ["bob", basic("bob", PASS)], ["ci", basic("ci", API_KEY)]];
      const issued = await Promise.all(Array.from({ length: 60 }, async (_, i) => {
        const [name, header] = users[i % 3];
        const res = await w.fetch(`/token?service=${SERVICE}&offline_token=true&client_id=c${i}`,
          { headers: { authorization: header } });
        assert.equal(res.status, 200);
        return [name, (await res.json()).refresh_token];
      }));
      assert.equal(new Set(issued.map(([, rt]) => rt)).size, 60, "60 distinct refresh tokens");
      const list = await w.kv.list({ prefix: "refresh:" });
      assert.equal(list.keys.length, 60);
      await Promise.all(issued.map(async ([name, rt]) => {
        const res = await w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: SERVICE }));
        assert.equal(res.status, 200);
        const claims = JSON.parse(Buffer.from((await res.json()).access_token.split(".")[1], "base64url"));
        assert.equal(claims.sub, name, "a refresh token belongs to the user it was issued to");
      }));
    } finally {
      await w.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The origin misbehaving (proxy mode).

async function startOrigin(handler) {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push(req.url);
    handler(req, res);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    seen,
    url: `http://127.0.0.1:${server.address().port}`,
    port: server.address().port,
    close: async () => {
      server.closeAllConnections?.();
      server.close();
    },
  };
}

/** A raw TCP "origin" for answers no HTTP server library would give. */
async function startRawOrigin(onSocket) {
  const server = createTcpServer(onSocket);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const sockets = new Set();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    port: server.address().port,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

const keys = keyFixture();

/** An ES256 registry token signed with the fixture key; `over` replaces claims. */
function esToken(over = {}) {
  const t = Math.floor(Date.now() / 1000);
  const header = { alg: "ES256", typ: "JWT", kid: libtrustKid(keys.es256.publicKey) };
  const claims = { iss: "tollgate-dev", sub: "puller", aud: SERVICE, exp: t + 300, nbf: t, iat: t,
    jti: randomBytes(8).toString("hex"), access: [{ type: "repository", name: "org/app", actions: ["pull"] }], ...over };
  const input = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  const sig = sign("sha256", Buffer.from(input), { key: keys.es256.privateKeyPem, dsaEncoding: "ieee-p1363" });
  return `${input}.${sig.toString("base64url")}`;
}

describe("origin faults (proxy mode)", () => {
  const token = () => esToken({ access: [{ type: "repository", name: "org/app", actions: ["pull"] }] });
  const pull = (w, path = "/v2/org/app/blobs/sha256:" + "d".repeat(64)) =>
    w.fetch(path, { headers: { authorization: `Bearer ${token()}` } });

  async function withProxy(originUrl, fn, extra = {}) {
    const log = stdio();
    const w = await startWorker({ vars: { MODE: "both", ORIGIN: originUrl, ORIGIN_TIMEOUT: "1", ...extra },
      miniflare: log.options });
    try {
      await fn(w, log);
    } finally {
      await w.dispose();
    }
  }

  test("the origin resets every connection: 502 UNAVAILABLE, origin address not leaked", async () => {
    const origin = await startRawOrigin((s) => s.on("data", () => s.resetAndDestroy?.() ?? s.destroy()));
    try {
      await withProxy(origin.url, async (w, log) => {
        const body = await refused(await pull(w), 502, "distribution");
        assert.equal(body.errors[0].code, "UNAVAILABLE");
        assert.ok(!JSON.stringify(body).includes(String(origin.port)));
        await log.lines((l) => l.event === "proxy" && l.status === 502);
      });
    } finally {
      await origin.close();
    }
  });

  test("the origin answers garbage instead of HTTP: 502", async () => {
    const origin = await startRawOrigin((s) => s.on("data", () => s.end("SSH-2.0-OpenSSH_9.2\r\n\r\n")));
    try {
      await withProxy(origin.url, async (w) => {
        await refused(await pull(w), 502, "distribution");
      });
    } finally {
      await origin.close();
    }
  });

  test("the origin closes mid-body: the client never receives a complete-looking body; the worker keeps serving", async () => {
    const DECLARED = 1 << 20;
    let n = 0;
    const origin = await startOrigin((req, res) => {
      if (n++ === 0) {
        res.writeHead(200, { "content-length": String(DECLARED), "content-type": "application/octet-stream" });
        res.write(randomBytes(64 * 1024));
        setTimeout(() => res.destroy(), 50);
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
    try {
      await withProxy(origin.url, async (w) => {
        const res = await pull(w);
        assert.equal(res.status, 200, "headers had already arrived");
        let received = 0;
        let failed = false;
        try {
          for await (const chunk of res.body) received += chunk.length;
        } catch {
          failed = true;
        }
        assert.ok(failed || received < DECLARED, `received ${received} of ${DECLARED} without an error`);
        assert.ok(received < DECLARED, "a truncated body was completed somehow");
        const next = await w.fetch("/v2/org/app/tags/list", { headers: { authorization: `Bearer ${token()}` } });
        assert.equal(next.status, 200);
        assert.deepEqual(await next.json(), { ok: true });
      });
    } finally {
      await origin.close();
    }
  });

  test("the client's upload breaks off mid-body: the origin does not get a complete upload", async () => {
    let resolveSeen;
    const seen = new Promise((r) => { resolveSeen = r; });
    const origin = await startOrigin((req, res) => {
      let bytes = 0;
      req.on("data", (c) => { bytes += c.length; });
      req.on("end", () => { resolveSeen({ bytes, complete: true }); res.writeHead(202); res.end(); });
      req.on("aborted", () => resolveSeen({ bytes, complete: false }));
      req.on("error", () => resolveSeen({ bytes, complete: false }));
    });
    try {
      await withProxy(origin.url, async (w) => {
        const DECLARED = 1 << 20;
        const push = esToken({ access: [{ type: "repository", name: "org/app", actions: ["pull", "push"] }] });
        const url = new URL((await w.mf.ready).href);
        const { connect } = await import("node:net");
        const sock = connect(Number(url.port), url.hostname);
        await once(sock, "connect");
        sock.write(`PATCH /v2/org/app/blobs/uploads/u1 HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${push}\r\n` +
          `Content-Type: application/octet-stream\r\nContent-Length: ${DECLARED}\r\n\r\n`);
        sock.write(randomBytes(100 * 1024));
        await new Promise((r) => setTimeout(r, 300));
        sock.destroy();
        const got = await Promise.race([seen, new Promise((r) => setTimeout(() => r({ timeout: true }), 5000))]);
        if (!got.timeout) {
          assert.ok(!got.complete || got.bytes < DECLARED, `origin got ${got.bytes} bytes, complete=${got.complete}`);
          assert.ok(got.bytes < DECLARED);
        }
        const next = await pull(w, "/v2/org/app/tags/list");
        assert.ok(next.status < 500, `worker still serves: ${next.status}`);
        await next.arrayBuffer();
      });
    } finally {
      await origin.close();
    }
  });

  test("ORIGIN_TIMEOUT bounds the wait for headers only: a body trickling for longer arrives intact", async () => {
    const parts = [randomBytes(1000), randomBytes(1000), randomBytes(1000)];
    const origin = await startOrigin((req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "3000" });
      parts.forEach((p, i) => setTimeout(() => (i === 2 ? res.end(p) : res.write(p)), 800 * i));
    });
    try {
      await withProxy(origin.url, async (w) => {
        const started = Date.now();
        const res = await pull(w);
        assert.equal(res.status, 200);
        const body = Buffer.from(await res.arrayBuffer());
        assert.ok(Date.now() - started >= 1500, "the body took longer than ORIGIN_TIMEOUT=1");
        assert.deepEqual(body, Buffer.concat(parts));
      });
    } finally {
      await origin.close();
    }
  });

  test("the origin's own 5xx passes through unchanged (it should be a 5xx)", async () => {
    const origin = await startOrigin((req, res) => {
      res.writeHead(503, { "content-type": "application/json", "retry-after": "5" });
      res.end('{"errors":[{"code":"UNAVAILABLE","message":"origin maintenance"}]}');
    });
    try {
      await withProxy(origin.url, async (w) => {
        const res = await pull(w);
        assert.equal(res.status, 503);
        assert.equal(res.headers.get("retry-after"), "5");
        assert.match(await res.text(), /origin maintenance/);
      });
    } finally {
      await origin.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Clock skew between the issuer that signed a token and the proxy that checks it (60 s leeway).

describe("clock skew at the proxy", () => {
  let w;
  let origin;
  const log = stdio();
  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
    w = await startWorker({ vars: { MODE: "both", ORIGIN: origin.url }, miniflare: log.options });
  });
  after(async () => {
    await w?.dispose();
    await origin?.close();
  });

  const t = () => Math.floor(Date.now() / 1000);
  const cases = [
    ["nbf 30 s ahead (issuer clock fast, within leeway)", () => ({ nbf: t() + 30, iat: t() + 30 }), 200],
    ["iat 30 s ahead, no nbf", () => ({ nbf: undefined, iat: t() + 30 }), 200],
    ["nbf 90 s ahead (beyond leeway)", () => ({ nbf: t() + 90, iat: t() + 90 }), "not_yet_valid"],
    ["exp 30 s ago (verifier clock fast, within leeway)", () => ({ exp: t() - 30 }), 200],
    ["exp 90 s ago (beyond leeway)", () => ({ exp: t() - 90 }), "expired"],
  ];
  cases.forEach(([name, over, want], i) => {
    test(`${name}: ${want === 200 ? "accepted" : `refused (${want})`}`, async () => {
      const repo = `skew/c${i}`;
      const token = esToken({ ...over(), access: [{ type: "repository", name: repo, actions: ["pull"] }] });
      const res = await w.fetch(`/v2/${repo}/tags/list`, { headers: { authorization: `Bearer ${token}` } });
      if (want === 200) {
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        return;
      }
      await refused(res, 401, "distribution", /invalid or expired/);
      const [line] = await log.lines((l) => l.event === "proxy" && l.path === `/v2/${repo}/tags/list`);
      assert.equal(line.reason, want);
    });
  });

  test("the verified-token cache does not outlive exp + leeway", async () => {
    const repo = "skew/cached";
    const token = esToken({ exp: t() - 57, access: [{ type: "repository", name: repo, actions: ["pull"] }] });
    const path = `/v2/${repo}/tags/list`;
    const first = await w.fetch(path, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(first.status, 200, "valid within the leeway");
    await first.arrayBuffer();
    await new Promise((r) => setTimeout(r, 4500));
    await refused(await w.fetch(path, { headers: { authorization: `Bearer ${token}` } }), 401, "distribution");
  });
});
