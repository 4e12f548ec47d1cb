// The verify-and-forward proxy (MODE=proxy|both) driven end to end: the built worker under
// Miniflare in front of a tiny Node HTTP origin on loopback that records what reaches it.
//
// Tokens here are minted by the test itself with `jose` and the fixture signing key, not by
// Tollgate's issuer, so the proxy's verifier is checked against an independent signer.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { once } from "node:events";
import { SignJWT, importPKCS8 } from "jose";
import { basic, keyFixture, libtrustKid, startWorker } from "./helpers.mjs";

const D1 = "sha256:" + "a".repeat(64);
const D2 = "sha256:" + "b".repeat(64);
const D3 = "sha256:" + "c".repeat(64);
const BLOB = randomBytes(300_000);

// ---------------------------------------------------------------------------------------------
// The origin: a registry/chart-repository stand-in that records every request it receives.

let origin;
let originPort;
const seen = [];

function originHandler(req, res) {
  const chunks = [];
  let bytes = 0;
  const hash = createHash("sha256");
  req.on("data", (c) => {
    bytes += c.length;
    hash.update(c);
    if (chunks.length < 4) chunks.push(c);
  });
  req.on("end", () => {
    const rec = { method: req.method, url: req.url, headers: req.headers, bytes, sha256: hash.digest("hex") };
    seen.push(rec);
    const path = req.url.split("?")[0];
    const send = (status, headers = {}, body = "") => {
      res.writeHead(status, { "docker-distribution-api-version": "registry/2.0", ...headers });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (path === "/v2/" || path === "/v2") return send(200, { "content-type": "application/json" }, "{}");
    if (path === "/v2/org/app/manifests/latest") {
      return send(200, { "content-type": "application/vnd.oci.image.manifest.v1+json",
        "docker-content-digest": D1 }, JSON.stringify({ schemaVersion: 2 }));
    }
    if (path === `/v2/org/app/blobs/${D1}`) {
      // HEAD of a blob: docker and skopeo read Content-Length from it.
      if (req.method === "HEAD") {
        res.writeHead(200, { "content-length": "12345", "docker-content-digest": D1 });
        return res.end();
      }
    }
    if (path === `/v2/org/app/blobs/${D2}`) {
      return send(307, { location: "https://storage.example.net/blob?X-Amz-Signature=abc" });
    }
    if (path === `/v2/org/app/blobs/${D3}`) {
      const range = req.headers.range?.match(/^bytes=(\d+)-(\d+)$/);
      if (range) {
        const [s, e] = [Number(range[1]), Number(range[2])];
        res.writeHead(206, { "content-range": `bytes ${s}-${e}/${BLOB.length}`, "content-length": String(e - s + 1) });
        return res.end(BLOB.subarray(s, e + 1));
      }
      res.writeHead(200, { "content-length": String(BLOB.length), "cache-control": "max-age=31536000",
        "docker-content-digest": D3, connection: "close, x-origin-hop", "x-origin-hop": "1" });
      return res.end(BLOB);
    }
    if (path === "/v2/org/app/blobs/uploads/" && req.method === "POST") {
      return send(202, { location: `http://127.0.0.1:${originPort}/v2/org/app/blobs/uploads/u1?_state=s1`,
        "docker-upload-uuid": "u1", range: "0-0" });
    }
    if (path === "/v2/org/app/blobs/uploads/u1" && req.method === "PATCH") {
      return send(202, { location: "/v2/org/app/blobs/uploads/u1?_state=s2", range: `0-${bytes - 1}`,
        "x-received-sha256": rec.sha256 });
    }
    if (path === "/v2/slow/tags/list") return; // never answers: the proxy must time out
    if (path === "/org1/index.yaml") return send(200, { "content-type": "text/yaml" }, "apiVersion: v1\nentries: {}\n");
    if (path === "/org1/charts/app-1.0.0.tgz") return send(200, { "content-type": "application/gzip" }, "tgz-bytes");
    return send(404, { "content-type": "application/json" }, '{"errors":[{"code":"NOT_FOUND"}]}');
  });
}

before(async () => {
  origin = createServer(originHandler);
  origin.listen(0, "127.0.0.1");
  await once(origin, "listening");
  originPort = origin.address().port;
});

after(async () => {
  origin.closeAllConnections?.();
  origin.close();
});

function lastSeen() {
  return seen[seen.length - 1];
}

// ---------------------------------------------------------------------------------------------
// Tokens minted independently of Tollgate.


async function mint({ sub = "pusher", access = [], aud = "registry.local", iss = "tollgate-dev",
  expIn = 300, key } = {}) {
  const k = keyFixture();
  const pk = await importPKCS8(key ?? k.es256.privateKeyPem, "ES256");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ access })
    .setProtectedHeader({ alg: "ES256", typ: "JWT", kid: libtrustKid(k.es256.publicKey) })
    .setIssuer(iss).setSubject(sub).setAudience(aud)
    .setIssuedAt(now).setNotBefore(now).setExpirationTime(now + expIn)
    .setJti(randomBytes(8).toString("hex"))
    .sign(pk);
}

const repo = (name, actions) => ({ type: "repository", name, actions });
const bearer = (t) => ({ authorization: `Bearer ${t}` });

function proxyVars(extra = {}) {
  return { MODE: "both", ORIGIN: `http://127.0.0.1:${originPort}`, ORIGIN_AUTH: "Basic b3JpZ2luOnNlY3JldA==",
    ORIGIN_TIMEOUT: "2", ...extra };
}

async function withWorker(opts, fn) {
  const w = await startWorker(opts);
  try {
    await fn(w);
  } finally {
    await w.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Refusals: nothing reaches the origin.

test("anonymous requests get the registry's challenge and never reach the origin", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    const before = seen.length;
    let res = await w.fetch("/v2/");
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"),
      'Bearer realm="http://tollgate.test/token",service="registry.local"');
    assert.equal(res.headers.get("docker-distribution-api-version"), "registry/2.0");
    assert.equal((await res.json()).errors[0].code, "UNAUTHORIZED");

    res = await w.fetch("/v2/org/team/app/blobs/uploads/", { method: "POST" });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"),
      'Bearer realm="http://tollgate.test/token",service="registry.local",scope="repository:org/team/app:pull,push"');
    const body = await res.json();
    assert.deepEqual(body.errors[0].detail.map((d) => d.Action), ["pull", "push"]);

    res = await w.fetch(`/v2/org/app/blobs/uploads/?mount=${D1}&from=other/base`, { method: "POST" });
    assert.match(res.headers.get("www-authenticate"),
      /scope="repository:org\/app:pull,push repository:other\/base:pull"/);
    await res.arrayBuffer();

    res = await w.fetch("/v2/_catalog");
    assert.match(res.headers.get("www-authenticate"), /scope="registry:catalog:\*"/);
    await res.arrayBuffer();
    assert.equal(seen.length, before, "the origin saw a request it should not have");
  });
});

test("malformed paths are refused in distribution format before authentication", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    const before = seen.length;
    for (const [path, status, code] of [
      ["/v2/a%2F..%2Fb/tags/list", 400, "NAME_INVALID"],
      ["/v2/Upper/tags/list", 400, "NAME_INVALID"],
      ["/v2/a//b/tags/list", 400, "NAME_INVALID"],
      // (A literal ".." never arrives: URL parsing on both sides removes dot segments.)
      ["/v2/a/manifests/a:b", 400, "TAG_INVALID"],
      ["/v2/a/blobs/sha256:xyz", 400, "DIGEST_INVALID"],
      ["/v2/a/whatever", 404, "UNSUPPORTED"],
      ["/etc/passwd", 404, "UNSUPPORTED"],
    ]) {
      const res = await w.fetch(path, { headers: bearer("x") });
      assert.equal(res.status, status, path);
      assert.equal((await res.json()).errors[0].code, code, path);
    }
    const res = await w.fetch("/v2/a/tags/list", { method: "DELETE" });
    assert.equal(res.status, 405);
    await res.arrayBuffer();
    assert.equal(seen.length, before);
  });
});

test("bad tokens are invalid_token; a token for another audience or issuer too", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    const access = [repo("org/app", ["pull"])];
    const other = (await import("node:crypto")).generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ type: "pkcs8", format: "pem" });
    for (const token of [
      "not-a-jwt",
      await mint({ access, aud: "other.service" }),
      await mint({ access, iss: "someone-else" }),
      await mint({ access, expIn: -120 }),
      await mint({ access, key: other }),
    ]) {
      const res = await w.fetch("/v2/org/app/manifests/latest", { headers: bearer(token) });
      assert.equal(res.status, 401);
      assert.match(res.headers.get("www-authenticate"), /error="invalid_token"/);
      await res.arrayBuffer();
    }
  });
});

test("a configuration error names the setting", async () => {
  await withWorker({ vars: proxyVars({ ORIGIN: "http://user:pw@127.0.0.1:1/" }) }, async (w) => {
    const res = await w.fetch("/v2/");
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.match(text, /ORIGIN/);
    assert.doesNotMatch(text, /pw@/);
  });
});

test("MODE=both keeps the token endpoints; MODE=issuer does not proxy", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    const res = await w.fetch("/healthz");
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });
  await withWorker({ vars: { MODE: "issuer" } }, async (w) => {
    const before = seen.length;
    const res = await w.fetch("/v2/");
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    assert.equal(seen.length, before);
  });
});

// ---------------------------------------------------------------------------------------------
// Forwarding with a valid token.

test("a push token is forwarded: origin credentials replace the client's, Location is rewritten", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    const token = await mint({ access: [repo("org/app", ["pull", "push"])] });
    let res = await w.fetch("/v2/org/app/manifests/latest", { headers: { ...bearer(token), cookie: "a=b",
      "x-forwarded-host": "evil.example", accept: "application/vnd.oci.image.manifest.v1+json" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("docker-content-digest"), D1);
    assert.deepEqual(await res.json(), { schemaVersion: 2 });
    let rec = lastSeen();
    assert.equal(rec.url, "/v2/org/app/manifests/latest");
    assert.equal(rec.headers.authorization, "Basic b3JpZ2luOnNlY3JldA==");
    assert.equal(rec.headers.cookie, undefined);
    assert.equal(rec.headers["x-forwarded-host"], "tollgate.test");
    assert.equal(rec.headers.accept, "application/vnd.oci.image.manifest.v1+json");
    assert.equal(rec.headers.host, `127.0.0.1:${originPort}`);

    // Upload start: the origin's absolute Location points back at Tollgate.
    res = await w.fetch("/v2/org/app/blobs/uploads/", { method: "POST", headers: bearer(token) });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get("location"), "http://tollgate.test/v2/org/app/blobs/uploads/u1?_state=s1");
    await res.arrayBuffer();

    // The public side is the scheme and host:port the client used, from the router's one parse of
    // the request URL: a non-default port is kept, the scheme's default port is not.
    res = await w.fetch("https://Tollgate.TEST:8443/v2/org/app/blobs/uploads/", { method: "POST", headers: bearer(token) });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get("location"), "https://tollgate.test:8443/v2/org/app/blobs/uploads/u1?_state=s1");
    await res.arrayBuffer();
    assert.equal(lastSeen().headers["x-forwarded-host"], "tollgate.test:8443");
    assert.equal(lastSeen().headers["x-forwarded-proto"], "https");
    res = await w.fetch("https://tollgate.test:443/v2/org/app/manifests/latest", { headers: bearer(token) });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(lastSeen().headers["x-forwarded-host"], "tollgate.test");

    // A chunked PATCH streams through intact; the relative Location stays relative.
    const chunks = [randomBytes(1 << 20), randomBytes(1 << 20), randomBytes(12345)];
    const want = createHash("sha256");
    chunks.forEach((c) => want.update(c));
    const body = new ReadableStream({
      start(controller) {
        for (const c of chunks) controller.enqueue(c);
        controller.close();
      },
    });
    res = await w.fetch("/v2/org/app/blobs/uploads/u1?_state=s1", {
      method: "PATCH", body, duplex: "half",
      headers: { ...bearer(token), "content-type": "application/octet-stream" },
    });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get("location"), "/v2/org/app/blobs/uploads/u1?_state=s2");
    assert.equal(res.headers.get("x-received-sha256"), want.digest("hex"));
    await res.arrayBuffer();
    rec = lastSeen();
    assert.equal(rec.url, "/v2/org/app/blobs/uploads/u1?_state=s1");
    assert.equal(rec.bytes, (2 << 20) + 12345);
  });
});

test("a pull-only token cannot push (insufficient_scope) but can pull, HEAD and Range", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    const token = await mint({ sub: "puller", access: [repo("org/app", ["pull"])] });
    const before = seen.length;
    let res = await w.fetch("/v2/org/app/blobs/uploads/", { method: "POST", headers: bearer(token) });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"),
      'Bearer realm="http://tollgate.test/token",service="registry.local",scope="repository:org/app:pull,push",error="insufficient_scope"');
    await res.arrayBuffer();
    assert.equal(seen.length, before);

    res = await w.fetch(`/v2/org/app/blobs/${D1}`, { method: "HEAD", headers: bearer(token) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), "12345");

    res = await w.fetch(`/v2/org/app/blobs/${D3}`, { headers: { ...bearer(token), range: "bytes=10-19" } });
    assert.equal(res.status, 206);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), BLOB.subarray(10, 20));

    res = await w.fetch(`/v2/org/app/blobs/${D3}`, { headers: bearer(token) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-origin-hop"), null, "a header the origin's Connection listed leaked");
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), BLOB);

    // A 307 to blob storage is passed to the client, not followed.
    res = await w.fetch(`/v2/org/app/blobs/${D2}`, { headers: bearer(token), redirect: "manual" });
    assert.equal(res.status, 307);
    assert.equal(res.headers.get("location"), "https://storage.example.net/blob?X-Amz-Signature=abc");
    await res.arrayBuffer();

    // Another repository is not covered.
    res = await w.fetch("/v2/org/other/tags/list", { headers: bearer(token) });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
  });
});

test("catalog needs registry:catalog:* exactly", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    // Without exactly ["*"] the catalog is filtered to what the subject may pull (issue 16):
    // "pusher" has no user record, so the list is empty and the origin is not asked.
    let token = await mint({ access: [{ type: "registry", name: "catalog", actions: ["pull"] }] });
    const before = seen.length;
    let res = await w.fetch("/v2/_catalog", { headers: bearer(token) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { repositories: [] });
    assert.equal(seen.length, before, "the origin was asked for a catalog nobody may see");
    token = await mint({ access: [{ type: "registry", name: "catalog", actions: ["*"] }] });
    res = await w.fetch("/v2/_catalog", { headers: bearer(token) });
    assert.equal(res.status, 404); // forwarded: the stand-in origin has no catalog
    await res.arrayBuffer();
    assert.equal(lastSeen().url, "/v2/_catalog");
  });
});

test("an origin that does not answer in ORIGIN_TIMEOUT is a 504; a dead one a 502", async () => {
  await withWorker({ vars: proxyVars({ ORIGIN_TIMEOUT: "1" }) }, async (w) => {
    const token = await mint({ access: [repo("slow", ["pull"])] });
    const started = Date.now();
    const res = await w.fetch("/v2/slow/tags/list", { headers: bearer(token) });
    assert.equal(res.status, 504);
    assert.equal((await res.json()).errors[0].code, "UNAVAILABLE");
    assert.ok(Date.now() - started < 5000, "the timeout did not bound the wait");
  });
  // A port nothing listens on.
  const dead = createServer();
  dead.listen(0, "127.0.0.1");
  await once(dead, "listening");
  const port = dead.address().port;
  dead.close();
  await withWorker({ vars: proxyVars({ ORIGIN: `http://127.0.0.1:${port}` }) }, async (w) => {
    const token = await mint({ access: [repo("org/app", ["pull"])] });
    const res = await w.fetch("/v2/org/app/tags/list", { headers: bearer(token) });
    assert.equal(res.status, 502);
    const text = await res.text();
    assert.match(text, /UNAVAILABLE/);
    assert.doesNotMatch(text, new RegExp(String(port)), "the origin's address leaked");
  });
});

// ---------------------------------------------------------------------------------------------
// Chart repository paths with tokens and Basic credentials.

test("chart paths: a token for the namespace fetches index.yaml and the chart", async () => {
  await withWorker({ vars: proxyVars({ CHART_DEPTH: "1" }) }, async (w) => {
    const token = await mint({ access: [{ type: "artifact-repository", name: "org1", actions: ["pull"] }] });
    let res = await w.fetch("/org1/index.yaml", { headers: bearer(token) });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /apiVersion/);
    res = await w.fetch("/org1/charts/app-1.0.0.tgz", { headers: bearer(token) });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "tgz-bytes");
    res = await w.fetch("/org2/index.yaml", { headers: bearer(token) });
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate"), /scope="artifact-repository:org2:pull"/);
    await res.arrayBuffer();
  });
});

test("chart paths: Basic credentials are checked against KV and the ACL", async () => {
  const { hashSync } = await bcrypt();
  const kv = {
    "user:helm": { password: hashSync("helm-pass", 4), groups: [] },
    "user:nobody": { password: hashSync("nobody-pass", 4), groups: [] },
    acl: [
      { match: { account: "helm", type: "artifact-repository", name: "org1" }, actions: ["pull"] },
    ],
  };
  await withWorker({ vars: proxyVars({ CHART_DEPTH: "1", PROXY_SERVICE: "chartmuseum.local" }), kv }, async (w) => {
    let res = await w.fetch("/org1/index.yaml", { headers: { authorization: basic("helm", "helm-pass") } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(lastSeen().headers.authorization, "Basic b3JpZ2luOnNlY3JldA==");
    res = await w.fetch("/org1/index.yaml", { headers: { authorization: basic("helm", "wrong") } });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    res = await w.fetch("/org1/index.yaml", { headers: { authorization: basic("nobody", "nobody-pass") } });
    assert.equal(res.status, 403);
    await res.arrayBuffer();
  });
});

/** bcryptjs if installed (a dev dependency of the token tests), else skip-worthy error. */
async function bcrypt() {
  try {
    return (await import("bcryptjs")).default;
  } catch {
    const { execFileSync } = await import("node:child_process");
    // python3's bcrypt module as a fallback hasher.
    return {
      hashSync: (pw, cost) => execFileSync("python3", ["-c",
        "import bcrypt,sys;print(bcrypt.hashpw(sys.argv[1].encode(),bcrypt.gensalt(int(sys.argv[2]))).decode())",
        pw, String(cost)]).toString().trim(),
    };
  }
}

test("immutable blobs are served from the edge cache, but only after authorization", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    const token = await mint({ sub: "puller", access: [repo("org/app", ["pull"])] });
    const path = `/v2/org/app/blobs/${D3}`;
    let res = await w.fetch(path, { headers: bearer(token) });
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), BLOB);
    // The cache write runs in waitUntil; give it a moment.
    await new Promise((r) => setTimeout(r, 300));
    const before = seen.length;
    res = await w.fetch(path, { headers: bearer(token) });
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), BLOB);
    assert.equal(seen.length, before, "the second GET reached the origin instead of the cache");

    // The cached copy is never a way around authorization.
    res = await w.fetch(path);
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    const other = await mint({ sub: "other", access: [repo("org/other", ["pull"])] });
    res = await w.fetch(path, { headers: bearer(other) });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    // Manifests (mutable by tag) are not cached.
    for (let i = 0; i < 2; i++) {
      res = await w.fetch("/v2/org/app/manifests/latest", { headers: bearer(token) });
      await res.arrayBuffer();
    }
    assert.equal(seen.filter((r) => r.url === "/v2/org/app/manifests/latest").length >= 2, true);
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 12: the outside attack's proxy findings, each refused by its class.

test("issue 12 finding 1: no body a form parser reads reaches a registry endpoint (mount via -F from=)", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    // Refused before credentials are read, so Basic below needs no user. A Bearer token scoped only to alice/w: the body names a source it cannot read.
    const token = await mint({ sub: "alice", access: [repo("alice/w", ["pull", "push"])] });
    const boundary = "----tollgate12";
    const multipart = (fields) => Object.entries(fields).map(([k, v]) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join("") + `--${boundary}--\r\n`;
    const before = seen.length;
    const cases = [
      [`multipart/form-data; boundary=${boundary}`, multipart({ from: "org/secret" }), `?mount=${D1}`],
      [`multipart/form-data; boundary=${boundary}`, multipart({ from: "org/secret", mount: D1 }), ""],
      [`Multipart/Form-Data;boundary=${boundary}`, multipart({ from: "org/secret" }), `?mount=${D1}`],
      ["application/x-www-form-urlencoded", `from=org/secret&mount=${D1}`, ""],
      ["APPLICATION/X-WWW-FORM-URLENCODED; charset=utf-8", `from=org/secret&mount=${D1}`, ""],
      [`multipart/mixed; boundary=${boundary}`, multipart({ from: "org/secret" }), `?mount=${D1}`],
    ];
    for (const [ct, body, query] of cases) {
      const res = await w.fetch(`/v2/alice/w/blobs/uploads/${query}`,
        { method: "POST", headers: { ...bearer(token), "content-type": ct }, body });
      assert.equal(res.status, 415, ct);
      const b = await res.json();
      assert.match(b.errors[0].message, /form bodies/);
    }
    // Also with Basic credentials, and on a PUT to an upload.
    let res = await w.fetch(`/v2/alice/w/blobs/uploads/u1?digest=${D1}`, { method: "PUT",
      headers: { authorization: basic("alice", "x"), "content-type": `multipart/form-data; boundary=${boundary}` },
      body: multipart({ from: "org/secret" }) });
    assert.equal(res.status, 415);
    await res.arrayBuffer();
    // A query older Go splits on ';' is refused too.
    res = await w.fetch(`/v2/alice/w/blobs/uploads/?mount=${D1};from=org/secret`, { method: "POST", headers: bearer(token) });
    assert.equal(res.status, 400);
    await res.arrayBuffer();
    assert.equal(seen.length, before, "nothing reached the origin");
  });
});

test("issue 12 finding 6: override, rewrite and client-address headers never reach the origin", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    const token = await mint({ sub: "puller", access: [repo("org/app", ["pull"])] });
    const res = await w.fetch("/v2/org/app/manifests/latest", { headers: { ...bearer(token),
      "x-http-method-override": "DELETE", "x-http-method": "DELETE", "x-method-override": "PUT",
      "x-original-url": "/v2/org/secret/manifests/latest", "x-rewrite-url": "/v2/org/secret/manifests/latest",
      "x-forwarded-prefix": "/admin", "x-forwarded-host": "evil.example", "x-forwarded-for": "127.0.0.1",
      "true-client-ip": "127.0.0.1", "x-real-ip": "127.0.0.1", "x-client-ip": "127.0.0.1",
      "accept": "application/vnd.oci.image.manifest.v1+json" } });
    // Headers named in Connection: fetch() cannot send a Connection header, so that part is
    // the core's unit test (proxy/headers.rs, request_drops_every_override_and_client_address_claim).
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const h = lastSeen().headers;
    for (const name of ["x-http-method-override", "x-http-method", "x-method-override", "x-original-url",
      "x-rewrite-url", "x-forwarded-prefix", "x-forwarded-for", "true-client-ip", "x-real-ip", "x-client-ip"]) {
      assert.equal(h[name], undefined, `${name} reached the origin`);
    }
    assert.notEqual(h["x-forwarded-host"], "evil.example");
    assert.equal(lastSeen().method, "GET");
    assert.equal(lastSeen().url, "/v2/org/app/manifests/latest");
  });
});

test("issue 12 finding 5: the edge-cache key is exactly what the origin is asked for (query included)", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    const token = await mint({ sub: "puller", access: [repo("org/app", ["pull"])] });
    const path = `/v2/org/app/blobs/${D3}`;
    let res = await w.fetch(`${path}?variant=1`, { headers: bearer(token) });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 300));
    const before = seen.length;
    res = await w.fetch(`${path}?variant=2`, { headers: bearer(token) });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(seen.length, before + 1, "another query is another origin request, not a cache hit");
    assert.equal(lastSeen().url, `${path}?variant=2`);
    res = await w.fetch(`${path}?variant=1`, { headers: bearer(token) });
    await res.arrayBuffer();
    assert.equal(seen.length, before + 1, "the same query is served from the cache");
  });
});

test("issue 12 finding 4: a padded header set is a 431 at the proxy, never a trimmed one", async () => {
  await withWorker({ vars: proxyVars() }, async (w) => {
    const token = await mint({ sub: "puller", access: [repo("org/app", ["pull"])] });
    const headers = { ...bearer(token) };
    for (let i = 0; i < 120; i++) headers[`a-pad-${String(i).padStart(3, "0")}`] = "x";
    const before = seen.length;
    const res = await w.fetch("/v2/org/app/manifests/latest", { headers });
    assert.equal(res.status, 431);
    assert.match((await res.json()).errors[0].message, /at most 100/);
    assert.equal(seen.length, before);
  });
});
