#!/usr/bin/env node
// How long a worker's wasm takes to reach its steady state under token load (issue 17): V8
// compiles each wasm function in its baseline tier (Liftoff) on first call and recompiles it with
// TurboFan once it has run enough. Every STEP seconds of load (bench/token-load.mjs: ci-bot's
// token request, CONNECTIONS keep-alive clients) this prints how many functions TurboFan compiled
// in that step, from V8's --trace-wasm-compilation-times (workerd's Config.v8Flags, the worker
// under workerd alone: bench/workerd-direct.mjs). bench/token.sh warms each target up for WARMUP
// seconds before measuring because of what this shows.
//
//   target/release/tollgate policy render policy/demo.toml > /tmp/kv.json
//   node bench/tier-up.mjs /tmp/kv.json              BUILD_DIR=build STEPS=15 STEP=2 CONNECTIONS=8
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startDirect, tollgateBindings } from "./workerd-direct.mjs";
import { tokenLoad } from "./token-load.mjs";
import { ROOT, readKvFile } from "../tests/miniflare/helpers.mjs";

const [kvFile] = process.argv.slice(2);
if (!kvFile) {
  console.error("usage: node bench/tier-up.mjs KV.json (tollgate policy render policy/demo.toml)");
  process.exit(2);
}
const STEPS = Number(process.env.STEPS ?? 15);
const STEP = Number(process.env.STEP ?? 2);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 8);
const kv = readKvFile(kvFile);

let lines = [];
const w = await startDirect({
  dir: process.env.BUILD_DIR ?? join(ROOT, "build"),
  bindings: tollgateBindings(),
  kv,
  v8Flags: ["--trace-wasm-compilation-times"],
  stdout: (out) => createInterface({ input: out }).on("line", (l) => lines.push(l)),
});
const load = tokenLoad(w.url, CONNECTIONS);
console.log(`${"after".padStart(8)}${"requests".padStart(10)}${"TurboFan fns".padStart(14)}${"bytes".padStart(9)}`
  + `${"Liftoff fns".padStart(13)}   (compiled in each ${STEP} s step)`);
let turbofanTotal = 0;
try {
  for (let i = 1; i <= STEPS; i++) {
    lines = [];
    load.sent = 0;
    await load.run(STEP * 1000);
    await new Promise((r) => setTimeout(r, 100)); // the trace reaches stdout asynchronously
    const tf = lines.filter((l) => / using TurboFan/.test(l));
    const lo = lines.filter((l) => / using Liftoff/.test(l));
    const bytes = tf.reduce((s, l) => s + Number(/bodysize (\d+)/.exec(l)?.[1] ?? 0), 0);
    turbofanTotal += tf.length;
    console.log(`${`${i * STEP} s`.padStart(8)}${String(load.sent).padStart(10)}${String(tf.length).padStart(14)}`
      + `${String(bytes).padStart(9)}${String(lo.length).padStart(13)}`);
  }
  console.log(`TurboFan compiled ${turbofanTotal} functions in ${STEPS * STEP} s; failed requests: ${load.failed}`);
} finally {
  load.agent.destroy();
  await w.dispose();
}
