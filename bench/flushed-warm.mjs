// What production's flush costs an isolate that is already warm (issue 17, noticed on 12-08).
//
// workerd's isolate constructor signals memory pressure, and V8 then throws away every
// Liftoff-compiled wasm function of the process, every tenant's (bench/README.md, "Under workerd
// alone, and the flush"). first-request.mjs measures that for a new isolate. But a warm Tollgate
// isolate is flushed too whenever another isolate starts in its process: its next request compiles
// again whatever of its path V8 has not yet moved to its optimising tier (TurboFan code is kept).
// This runs one workerd per round with Tollgate and a second service that starts a fresh isolate
// on demand (bench/workerd-direct.mjs `flusher`), and reads the CPU of the thread that runs the
// isolates across: the first request, a warm one, the first after a flush, and a warm one again.
//
//   target/release/tollgate policy render policy/demo.toml > /tmp/kv.json
//   node bench/flushed-warm.mjs /tmp/kv.json          # ROUNDS=11 (a fresh workerd per round and target)
//   FLUSHES=3 node bench/flushed-warm.mjs /tmp/kv.json  # + the 2nd and 3rd flush of the same isolate
//   WARM=2000 node bench/flushed-warm.mjs /tmp/kv.json  # 2,000 requests (8 at a time) before the
//                                                       # flush: traffic tiers the path up to TurboFan,
//                                                       # whose code the flush keeps
//
// Each figure is a median over rounds of the thread's CPU (ms) across one request, after the
// process has been quiet for a second (settle: background compilation counted where it was
// caused); the flush itself (the other isolate's start) is not counted.
import { join } from "node:path";
import { ROOT, basic, readKvFile } from "../tests/miniflare/helpers.mjs";
import { CI_KEY, TOKEN_PATH } from "./token-load.mjs";
import { settle, startDirect, threadMs, tollgateBindings } from "./workerd-direct.mjs";

const kvPath = process.argv[2];
if (!kvPath) throw new Error("usage: node bench/flushed-warm.mjs <kv.json from `tollgate policy render`>");
const ROUNDS = Number(process.env.ROUNDS ?? 11);
const FLUSHES = Number(process.env.FLUSHES ?? 1);
const WARM = Number(process.env.WARM ?? 0);
const kv = readKvFile(kvPath);

const tollgate = join(ROOT, "build");
const TARGETS = [
  { label: "empty Rust worker, GET /", dir: join(ROOT, "bench", "empty-worker", "build"), path: "/" },
  { label: "Tollgate anonymous /token", dir: tollgate, path: "/token?service=registry.local", kv: true },
  { label: "Tollgate API key (ci-bot, Basic)", dir: tollgate, path: TOKEN_PATH, init: { headers: { authorization: basic("ci-bot", CI_KEY) } }, kv: true },
];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** One request of `t`, read to its end; anything but 200 stops the bench. */
async function send(w, t) {
  const res = await w.fetch(t.path, t.init);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${t.label}: ${res.status}`);
}

/** The thread's CPU across one request of `t`, once the process has settled after it. */
async function cpuOf(w, t) {
  await settle(w.pid);
  const before = threadMs(w.pid);
  await send(w, t);
  await settle(w.pid);
  return threadMs(w.pid) - before;
}

const columns = ["first", "warm", ...Array.from({ length: FLUSHES }, (_, i) => `flushed ${i + 1}`), "warm again"];
const results = TARGETS.map(() => columns.map(() => []));
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, t] of TARGETS.entries()) {
    const w = await startDirect({
      dir: t.dir, bindings: t.kv ? tollgateBindings() : {}, kv: t.kv ? kv : {}, after: true, flusher: true,
    });
    try {
      const row = [await cpuOf(w, t), await cpuOf(w, t)];
      // Traffic between the warm request and the flush, 8 requests in flight.
      for (let sent = 0; sent < WARM; sent += 8) {
        await Promise.all(Array.from({ length: Math.min(8, WARM - sent) }, () => send(w, t)));
      }
      for (let f = 0; f < FLUSHES; f++) {
        await settle(w.pid);
        await w.flush();
        row.push(await cpuOf(w, t));
      }
      row.push(await cpuOf(w, t));
      row.forEach((v, c) => results[i][c].push(v));
    } finally {
      await w.dispose();
    }
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS}\r`);
}

console.log(`Thread CPU (ms) across one request, medians of ${ROUNDS} workerd processes per target;`);
console.log("flushed: the first request after another isolate started in the same process"
  + (WARM ? `, after ${WARM} more requests.` : "."));
console.log(`${"target".padEnd(40)}${columns.map((c) => c.padStart(12)).join("")}`);
for (const [i, t] of TARGETS.entries()) {
  console.log(`${t.label.padEnd(40)}${results[i].map((xs) => median(xs).toFixed(2).padStart(12)).join("")}`);
}
