// A worker under workerd alone, without Miniflare (issue 17, first request of a new isolate).
//
// Miniflare puts two JavaScript workers of its own on the thread that runs the measured isolate:
// its entry worker, which every request passes through, and its KV simulator, which answers every
// KV read (and compiles its own JavaScript on the first). Neither is there on Cloudflare, where a
// request reaches the isolate from the runtime and a KV read is I/O to another service. Here
// workerd serves the worker on its own socket and its KV namespace is an `external` service: a
// small HTTP server in this node process speaking the protocol workerd's KV binding speaks to
// Miniflare's simulator (GET /<key>, POST /bulk/get, PUT and DELETE /<key>), so a KV read costs
// the isolate's thread what it costs on Cloudflare's: the request out and the answer in.
//
// startDirect({ dir, script, bindings, kv, kvBinding, after }) -> { url, fetch, dispose, pid }
//   dir:      a build directory (index.js + index_bg.wasm from scripts/build.sh), or
//   script:   the source of a JavaScript module worker;
//   bindings: text bindings (vars and secrets);
//   kv:       initial KV contents { key: value } for the namespace bound as `kvBinding`;
//   v8Flags:  V8 flags for workerd (Config.v8Flags), e.g. a compilation trace;
//   stdout:   called with workerd's stdout stream (ignored otherwise);
//   stdoutPath: or a file workerd writes its stdout to (as bench/workerd-stdout-to-file.sh does
//             under Miniflare: a host's log collector reading a file);
//   wrap:     a command that runs workerd, e.g. valgrind and its options (first-request.mjs's
//             instruction counts); readySeconds: how long to wait for it to serve (default 10);
//   after:    true to create one more (empty) isolate after the measured one. workerd flushes
//             every Liftoff-compiled wasm function of the process whenever it creates an isolate
//             (bench/README.md), and creates them in configuration order at startup: with `after`
//             the code the worker's startup compiled is thrown away before its first request, as
//             it is under Miniflare (7 isolates) and whenever the runtime starts another isolate
//             in between; without, whatever startup compiled is still there.
//   flusher:  true to add a service that starts a new isolate on demand (workerd's worker loader,
//             behind `--experimental`): the returned `flush()` creates one, as another tenant's
//             isolate starting in the same process does at Cloudflare, which flushes the measured
//             isolate's Liftoff code while it stays warm (bench/flushed-warm.mjs).
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:http";
import { once } from "node:events";
import { closeSync, copyFileSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMPATIBILITY_DATE, DEFAULT_VARS, ROOT, defaultSecrets, workerdBinary } from "../tests/miniflare/helpers.mjs";

const WASM_OPT = join(ROOT, "node_modules", ".bin", "wasm-opt");

/** The realm the benches give Tollgate, as production sets one (README "Deploying"): without
 * REALM each isolate's first request logs a warning, a console line of its own. */
export const BENCH_REALM = "http://tollgate.test/token";

/** Tollgate's settings under workerd alone: the tests' defaults and secrets, REALM, and
 * LOGIN_THROTTLE=off (the throttle's rate-limit binding is a Miniflare one; a bench's token
 * requests never fail a login, the only thing it counts); `vars` over them. */
export const tollgateBindings = (vars = {}) => ({
  ...DEFAULT_VARS, ...defaultSecrets(), LOGIN_THROTTLE: "off", REALM: BENCH_REALM, ...vars,
});

/** A KV namespace over HTTP, as workerd's KV binding asks Miniflare's simulator. */
async function kvServer(initial) {
  const store = new Map(Object.entries(initial));
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url, "http://kv");
    const key = decodeURIComponent(url.pathname.slice(1));
    if (req.method === "POST" && url.pathname === "/bulk/get") {
      const { keys } = JSON.parse(body);
      const out = {};
      for (const k of keys) out[k] = store.get(k) ?? null;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(out));
    } else if (req.method === "GET" && key) {
      if (store.has(key)) res.writeHead(200).end(store.get(key));
      else res.writeHead(404).end("Not Found");
    } else if (req.method === "PUT" && key) {
      store.set(key, body);
      res.writeHead(200).end();
    } else if (req.method === "DELETE" && key) {
      store.delete(key);
      res.writeHead(200).end();
    } else {
      res.writeHead(501).end(`this bench's KV server does not answer ${req.method} ${url.pathname}`);
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return server;
}

const freePort = async () => {
  const s = createServer().listen(0, "127.0.0.1");
  await once(s, "listening");
  const { port } = s.address();
  s.close();
  return port;
};

async function waitForPort(port, child, seconds = 10) {
  for (let i = 0; i < seconds * 200; i++) {
    if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}) before serving`);
    const ok = await new Promise((resolve) => {
      const c = connect(port, "127.0.0.1", () => (c.destroy(), resolve(true)));
      c.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`workerd did not start serving within ${seconds} s`);
}

const text = (s) => JSON.stringify(String(s));

/** valgrind's callgrind as a `wrap` (add `--callgrind-out-file=`): instructions of every thread,
 * one output file per thread; JIT code needs `--smc-check` (V8 writes and rewrites its code). */
export const CALLGRIND = ["valgrind", "--tool=callgrind", "--smc-check=all-non-file", "--separate-threads=yes"];

/** Function index -> name in a build's wasm (`dir/index_bg.wasm`; a names-keeping build for
 * Rust's names), from binaryen's own listing, imports first as in wasm's index space. */
export function functionNames(dir) {
  const map = execFileSync(WASM_OPT, [join(dir, "index_bg.wasm"), "--print-function-map"], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  return new Map(map.split("\n").filter(Boolean).map((l) => {
    const i = l.indexOf(":");
    return [Number(l.slice(0, i)), l.slice(i + 1).replace(/::h[0-9a-f]{16}$/, "")];
  }));
}

/** The names of the functions `dir`'s wasm defines (not imports), in index order: the last
 * `[funcs]` (binaryen's count of defined functions) of [`functionNames`]. */
export function definedFunctionNames(dir) {
  const metrics = execFileSync(WASM_OPT, [join(dir, "index_bg.wasm"), "--all-features", "--metrics"], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const defined = Number(/\[funcs\]\s*:\s*(\d+)/.exec(metrics)?.[1]);
  const names = [...functionNames(dir)].sort((x, y) => x[0] - y[0]).map(([, n]) => n);
  if (!(defined > 0 && defined <= names.length)) throw new Error(`binaryen's metrics of ${dir}: no [funcs] count`);
  return names.slice(names.length - defined);
}

/** Callgrind's events (all threads) of the outputs in `dir` whose names match `files` (one file
 * per thread), by name: `Ir` (instructions), and with `--cache-sim=yes` the simulated cache's
 * misses too (`I1mr`, `ILmr`, `D1mr`, `DLmr`, `D1mw`, `DLmw`...). Throws if no file matches. */
export function callgrindEvents(dir, files = /./) {
  const total = {};
  let read = 0;
  for (const f of readdirSync(dir)) {
    if (!files.test(f)) continue;
    const out = readFileSync(join(dir, f), "utf8");
    const names = /^events: (.+)$/m.exec(out)?.[1].trim().split(/\s+/);
    const values = /^summary: (.+)$/m.exec(out)?.[1].trim().split(/\s+/).map(Number);
    if (!names || !values) continue;
    names.forEach((n, i) => (total[n] = (total[n] ?? 0) + (values[i] ?? 0)));
    read++;
  }
  if (!read) throw new Error(`no callgrind output in ${dir}`);
  return total;
}

/** Instructions (all threads) of the callgrind outputs in `dir` whose names match `files`. */
export const callgrindInstructions = (dir, files = /./) => callgrindEvents(dir, files).Ir;

/** CPU ticks (utime + stime, all threads) of process `pid`. */
const processTicks = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // fields 14 and 15 of proc(5)
};

/** Waits until process `pid` has used no CPU for a second (at most `maxSeconds`): the
 * compilation V8 leaves to its background threads (TurboFan jobs of startup's warm-up, or of a
 * request) is then done, so an instruction count holds all of it. A fixed wait was not enough on
 * a busy machine: one run counted ~40 M instructions of startup's TurboFan jobs in the first
 * request instead. */
/** CPU (ms) of process `pid`'s main thread so far: workerd's, which runs its isolates. */
export const threadMs = (pid) => Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;

export async function settle(pid, maxSeconds = 150) {
  let last = processTicks(pid);
  let quiet = 0;
  for (let i = 0; i < maxSeconds * 4 && quiet < 4; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const now = processTicks(pid);
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
} // a Cap'n Proto text literal (JSON's escapes are a subset)

export async function startDirect({
  dir, script, bindings = {}, kv = {}, kvBinding = "TOLLGATE_KV", after = true, v8Flags = [], stdout, stdoutPath,
  wrap = [], readySeconds = 10, flusher = false,
}) {
  const work = mkdtempSync(join(tmpdir(), "tg-workerd-direct-"));
  let modules;
  if (dir) {
    copyFileSync(join(dir, "index.js"), join(work, "index.js"));
    copyFileSync(join(dir, "index_bg.wasm"), join(work, "index_bg.wasm"));
    modules = `(name = "index.js", esModule = embed "index.js"), (name = "index_bg.wasm", wasm = embed "index_bg.wasm")`;
  } else {
    writeFileSync(join(work, "worker.js"), script);
    modules = `(name = "worker.js", esModule = embed "worker.js")`;
  }
  writeFileSync(join(work, "other.js"), `export default { fetch() { return new Response("other"); } };`);
  const kvHttp = await kvServer(kv);
  const port = await freePort();
  const binding = Object.entries(bindings).map(([k, v]) => `(name = ${text(k)}, text = ${text(v)})`);
  binding.push(`(name = ${text(kvBinding)}, kvNamespace = "kv")`);
  const services = [
    `(name = "main", worker = (modules = [${modules}], compatibilityDate = ${text(COMPATIBILITY_DATE)}, bindings = [${binding.join(", ")}], globalOutbound = "internet"))`,
    `(name = "kv", external = (address = "127.0.0.1:${kvHttp.address().port}", http = ()))`,
    // Subrequests (the proxy's origin) go to loopback, which workerd's default outbound refuses.
    `(name = "internet", network = (allow = ["public", "private", "local"]))`,
  ];
  if (after) {
    services.push(`(name = "other", worker = (modules = [(name = "other.js", esModule = embed "other.js")], compatibilityDate = ${text(COMPATIBILITY_DATE)}))`);
  }
  const sockets = [`(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")`];
  const flushPort = flusher ? await freePort() : undefined;
  if (flusher) {
    // Each request loads a worker under a new id, so workerd constructs a new isolate for it.
    writeFileSync(join(work, "flusher.js"), `let n = 0;
export default {
  async fetch(req, env) {
    const w = env.LOADER.get("isolate-" + ++n, () => ({
      compatibilityDate: ${JSON.stringify(COMPATIBILITY_DATE)},
      mainModule: "w.js",
      modules: { "w.js": "export default { fetch() { return new Response('new isolate'); } };" },
    }));
    return w.getEntrypoint().fetch("http://isolate/");
  },
};`);
    services.push(`(name = "flusher", worker = (modules = [(name = "flusher.js", esModule = embed "flusher.js")], compatibilityDate = ${text(COMPATIBILITY_DATE)}, bindings = [(name = "LOADER", workerLoader = (id = "flusher"))]))`);
    sockets.push(`(name = "flush", address = "127.0.0.1:${flushPort}", http = (), service = "flusher")`);
  }
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [${services.join(",\n    ")}],
  sockets = [${sockets.join(", ")}],
  v8Flags = [${v8Flags.map(text).join(", ")}],
);
`;
  writeFileSync(join(work, "config.capnp"), config);
  const out = stdoutPath ? openSync(stdoutPath, "a") : stdout ? "pipe" : "ignore";
  const argv = [...wrap, await workerdBinary(), "serve", join(work, "config.capnp"), ...(flusher ? ["--experimental"] : [])];
  const child = spawn(argv[0], argv.slice(1), {
    cwd: work,
    stdio: ["ignore", out, "pipe"],
  });
  if (typeof out === "number") closeSync(out);
  if (stdout) stdout(child.stdout);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d).length > 65536 && (stderr = stderr.slice(-32768)));
  try {
    await waitForPort(port, child, readySeconds);
  } catch (e) {
    child.kill("SIGKILL");
    kvHttp.close();
    rmSync(work, { recursive: true, force: true });
    throw new Error(`${e.message}\n${stderr}`);
  }
  const base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    pid: child.pid,
    stderr: () => stderr,
    fetch: (p, init) => fetch(base + p, init),
    flush: async () => {
      const r = await fetch(`http://127.0.0.1:${flushPort}/`);
      if ((await r.text()) !== "new isolate") throw new Error(`flusher: ${r.status}`);
    },
    dispose: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
      kvHttp.closeAllConnections?.();
      kvHttp.close();
      rmSync(work, { recursive: true, force: true });
    },
  };
}
