// Where a token's CPU goes: a V8 CPU profile of Tollgate's isolate under load, summarised.
//
//   TG_KEEP_NAMES=1 bash scripts/build.sh && cp -r build /tmp/tg-prof && bash scripts/build.sh
//   target/release/tollgate policy render policy/demo.toml > /tmp/kv.json
//   node bench/profile.mjs /tmp/tg-prof /tmp/kv.json [SECONDS=10] [OUT.cpuprofile]
//
// The build must keep its names section (TG_KEEP_NAMES=1; scripts/build.sh strips it from the
// shipped worker) or wasm frames show as numbers. Starts that build under Miniflare with the
// inspector on, warms it up, then profiles the isolate through the DevTools protocol while this
// process keeps CONNECTIONS requests in flight (GET /token for ci-bot, warm caches: token.sh's
// (b)). Prints the call tree (inclusive %, self %) and the functions with the most self time; the
// raw profile opens in Chrome DevTools.
//
// Caveat: with an inspector attached, console.log also serialises each message for DevTools, so
// the audit line's cost is overstated here (bench/token-ab.sh measures it without the inspector).
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join, resolve } from "node:path";
import { connect } from "./devtools.mjs";
import { startWorker } from "../tests/miniflare/helpers.mjs";

const [dir, kvFile, seconds = "10", out] = process.argv.slice(2);
if (!dir || !kvFile) {
  console.error("usage: node bench/profile.mjs BUILD_DIR KV.json [SECONDS] [OUT.cpuprofile]");
  process.exit(2);
}
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 8);
const INSPECTOR_PORT = Number(process.env.INSPECTOR_PORT ?? 9329);
const MIN_PCT = Number(process.env.MIN_PCT ?? 0.7);
const CI_KEY = "tgk_Lsz1CsKo6xnYht2ybBbHfEn8vl5ZdQIszo6se_vOGDk"; // policy/README.md: demo only
const TOKEN_PATH = "/token?service=registry.local&scope=repository:org/app:pull,push";

const kv = {};
for (const { key, value } of JSON.parse(readFileSync(kvFile, "utf8"))) kv[key] = value;
const root = resolve(dir);
const w = await startWorker({
  vars: { MODE: "issuer" },
  kv,
  worker: { scriptPath: join(root, "index.js"), modulesRoot: root },
  // The audit lines are not wanted here: drain the runtime's output.
  miniflare: { inspectorPort: INSPECTOR_PORT, handleRuntimeStdio: (o, e) => (o.resume(), e.resume()) },
});
const base = (await w.mf.ready).href.replace(/\/$/, "");

// Load: CONNECTIONS keep-alive clients, each sending its next request when the last one ends.
const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const auth = `Basic ${Buffer.from(`ci-bot:${CI_KEY}`).toString("base64")}`;
let sent = 0;
let failed = 0;
function once() {
  return new Promise((res) => {
    const req = http.get(`${base}${TOKEN_PATH}`, { agent, headers: { authorization: auth } }, (r) => {
      if (r.statusCode !== 200) failed++;
      r.resume();
      r.on("end", res);
    });
    req.on("error", () => {
      failed++;
      res();
    });
  });
}
async function load(ms) {
  const end = Date.now() + ms;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() < end) {
        await once();
        sent++;
      }
    }),
  );
}

const devtools = await connect(INSPECTOR_PORT, "tollgate");

await load(3000); // warm-up: V8 tiers the hot wasm up, the isolate's caches fill
sent = 0;
const profile = await devtools.profile(() => load(Number(seconds) * 1000));
devtools.close();
agent.destroy();
await w.dispose();
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
console.log(`${sent} requests (${failed} failed) in ${seconds} s, ${total} samples at 100 us`);
console.log(`\ncall tree (>= ${MIN_PCT}% inclusive)\n incl  self  function`);
console.log(lines.join("\n"));
const selfByName = new Map();
for (const [id, c] of selfCount) selfByName.set(name(byId.get(id)), (selfByName.get(name(byId.get(id))) ?? 0) + c);
console.log("\nself time, top 30\n self  function");
for (const [k, c] of [...selfByName].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${pct(c)}  ${k.slice(0, 120)}`);
process.exit(failed ? 1 : 0);
