// Serves one built worker under plain Miniflare (workerd without wrangler's dev proxy and
// inspector session, which add their own noisy per-request cost) for bench/token.sh:
//   node bench/token-serve.mjs empty                 bench/empty-worker
//   node bench/token-serve.mjs sign                  bench/sign-worker (SIGNING_KEY from the fixture)
//   node bench/token-serve.mjs floor                 bench/floor-worker (SIGNING_KEY and SIGNING_CERT
//                                                    from the fixture, as Tollgate's)
//   node bench/token-serve.mjs tollgate KV.json [DIR] [VARS]
//                                                    Tollgate (build/, or DIR: a copy of build/ for
//                                                    bench/token-ab.sh), KV seeded from KV.json, the
//                                                    output of `tollgate policy render policy/demo.toml`;
//                                                    VARS: `NAME=VALUE,...` over the test defaults
//                                                    (e.g. TOKEN_X5C=off), to compare configurations
// One process per worker, so each has its own workerd whose CPU time bench/token.sh reads.
// TG_HARNESS=workerd serves it under workerd alone instead (bench/workerd-direct.mjs: the worker on
// its own socket, KV answered by this process), with no Miniflare entry worker in front of every
// request, as on Cloudflare (bench/README.md, "The tail").
// Prints "READY <url>" once listening; stops on SIGTERM/SIGINT.
import { join, resolve } from "node:path";
import { Miniflare } from "miniflare";
import { ROOT, builtWorkerOptions, keyFixture, serveUntilSignalled, startWorker, wrapWorkerd, readKvFile } from "../tests/miniflare/helpers.mjs";
import { startDirect, tollgateBindings } from "./workerd-direct.mjs";

const DIRECT = process.env.TG_HARNESS === "workerd";
if (!["workerd", "miniflare", undefined].includes(process.env.TG_HARNESS)) {
  throw new Error(`TG_HARNESS=${process.env.TG_HARNESS}: miniflare (the default) or workerd`);
}

/** A build directory under workerd alone; stdout to TG_WORKERD_STDOUT's file if set. */
async function serveDirect(dir, bindings, kv = {}) {
  const w = await startDirect({ dir, bindings, kv, after: false, stdoutPath: process.env.TG_WORKERD_STDOUT || undefined });
  return { url: new URL(w.url), dispose: () => w.dispose() };
}

const [kind, kvFile, buildDir, varsArg = ""] = process.argv.slice(2);
// `NAME=VALUE,...`: settings over the defaults, for bench/token-ab.sh's `DIR+NAME=VALUE` targets.
const extraVars = Object.fromEntries(varsArg.split(",").filter(Boolean).map((item) => {
  const eq = item.indexOf("=");
  if (eq < 1) throw new Error(`VARS item ${JSON.stringify(item)} is not NAME=VALUE`);
  return [item.slice(0, eq), item.slice(eq + 1)];
}));

// TG_WORKERD_STDOUT=FILE: workerd writes its stdout (console.log lines) to FILE rather than to
// Miniflare's pipe (bench/workerd-stdout-to-file.sh says why); unset or empty: Miniflare's pipe,
// drained below. bench/token-lib.sh's `serve` sets it.
if (process.env.TG_WORKERD_STDOUT && !DIRECT) await wrapWorkerd(join(ROOT, "bench", "workerd-stdout-to-file.sh"));

async function serveBenchCrate(dir, bindings) {
  if (DIRECT) return serveDirect(join(ROOT, "bench", dir, "build"), bindings);
  const mf = new Miniflare({
    ...builtWorkerOptions(join(ROOT, "bench", dir, "build")),
    bindings,
    host: "127.0.0.1",
    port: 0,
  });
  return { url: await mf.ready, dispose: () => mf.dispose() };
}

async function serveTollgate() {
  if (!kvFile) throw new Error("usage: token-serve.mjs tollgate KV.json");
  const kv = readKvFile(kvFile);
  if (DIRECT) {
    const bindings = tollgateBindings({ MODE: "issuer", ...extraVars });
    return serveDirect(buildDir ? resolve(buildDir) : join(ROOT, "build"), bindings, kv);
  }
  const worker = buildDir
    ? { scriptPath: join(resolve(buildDir), "index.js"), modulesRoot: resolve(buildDir) }
    : undefined;
  // Tollgate writes an audit line per token (console.log). workerd still writes each one (its
  // CPU is counted), but this process drops them rather than relaying ~3 MB/s to its log file on
  // the same 2 cores as the worker and wrk: a cost of the local harness, not of the worker (on
  // Cloudflare the runtime ships logs outside the isolate). stderr (console.error) still shows.
  const drainStdout = (out, err) => {
    out.resume();
    err.pipe(process.stderr);
  };
  const w = await startWorker({ vars: { MODE: "issuer", ...extraVars }, kv, worker, miniflare: { handleRuntimeStdio: drainStdout } });
  return { url: await w.mf.ready, dispose: () => w.dispose() };
}

let served;
if (kind === "empty") served = await serveBenchCrate("empty-worker", {});
else if (kind === "sign") served = await serveBenchCrate("sign-worker", { SIGNING_KEY: keyFixture().es256.privateKeyPem });
else if (kind === "floor") {
  const k = keyFixture().es256;
  served = await serveBenchCrate("floor-worker", { SIGNING_KEY: k.privateKeyPem, SIGNING_CERT: k.certPem });
} else if (kind === "tollgate") served = await serveTollgate();
else {
  console.error("usage: token-serve.mjs empty|sign|floor|tollgate [KV.json]");
  process.exit(2);
}
serveUntilSignalled(served);
