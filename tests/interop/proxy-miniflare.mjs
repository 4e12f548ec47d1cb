// Serves a built worker under plain Miniflare (workerd without wrangler's dev proxy and inspector
// session, which buffer or retain streamed bodies and add per-request CPU) for proxy-stream.sh and
// bench/proxy.sh.
//   node tests/interop/proxy-miniflare.mjs ORIGIN_URL            Tollgate, MODE=both
//   node tests/interop/proxy-miniflare.mjs ORIGIN_URL noauth     bench/proxy-noauth-worker
//   node tests/interop/proxy-miniflare.mjs ORIGIN_URL noledger   Tollgate with PULL_LEDGER=off
// Prints "READY <url>" once listening; stops on SIGTERM/SIGINT. Tollgate's KV holds one user,
// alice (password alice-demo-pass), with pull+push on org/*.
import bcrypt from "bcryptjs";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { ROOT, builtWorkerOptions, serveUntilSignalled, startWorker } from "../miniflare/helpers.mjs";

const origin = process.argv[2];
if (!origin) {
  console.error("usage: proxy-miniflare.mjs ORIGIN_URL [noauth]");
  process.exit(2);
}

async function serveNoAuth() {
  const mf = new Miniflare({
    ...builtWorkerOptions(join(ROOT, "bench", "proxy-noauth-worker", "build")),
    bindings: { ORIGIN: origin },
    host: "127.0.0.1",
    port: 0,
  });
  return { url: await mf.ready, dispose: () => mf.dispose() };
}

async function serveTollgate(extra = {}) {
  const w = await startWorker({
    vars: { MODE: "both", ORIGIN: origin, ORIGIN_TIMEOUT: "60", PROXY_SERVICE: "registry.local", ...extra },
    kv: {
      "user:alice": { password: bcrypt.hashSync("alice-demo-pass", 4), groups: ["writers"] },
      acl: [{ match: { group: "writers", type: "repository", name: "org/*" }, actions: ["pull", "push"] }],
    },
  });
  return { url: await w.mf.ready, dispose: () => w.dispose() };
}

const kind = process.argv[3];
const served = kind === "noauth" ? await serveNoAuth()
  : await serveTollgate(kind === "noledger" ? { PULL_LEDGER: "off" } : {});
serveUntilSignalled(served);
