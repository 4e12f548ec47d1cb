#!/usr/bin/env node
// Cold start (issue 14): the first request of a new isolate against warm ones, for the built
// Tollgate worker (build/, scripts/build.sh) with sign-in configured. Each round starts a fresh
// Miniflare/workerd process (a new isolate), times how long until it is ready, then the first
// request and the median of the next WARM requests, for three paths:
//   /healthz              the runtime, the wasm instance and TokenService::new (settings, keys parsed once)
//   /token (anonymous)    + the ACL read and one ES256 signature
//   /account/style.css    + the sign-in setup (SIGNIN_* parsed, keys derived), built on first use
// Each path gets its own fresh process so its first request is really the isolate's first.
// Figures are wall-clock through Miniflare's dispatchFetch on a shared machine: compare ratios.
//
//   node bench/cold-start.mjs            ROUNDS=5 WARM=30
import { performance } from "node:perf_hooks";
import { startWorker } from "../tests/miniflare/helpers.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const WARM = Number(process.env.WARM ?? 30);
const PATHS = ["/healthz", "/token?service=registry.local", "/account/style.css"];
const SIGNIN = {
  SIGNIN_PROVIDERS: JSON.stringify([{ name: "corp", issuer: "http://127.0.0.1:9", client_id: "tg" }]),
  SIGNIN_URL: "http://127.0.0.1:8787",
};
const SECRETS = { SIGNIN_SECRET_CORP: "s", SIGNIN_SESSION_KEY: "k".repeat(48) };

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function timed(w, path) {
  const t = performance.now();
  const res = await w.fetch(path);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
  return performance.now() - t;
}

const rows = [];
for (const path of PATHS) {
  const ready = [];
  const first = [];
  const warm = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    const w = await startWorker({ vars: SIGNIN, secrets: SECRETS, kv: { acl: [] }, captureStdout: true });
    ready.push(performance.now() - t);
    try {
      first.push(await timed(w, path));
      const ws = [];
      for (let i = 0; i < WARM; i++) ws.push(await timed(w, path));
      warm.push(median(ws));
    } finally {
      await w.dispose();
    }
  }
  rows.push({ path, ready: median(ready), first: median(first), warm: median(warm) });
}

console.log(`cold start, median of ${ROUNDS} fresh isolates per path (warm: median of ${WARM} later requests)`);
console.log("path                              process ready   first request   warm request   first/warm");
for (const r of rows) {
  console.log(
    `${r.path.padEnd(34)}${r.ready.toFixed(0).padStart(10)} ms${r.first.toFixed(2).padStart(13)} ms`
      + `${r.warm.toFixed(2).padStart(12)} ms${(r.first / r.warm).toFixed(1).padStart(11)}x`,
  );
}
