// Brute-force throttling of the BUILT worker under Miniflare, with the LOGIN_LIMITER Rate Limiting
// binding (Miniflare's in-memory implementation: a fixed window aligned to the period). Failed
// password checks are counted per account and per client address (CF-Connecting-IP, set here by
// hand as Cloudflare would); successful logins never are.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { basic, startWorker } from "./helpers.mjs";

const LIMIT = 3;
const RATELIMITS = { LOGIN_LIMITER: { simple: { limit: LIMIT, period: 60 } } };

// Demo credentials from policy/demo.toml (public, demo only): bcrypt cost 10 hashes.
const ALICE = ["alice", "alice-demo-pass", "$2b$10$LffUs7B/MgHNcUX/TGSZYu5Udvl1T2wR2PoJ2m4cD1SiTsdCocDrK"];
const BOB = ["bob", "bob-demo-pass", "$2b$10$JFHrGIkq1H9fUaPZhWgZPOwAyuLWiiACDu.bQgw8frEJk3E8Wc0ny"];
const CI_KEY = "tgk_Lsz1CsKo6xnYht2ybBbHfEn8vl5ZdQIszo6se_vOGDk.Y2ktYm90";
const sha256hex = (s) => createHash("sha256").update(s, "utf8").digest("hex");

const KV = {
  "user:alice": { password: ALICE[2], groups: ["dev"] },
  "user:bob": { password: BOB[2], groups: ["dev"] },
  "user:ci-bot": { groups: ["dev"] },
  [`apikey:${sha256hex(CI_KEY)}`]: { account: "ci-bot", name: "ci", created: 1764316800, expires: null },
  acl: [{ match: { group: "dev", type: "repository", name: "${account}/*" }, actions: ["pull", "push"] }],
};

const Q = "service=registry.local&scope=repository:alice/app:pull";

function get(w, user, pw, ip) {
  return w.fetch(`/token?${Q}`, { headers: { authorization: basic(user, pw), "cf-connecting-ip": ip } });
}

function post(w, user, pw, ip, extra = "") {
  const body = new URLSearchParams({ grant_type: "password", username: user, password: pw,
    service: "registry.local" }).toString() + extra;
  return w.fetch("/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
    body,
  });
}

/** Miniflare's limiter resets its buckets at each period boundary (wall clock): start a test
 *  early in a window so its failures all land in the same one. */
async function freshWindow(period = 60, needed = 20) {
  const left = period - ((Date.now() / 1000) % period);
  if (left < needed) await new Promise((r) => setTimeout(r, left * 1000 + 200));
}

async function withWorker(opts, fn) {
  const w = await startWorker({ kv: KV, ratelimits: RATELIMITS, ...opts });
  try {
    await fn(w);
  } finally {
    await w.dispose();
  }
}

async function timed(p) {
  const t = performance.now();
  const r = await p;
  await r.arrayBuffer();
  return [r, performance.now() - t];
}

describe("brute-force throttle", () => {
  test("failed logins get 401 up to the limit, then 429 + Retry-After in each endpoint's format", async () => {
    await freshWindow();
    await withWorker({ vars: { CACHE_TTL: "0" } }, async (w) => {
      const ip = "198.51.100.7";
      // docker login before the attack: it keeps a refresh token.
      const login = await post(w, ...ALICE.slice(0, 2), ip, "&access_type=offline");
      assert.equal(login.status, 200);
      const { refresh_token } = await login.json();

      for (let i = 0; i < LIMIT; i++) {
        const r = await get(w, "alice", `guess-${i}`, ip);
        assert.equal(r.status, 401, `failure ${i}`);
        await r.arrayBuffer();
      }
      const r = await get(w, "alice", "guess-last", ip);
      assert.equal(r.status, 429);
      assert.equal(r.headers.get("retry-after"), "60");
      assert.equal(r.headers.get("www-authenticate"), null);
      const b = await r.json();
      assert.equal(b.errors[0].code, "TOOMANYREQUESTS");
      assert.match(b.errors[0].message, /try again in 60 s/);

      // POST /token (OAuth2): the same account, correct password, another address: 429.
      const p = await post(w, ...ALICE.slice(0, 2), "203.0.113.9");
      assert.equal(p.status, 429);
      assert.ok(Number(p.headers.get("retry-after")) >= 1);
      const pb = await p.json();
      assert.equal(pb.error, "temporarily_unavailable");
      assert.match(pb.error_description, /too many failed logins/);
      assert.equal(pb.errors[0].code, "TOOMANYREQUESTS");

      // Another account from another address is unaffected.
      const bob = await get(w, ...BOB.slice(0, 2), "203.0.113.10");
      assert.equal(bob.status, 200);
      await bob.arrayBuffer();
      // alice's refresh token and API keys (256-bit, not guessable) are never throttled.
      const refresh = await w.fetch("/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
        body: `grant_type=refresh_token&refresh_token=${refresh_token}&service=registry.local`,
      });
      assert.equal(refresh.status, 200);
      await refresh.arrayBuffer();
      const ci = await w.fetch(`/token?service=registry.local`, {
        headers: { authorization: basic("ci-bot", CI_KEY), "cf-connecting-ip": ip },
      });
      assert.equal(ci.status, 200);
      await ci.arrayBuffer();
    });
  });

  test("a correct login for a throttled account gets 429 before bcrypt runs", async (t) => {
    await freshWindow();
    // CACHE_TTL=0: every accepted login pays its bcrypt check, so the two paths can be timed.
    await withWorker({ vars: { CACHE_TTL: "0" } }, async (w) => {
      const ip = "198.51.100.8";
      const okTimes = [];
      for (let i = 0; i < 3; i++) {
        const [r, ms] = await timed(get(w, ...BOB.slice(0, 2), "192.0.2.50"));
        assert.equal(r.status, 200);
        okTimes.push(ms);
      }
      for (let i = 0; i <= LIMIT; i++) await (await get(w, "alice", `guess-${i}`, ip)).arrayBuffer();
      const throttledTimes = [];
      for (let i = 0; i < 5; i++) {
        const [r, ms] = await timed(get(w, ...ALICE.slice(0, 2), ip));
        assert.equal(r.status, 429);
        throttledTimes.push(ms);
      }
      const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      t.diagnostic(`bcrypt logins ${okTimes.map(Math.round)} ms; throttled ${throttledTimes.map(Math.round)} ms`);
      // A cost-10 bcrypt check takes tens of milliseconds or more in wasm; the throttled answer
      // involves no KV read and no bcrypt.
      assert.ok(median(throttledTimes) * 3 < Math.min(...okTimes),
        `throttled ${throttledTimes.map(Math.round)} ms vs bcrypt logins ${okTimes.map(Math.round)} ms`);
    });
  });

  test("one address spraying many accounts is throttled by address", async () => {
    await freshWindow();
    await withWorker({}, async (w) => {
      const ip = "2001:db8:aa:bb::1";
      for (let i = 0; i < LIMIT; i++) assert.equal((await get(w, `nobody-${i}`, "x", ip)).status, 401);
      assert.equal((await get(w, "nobody-next", "x", ip)).status, 429);
      // The same /64.
      assert.equal((await get(w, ...BOB.slice(0, 2), "2001:db8:aa:bb::99")).status, 429);
      // Another address, same account: fine.
      assert.equal((await get(w, ...BOB.slice(0, 2), "2001:db8:aa:cc::1")).status, 200);
    });
  });

  test("a burst of 50 parallel correct logins is all 200 (successes are never counted)", async () => {
    await freshWindow();
    await withWorker({}, async (w) => {
      const ip = "192.0.2.77"; // one NAT address for the whole CI fleet
      // Each body is read as soon as its response arrives, so no response stream sits open
      // while the others run (a stream left waiting under load was once reported as already read).
      const drained = (p) => p.then(async (r) => { await r.arrayBuffer(); return r.status; });
      const statuses = await Promise.all(Array.from({ length: 50 }, (_, i) =>
        drained(i % 2 ? get(w, ...ALICE.slice(0, 2), ip) : post(w, ...ALICE.slice(0, 2), ip))));
      assert.deepEqual(statuses, Array(50).fill(200));
      // Still nothing counted: a second burst passes as well.
      const again = await Promise.all(Array.from({ length: 20 }, () => drained(get(w, ...ALICE.slice(0, 2), ip))));
      assert.deepEqual(again, Array(20).fill(200));
    });
  });

  test("a missing LOGIN_LIMITER binding is a configuration error unless LOGIN_THROTTLE=off", async () => {
    await withWorker({ ratelimits: null }, async (w) => {
      const r = await w.fetch(`/token?${Q}`);
      assert.equal(r.status, 500);
      const b = await r.json();
      assert.equal(b.errors[0].detail.setting, "LOGIN_LIMITER");
      assert.match(b.errors[0].message, /LOGIN_THROTTLE=off/);
    });
    await withWorker({ ratelimits: null, vars: { LOGIN_THROTTLE: "off" } }, async (w) => {
      for (let i = 0; i < LIMIT + 2; i++) assert.equal((await get(w, "alice", "x", "192.0.2.1")).status, 401);
      assert.equal((await get(w, ...ALICE.slice(0, 2), "192.0.2.1")).status, 200);
    });
    await withWorker({ vars: { LOGIN_THROTTLE_PERIOD: "30" } }, async (w) => {
      const b = await (await w.fetch("/healthz")).json();
      assert.equal(b.errors[0].detail.setting, "LOGIN_THROTTLE_PERIOD");
    });
  });

  test("proxy mode: Basic credentials are throttled the same way (429 in distribution format)", async () => {
    await freshWindow();
    const vars = { MODE: "both", ORIGIN: "http://127.0.0.1:9", ORIGIN_TIMEOUT: "1" };
    await withWorker({ vars }, async (w) => {
      const ip = "198.51.100.99";
      const probe = (pw) => w.fetch("/v2/alice/app/tags/list",
        { headers: { authorization: basic("alice", pw), "cf-connecting-ip": ip } });
      for (let i = 0; i < LIMIT; i++) {
        const r = await probe(`guess-${i}`);
        assert.equal(r.status, 401);
        await r.arrayBuffer();
      }
      const r = await probe("guess-last");
      assert.equal(r.status, 429);
      assert.equal(r.headers.get("retry-after"), "60");
      assert.equal((await r.json()).errors[0].code, "TOOMANYREQUESTS");
      // Shared with the token endpoint in this isolate.
      assert.equal((await get(w, ...ALICE.slice(0, 2), ip)).status, 429);
    });
  });
});

describe("issue 12 finding 2: every password check is throttled, whatever the grant type", () => {
  // One wait for a fresh limiter window covers the three short tests below (5 requests each).
  before(() => freshWindow(60, 15));
  for (const [name, path, method] of [
    ["POST /oauth/token", "/oauth/token", "POST"],
    ["POST /token", "/token", "POST"],
    ["GET /oauth/token", "/oauth/token", "GET"],
  ]) {
    test(`grant_type=client_credentials with a Basic password on ${name}`, async () => {
      await withWorker({}, async (w) => {
        const ip = "198.51.100.120";
        const q = "grant_type=client_credentials&service=registry.local";
        const send = (pw) => method === "GET"
          ? w.fetch(`${path}?${q}`, { headers: { authorization: basic("alice", pw), "cf-connecting-ip": ip } })
          : w.fetch(path, { method, body: q, headers: { authorization: basic("alice", pw), "cf-connecting-ip": ip,
            "content-type": "application/x-www-form-urlencoded" } });
        for (let i = 0; i < LIMIT; i++) {
          const r = await send(`guess-${i}`);
          assert.equal(r.status, 401, `failure ${i}`);
          await r.arrayBuffer();
        }
        const over = await send("guess-last");
        assert.equal(over.status, 429, "the old code answered 401 forever: a password oracle");
        await over.arrayBuffer();
        const right = await send(ALICE[1]);
        assert.equal(right.status, 429, "the right password learns nothing while throttled");
        await right.arrayBuffer();
        // And the same account on GET /token is throttled by those failures.
        assert.equal((await get(w, ...ALICE.slice(0, 2), ip)).status, 429);
      });
    });
  }
});
