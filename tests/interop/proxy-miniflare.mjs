// Serves the built Tollgate worker in MODE=both under plain Miniflare (workerd without wrangler's
// dev proxy and inspector, which buffer or retain streamed bodies) for proxy-stream.sh.
//   node tests/interop/proxy-miniflare.mjs ORIGIN_URL
// Prints "READY <url>" once listening; stops on SIGTERM/SIGINT. KV holds one user, alice
// (password alice-demo-pass), with pull+push on org/*.
import bcrypt from "bcryptjs";
import { startWorker } from "../miniflare/helpers.mjs";

const origin = process.argv[2];
if (!origin) {
  console.error("usage: proxy-miniflare.mjs ORIGIN_URL");
  process.exit(2);
}
const w = await startWorker({
  vars: { MODE: "both", ORIGIN: origin, ORIGIN_TIMEOUT: "60", PROXY_SERVICE: "registry.local" },
  kv: {
    "user:alice": { password: bcrypt.hashSync("alice-demo-pass", 4), groups: ["writers"] },
    acl: [{ match: { group: "writers", type: "repository", name: "org/*" }, actions: ["pull", "push"] }],
  },
});
const url = await w.mf.ready;
console.log(`READY ${url.href.replace(/\/$/, "")}`);
const stop = async () => {
  await w.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
