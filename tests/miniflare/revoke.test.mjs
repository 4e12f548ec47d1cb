// POST /oauth/revoke (RFC 7009) on the built worker: a personal credential (what the credential
// helper holds after a device approval) and a docker-login refresh token end at once; an API key
// is the operator's (400 unsupported_token_type); malformed requests are OAuth2 errors; the
// audit line says what ended and never holds the secret.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import bcrypt from "bcryptjs";
import { basic, captureStdio, startWorker } from "./helpers.mjs";

const SERVICE = "registry.local";
const PASS = `pw-${randomBytes(12).toString("hex")}`;
const sha256hex = (s) => createHash("sha256").update(s, "utf8").digest("hex");
const API_KEY = `tgk_${randomBytes(32).toString("base64url")}`;
// A personal credential with its read-ahead hint (the account, base64url), as the sign-in page
// and the device flow mint them.
const PERSONAL = `tgp_${randomBytes(32).toString("base64url")}.${Buffer.from("alice").toString("base64url")}`;
const NOW = Math.floor(Date.now() / 1000);

const form = (params) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(params).toString(),
});
const TOKEN = `/token?service=${SERVICE}&scope=repository:org/app:pull`;

let w;
const chunks = [];
before(async () => {
  w = await startWorker({
    kv: {
      "user:alice": { password: bcrypt.hashSync(PASS, 4), groups: ["dev"] },
      "user:ci": { groups: ["dev"] },
      [`apikey:${sha256hex(API_KEY)}`]: { account: "ci", name: "ci", created: 1764316800, expires: null },
      [`personal:${sha256hex(PERSONAL)}`]: {
        account: "alice", name: "laptop", created: NOW - 60, expires: NOW + 3600, provider: "corp",
        groups: ["dev"], device: "docker-credential-tollgate",
      },
      "personal-index:alice": [
        { id: sha256hex(PERSONAL), name: "laptop", created: NOW - 60, expires: NOW + 3600 },
      ],
      acl: [{ match: { group: "dev", type: "repository", name: "org/*" }, actions: ["pull", "push"] }],
    },
    miniflare: captureStdio(chunks),
  });
});
after(() => w?.dispose());

/** The audit lines (`"event":"revoke"`) printed so far. */
async function revokeLines() {
  await new Promise((r) => setTimeout(r, 100)); // stdout is asynchronous
  return chunks.join("").split("\n").filter((l) => l.includes('"event":"revoke"')).map((l) => JSON.parse(l.slice(l.indexOf("{"))));
}

test("a personal credential ends at once, and leaves the owner's list", async () => {
  assert.equal((await w.fetch(TOKEN, { headers: { authorization: basic("alice", PERSONAL) } })).status, 200);
  const res = await w.fetch("/oauth/revoke", form({ token: PERSONAL, token_type_hint: "access_token" }));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal((await w.fetch(TOKEN, { headers: { authorization: basic("alice", PERSONAL) } })).status, 401);
  assert.equal(await w.kv.get(`personal:${sha256hex(PERSONAL)}`), null);
  assert.equal(await w.kv.get("personal-index:alice"), null, "its only entry went, so the index did");
  const line = (await revokeLines()).find((l) => l.credential === "personal");
  assert.deepEqual([line.outcome, line.status, line.account, line.credential_name], ["revoked", 200, "alice", "laptop"]);
  assert.ok(!chunks.join("").includes(PERSONAL), "the secret is never logged");
});

test("a docker-login refresh token ends at once; revoking it again is still 200", async () => {
  const login = await w.fetch(`/token?service=${SERVICE}&offline_token=true&client_id=docker`,
    { headers: { authorization: basic("alice", PASS) } });
  const rt = (await login.json()).refresh_token;
  const grant = () => w.fetch("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: SERVICE }));
  assert.equal((await grant()).status, 200);
  for (let i = 0; i < 2; i++) {
    assert.equal((await w.fetch("/oauth/revoke", form({ token: rt }))).status, 200);
  }
  const refused = await grant();
  assert.equal(refused.status, 401);
  assert.match((await refused.json()).error_description, /unknown, expired or revoked/);
  assert.ok(!chunks.join("").includes(rt));
});

test("an API key is the operator's: 400 unsupported_token_type, and it still works", async () => {
  const res = await w.fetch("/oauth/revoke", form({ token: API_KEY }));
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error, "unsupported_token_type");
  assert.match(body.error_description, /tollgate apikey revoke/);
  assert.equal((await w.fetch(TOKEN, { headers: { authorization: basic("ci", API_KEY) } })).status, 200);
});

test("malformed revocations are OAuth2 errors a person can act on", async () => {
  const cases = [
    [await w.fetch("/oauth/revoke"), 405, /POST/],
    [await w.fetch("/oauth/revoke", form({})), 400, /'token' is missing/],
    [await w.fetch(`/oauth/revoke?token=${API_KEY}`, { method: "POST" }), 400, /not in the URL/],
    [await w.fetch("/oauth/revoke", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }),
      400, /x-www-form-urlencoded/],
  ];
  for (const [res, status, message] of cases) {
    assert.equal(res.status, status);
    const body = await res.json();
    assert.equal(typeof body.error, "string");
    assert.match(body.error_description, message);
  }
});
