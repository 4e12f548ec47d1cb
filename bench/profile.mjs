// Where a token's CPU goes: a V8 CPU profile of Tollgate's isolate under load, summarised.
//
//   TG_KEEP_NAMES=1 bash scripts/build.sh && cp -r build /tmp/tg-prof && bash scripts/build.sh
//   target/release/tollgate policy render policy/demo.toml > /tmp/kv.json
//   node bench/profile.mjs /tmp/tg-prof /tmp/kv.json [SECONDS=10] [OUT.cpuprofile]   WARMUP=40
//   TG_KEEP_NAMES=1 bash scripts/build.sh bench/sign-worker && cp -r bench/sign-worker/build /tmp/sign-prof
//   TARGET=sign node bench/profile.mjs /tmp/sign-prof - 10 /tmp/sign.cpuprofile   (the bare signer)
//   TARGET=floor node bench/profile.mjs /tmp/floor-prof - 10 /tmp/floor.cpuprofile (bench/floor-worker)
//   node bench/profile-diff.mjs /tmp/tg.cpuprofile /tmp/sign.cpuprofile          (us per request)
//
// The build must keep its names section (TG_KEEP_NAMES=1; scripts/build.sh strips it from the
// shipped worker) or wasm frames show as numbers. Starts that build under Miniflare with the
// inspector on, warms it up (WARMUP s), then profiles the isolate through the DevTools protocol while this
// process keeps CONNECTIONS requests in flight (GET /token for ci-bot, warm caches: token.sh's
// (b)). Prints the call tree (inclusive %, self %) and the functions with the most self time; the
// raw profile opens in Chrome DevTools.
//
// Caveat: with an inspector attached, console.log also serialises each message for DevTools, so
// the audit line's cost is overstated here (bench/token-ab.sh measures it without the inspector).
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Miniflare } from "miniflare";
import { connect } from "./devtools.mjs";
import { tokenLoad } from "./token-load.mjs";
import { builtWorkerOptions, keyFixture, startWorker, readKvFile } from "../tests/miniflare/helpers.mjs";

const [dir, kvFile, seconds = "10", out] = process.argv.slice(2);
if (!dir || !kvFile) {
  console.error("usage: node bench/profile.mjs BUILD_DIR KV.json [SECONDS] [OUT.cpuprofile]");
  process.exit(2);
}
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 8);
const INSPECTOR_PORT = Number(process.env.INSPECTOR_PORT ?? 9329);
const MIN_PCT = Number(process.env.MIN_PCT ?? 0.7);
// TARGET=sign profiles the bare signer (a names build of bench/sign-worker as BUILD_DIR; KV.json
// is not read, pass -) under the same load, for bench/profile-diff.mjs; TARGET=floor the protocol
// floor (bench/floor-worker, which also takes the certificate), likewise.
const TARGET = process.env.TARGET ?? "tollgate";
if (!["tollgate", "sign", "floor"].includes(TARGET)) throw new Error(`TARGET=${TARGET}: tollgate, sign or floor`);
const BENCH_CRATE = TARGET !== "tollgate";
// Seconds of the same load before profiling: V8 tiers Tollgate's wasm up over ~30 s
// (bench/tier-up.mjs), as bench/token.sh's WARMUP says.
const WARMUP = Number(process.env.WARMUP ?? 40);

const root = resolve(dir);
const drain = (o, e) => (o.resume(), e.resume()); // the audit lines are not wanted here
let w;
if (BENCH_CRATE) {
  const key = keyFixture().es256;
  const mf = new Miniflare({
    ...builtWorkerOptions(root),
    bindings: {
      SIGNING_KEY: key.privateKeyPem,
      ...(TARGET === "floor" ? { SIGNING_CERT: key.certPem } : {}),
    },
    host: "127.0.0.1",
    port: 0,
    inspectorPort: INSPECTOR_PORT,
    handleRuntimeStdio: drain,
  });
  w = { mf, dispose: () => mf.dispose() };
} else {
  w = await startWorker({
    vars: { MODE: "issuer" },
    kv: readKvFile(kvFile),
    worker: { scriptPath: join(root, "index.js"), modulesRoot: root },
    miniflare: { inspectorPort: INSPECTOR_PORT, handleRuntimeStdio: drain },
  });
}
const base = (await w.mf.ready).href.replace(/\/$/, "");

// The sign worker ignores the path and the Authorization header, the floor reads both without
// checking them: the same requests fit all three.
const load = tokenLoad(base, CONNECTIONS);

// Miniflare names the worker's inspector target after the worker ("" when unnamed).
const devtools = await connect(INSPECTOR_PORT, BENCH_CRATE ? "" : "tollgate");

await load.run(WARMUP * 1000); // V8 tiers the hot wasm up, the isolate's caches fill
load.sent = 0;
const profile = await devtools.profile(() => load.run(Number(seconds) * 1000));
devtools.close();
load.agent.destroy();
await w.dispose();
// The request count rides along, so bench/profile-diff.mjs can give microseconds per request.
profile.requests = load.sent;
if (out) writeFileSync(out, JSON.stringify(profile));

// Summaries. Inclusive time merges a node's children by function name, so a tree level shows
// each callee once.
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfCount = new Map();
for (const s of profile.samples) selfCount.set(s, (selfCount.get(s) ?? 0) + 1);
const total = profile.samples.length;
const inclusive = new Map();
const sum = (id) => {
  const n = byId.get(id);
  let s = selfCount.get(id) ?? 0;
  for (const c of n.children ?? []) s += sum(c);
  inclusive.set(id, s);
  return s;
};
sum(profile.nodes[0].id);
const name = (n) =>
  (n.callFrame.functionName || `(anonymous ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber})`).replace(
    /::h[0-9a-f]{16}/g,
    "",
  );
const pct = (c) => ((100 * c) / total).toFixed(1).padStart(5);
const lines = [];
const walk = (ids, depth) => {
  const groups = new Map();
  for (const id of ids) {
    const n = byId.get(id);
    const g = groups.get(name(n)) ?? { incl: 0, self: 0, kids: [] };
    g.incl += inclusive.get(id);
    g.self += selfCount.get(id) ?? 0;
    g.kids.push(...(n.children ?? []));
    groups.set(name(n), g);
  }
  for (const [k, g] of [...groups].sort((a, b) => b[1].incl - a[1].incl)) {
    if ((100 * g.incl) / total < MIN_PCT) continue;
    lines.push(`${pct(g.incl)} ${pct(g.self)}  ${"  ".repeat(depth)}${k.slice(0, 110)}`);
    walk(g.kids, depth + 1);
  }
};
walk([profile.nodes[0].id], 0);
console.log(`${load.sent} requests (${load.failed} failed) in ${seconds} s, ${total} samples at 100 us`);
console.log(`\ncall tree (>= ${MIN_PCT}% inclusive)\n incl  self  function`);
console.log(lines.join("\n"));
const selfByName = new Map();
for (const [id, c] of selfCount) selfByName.set(name(byId.get(id)), (selfByName.get(name(byId.get(id))) ?? 0) + c);
console.log("\nself time, top 30\n self  function");
for (const [k, c] of [...selfByName].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${pct(c)}  ${k.slice(0, 120)}`);
process.exit(load.failed ? 1 : 0);
