#!/usr/bin/env node
// Makes the JWTs under cli/tests/fixtures/inspect/ with node:crypto, a signer independent of
// Tollgate, so `token inspect` is tested against tokens it did not produce. Run from the repo root:
//
//   d=$(mktemp -d)
//   tollgate keys generate --alg es256 --out-dir $d --name es && tollgate keys generate --alg rs256 --out-dir $d --name rs
//   node cli/tests/support/make-inspect-fixtures.cjs $d "$(tollgate keys show $d/es.key.pem | awk '/^kid:/{print $2}')" \
//        "$(tollgate keys show $d/rs.key.pem | awk '/^kid:/{print $2}')" cli/tests/fixtures/inspect
//   tollgate keys jwks $d/es.crt.pem $d/rs.crt.pem > cli/tests/fixtures/inspect/jwks.json
//   tollgate keys bundle $d/es.crt.pem $d/rs.crt.pem > cli/tests/fixtures/inspect/bundle.pem
//
// The private keys stay in the temporary directory; only certificates and tokens are committed.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const [dir, esKid, rsKid, out] = process.argv.slice(2);
const es = crypto.createPrivateKey(fs.readFileSync(path.join(dir, "es.key.pem")));
const rs = crypto.createPrivateKey(fs.readFileSync(path.join(dir, "rs.key.pem")));
const esCertDer = new crypto.X509Certificate(fs.readFileSync(path.join(dir, "es.crt.pem"))).raw.toString("base64");
const b64u = (b) => Buffer.from(b).toString("base64url");
const claims = {
  iss: "tollgate-test",
  sub: "alice",
  aud: "registry.test",
  exp: 2000000300,
  nbf: 2000000000,
  iat: 2000000000,
  jti: "fixture-1",
  access: [{ type: "repository", name: "org/app", actions: ["pull", "push"] }],
};
function jwt(header, body, key, alg) {
  const signed = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(body))}`;
  const sig = alg === "ES256"
    ? crypto.sign("sha256", Buffer.from(signed), { key, dsaEncoding: "ieee-p1363" })
    : crypto.sign("sha256", Buffer.from(signed), key);
  return `${signed}.${b64u(sig)}`;
}
const write = (name, token) => fs.writeFileSync(path.join(out, name), token + "\n");
fs.mkdirSync(out, { recursive: true });
write("es256-kid.jwt", jwt({ typ: "JWT", alg: "ES256", kid: esKid }, claims, es, "ES256"));
write("es256-x5c.jwt", jwt({ typ: "JWT", alg: "ES256", x5c: [esCertDer] }, claims, es, "ES256"));
write("rs256-kid.jwt", jwt({ typ: "JWT", alg: "RS256", kid: rsKid }, claims, rs, "RS256"));
write("es256-aud-array.jwt", jwt({ typ: "JWT", alg: "ES256", kid: esKid }, { ...claims, aud: ["registry.test"] }, es, "ES256"));
write("es256-string-exp.jwt", jwt({ typ: "JWT", alg: "ES256", kid: esKid }, { ...claims, exp: "2000000300" }, es, "ES256"));
write("es256-unknown-kid.jwt", jwt({ typ: "JWT", alg: "ES256", kid: "AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL" }, claims, es, "ES256"));
write("es256-claims-as-rs.jwt", jwt({ typ: "JWT", alg: "RS256", kid: esKid }, claims, rs, "RS256"));
// A valid token whose claims were then swapped for others: the signature no longer matches.
const good = jwt({ typ: "JWT", alg: "ES256", kid: esKid }, claims, es, "ES256").split(".");
const forged = b64u(JSON.stringify({ ...claims, access: [{ type: "registry", name: "catalog", actions: ["*"] }] }));
write("es256-tampered.jwt", `${good[0]}.${forged}.${good[2]}`);
