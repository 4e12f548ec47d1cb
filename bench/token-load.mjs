// The load bench/profile.mjs and bench/tail.mjs put on a worker (bench/token.sh's (b) with node
// as the client): `connections` keep-alive clients, each sending ci-bot's token request as soon
// as its last one ended.
import http from "node:http";

export const CI_KEY = "tgk_Lsz1CsKo6xnYht2ybBbHfEn8vl5ZdQIszo6se_vOGDk.Y2ktYm90"; // policy/README.md: demo only
export const TOKEN_PATH = "/token?service=registry.local&scope=repository:org/app:pull,push";

/** A load on `base` (e.g. "http://127.0.0.1:8787"); `sent` and `failed` count its requests. */
export function tokenLoad(base, connections) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const headers = { authorization: `Basic ${Buffer.from(`ci-bot:${CI_KEY}`).toString("base64")}` };
  const load = {
    agent,
    sent: 0,
    failed: 0,
    /** One request; resolves with [start, latency] in ms once its body ended, or null on a
     * connection error. A status other than 200 counts as failed. */
    once() {
      const start = performance.now();
      return new Promise((res) => {
        const req = http.get(`${base}${TOKEN_PATH}`, { agent, headers }, (r) => {
          if (r.statusCode !== 200) load.failed++;
          r.resume();
          r.on("end", () => {
            load.sent++;
            res([start, performance.now() - start]);
          });
        });
        req.on("error", () => {
          load.sent++;
          load.failed++;
          res(null);
        });
      });
    },
    /** Keeps every connection busy for `ms`; `onResponse(start, latency)` for each response. */
    async run(ms, onResponse = () => {}) {
      const end = performance.now() + ms;
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (performance.now() < end) {
            const r = await load.once();
            if (r) onResponse(...r);
          }
        }),
      );
    },
  };
  return load;
}
