// Test harness: runs the *built* worker (build/index.js + build/index_bg.wasm, produced by
// scripts/build.sh) inside Miniflare's workerd, so the suites exercise exactly what ships.
//
//   import { startWorker, keyFixture } from "./helpers.mjs";
//   const w = await startWorker({ vars: { MODE: "issuer" }, kv: { acl: [...] } });
//   try { const res = await w.fetch("/token?service=registry.local"); ... } finally { await w.dispose(); }
//
// Defaults mirror wrangler.toml's [vars] plus freshly generated signing keys (see keyFixture), so a
// test only states what it changes. A value of `undefined` in `vars`/`secrets` removes that binding
// (to test a missing setting).

import { execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync, createPublicKey } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { jwtVerify } from "jose";
import { Log, LogLevel, Miniflare } from "miniflare";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SCRIPT_PATH = join(ROOT, "build", "index.js");
export const WASM_PATH = join(ROOT, "build", "index_bg.wasm");

/** Same as wrangler.toml; workerd refuses a date newer than itself. */
export const COMPATIBILITY_DATE = "2026-04-01";
// index.js imports "./index_bg.wasm"; this rule turns that import into a WebAssembly.Module.
const WASM_MODULE_RULES = [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }];

/**
 * Miniflare options for a worker that scripts/build.sh built into `buildDir` (index.js +
 * index_bg.wasm): the bench workers, or copies of a build. Spread further options after it.
 */
export function builtWorkerOptions(buildDir) {
  return {
    modules: true,
    scriptPath: join(buildDir, "index.js"),
    modulesRoot: buildDir,
    modulesRules: WASM_MODULE_RULES,
    compatibilityDate: COMPATIBILITY_DATE,
  };
}
export const KV_BINDING = "TOLLGATE_KV";

/** wrangler.toml's [vars], kept in sync by hand (Miniflare does not read wrangler.toml). */
export const DEFAULT_VARS = Object.freeze({
  ISSUER: "tollgate-dev",
  SERVICES: "registry.local chartmuseum.local",
  RS256_SERVICES: "chartmuseum.local",
  TOKEN_TTL: "300",
  REFRESH_TTL: "2592000",
  MODE: "issuer",
  CACHE_TTL: "30",
});

/** wrangler.toml's [[ratelimits]] (brute-force throttle of failed logins), kept in sync by hand. */
export const DEFAULT_RATELIMITS = Object.freeze({
  LOGIN_LIMITER: Object.freeze({ simple: Object.freeze({ limit: 10, period: 60 }) }),
});

let cachedKeys;

/**
 * Signing material generated once per test process: an ES256 (P-256) key with a self-signed
 * certificate (the x5c chain the registry checks) and an RS256 key for ChartMuseum. Keys come
 * from Node's crypto; the certificate from the openssl CLI (Node cannot issue X.509).
 * Returns PEM strings (private keys as PKCS#8) plus public JWKs and KeyObjects for verification.
 */
export function keyFixture() {
  if (cachedKeys) return cachedKeys;
  const es = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const esPem = es.privateKey.export({ type: "pkcs8", format: "pem" });
  const rsaPem = rsa.privateKey.export({ type: "pkcs8", format: "pem" });
  const certPem = selfSignedCert(esPem, "tollgate-test");
  cachedKeys = Object.freeze({
    es256: Object.freeze({
      privateKeyPem: esPem,
      certPem,
      publicKey: es.publicKey,
      publicKeyPem: es.publicKey.export({ type: "spki", format: "pem" }),
      jwk: es.publicKey.export({ format: "jwk" }),
    }),
    rs256: Object.freeze({
      privateKeyPem: rsaPem,
      publicKey: rsa.publicKey,
      publicKeyPem: rsa.publicKey.export({ type: "spki", format: "pem" }),
      jwk: rsa.publicKey.export({ format: "jwk" }),
    }),
  });
  return cachedKeys;
}

/** A self-signed X.509 certificate (PEM) for the given PKCS#8 private key, valid 30 days. */
export function selfSignedCert(privateKeyPem, commonName = "tollgate-test") {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-cert-"));
  try {
    const keyFile = join(dir, "key.pem");
    const certFile = join(dir, "cert.pem");
    writeFileSync(keyFile, privateKeyPem, { mode: 0o600 });
    execFileSync(
      "openssl",
      ["req", "-x509", "-new", "-key", keyFile, "-out", certFile, "-days", "30",
        "-sha256", "-subj", `/CN=${commonName}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    return readFileSync(certFile, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The secrets a dev setup puts in .dev.vars, from keyFixture(). */
export function defaultSecrets() {
  const k = keyFixture();
  return {
    SIGNING_KEY: k.es256.privateKeyPem,
    SIGNING_CERT: k.es256.certPem,
    RSA_SIGNING_KEY: k.rs256.privateKeyPem,
  };
}

/** Merge overrides into defaults; an override of `undefined` deletes the key. */
function merge(defaults, overrides = {}) {
  const out = { ...defaults };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete out[name];
    else out[name] = value;
  }
  return out;
}

/** KV values may be given as strings or as JSON-serialisable values. */
function kvValue(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * Start the built worker under Miniflare.
 * @param {object} [opts]
 * @param {Record<string,string|undefined>} [opts.vars]    overrides for DEFAULT_VARS
 * @param {Record<string,string|undefined>} [opts.secrets] overrides for defaultSecrets()
 * @param {Record<string,unknown>} [opts.kv]  initial TOLLGATE_KV contents (non-strings are JSON-encoded)
 * @param {boolean} [opts.log]  show the worker's console output (default: env TOLLGATE_TEST_LOG=1)
 * @param {Record<string,object>|null} [opts.ratelimits]  Rate Limiting bindings (default
 *   DEFAULT_RATELIMITS; `null` for none, to test a missing binding)
 * @param {boolean} [opts.captureStdout]  collect the worker's stdout lines (the audit lines) in
 *   `stdout` instead of printing them; stderr is still shown when `log` is on
 * @param {object} [opts.worker]  extra Miniflare options for Tollgate's worker (e.g. serviceBindings;
 *   `kvNamespaces: []` leaves TOLLGATE_KV unbound, and then `kv` is not seeded)
 * @param {object[]} [opts.workers]  further workers run next to Tollgate (e.g. a faulty KV service)
 * @param {object} [opts.miniflare]  extra shared Miniflare options (e.g. handleRuntimeStdio)
 * @param {(mf: Miniflare) => unknown} [opts.onReady]  called once workerd is ready, before `kv` is
 *   seeded (bench/first-request.mjs reads the isolate's startup CPU there)
 * @returns {Promise<{mf: Miniflare, fetch: (path: string, init?: RequestInit) => Promise<Response>,
 *   kv: KVNamespace, bindings: Record<string,string>, stdout: string[], dispose: () => Promise<void>}>}
 */
export async function startWorker(opts = {}) {
  if (!existsSync(SCRIPT_PATH) || !existsSync(WASM_PATH)) {
    throw new Error(`${SCRIPT_PATH} or ${WASM_PATH} is missing: run scripts/build.sh first`);
  }
  const bindings = merge(merge(DEFAULT_VARS, opts.vars), merge(defaultSecrets(), opts.secrets));
  const showLog = opts.log ?? process.env.TOLLGATE_TEST_LOG === "1";
  const stdout = [];
  const captureStdio = (out, err) => {
    createInterface({ input: out }).on("line", (line) => stdout.push(line));
    if (showLog) err.pipe(process.stderr);
    else err.resume();
  };
  const main = {
    name: "tollgate",
    modules: true,
    scriptPath: SCRIPT_PATH,
    modulesRules: WASM_MODULE_RULES,
    compatibilityDate: COMPATIBILITY_DATE,
    kvNamespaces: [KV_BINDING],
    ratelimits: opts.ratelimits === undefined ? DEFAULT_RATELIMITS : (opts.ratelimits ?? undefined),
    bindings,
    ...opts.worker,
  };
  const shared = {
    cf: false,
    host: "127.0.0.1",
    port: 0,
    log: showLog ? new Log(LogLevel.DEBUG) : undefined,
    ...(opts.captureStdout ? { handleRuntimeStdio: captureStdio } : {}),
    ...opts.miniflare,
  };
  // With extra workers the first one (Tollgate) receives dispatchFetch.
  const mf = new Miniflare(opts.workers ? { ...shared, workers: [main, ...opts.workers] } : { ...shared, ...main });
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    await mf.dispose();
  };
  try {
    await mf.ready;
    await opts.onReady?.(mf);
    const kvBound = (main.kvNamespaces ?? []).includes(KV_BINDING);
    const kv = kvBound ? await mf.getKVNamespace(KV_BINDING) : undefined;
    for (const [key, value] of Object.entries(kvBound ? opts.kv ?? {} : {})) {
      await kv.put(key, kvValue(value));
    }
    const fetch = (path, init) => {
      const url = /^https?:\/\//.test(path) ? path : `http://tollgate.test${path.startsWith("/") ? "" : "/"}${path}`;
      return mf.dispatchFetch(url, init);
    };
    return { mf, fetch, kv, bindings, stdout, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/**
 * Miniflare options that collect workerd's stdout/stderr (the worker's console lines) into
 * `chunks`, echoing them to stderr when TOLLGATE_TEST_LOG=1.
 * @param {string[]} chunks
 */
export function captureStdio(chunks) {
  return {
    handleRuntimeStdio(stdout, stderr) {
      for (const s of [stdout, stderr]) {
        s.setEncoding("utf8");
        s.on("data", (chunk) => {
          chunks.push(chunk);
          if (process.env.TOLLGATE_TEST_LOG === "1") process.stderr.write(chunk);
        });
      }
    },
  };
}

/**
 * For the serve scripts (bench/token-serve.mjs, tests/interop/proxy-miniflare.mjs): prints
 * "READY <url>" for the caller to wait on, then disposes of `served` and exits on SIGTERM/SIGINT.
 * @param {{url: URL, dispose: () => Promise<void>}} served
 */
export function serveUntilSignalled(served) {
  console.log(`READY ${served.url.href.replace(/\/$/, "")}`);
  const stop = async () => {
    await served.dispose();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

/**
 * Makes every Miniflare started after this run its workerd through `script` (a bench wrapper:
 * stdout to a file, V8 flags), which execs the real binary named in TG_REAL_WORKERD; `vars` are
 * the wrapper's own settings.
 */
export async function wrapWorkerd(script, vars = {}) {
  Object.assign(process.env, vars, { TG_REAL_WORKERD: await workerdBinary(), MINIFLARE_WORKERD_PATH: script });
}

/** The workerd binary Miniflare runs: the `workerd` package's default export (CommonJS interop). */
export async function workerdBinary() {
  const pkg = (await import("workerd")).default;
  const binary = typeof pkg === "string" ? pkg : pkg.default;
  if (typeof binary !== "string") throw new Error("cannot find the workerd binary in the workerd package");
  return binary;
}

/** The KV contents `tollgate policy render` wrote to `path` (a JSON array of {key, value}), as
 * { key: value } for startWorker's `kv` (the benches read the demo policy this way). */
export function readKvFile(path) {
  const kv = {};
  for (const { key, value } of JSON.parse(readFileSync(path, "utf8"))) kv[key] = value;
  return kv;
}

/** Basic auth header value for account:password. */
export function basic(account, password) {
  return `Basic ${Buffer.from(`${account}:${password}`, "utf8").toString("base64")}`;
}

/**
 * Verifies a token the worker issued with an independent JOSE implementation (jose), against
 * the fixture's public key for `alg`. Throws on a bad signature, wrong alg, expired token, or an
 * `aud`/`iss` mismatch when those are given. Returns { payload, protectedHeader }.
 * @param {string} token
 * @param {{alg?: "ES256"|"RS256", audience?: string, issuer?: string, currentDate?: Date}} [opts]
 */
export async function verifyJwt(token, opts = {}) {
  const alg = opts.alg ?? "ES256";
  const k = keyFixture();
  const key = alg === "RS256" ? k.rs256.publicKey : k.es256.publicKey;
  return jwtVerify(token, key, {
    algorithms: [alg],
    ...(opts.audience !== undefined ? { audience: opts.audience } : {}),
    ...(opts.issuer !== undefined ? { issuer: opts.issuer } : {}),
    ...(opts.currentDate !== undefined ? { currentDate: opts.currentDate } : {}),
  });
}

/**
 * libtrust key ID of a public key, recomputed independently of Tollgate: SHA-256 of the DER SPKI,
 * first 30 bytes, RFC 4648 base32 without padding, groups of 4 joined by ':' (48 chars).
 * @param {import("node:crypto").KeyObject} publicKey
 */
export function libtrustKid(publicKey) {
  const der = publicKey.export({ type: "spki", format: "der" });
  const sum = createHash("sha256").update(der).digest().subarray(0, 30);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of sum) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g).join(":");
}
