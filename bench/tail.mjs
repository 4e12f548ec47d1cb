// Where Tollgate's slow requests fall in time (issue 17, "the tail"): one build under plain
// Miniflare (as bench/token.sh's (b)), CONNECTIONS keep-alive clients requesting ci-bot tokens
// for SECONDS, every request's start and latency recorded. Prints p50/p99/max, then each
// second with a request over SLOW_MS: how many, the worst, and the second's position in the
// CACHE_TTL cycle (the isolate's records expire together every CACHE_TTL seconds after the
// first request), and whether workerd's audit-line output was blocked then (the stdout reader
// here pauses when PAUSE_STDOUT_MS > 0, to show what a slow log reader does).
//
//   target/release/tollgate policy render policy/demo.toml > /tmp/kv.json
//   node bench/tail.mjs /tmp/kv.json [BUILD_DIR=build] [SECONDS=40]   # CONNECTIONS=8 SLOW_MS=50
//   CACHE_TTL=3600 node bench/tail.mjs /tmp/kv.json                   # the records never expire
//
// The load generator is node on the same cores as workerd: its own pauses show up as latency
// too, so compare runs of this script (and the empty worker's tail in bench/token.sh), not
// absolute figures.
import { join, resolve } from "node:path";
import { Miniflare } from "miniflare";
import { ROOT, builtWorkerOptions, keyFixture, startWorker, readKvFile } from "../tests/miniflare/helpers.mjs";
import { tokenLoad } from "./token-load.mjs";

const [kvFile, dir = "build", seconds = "40"] = process.argv.slice(2);
if (!kvFile) {
  console.error("usage: node bench/tail.mjs KV.json [BUILD_DIR] [SECONDS]");
  process.exit(2);
}
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 8);
const SLOW_MS = Number(process.env.SLOW_MS ?? 50);
const CACHE_TTL = process.env.CACHE_TTL ?? "30";

// TARGET=sign|empty: the same load on bench/sign-worker or bench/empty-worker (built by
// bench/token.sh), whose tail is the machine's and the runtime's, not Tollgate's.
const TARGET = process.env.TARGET ?? "tollgate";
let logBytes = 0;
const countStdout = (out, err) => {
  out.on("data", (chunk) => (logBytes += chunk.length));
  err.pipe(process.stderr);
};
let w;
if (TARGET === "tollgate") {
  const kv = readKvFile(kvFile);
  const root = resolve(dir);
  // Read (and count) the audit lines as bench/token-serve.mjs drains them.
  w = await startWorker({
    vars: { MODE: "issuer", CACHE_TTL },
    kv,
    worker: { scriptPath: join(root, "index.js"), modulesRoot: root },
    miniflare: { handleRuntimeStdio: countStdout },
  });
} else {
  const mf = new Miniflare({
    ...builtWorkerOptions(join(ROOT, "bench", `${TARGET}-worker`, "build")),
    bindings: TARGET === "sign" ? { SIGNING_KEY: keyFixture().es256.privateKeyPem } : {},
    host: "127.0.0.1",
    port: 0,
    handleRuntimeStdio: countStdout,
  });
  w = { mf, dispose: () => mf.dispose() };
}
const base = (await w.mf.ready).href.replace(/\/$/, "");
const load = tokenLoad(base, CONNECTIONS);
const samples = []; // [start ms since t0, latency ms]

// The isolate's first request starts its CACHE_TTL cycle: make it alone, and time from it.
const firstAnswer = await load.once();
if (!firstAnswer) {
  console.error(`${TARGET}: the first request could not connect`);
  process.exit(1);
}
const [first] = firstAnswer;
load.failed = 0;
const t0 = performance.now();
const cycleOffset = t0 - first;
await load.run(Number(seconds) * 1000, (start, ms) => samples.push([start - t0, ms]));
await w.dispose();

const lat = samples.map((s) => s[1]).sort((a, b) => a - b);
const pct = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))].toFixed(1);
console.log(
  `${TARGET}: ${samples.length} requests (${load.failed} failed) in ${seconds} s, c=${CONNECTIONS}, CACHE_TTL=${CACHE_TTL}: ` +
    `p50 ${pct(50)} ms, p90 ${pct(90)}, p99 ${pct(99)}, p99.9 ${pct(99.9)}, max ${lat[lat.length - 1].toFixed(1)} ms; ` +
    `audit output ${(logBytes / 1e6).toFixed(1)} MB`,
);
const bySecond = new Map();
for (const [start, ms] of samples) {
  if (ms < SLOW_MS) continue;
  const s = Math.floor(start / 1000);
  const e = bySecond.get(s) ?? { n: 0, worst: 0 };
  e.n++;
  e.worst = Math.max(e.worst, ms);
  bySecond.set(s, e);
}
const slow = samples.filter((s) => s[1] >= SLOW_MS).length;
console.log(`${slow} requests >= ${SLOW_MS} ms (${((100 * slow) / samples.length).toFixed(2)}%), by second of the run:`);
for (const [s, e] of [...bySecond].sort((a, b) => a[0] - b[0])) {
  const inCycle = (((s * 1000 + cycleOffset) / 1000) % Number(CACHE_TTL)).toFixed(0);
  console.log(`  s=${String(s).padStart(3)}  ${String(e.n).padStart(4)} slow, worst ${e.worst.toFixed(0).padStart(5)} ms  (second ${inCycle} of the ${CACHE_TTL} s cache cycle)`);
}
