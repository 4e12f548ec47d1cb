// Two V8 CPU profiles from bench/profile.mjs (e.g. Tollgate and the bare signer, TARGET=sign), side
// by side in microseconds of the isolate per request: by group (the signature's crates, serde,
// the allocator, base64, Tollgate's own code, wasm-bindgen glue, runtime calls), then the functions
// whose self time differs most. Figures are inflated by the profiler (the inspector makes
// `console.log` far dearer, see profile.mjs); compare rows, not totals with bench/token.sh.
//
//   node bench/profile-diff.mjs A.cpuprofile B.cpuprofile [TOP=40]
//   INCLUSIVE='http::from_web,serialize_str' node bench/profile-diff.mjs A B
//       also each pattern's inclusive time (the functions matching it and everything they call)
import { readFileSync } from "node:fs";

const [fileA, fileB, top = "40"] = process.argv.slice(2);
if (!fileA || !fileB) {
  console.error("usage: node bench/profile-diff.mjs A.cpuprofile B.cpuprofile [TOP]");
  process.exit(2);
}

const GROUPS = [
  ["signature crates (p256, crypto-bigint, sha2, hmac, rfc6979...)",
    /p256|crypto_bigint|primeorder|__multi3|subtle|ctutils|ecdsa|elliptic|rfc6979|hmac|sha2|digest|ff::|safegcd/],
  ["idle, (program), GC", /^\((idle|program|garbage collector)\)$/],
  ["serde, serde_json", /serde/],
  ["allocator, Vec/String", /dlmalloc|alloc::|__rust_(alloc|dealloc|realloc)|RawVec/],
  ["base64", /base64/],
  ["tollgate_core", /tollgate_core/],
  ["tollgate_worker", /tollgate_worker/],
  ["wasm-bindgen, js-sys, web-sys, worker (Rust side)", /js_sys|wasm_bindgen|web_sys|worker::|__wbindgen|externref/],
  ["wasm-bindgen JS glue (__wbg_*)", /^__wbg_/],
  ["core (str, iter, fmt)", /^<?core|^&|<core/],
  ["runtime and JS builtins (Response, URL, console...)", /./],
];

/** Microseconds per request by function name (self time), from a profile with `requests`. */
function perRequest(file) {
  const p = JSON.parse(readFileSync(file, "utf8"));
  if (!p.requests) throw new Error(`${file} has no request count: record it with bench/profile.mjs OUT`);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const usPerSample = (p.endTime - p.startTime) / p.samples.length;
  const out = new Map();
  for (const s of p.samples) {
    const name = (byId.get(s).callFrame.functionName || "(anonymous)").replace(/::h[0-9a-f]{16}$/, "");
    out.set(name, (out.get(name) ?? 0) + usPerSample / p.requests);
  }
  return out;
}

/** Microseconds per request of the samples whose stack holds a function matching `rx`. */
function inclusive(file, rx) {
  const p = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const usPerSample = (p.endTime - p.startTime) / p.samples.length;
  let us = 0;
  for (const s of p.samples) {
    for (let id = s; id !== undefined; id = parent.get(id)) {
      if (rx.test(byId.get(id).callFrame.functionName)) {
        us += usPerSample / p.requests;
        break;
      }
    }
  }
  return us;
}

const a = perRequest(fileA);
const b = perRequest(fileB);
const names = [...new Set([...a.keys(), ...b.keys()])];
const group = (n) => GROUPS.find(([, rx]) => rx.test(n))[0];
const f = (x) => x.toFixed(2).padStart(8);

console.log(`us per request (self time)    ${"A".padStart(8)} ${"B".padStart(8)} ${"A - B".padStart(8)}`);
console.log(`A = ${fileA}\nB = ${fileB}\n`);
for (const [g] of GROUPS) {
  const [sa, sb] = [a, b].map((m) => names.filter((n) => group(n) === g).reduce((s, n) => s + (m.get(n) ?? 0), 0));
  console.log(`${f(sa)} ${f(sb)} ${f(sa - sb)}  ${g}`);
}
console.log(`\nthe ${top} functions whose self time differs most (A, B, A - B):`);
names
  .map((n) => [n, a.get(n) ?? 0, b.get(n) ?? 0])
  .sort((x, y) => Math.abs(y[1] - y[2]) - Math.abs(x[1] - x[2]))
  .slice(0, Number(top))
  .forEach(([n, x, y]) => console.log(`${f(x)} ${f(y)} ${f(x - y)}  ${n.slice(0, 110)}`));
const patterns = (process.env.INCLUSIVE ?? "").split(",").filter(Boolean);
if (patterns.length) console.log("\ninclusive (A, B, A - B):");
for (const pattern of patterns) {
  const [x, y] = [fileA, fileB].map((file) => inclusive(file, new RegExp(pattern)));
  console.log(`${f(x)} ${f(y)} ${f(x - y)}  ${pattern}`);
}
