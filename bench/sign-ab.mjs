// Compares builds of bench/sign-worker (e.g. one per release profile) by the cost of one ES256
// signature, interleaved so that this shared machine's noise hits every build alike:
//
//   bash scripts/build.sh bench/sign-worker && cp -r bench/sign-worker/build /tmp/sign-A
//   (change the profile in bench/sign-worker/Cargo.toml, rebuild, copy to /tmp/sign-B, ...)
//   node bench/sign-ab.mjs /tmp/sign-A /tmp/sign-B ...      ROUNDS=15 N=300
//
// Each build runs in its own workerd (Miniflare). After a warm-up (V8 tiers the hot wasm
// functions up), every round sends one `?n=N` request to each build in turn; a request signs N
// tokens, so its wall time / N is the cost of a signature (the clock is frozen inside workerd,
// hence timed from here). Prints min and median ms per signature per build.
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { Miniflare } from "miniflare";
import { builtWorkerOptions, keyFixture } from "../tests/miniflare/helpers.mjs";

const dirs = process.argv.slice(2).map((d) => resolve(d));
if (dirs.length === 0) {
  console.error("usage: node bench/sign-ab.mjs BUILD_DIR [BUILD_DIR...]  (copies of bench/sign-worker/build)");
  process.exit(2);
}
const ROUNDS = Number(process.env.ROUNDS ?? 15);
const N = Number(process.env.N ?? 300); // the sign-worker accepts n <= 1000

const workers = dirs.map(
  (dir) =>
    new Miniflare({
      ...builtWorkerOptions(dir),
      bindings: { SIGNING_KEY: keyFixture().es256.privateKeyPem },
    }),
);

async function timeOne(mf) {
  const t0 = performance.now();
  const res = await mf.dispatchFetch(`http://sign.local/?n=${N}`);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`sign-worker answered ${res.status}: ${body.slice(0, 200)}`);
  return performance.now() - t0;
}

try {
  for (const mf of workers) for (let i = 0; i < 6; i++) await timeOne(mf);
  const samples = dirs.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < workers.length; i++) samples[i].push((await timeOne(workers[i])) / N);
  }
  console.log(`ms per ES256 signature, ${ROUNDS} interleaved rounds of n=${N}:`);
  for (let i = 0; i < dirs.length; i++) {
    const s = samples[i].sort((a, b) => a - b);
    console.log(`  ${dirs[i].padEnd(40)} min ${s[0].toFixed(3)}  median ${s[Math.floor(s.length / 2)].toFixed(3)}`);
  }
} finally {
  for (const mf of workers) await mf.dispose();
}
