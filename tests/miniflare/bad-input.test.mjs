// Hostile and malformed input against the BUILT worker (issue 6, "hardening"): every case is a
// table row naming the expected status, the error format (distribution `{"errors":[...]}` or
// OAuth2 `{"error":...}`) and a fragment of the message a person would act on. Across all rows:
// no 5xx unless the row says so (a malformed KV record is the only server-side fault here), and
// no secret (password, API key, refresh token, Authorization value) appears in any response
// (headers or body) or in any line the worker printed (workerd's stdout/stderr are captured).
//
// Parts: token endpoints (GET /token, POST /token, /oauth/token) in issuer mode; duplicate keys
// in KV records; tokens checked where Tollgate verifies them, the proxy (MODE=both, in front of a
// loopback origin that must never see a refused request); raw HTTP requests for bytes `fetch`
// cannot send (invalid UTF-8 in headers and the query string). Cases already in token.test.mjs
// and proxy.test.mjs (oversized bodies, %FF in a scope, %2F in a proxied name, a token for
// another audience/issuer without the log reason) are not repeated unless a row checks more.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { createServer } from "node:http";
import { connect } from "node:net";
import { once } from "node:events";
import bcrypt from "bcryptjs";
import {
  basic,
  captureStdio,
  keyFixture,
  libtrustKid,
  selfSignedCert,
  startWorker,
} from "./helpers.mjs";

const SERVICE = "registry.local";
const ISSUER = "tollgate-dev";
const keys = keyFixture();

// ---------------------------------------------------------------------------------------------
// Secrets: random per run, so a match in a response or a log line cannot be a coincidence.

const PASS = `pw-${randomBytes(12).toString("hex")}`;
const DUP_PASS = `dup-${randomBytes(12).toString("hex")}`;
const API_KEY = `tgk_${randomBytes(32).toString("base64url")}`;
const sha256hex = (s) => createHash("sha256").update(s, "utf8").digest("hex");

/** Every secret sent in this file (passwords, keys, refresh tokens, Authorization values). */
const SECRETS = new Set([PASS, DUP_PASS, API_KEY]);
/** Everything the worker answered or printed, checked for secrets at the end. */
const SEEN = [];
const STDIO = [];

/** Records an Authorization value as a secret (its credential part, long enough to be one). */
function noteAuthorization(value) {
  if (typeof value !== "string") return;
  const cred = value.includes(" ") ? value.slice(value.indexOf(" ") + 1).trim() : value;
  if (cred.length >= 12) SECRETS.add(cred);
}

// ---------------------------------------------------------------------------------------------
// Running a table row.

const FORMATS = {
  distribution(body) {
    assert.ok(Array.isArray(body.errors) && body.errors.length > 0, "distribution format: errors[]");
    const [e] = body.errors;
    assert.equal(typeof e.code, "string");
    assert.ok(typeof e.message === "string" && e.message.length > 0, "a message");
    return { code: e.code, message: e.message };
  },
  oauth2(body) {
    assert.equal(typeof body.error, "string", "OAuth2 format: error");
    assert.ok(typeof body.error_description === "string" && body.error_description.length > 0);
    return { code: body.error, message: body.error_description };
  },
};

/**
 * @typedef {object} Row
 * @property {string} name
 * @property {string} path
 * @property {RequestInit | (() => RequestInit | Promise<RequestInit>)} [init]
 * @property {number} status
 * @property {"distribution"|"oauth2"|"token"|"forwarded"} format  "token": a successful token
 *   response; "forwarded": the proxy passed the origin's answer through
 * @property {string} [code]        errors[0].code or error
 * @property {RegExp} [message]     fragment of the message
 * @property {RegExp} [challenge]   WWW-Authenticate must match
 */

async function runRow(w, row) {
  const init = typeof row.init === "function" ? await row.init() : (row.init ?? {});
  const headers = new Headers(init.headers ?? {});
  noteAuthorization(headers.get("authorization"));
  const res = await w.fetch(row.path, { ...init, headers });
  const text = await res.text();
  SEEN.push(text, JSON.stringify([...res.headers]));
  const where = `${row.name}: ${res.status} ${text.slice(0, 300)}`;
  assert.equal(res.status, row.status, where);
  if (row.status < 500) assert.ok(res.status < 500, where);
  if (row.challenge) assert.match(res.headers.get("www-authenticate") ?? "", row.challenge, where);
  if (row.format === "forwarded") return { res, text };
  if (row.format === "token") {
    const body = JSON.parse(text);
    assert.ok(body.token || body.access_token, where);
    return { res, body };
  }
  assert.match(res.headers.get("content-type") ?? "", /json/, where);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`${row.name}: the error body is not JSON: ${text.slice(0, 200)}`);
  }
  const { code, message } = FORMATS[row.format](body);
  if (row.code) assert.equal(code, row.code, where);
  if (row.message) assert.match(message, row.message, where);
  assert.equal(body.token, undefined, `${row.name}: an error carries no token`);
  assert.equal(body.access_token, undefined, `${row.name}: an error carries no token`);
  return { res, body };
}

function table(rows, getWorker) {
  for (const row of rows) {
    test(row.name, async () => {
      await runRow(getWorker(), row);
    });
  }
}

const form = (params, extraHeaders = {}) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded", ...extraHeaders },
  body: typeof params === "string" ? params : new URLSearchParams(params).toString(),
});
const auth = (value) => ({ headers: { authorization: value } });
const b64 = (s) => Buffer.from(s).toString("base64");
const q = (pairs) => new URLSearchParams(pairs).toString();

// ---------------------------------------------------------------------------------------------
// Raw HTTP for bytes fetch() will not send (non-ASCII header bytes, raw non-UTF-8 query bytes).

async function rawRequest(url, head) {
  const { hostname, port } = new URL(url);
  const sock = connect(Number(port), hostname);
  await once(sock, "connect");
  const chunks = [];
  sock.on("data", (c) => chunks.push(c));
  sock.end(Buffer.concat([head, Buffer.from(`\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`)]));
  await once(sock, "close");
  const raw = Buffer.concat(chunks);
  const split = raw.indexOf("\r\n\r\n");
  const headText = raw.subarray(0, split).toString("latin1");
  let body = raw.subarray(split + 4);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(headText)) {
    const out = [];
    let i = 0;
    for (;;) {
      const eol = body.indexOf("\r\n", i);
      const n = parseInt(body.subarray(i, eol).toString(), 16);
      if (!n) break;
      out.push(body.subarray(eol + 2, eol + 2 + n));
      i = eol + 2 + n + 2;
    }
    body = Buffer.concat(out);
  }
  return { status: Number(headText.split(" ")[1]), head: headText, body: body.toString("utf8") };
}

// ---------------------------------------------------------------------------------------------
// JWTs made by hand, so every field (header, claims, signature) can be wrong in one way.

const b64u = (x) => Buffer.from(x).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);


const ES_KID = libtrustKid(keys.es256.publicKey);
const RS_KID = libtrustKid(keys.rs256.publicKey);
const ATTACKER = generateKeyPairSync("ec", { namedCurve: "P-256" });
const ATTACKER_PEM = ATTACKER.privateKey.export({ type: "pkcs8", format: "pem" });

const signers = {
  es256: (input, pem = keys.es256.privateKeyPem) =>
    sign("sha256", Buffer.from(input), { key: pem, dsaEncoding: "ieee-p1363" }),
  es256der: (input) => sign("sha256", Buffer.from(input), { key: keys.es256.privateKeyPem, dsaEncoding: "der" }),
  rs256: (input) => sign("sha256", Buffer.from(input), keys.rs256.privateKeyPem),
  hs256: (secret) => (input) => createHmac("sha256", secret).update(input).digest(),
  none: () => Buffer.alloc(0),
};

/** Claims that pass every check for `repo` (pull), overridable field by field. */
function claims(repo, over = {}) {
  const t = now();
  return {
    iss: ISSUER, sub: "pusher", aud: SERVICE, exp: t + 300, nbf: t, iat: t, jti: randomBytes(8).toString("hex"),
    access: [{ type: "repository", name: repo, actions: ["pull"] }],
    ...over,
  };
}

/** header/payload: objects, or strings (to write duplicate keys). */
function jwt(header, payload, signer = signers.es256) {
  const h = typeof header === "string" ? header : JSON.stringify(header);
  const p = typeof payload === "string" ? payload : JSON.stringify(payload);
  const input = `${b64u(h)}.${b64u(p)}`;
  return `${input}.${b64u(signer(input))}`;
}

const esHeader = (over = {}) => ({ alg: "ES256", typ: "JWT", kid: ES_KID, ...over });

// ---------------------------------------------------------------------------------------------
// Issuer mode: users, an API key and an ACL; passwords hashed at cost 4 (fast in wasm).

const HASH = bcrypt.hashSync(PASS, 4);
const ACL = [
  { match: { type: "repository", name: "org/secret*" }, actions: [] },
  { match: { group: "dev", type: "repository", name: "org/*" }, actions: ["pull", "push"] },
  { match: { type: "repository", name: "public/*" }, actions: ["pull"] },
];
function seed() {
  return {
    "user:alice": { password: HASH, groups: ["dev"] },
    "user:ci": { groups: ["dev"] },
    [`apikey:${sha256hex(API_KEY)}`]: { account: "ci", name: "ci", created: 1764316800, expires: null },
    acl: ACL,
  };
}
const ALICE = basic("alice", PASS);

describe("token endpoints: bad input (issuer mode)", () => {
  let w;
  let refreshToken;
  before(async () => {
    w = await startWorker({ kv: seed(), miniflare: captureStdio(STDIO) });
    // A real refresh token, used in rows that must neither accept a mangled copy nor echo it.
    const res = await w.fetch(`/token?service=${SERVICE}&offline_token=true`, { headers: { authorization: ALICE } });
    assert.equal(res.status, 200);
    refreshToken = (await res.json()).refresh_token;
    SECRETS.add(refreshToken);
  });
  after(async () => w?.dispose());

  const get = (query, init) => ({ path: `/token?${query}`, init });
  const svc = `service=${SERVICE}`;

  describe("headers", () => {
    table([
      { name: "oversized Authorization (9 KiB Basic) is 400", ...get(svc, auth(`Basic ${"A".repeat(9 * 1024)}`)),
        status: 400, format: "distribution", message: /Authorization/i },
      { name: "Basic without a colon is 400", ...get(svc, auth(`Basic ${b64("alicepassword")}`)),
        status: 400, format: "distribution", message: /user.*:|colon/i },
      { name: "Basic with invalid base64 is 400", ...get(svc, auth("Basic @@@=#")), status: 400,
        format: "distribution", message: /base64/i },
      { name: "Basic with nothing after the scheme is 400", ...get(svc, auth("Basic ")), status: 400,
        format: "distribution" },
      { name: "an unknown scheme is 400 with a hint", ...get(svc, auth("Digest username=alice")), status: 400,
        format: "distribution", message: /Basic/ },
      { name: "two Authorization values (merged by fetch) are refused", ...get(svc, auth(`${ALICE}, ${ALICE}`)),
        status: 400, format: "distribution" },
      { name: "a control character in the username is refused",
        ...get(svc, auth(`Basic ${b64(`ali\nce:${PASS}`)}`)), status: 400, format: "distribution",
        message: /control characters/ },
      { name: "a 200-byte username is refused, not looked up",
        ...get(svc, auth(`Basic ${b64(`${"u".repeat(200)}:${PASS}`)}`)), status: 400, format: "distribution",
        message: /128|long/ },
      { name: "a 600-byte password is refused before bcrypt",
        ...get(svc, auth(`Basic ${b64(`alice:${"p".repeat(600)}`)}`)), status: 400, format: "distribution",
        message: /512|long/ },
      { name: "a username with ':' cannot exist (Basic splits at the first colon)",
        ...get(svc, auth(`Basic ${b64(`alice:x:${PASS}`)}`)), status: 401, format: "distribution",
        code: "UNAUTHORIZED", challenge: /^Basic realm=/ },
      { name: "a huge User-Agent is fine (bounded in the audit line)",
        ...get(`${svc}&scope=repository:public/x:pull`, { headers: { "user-agent": "ua".repeat(4000) } }),
        status: 200, format: "token" },
      { name: "150 extra headers: the token endpoints read theirs by name, so the token is issued",
        ...get(`${svc}&scope=repository:public/x:pull`, {
          headers: Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`x-h${i}`, "v"])),
        }), status: 200, format: "token" },
      { name: "150 extra headers on a route that reads every header are a 431 (never a trimmed set)",
        path: "/v2/", init: {
          headers: Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`x-h${i}`, "v"])),
        }, status: 431, format: "distribution", message: /at most 100/ },
    ], () => w);

    test("raw non-ASCII bytes in Authorization: 400, not 5xx", async () => {
      const url = (await w.mf.ready).href;
      const value = Buffer.concat([Buffer.from("Basic "), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from("=")]);
      const head = Buffer.concat([Buffer.from(`GET /token?${svc} HTTP/1.1\r\nAuthorization: `), value]);
      const res = await rawRequest(url, head);
      SEEN.push(res.head, res.body);
      assert.equal(res.status, 400, res.body);
      assert.ok(JSON.parse(res.body).errors[0].message.length > 0);
    });

    // The shell hands the core the token endpoints' header fields (src/http.rs `Head`): values
    // holding ':' must arrive whole, and a line break inside a value must never read as a header
    // of its own.
    test("header values holding ':' and ',' reach the core whole (audit line)", async () => {
      const ip = "2001:db8:7::42";
      const ua = "docker/27.3.1 go/go1.22.7 os/linux arch/amd64 UpstreamClient(x: y, z)";
      const from = STDIO.join("").length;
      const res = await w.fetch(`/token?${svc}&scope=repository:public/x:pull`, {
        headers: { "cf-connecting-ip": ip, "user-agent": ua, "x-colons": "a:b::c" },
      });
      assert.equal(res.status, 200, await res.clone().text());
      await res.arrayBuffer();
      let line;
      for (let i = 0; i < 40 && !line; i++) {
        line = STDIO.join("").slice(from).split("\n").map((l) => l.trim())
          .filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).find((o) => o.event === "token");
        if (!line) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(line, "an audit line for the request");
      assert.equal(line.client_ip, ip);
      assert.equal(line.user_agent, ua);
    });

    test("a folded header line (obs-fold) cannot smuggle an Authorization header", async () => {
      const url = (await w.mf.ready).href;
      const head = Buffer.from(`GET /token?${svc}&scope=repository:org/app:pull HTTP/1.1\r\n`
        + `X-Note: a\r\n authorization: ${ALICE}`);
      const res = await rawRequest(url, head);
      SEEN.push(res.head, res.body);
      if (res.status === 200) {
        // Read as one value ("a authorization: Basic ..."): the request is anonymous, which may
        // not pull org/app.
        const claims = JSON.parse(Buffer.from(JSON.parse(res.body).token.split(".")[1], "base64url"));
        assert.deepEqual(claims.access, [], res.body);
      } else {
        assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.body}`);
      }
    });

    test("raw non-UTF-8 bytes (not percent-encoded) in the query: 4xx in distribution format", async () => {
      const url = (await w.mf.ready).href;
      const head = Buffer.concat([Buffer.from(`GET /token?${svc}&scope=repository:`),
        Buffer.from([0xff, 0xc3, 0x28]), Buffer.from(":pull HTTP/1.1")]);
      const res = await rawRequest(url, head);
      SEEN.push(res.head, res.body);
      assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.body}`);
      assert.ok(JSON.parse(res.body).errors[0].code);
    });
  });

  describe("query strings and scope injection (GET /token)", () => {
    const scope = (s) => get(`${svc}&scope=${s}`, auth(ALICE));
    table([
      { name: "a 20 KiB query string is refused", ...get(`${svc}&scope=${"a".repeat(20 * 1024)}`), status: 413,
        format: "distribution", message: /16384|longer/ },
      { name: "300 parameters are refused", ...get(`${svc}&${"x=1&".repeat(300)}`), status: 400,
        format: "distribution", message: /too many parameters/ },
      { name: "invalid UTF-8 in service (%C3%28)", ...get("service=%C3%28"), status: 400, format: "distribution",
        message: /UTF-8/ },
      { name: "a control character in service", ...get("service=registry.local%0Aevil"), status: 400,
        format: "distribution", message: /control/ },
      { name: "a NUL in a scope", ...scope("repository:org/a%00b:pull"), status: 400, format: "distribution" },
      { name: "':' inside a name (repository:org/app:evil:pull)", ...scope("repository:org/app:evil:pull"),
        status: 400, format: "distribution", message: /org\/app:evil/ },
      { name: "',' inside a name (org/app,public/x)", ...scope("repository:org/app,public/x:pull"), status: 400,
        format: "distribution" },
      { name: "'..' as a path component", ...scope("repository:org/../secret:pull"), status: 400,
        format: "distribution" },
      { name: "'..' at the start", ...scope("repository:../org/app:pull"), status: 400, format: "distribution" },
      { name: "a double-encoded slash (%252F) stays a literal %2F and is refused",
        ...scope("repository:org%252Fapp:pull"), status: 400, format: "distribution" },
      { name: "a glob in a requested name cannot widen the grant", ...scope("repository:org/*:pull"), status: 400,
        format: "distribution" },
      { name: "a placeholder in a requested name", ...scope("repository:$%7Baccount%7D/x:pull"), status: 400,
        format: "distribution" },
      { name: "an upper-case name", ...scope("repository:Org/App:pull"), status: 400, format: "distribution" },
      { name: "a 300-byte name", ...scope(`repository:${"a".repeat(300)}:pull`), status: 400,
        format: "distribution" },
      { name: "a scope without actions part", ...scope("repository:org/app"), status: 400,
        format: "distribution" },
      { name: "empty type and name", ...scope("::pull"), status: 400, format: "distribution" },
      { name: "an unclosed resource class", ...scope("repository(plugin:org/app:pull"), status: 400,
        format: "distribution" },
      { name: "registry:anything but catalog", ...scope("registry:users:*"), status: 400, format: "distribution",
        message: /catalog/ },
      { name: "nine actions in one scope", ...scope(`repository:org/app:${"pull,".repeat(9)}push`),
        status: 400, format: "distribution" },
      { name: "33 space-separated scopes in one value",
        ...scope(encodeURIComponent(Array.from({ length: 33 }, (_, i) => `repository:public/r${i}:pull`).join(" "))),
        status: 400, format: "distribution", message: /32/ },
      { name: "service given twice with different values", ...get(`${svc}&service=chartmuseum.local`), status: 400,
        format: "distribution", message: /more than once/ },
      { name: "account given twice with different values",
        ...get(`${svc}&account=alice&account=bob`, auth(ALICE)), status: 400, format: "distribution",
        message: /account.*more than once/ },
      { name: "offline_token with a value that is not a boolean", ...get(`${svc}&offline_token=yes`, auth(ALICE)),
        status: 400, format: "distribution", message: /offline_token/ },
      { name: "a stray '%' and '%G1' are literal characters: invalid name, not a crash",
        ...scope("repository:org/a%25G1%:pull"), status: 400, format: "distribution" },
    ], () => w);

    test("an encoded slash (%2F) decodes once into a valid name and is evaluated as such", async () => {
      const { body } = await runRow(w, { name: "org%2Fapp", ...scope("repository:org%2Fapp:pull"), status: 200,
        format: "token" });
      const payload = JSON.parse(Buffer.from(body.token.split(".")[1], "base64url"));
      assert.deepEqual(payload.access, [{ type: "repository", name: "org/app", actions: ["pull"] }]);
    });

    test("injection never widens a grant: org/secret stays denied however it is spelled", async () => {
      for (const s of ["repository:org/secret:pull", "repository:org/secret:pull%20repository:org/secret:push",
        "repository:org/secret:*"]) {
        const { body } = await runRow(w, { name: s, ...scope(s), status: 200, format: "token" });
        const payload = JSON.parse(Buffer.from(body.token.split(".")[1], "base64url"));
        assert.deepEqual(payload.access.flatMap((a) => a.actions), [], s);
      }
    });
  });

  describe("OAuth2 bodies (POST /token, /oauth/token)", () => {
    const post = (params, headers) => ({ path: "/token", init: form(params, headers) });
    table([
      { name: "invalid UTF-8 in the password", ...post(`grant_type=password&username=alice&password=%FF%FE&service=${SERVICE}`),
        status: 400, format: "oauth2", code: "invalid_request", message: /UTF-8/ },
      { name: "raw invalid UTF-8 bytes in the body",
        path: "/token", init: { ...form(""), body: Buffer.concat([Buffer.from("grant_type=password&username=al"), Buffer.from([0xff]), Buffer.from(`ice&password=x&service=${SERVICE}`)]) },
        status: 400, format: "oauth2", code: "invalid_request", message: /UTF-8/ },
      { name: "only separators", ...post("&&&=&=&"), status: 400, format: "oauth2", code: "invalid_request",
        message: /grant_type/ },
      { name: "grant_type given twice with different values",
        ...post(`grant_type=password&grant_type=refresh_token&username=alice&password=${PASS}&service=${SERVICE}`),
        status: 400, format: "oauth2", code: "invalid_request", message: /grant_type.*more than once/ },
      { name: "username given twice with different values",
        ...post(`grant_type=password&username=bob&username=alice&password=${PASS}&service=${SERVICE}`),
        status: 400, format: "oauth2", code: "invalid_request", message: /username/ },
      { name: "password given twice with different values (neither echoed)",
        ...post(`grant_type=password&username=alice&password=${PASS}&password=${DUP_PASS}&service=${SERVICE}`),
        status: 400, format: "oauth2", code: "invalid_request", message: /password/ },
      { name: "service differs between query string and body",
        path: `/token?service=chartmuseum.local`,
        init: form({ grant_type: "password", username: "alice", password: PASS, service: SERVICE }),
        status: 400, format: "oauth2", code: "invalid_request", message: /service/ },
      { name: "a 600-byte password", ...post({ grant_type: "password", username: "alice", password: "p".repeat(600), service: SERVICE }),
        status: 400, format: "oauth2", code: "invalid_request", message: /512|long/ },
      { name: "a username with ':' and '..' is just an unknown user",
        ...post({ grant_type: "password", username: "../alice:x", password: PASS, service: SERVICE }),
        status: 401, format: "oauth2", code: "invalid_grant" },
      { name: "a username with a glob is just an unknown user",
        ...post({ grant_type: "password", username: "*", password: PASS, service: SERVICE }),
        status: 401, format: "oauth2", code: "invalid_grant" },
      { name: "a refresh token that is not one of ours", ...post({ grant_type: "refresh_token", refresh_token: "tgr_short", service: SERVICE }),
        status: 401, format: "oauth2", code: "invalid_grant" },
      { name: "a truncated refresh token",
        path: "/token", init: () => form({ grant_type: "refresh_token", refresh_token: refreshToken.slice(0, -1), service: SERVICE }),
        status: 401, format: "oauth2", code: "invalid_grant" },
      { name: "a refresh token given twice with different values",
        path: "/token", init: () => form(`grant_type=refresh_token&refresh_token=${refreshToken}&refresh_token=tgr_x&service=${SERVICE}`),
        status: 400, format: "oauth2", code: "invalid_request", message: /refresh_token/ },
      { name: "an API key where a refresh token goes",
        ...post({ grant_type: "refresh_token", refresh_token: API_KEY, service: SERVICE }),
        status: 401, format: "oauth2", code: "invalid_grant" },
      { name: "scope injection in a form body", ...post({ grant_type: "password", username: "alice", password: PASS,
        service: SERVICE, scope: "repository:org/app:evil:pull" }), status: 400, format: "oauth2", code: "invalid_scope" },
      { name: "multipart body", path: "/token",
        init: { method: "POST", headers: { "content-type": "multipart/form-data; boundary=x" }, body: "--x--" },
        status: 400, format: "oauth2", code: "invalid_request", message: /x-www-form-urlencoded/ },
      { name: "charset parameter on the form Content-Type is accepted",
        ...post({ grant_type: "password", username: "alice", password: PASS, service: SERVICE },
          { "content-type": "application/x-www-form-urlencoded; charset=UTF-8" }),
        status: 200, format: "token" },
      { name: "/oauth/token: Bearer with junk", path: "/oauth/token?grant_type=client_credentials&service=chartmuseum.local",
        init: { method: "POST", ...auth("Bearer not-an-api-key-at-all") }, status: 401, format: "oauth2",
        code: "invalid_client", challenge: /^Bearer realm=/ },
      { name: "/oauth/token: Bearer with a 9 KiB value",
        path: "/oauth/token?grant_type=client_credentials&service=chartmuseum.local",
        init: { method: "POST", ...auth(`Bearer ${"k".repeat(9 * 1024)}`) }, status: 400, format: "oauth2",
        code: "invalid_request" },
      { name: "/oauth/token: the API key as Basic password without a username",
        path: "/oauth/token?grant_type=client_credentials&service=chartmuseum.local",
        init: { method: "POST", ...auth(`Basic ${b64(`:${API_KEY}`)}`) }, status: 400, format: "oauth2",
        code: "invalid_request", message: /empty username/ },
    ], () => w);
  });
});

// ---------------------------------------------------------------------------------------------
// Duplicate keys in KV records: a record Tollgate could read two ways is malformed (500, nothing
// granted), never "the last one wins" silently.

describe("duplicate keys in KV JSON records", () => {
  let w;
  before(async () => {
    w = await startWorker({ vars: { CACHE_TTL: "0" }, kv: seed(), miniflare: captureStdio(STDIO) });
  });
  after(async () => w?.dispose());

  const WRONG_HASH = bcrypt.hashSync("not-the-password", 4);
  const DUP_HASH = bcrypt.hashSync(DUP_PASS, 4);
  const cases = [
    ["user: password twice", "user:dup", `{"password":"${WRONG_HASH}","password":"${DUP_HASH}","groups":["dev"]}`,
      () => ({ headers: { authorization: basic("dup", DUP_PASS) } })],
    ["user: disabled twice (true, then false)", "user:dup",
      `{"password":"${DUP_HASH}","disabled":true,"disabled":false,"groups":["dev"]}`,
      () => ({ headers: { authorization: basic("dup", DUP_PASS) } })],
    ["user: a label key twice", "user:dup",
      `{"password":"${DUP_HASH}","groups":["dev"],"labels":{"team":["blue"],"team":["admins"]}}`,
      () => ({ headers: { authorization: basic("dup", DUP_PASS) } })],
    ["apikey: account twice", `apikey:${sha256hex(API_KEY)}`,
      '{"account":"nobody","account":"ci","name":"ci","created":1764316800}',
      () => ({ headers: { authorization: basic("ci", API_KEY) } })],
    ["acl: a match field twice", "acl",
      JSON.stringify(ACL).replace('{"group":"dev"', '{"account":"nobody","account":"alice","group":"dev"'),
      () => ({ headers: { authorization: ALICE } })],
    ["acl: a label matcher twice", "acl",
      JSON.stringify(ACL).replace('{"group":"dev"', '{"labels":{"team":"x","team":"*"},"group":"dev"'),
      () => ({ headers: { authorization: ALICE } })],
    // A workload rule's claim twice ("*" last) would match every repository if the last won.
    // The rule is otherwise valid (workloads only), so only the duplicate makes the ACL malformed.
    ["acl: a claim matcher twice", "acl",
      JSON.stringify(ACL).replace('{"type":"repository","name":"public/*"',
        '{"claims":{"repository":"org/app","repository":"*"},"type":"repository","name":"public/*"'),
      () => ({ headers: { authorization: ALICE } })],
  ];
  for (const [name, key, value, init] of cases) {
    test(`${name}: 500, nothing granted`, async () => {
      const original = await w.kv.get(key);
      await w.kv.put(key, value);
      try {
        await runRow(w, { name, path: `/token?service=${SERVICE}&scope=repository:org/app:pull`, init: init(),
          status: 500, format: "distribution", code: "UNKNOWN", message: /malformed|duplicate/i });
      } finally {
        if (original === null) await w.kv.delete(key);
        else await w.kv.put(key, original);
      }
    });
  }

  test("refresh: account twice: 500 server_error, nothing granted", async () => {
    const res = await w.fetch(`/token?service=${SERVICE}&offline_token=true`, { headers: { authorization: ALICE } });
    const rt = (await res.json()).refresh_token;
    SECRETS.add(rt);
    const key = `refresh:${sha256hex(rt)}`;
    const record = JSON.parse(await w.kv.get(key));
    await w.kv.put(key, JSON.stringify(record).replace('"account":"alice"', '"account":"nobody","account":"alice"'));
    await runRow(w, { name: "refresh dup", path: "/token", init: form({ grant_type: "refresh_token", refresh_token: rt,
      service: SERVICE, scope: "repository:org/app:pull" }), status: 500, format: "oauth2", code: "server_error",
    message: /malformed|duplicate/i });
  });
});

// ---------------------------------------------------------------------------------------------
// Tokens where Tollgate verifies them: the proxy (MODE=both) in front of a loopback origin.

describe("bearer tokens at the proxy", () => {
  let w;
  let origin;
  const reached = [];
  before(async () => {
    origin = createServer((req, res) => {
      reached.push(req.url);
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
    origin.listen(0, "127.0.0.1");
    await once(origin, "listening");
    w = await startWorker({
      vars: { MODE: "both", ORIGIN: `http://127.0.0.1:${origin.address().port}`, ORIGIN_TIMEOUT: "5" },
      miniflare: captureStdio(STDIO),
    });
  });
  after(async () => {
    await w?.dispose();
    origin?.close();
  });

  const ATTACKER_CERT = selfSignedCert(ATTACKER_PEM, "attacker");
  const certB64 = (pem) => pem.replace(/-----[^-]+-----|\s/g, "");
  const tokens = {
    "a well-formed token (control row)": [(r) => jwt(esHeader(), claims(r)), 200],
    "lower-case 'bearer' scheme (control row)": [(r) => jwt(esHeader(), claims(r)), 200, "bearer"],
    "alg none with our kid, empty signature": [(r) => jwt(esHeader({ alg: "none" }), claims(r), signers.none), "bad_signature"],
    "alg none without kid": [(r) => jwt({ alg: "none", typ: "JWT" }, claims(r), signers.none), "unknown_key"],
    "alg None (case variant)": [(r) => jwt(esHeader({ alg: "None" }), claims(r), signers.none), "bad_signature"],
    "HS256 signed with the public key PEM": [(r) => jwt(esHeader({ alg: "HS256" }), claims(r), signers.hs256(keys.es256.publicKeyPem)), "bad_signature"],
    "HS256 signed with the public key DER": [(r) => jwt(esHeader({ alg: "HS256" }), claims(r),
      signers.hs256(keys.es256.publicKey.export({ type: "spki", format: "der" }))), "bad_signature"],
    "HS256 with the RSA key's kid and PEM": [(r) => jwt({ alg: "HS256", typ: "JWT", kid: RS_KID }, claims(r), signers.hs256(keys.rs256.publicKeyPem)), "bad_signature"],
    "RS256 signature under the ES256 key's kid": [(r) => jwt(esHeader({ alg: "RS256" }), claims(r), signers.rs256), "bad_signature"],
    "ES256 signed by another key under our kid": [(r) => jwt(esHeader(), claims(r), (i) => signers.es256(i, ATTACKER_PEM)), "bad_signature"],
    "unknown kid": [(r) => jwt(esHeader({ kid: "AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL" }), claims(r)), "unknown_key"],
    "no kid, x5c of a self-signed attacker cert": [(r) => jwt({ alg: "ES256", typ: "JWT", x5c: [certB64(ATTACKER_CERT)] }, claims(r),
      (i) => signers.es256(i, ATTACKER_PEM)), "unknown_key"],
    "no kid, our x5c, signed by the attacker": [(r) => jwt({ alg: "ES256", typ: "JWT", x5c: [certB64(keys.es256.certPem)] }, claims(r),
      (i) => signers.es256(i, ATTACKER_PEM)), "bad_signature"],
    // Issue 12's outside attack tried these too (refused then, kept as regression rows).
    "jku to an attacker's key set, signed by the attacker under our kid": [(r) => jwt(esHeader({ jku: "https://attacker.example/jwks.json" }),
      claims(r), (i) => signers.es256(i, ATTACKER_PEM)), "bad_signature"],
    "embedded jwk of the attacker's key, no kid": [(r) => jwt({ alg: "ES256", typ: "JWT", jwk: ATTACKER.publicKey.export({ format: "jwk" }) },
      claims(r), (i) => signers.es256(i, ATTACKER_PEM)), "unknown_key"],
    "x5c that is not base64": [(r) => jwt({ alg: "ES256", typ: "JWT", x5c: ["%%%"] }, claims(r)), "unknown_key"],
    "another audience": [(r) => jwt(esHeader(), claims(r, { aud: "other.service" })), "wrong_audience"],
    "aud as an array": [(r) => jwt(esHeader(), claims(r, { aud: [SERVICE] })), /wrong_audience|malformed/],
    "another issuer": [(r) => jwt(esHeader(), claims(r, { iss: "someone-else" })), "wrong_issuer"],
    "expired an hour ago": [(r) => jwt(esHeader(), claims(r, { exp: now() - 3600 })), "expired"],
    "nbf an hour ahead": [(r) => jwt(esHeader(), claims(r, { nbf: now() + 3600 })), "not_yet_valid"],
    "exp as a string": [(r) => jwt(esHeader(), claims(r, { exp: String(now() + 300) })), "malformed"],
    "exp as a float": [(r) => jwt(esHeader(), claims(r, { exp: now() + 300.5 })), "malformed"],
    "exp missing": [(r) => jwt(esHeader(), (({ exp, ...c }) => c)(claims(r))), "malformed"],
    "claims are an array": [() => jwt(esHeader(), "[1,2,3]"), "malformed"],
    "claims are not JSON": [() => jwt(esHeader(), "{not json"), "malformed"],
    "access with a wrong type": [(r) => jwt(esHeader(), claims(r, { access: "repository:org/app:pull" })), "malformed"],
    "truncated signature": [(r) => jwt(esHeader(), claims(r)).slice(0, -10), "bad_signature"],
    "signature removed": [(r) => jwt(esHeader(), claims(r)).replace(/\.[^.]*$/, "."), "bad_signature"],
    "DER signature instead of r||s": [(r) => jwt(esHeader(), claims(r), signers.es256der), "bad_signature"],
    "two parts only": [(r) => jwt(esHeader(), claims(r)).split(".").slice(0, 2).join("."), "malformed"],
    "a fourth part": [(r) => `${jwt(esHeader(), claims(r))}.AAAA`, "malformed"],
    "characters outside base64url": [(r) => `${jwt(esHeader(), claims(r))}`.replace(".", ".*"), "malformed"],
    "duplicate aud in the claims (other, then ours)": [(r) => jwt(esHeader(),
      JSON.stringify(claims(r)).replace(`"aud":"${SERVICE}"`, `"aud":"other.service","aud":"${SERVICE}"`)), "malformed"],
    "duplicate access in the claims": [(r) => jwt(esHeader(),
      JSON.stringify(claims(r)).replace('"access":', '"access":[],"access":')), "malformed"],
    "duplicate exp in the claims (past, then future)": [(r) => jwt(esHeader(),
      JSON.stringify(claims(r)).replace('"exp":', `"exp":${now() - 3600},"exp":`)), "malformed"],
    "duplicate alg in the header (none, then ES256)": [(r) => jwt(`{"alg":"none","alg":"ES256","typ":"JWT","kid":"${ES_KID}"}`, claims(r)), "malformed"],
    "duplicate kid in the header": [(r) => jwt(`{"alg":"ES256","typ":"JWT","kid":"X","kid":"${ES_KID}"}`, claims(r)), "malformed"],
  };

  let n = 0;
  for (const [name, [make, want, scheme = "Bearer"]] of Object.entries(tokens)) {
    const repo = `bi/t${n++}`;
    test(`token: ${name} -> ${want === 200 ? "200 forwarded" : "401 invalid_token"}`, async () => {
      const token = make(repo);
      const before = reached.length;
      const path = `/v2/${repo}/manifests/latest`;
      if (want === 200) {
        await runRow(w, { name, path, init: auth(`${scheme} ${token}`), status: 200, format: "forwarded" });
        assert.equal(reached.length, before + 1, "forwarded to the origin");
        return;
      }
      await runRow(w, { name, path, init: auth(`${scheme} ${token}`), status: 401, format: "distribution",
        code: "UNAUTHORIZED", message: /invalid or expired/, challenge: /error="invalid_token"/ });
      assert.equal(reached.length, before, "a refused request reached the origin");
      // The log line names the failed check (the client only sees invalid_token).
      const line = await logLine((l) => l.event === "proxy" && l.path === path);
      assert.equal(line.outcome, "refused");
      if (want instanceof RegExp) assert.match(line.reason, want);
      else assert.equal(line.reason, want);
    });
  }

  table([
    { name: "a 9 KiB bearer token: 400 (the Authorization header's bound), never verified", path: "/v2/bi/x/tags/list",
      init: () => auth(`Bearer ${jwt(esHeader(), claims("bi/x", { pad: "x".repeat(9000) }))}`), status: 400,
      format: "distribution", code: "UNSUPPORTED", message: /Authorization/ },
    { name: "Bearer with no token: 400 with a hint", path: "/v2/bi/x/tags/list", init: auth("Bearer "), status: 400,
      format: "distribution", message: /Bearer/ },
    { name: "an unknown scheme at the proxy", path: "/v2/bi/x/tags/list", init: auth("Token abcdefghijklmnop"),
      status: 400, format: "distribution", code: "UNSUPPORTED" },
    { name: "Basic with a 600-byte password at the proxy", path: "/v2/bi/x/tags/list",
      init: auth(`Basic ${b64(`alice:${"p".repeat(600)}`)}`), status: 400, format: "distribution" },
    { name: "':' inside a proxied name", path: "/v2/org/app:evil/tags/list", init: auth("Bearer x"), status: 400,
      format: "distribution", code: "NAME_INVALID" },
    { name: "',' inside a proxied name", path: "/v2/org,app/tags/list", init: auth("Bearer x"), status: 400,
      format: "distribution", code: "NAME_INVALID" },
    { name: "an encoded dot segment (%2e%2e) in a tag", path: "/v2/org/app/manifests/%2e%2e%2fx",
      init: auth("Bearer x"), status: 400, format: "distribution" },
    { name: "an encoded backslash in a name", path: "/v2/org%5capp/tags/list", init: auth("Bearer x"), status: 400,
      format: "distribution", code: "NAME_INVALID" },
    { name: "a mount source with ':' in its name", path: `/v2/org/app/blobs/uploads/?mount=sha256:${"a".repeat(64)}&from=org/x:y`,
      init: { method: "POST", ...auth("Bearer x") }, status: 400, format: "distribution", code: "NAME_INVALID" },
    { name: "a mount source with ',' in its name", path: `/v2/org/app/blobs/uploads/?mount=sha256:${"a".repeat(64)}&from=org/x,org/secret`,
      init: { method: "POST", ...auth("Bearer x") }, status: 400, format: "distribution", code: "NAME_INVALID" },
  ], () => w);

  test("%2e%2e dot segments resolve before routing: the scope is the resolved name's", async () => {
    const token = jwt(esHeader(), claims("org/app"));
    const before = reached.length;
    const { res } = await runRow(w, { name: "dot segments", path: "/v2/org/app/%2e%2e/%2e%2e/secret/tags/list",
      init: auth(`Bearer ${token}`), status: 401, format: "distribution", challenge: /insufficient_scope/ });
    assert.match(res.headers.get("www-authenticate"), /scope="repository:secret:pull"/);
    assert.equal(reached.length, before);
  });

  test("raw non-ASCII bytes in a proxied Authorization: 4xx, origin untouched", async () => {
    const url = (await w.mf.ready).href;
    const before = reached.length;
    const head = Buffer.concat([Buffer.from("GET /v2/org/app/tags/list HTTP/1.1\r\nAuthorization: Bearer "),
      Buffer.from([0xff, 0xfe, 0x2e, 0x80])]);
    const res = await rawRequest(url, head);
    SEEN.push(res.head, res.body);
    assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.body}`);
    assert.ok(JSON.parse(res.body).errors[0].code);
    assert.equal(reached.length, before);
  });
});

/** Waits (briefly: stdout is asynchronous) for a JSON log line matching `pred`. */
async function logLine(pred) {
  for (let i = 0; i < 40; i++) {
    for (const line of STDIO.join("").split("\n")) {
      const at = line.indexOf("{");
      if (at < 0) continue;
      try {
        const v = JSON.parse(line.slice(at));
        if (pred(v)) return v;
      } catch {
        // not a JSON line
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("no matching log line");
}

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Issue 12: the outside attack's token-endpoint findings (the proxy's are in proxy.test.mjs and
// the throttle's in throttle.test.mjs).

describe("issue 12: secrets in URLs, padded headers, refresh tokens outliving their credential", () => {
  let w;
  before(async () => {
    w = await startWorker({ kv: seed(), vars: { CACHE_TTL: "0" }, miniflare: captureStdio(STDIO) });
  });
  after(async () => w?.dispose());

  const padded = (n) => {
    const headers = { authorization: ALICE, "cf-connecting-ip": "192.0.2.44" };
    for (let i = 0; i < n; i++) headers[`a-pad-${String(i).padStart(3, "0")}`] = "x";
    return { headers };
  };
  describe("rows", () => {
    table([
      { name: "finding 7: GET /oauth/token with the password in the query",
        path: `/oauth/token?${q({ grant_type: "password", username: "alice", password: PASS, service: SERVICE })}`,
        status: 400, format: "oauth2", code: "invalid_request", message: /not accepted in the URL/ },
      { name: "finding 7: POST /oauth/token with the password in the query, the rest in the body",
        path: `/oauth/token?${q({ password: PASS })}`, init: form({ grant_type: "password", username: "alice", service: SERVICE }),
        status: 400, format: "oauth2", code: "invalid_request", message: /POST application\/x-www-form-urlencoded body/ },
      { name: "finding 7: POST /token with a refresh token in the query",
        path: `/token?${q({ refresh_token: "tgr_abcdefghijklmnop" })}`, init: form({ grant_type: "refresh_token", service: SERVICE }),
        status: 400, format: "oauth2", code: "invalid_request", message: /refresh_token/ },
      { name: "finding 7: GET /token with a password in the query (ignored before, refused now)",
        path: `/token?${q({ service: SERVICE, password: PASS })}`,
        status: 400, format: "distribution", message: /not accepted in the URL/ },
      { name: "finding 4: fewer than 100 header fields pass (control row)", path: `/token?service=${SERVICE}`, init: padded(80),
        status: 200, format: "token" },
      { name: "finding 4: 120 header fields at a token endpoint: its own are read by name", path: `/token?service=${SERVICE}`,
        init: padded(120), status: 200, format: "token" },
      { name: "finding 2: client_credentials with a wrong Basic password is invalid_client (and counted)",
        path: "/oauth/token", init: form({ grant_type: "client_credentials", service: SERVICE },
          { authorization: basic("alice", `${PASS}-wrong`) }),
        status: 401, format: "oauth2", code: "invalid_client" },
    ], () => w);
  });

  test("finding 4: 300 padding headers sorted first push out neither the credential nor the client address", async () => {
    const { headers } = padded(300);
    headers["user-agent"] = "finding-4-probe";
    const res = await w.fetch(`/token?service=${SERVICE}&scope=repository:org/app:pull`, { headers });
    const text = await res.text();
    SEEN.push(text);
    assert.equal(res.status, 200, text);
    const claims = JSON.parse(Buffer.from(JSON.parse(text).token.split(".")[1], "base64url"));
    assert.equal(claims.sub, "alice");
    assert.deepEqual(claims.access, [{ type: "repository", name: "org/app", actions: ["pull"] }]);
    const line = await logLine((v) => v.event === "token" && v.user_agent === "finding-4-probe");
    assert.equal(line.client_ip, "192.0.2.44");
  });

  test("finding 3: a password change or an API-key revocation ends the refresh tokens they minted", async () => {
    const login = async (authorization) => {
      const r = await w.fetch(`/token?service=${SERVICE}&offline_token=true`, { headers: { authorization } });
      assert.equal(r.status, 200);
      const rt = (await r.json()).refresh_token;
      SECRETS.add(rt);
      return rt;
    };
    const refresh = async (rt) => {
      const r = await w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: SERVICE }));
      const text = await r.text();
      SEEN.push(text);
      return [r.status, text];
    };
    const byPassword = await login(ALICE);
    const byKey = await login(basic("ci", API_KEY));
    assert.equal((await refresh(byPassword))[0], 200);
    assert.equal((await refresh(byKey))[0], 200);
    await w.kv.put("user:alice", JSON.stringify({ password: bcrypt.hashSync(`${PASS}-new`, 4), groups: ["dev"] }));
    const [st, text] = await refresh(byPassword);
    assert.equal(st, 401);
    assert.match(text, /password that has changed/);
    await w.kv.delete(`apikey:${sha256hex(API_KEY)}`);
    const [st2, text2] = await refresh(byKey);
    assert.equal(st2, 401);
    assert.match(text2, /API key that was revoked or has expired/);
    // The operator's revoke-refresh: every token of the account created before the mark.
    await w.kv.put(`apikey:${sha256hex(API_KEY)}`, JSON.stringify({ account: "ci", name: "ci", created: 1764316800, expires: null }));
    const again = await login(basic("ci", API_KEY));
    assert.equal((await refresh(again))[0], 200);
    await w.kv.put("user:ci", JSON.stringify({ groups: ["dev"], refresh_revoked_before: Math.floor(Date.now() / 1000) + 2 }));
    const [st3, text3] = await refresh(again);
    assert.equal(st3, 401);
    assert.match(text3, /operator revoked/);
  });
});

test("no secret appears in any response or in the worker's console output", async () => {
  await new Promise((r) => setTimeout(r, 200)); // let the last stdout chunks arrive
  const logs = STDIO.join("");
  assert.ok(logs.includes('"event":"token"'), "the worker's console output was captured");
  assert.ok(logs.includes('"event":"proxy"'), "the proxy's console output was captured");
  const answered = SEEN.join("\n");
  for (const secret of SECRETS) {
    assert.ok(!answered.includes(secret), `a secret was echoed in a response: ${secret.slice(0, 6)}...`);
    assert.ok(!logs.includes(secret), `a secret was printed to the console: ${secret.slice(0, 6)}...`);
  }
  assert.ok(SECRETS.size > 50, `secrets checked: ${SECRETS.size}`);
});

