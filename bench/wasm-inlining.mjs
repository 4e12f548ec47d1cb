#!/usr/bin/env node
// Which calls V8's optimising tier declines to inline in a worker's hot wasm, and with what budget
// (issue 17, steady state). V8 inlines a direct call into a function it recompiles with TurboFan
// while the callee fits a budget proportional to the caller's size; the proportion depends on the
// module as a whole, so the same crate code (p256's field arithmetic, say) can be inlined fully in
// a small worker and partly in Tollgate. Runs a names build (TG_KEEP_NAMES=1) under workerd alone
// with V8's --trace-wasm-inlining while SECONDS of ci-bot token load run, then prints the budget
// per byte of caller that V8 used (median over the functions it optimised) and the callers in
// which it declined calls for want of budget, by Rust name.
//
//   TG_KEEP_NAMES=1 bash scripts/build.sh && cp -r build /tmp/tg-names
//   target/release/tollgate policy render policy/demo.toml > /tmp/kv.json
//   node bench/wasm-inlining.mjs /tmp/tg-names /tmp/kv.json [SECONDS=25]
//   TG_KEEP_NAMES=1 bash scripts/build.sh bench/floor-worker && cp -r bench/floor-worker/build /tmp/floor-prof
//   TARGET=floor node bench/wasm-inlining.mjs /tmp/floor-prof - [SECONDS]       (the protocol floor)
//
// Function names come from binaryen's wasm-dis (node_modules/.bin), which numbers imported and
// defined functions in one index space in module order, as V8's trace does.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startDirect, tollgateBindings } from "./workerd-direct.mjs";
import { tokenLoad } from "./token-load.mjs";
import { ROOT, keyFixture, readKvFile } from "../tests/miniflare/helpers.mjs";

const [dir, kvFile, secondsArg] = process.argv.slice(2);
const TARGET = process.env.TARGET ?? "tollgate";
if (!dir || (TARGET === "tollgate" && (!kvFile || kvFile === "-"))) {
  console.error("usage: node bench/wasm-inlining.mjs NAMES_BUILD_DIR KV.json [SECONDS]   (TARGET=floor: KV.json is -)");
  process.exit(2);
}
const SECONDS = Number(secondsArg ?? 25);

// Function index -> name, from the text form's `(func $name` lines (imports come first).
const wat = execFileSync(join(ROOT, "node_modules/.bin/wasm-dis"), [join(dir, "index_bg.wasm")], {
  maxBuffer: 1 << 30,
}).toString();
const names = [...wat.matchAll(/^ \((?:import "[^"]*" "[^"]*" )?\(?func \$("[^"]*"|\S+)/gm)]
  .map((m) => m[1].replace(/^"|"$/g, "").replace(/::h[0-9a-f]{16}$/, ""));
const name = (i) => names[i] ?? `#${i}`;

// The floor takes a key and its certificate and no KV (as in profile.mjs); Tollgate the demo's.
// keyFixture generates keys (an RSA one too), so only the floor calls it.
const floorBindings = ({ privateKeyPem, certPem }) => ({ SIGNING_KEY: privateKeyPem, SIGNING_CERT: certPem });
const worker = TARGET === "floor"
  ? { bindings: floorBindings(keyFixture().es256) }
  : {
    bindings: tollgateBindings(),
    kv: readKvFile(kvFile),
  };
const lines = [];
const w = await startDirect({
  dir,
  ...worker,
  v8Flags: ["--trace-wasm-inlining"],
  stdout: (o) => createInterface({ input: o }).on("line", (l) => lines.push(l)),
});
const load = tokenLoad(w.url, 8);
try {
  await load.run(SECONDS * 1000);
  await new Promise((r) => setTimeout(r, 200)); // the trace reaches stdout asynchronously
} finally {
  load.agent.destroy();
  await w.dispose();
}

// "[function 297: expanding topmost caller... budget=min(2084, 2125), size 732->732 ..."
const factors = [];
for (const l of lines) {
  const m = /^\[function (\d+): expanding topmost caller\.\.\. budget=min\((\d+), (\d+)\), size (\d+)->/.exec(l);
  if (m && Number(m[4]) >= 200) factors.push(Number(m[2]) / Number(m[4]));
}
factors.sort((a, b) => a - b);
// "[function 297: in function 297, considering call #4, case #0, to function 936 (...) ... not enough inlining budget]"
const declined = new Map();
for (const l of lines) {
  const m = /^\[function (\d+): in function (\d+), considering call #\d+, case #\d+, to function (\d+) .*not enough inlining budget/.exec(l);
  if (!m) continue;
  const key = `${name(Number(m[2]))}  ->  ${name(Number(m[3]))}`;
  declined.set(key, (declined.get(key) ?? 0) + 1);
}
console.log(`${TARGET}: ${load.sent} requests in ${SECONDS} s (${load.failed} failed); ${factors.length} functions of 200+ bytes optimised`);
if (factors.length) {
  console.log(`inlining budget per byte of caller: median ${factors[factors.length >> 1].toFixed(3)}`
    + ` (min ${factors[0].toFixed(3)}, max ${factors[factors.length - 1].toFixed(3)})`);
}
console.log("calls declined for want of budget (caller -> callee: call sites):");
for (const [k, n] of [...declined].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 25))) {
  console.log(`${String(n).padStart(5)}  ${k.slice(0, 180)}`);
}
