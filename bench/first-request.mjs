#!/usr/bin/env node
// CPU of the first request of a new isolate, and of warm requests, per request kind (issue 17:
// the Workers Free plan allows 10 ms of CPU per request). workerd freezes the clock inside a
// request, so this measures the isolate thread's busy time with V8's sampling profiler (50 us)
// through the inspector: each round starts a fresh Miniflare process (a new isolate), profiles
// its first request, then one more request of the same kind (warm). Medians over ROUNDS.
//
//   target/release/tollgate policy render policy/demo.toml > /tmp/kv.json
//   node bench/first-request.mjs /tmp/kv.json          ROUNDS=5 INSPECTOR_PORT=13029
//   BUILD_DIR=/tmp/tg-names TOP=15 node bench/first-request.mjs /tmp/kv.json
//                                   also the functions with the most self time in first requests
//                                   (a TG_KEEP_NAMES=1 build, as for bench/profile.mjs)
//
// The wasm module is instantiated when the script loads, before the first request; what the
// first request pays is App::new (settings, key parsing), the lazy compilation of the wasm
// functions it runs, and p256's basepoint table on the first signature. An inspector makes
// console.log serialise each audit line for DevTools too, so token requests read a little high.
// The empty worker (bench/empty-worker, built by bench/token.sh) is measured alike when built.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { busyMs, connect } from "./devtools.mjs";
import { ROOT, builtWorkerOptions, startWorker } from "../tests/miniflare/helpers.mjs";

const [kvFile] = process.argv.slice(2);
if (!kvFile) {
  console.error("usage: node bench/first-request.mjs KV.json (tollgate policy render policy/demo.toml)");
  process.exit(2);
}
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const INSPECTOR_PORT = Number(process.env.INSPECTOR_PORT ?? 13029);
const TOP = Number(process.env.TOP ?? 0);
const BUILD_DIR = process.env.BUILD_DIR;
const CI_KEY = "tgk_Lsz1CsKo6xnYht2ybBbHfEn8vl5ZdQIszo6se_vOGDk"; // policy/README.md: demo only
const basic = (u, p) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });
const SCOPE = "/token?service=registry.local&scope=repository:org/app:pull,push";
const form = (body) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(body).toString(),
});

const kv = {};
for (const { key, value } of JSON.parse(readFileSync(kvFile, "utf8"))) kv[key] = value;

// Each kind: how to make its request; `setup` runs first (unprofiled) when the kind needs state.
const KINDS = [
  { name: "/healthz", path: "/healthz" },
  { name: "anonymous /token", path: "/token?service=registry.local" },
  { name: "API key (ci-bot, Basic)", path: SCOPE, init: { headers: basic("ci-bot", CI_KEY) } },
  { name: "API key (ci-bot, Bearer)", path: SCOPE, init: { headers: { authorization: `Bearer ${CI_KEY}` } } },
  { name: "password (alice, bcrypt cost 10)", path: SCOPE, init: { headers: basic("alice", "alice-demo-pass") } },
  {
    name: "refresh token grant (after an API-key login)",
    setup: async (w) => {
      const r = await w.fetch("/token?service=registry.local&offline_token=true", { headers: basic("ci-bot", CI_KEY) });
      return { refresh_token: (await r.json()).refresh_token };
    },
    path: "/token",
    init: (s) => form({ grant_type: "refresh_token", refresh_token: s.refresh_token, service: "registry.local" }),
  },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Self time (us) by function name in `profile`, added to `into`. */
function selfTimes(profile, into) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  profile.samples.forEach((id, i) => {
    const name = (byId.get(id).callFrame.functionName || "(anonymous)").replace(/::h[0-9a-f]{16}/g, "");
    into.set(name, (into.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
}

async function measure(start, name, kind) {
  const first = [];
  const warm = [];
  const self = new Map();
  for (let r = 0; r < ROUNDS; r++) {
    const w = await start();
    const devtools = await connect(INSPECTOR_PORT, name);
    try {
      const state = kind.setup ? await kind.setup(w) : undefined;
      const init = typeof kind.init === "function" ? kind.init(state) : kind.init;
      const once = async () => {
        const res = await w.fetch(kind.path, init);
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${kind.name}: ${res.status}`);
      };
      // With a setup request the isolate is no longer new: its "first" is a first of this kind.
      const profile = await devtools.profile(once, 50);
      first.push(busyMs(profile));
      selfTimes(profile, self);
      warm.push(busyMs(await devtools.profile(once, 50)));
    } finally {
      devtools.close();
      await w.dispose();
    }
  }
  if (TOP) {
    const top = [...self].filter(([n]) => n !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, TOP);
    const line = ([n, us]) => `      ${(us / 1000 / ROUNDS).toFixed(2).padStart(7)} ms  ${n.slice(0, 110)}`;
    console.log(`    ${kind.name}: self time in the first request, per isolate\n${top.map(line).join("\n")}`);
  }
  return { first: median(first), warm: median(warm) };
}

const quiet = { handleRuntimeStdio: (o, e) => (o.resume(), e.resume()), inspectorPort: INSPECTOR_PORT };
const tollgate = () =>
  startWorker({
    vars: { MODE: "issuer" },
    kv,
    miniflare: quiet,
    worker: BUILD_DIR ? { scriptPath: join(BUILD_DIR, "index.js"), modulesRoot: BUILD_DIR } : undefined,
  }).then((w) => ({
    fetch: (p, i) => w.fetch(p, i),
    dispose: () => w.dispose(),
  }));
const emptyDir = join(ROOT, "bench", "empty-worker", "build");
const empty = async () => {
  const mf = new Miniflare({ ...builtWorkerOptions(emptyDir), name: "empty", ...quiet, host: "127.0.0.1", port: 0 });
  const base = (await mf.ready).href.replace(/\/$/, "");
  return { fetch: (p, i) => fetch(base + p, i), dispose: () => mf.dispose() };
};

console.log(`CPU of the isolate thread per request (V8 samples, median of ${ROUNDS} new isolates)`);
console.log(`${"request".padEnd(48)}${"first (new isolate)".padStart(22)}${"warm".padStart(12)}`);
const row = (name, m) =>
  console.log(`${name.padEnd(48)}${`${m.first.toFixed(2)} ms`.padStart(22)}${`${m.warm.toFixed(2)} ms`.padStart(12)}`);
if (existsSync(join(emptyDir, "index.js"))) row("empty Rust worker, GET /", await measure(empty, "empty", { path: "/" }));
for (const kind of KINDS) row(`Tollgate ${kind.name}`, await measure(tollgate, "tollgate", kind));
