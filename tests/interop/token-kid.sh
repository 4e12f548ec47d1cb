#!/usr/bin/env bash
# Interop: how docker-registry 2.8 finds Tollgate's key.
#   tests/interop/run.sh token-kid   (or run this file directly: it then starts its own environment)
# The main environment's tokens carry x5c (the certificate) and kid. Here a second Tollgate runs
# WITHOUT SIGNING_CERT, so its tokens carry only `kid` (the libtrust key ID), and a second registry
# trusts the bundle an operator would download from Tollgate's /certs.pem: push, pull and refusals
# must work the same. Also: /.well-known/jwks.json publishes the key under that kid.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ti_env_up

# jwt_part TOKEN N: the decoded JSON of part N (0 header, 1 claims).
jwt_part() {
  python3 -c 'import base64, sys
p = sys.argv[1].split(".")[int(sys.argv[2])]
print(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode())' "$1" "$2" 2>/dev/null || true
}

# --- what the main Tollgate publishes -------------------------------------------------------------
curl -s -m 10 -o "$W/certs.pem" -w '%{http_code}' "$TI_TG/certs.pem" >"$W/certs.status" || true
expect_eq "GET /certs.pem is 200" 200 "$(cat "$W/certs.status")"
expect_match "/certs.pem holds a CERTIFICATE block" '-----BEGIN CERTIFICATE-----' "$(cat "$W/certs.pem")"
main_tok="$(ti_token "$TI_ALICE" repository:org/app:pull)"
main_hdr="$(jwt_part "$main_tok" 0)"
main_kid="$(printf '%s' "$main_hdr" | jq -r '.kid // empty')"
expect_match "the main Tollgate's token header has a libtrust kid" \
  '^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$' "$main_kid"
expect_eq "the main Tollgate's token header has x5c" true \
  "$(printf '%s' "$main_hdr" | jq 'has("x5c")' 2>/dev/null || true)"
jwks_kids="$(curl -s -m 10 "$TI_TG/.well-known/jwks.json" | jq -r '.keys[].kid' 2>/dev/null || true)"
expect_match "/.well-known/jwks.json publishes the signing key under the token's kid" \
  "^$main_kid\$" "$jwks_kids"

# --- a second Tollgate without the certificate: kid only ------------------------------------------
kid_port="$(ti_port 8789)"
kid_tg="http://127.0.0.1:$kid_port"
rm -rf "$W/worker-kid"
cp -r "$TI_WORK/worker" "$W/worker-kid"
grep -v '^SIGNING_CERT=' "$TI_WORK/worker/.dev.vars" >"$W/worker-kid/.dev.vars"
chmod 600 "$W/worker-kid/.dev.vars"
ti_seed_kv "$W/state"
kid_serve() {
  HOME="$TI_REAL_HOME" PORT="$kid_port" TG_PERSIST_DIR="$W/state" TG_PIDFILE="$W/tollgate-kid.pid" \
    TG_LOGFILE="$W/tollgate-kid.log" TG_START_TIMEOUT=120 bash "$TG_ROOT/scripts/serve.sh" "$@"
}
ti_on_exit "kid_serve stop"
if ! kid_serve start -- --config "$W/worker-kid/wrangler.toml" --var "REALM:$kid_tg/token" \
  >"$W/serve-kid.log" 2>&1; then
  fail "start a second Tollgate without SIGNING_CERT on $kid_tg" "$(tail -n 3 "$W/serve-kid.log" | tr '\n' ' ')"
  ti_finish
  exit $?
fi
pass "a second Tollgate without SIGNING_CERT runs on $kid_tg"

kid_tok="$(curl -s -m 10 -u "$TI_ALICE" "$kid_tg/token?service=$TI_SERVICE&scope=repository:org/kid:pull" \
  | jq -r '.token // empty' 2>/dev/null || true)"
kid_hdr="$(jwt_part "$kid_tok" 0)"
expect_eq "its token header has no x5c" false "$(printf '%s' "$kid_hdr" | jq 'has("x5c")' 2>/dev/null || true)"
expect_eq "its token header's kid is the same libtrust key ID" "$main_kid" \
  "$(printf '%s' "$kid_hdr" | jq -r '.kid // empty' 2>/dev/null || true)"
expect_eq "its token header's alg is ES256" ES256 "$(printf '%s' "$kid_hdr" | jq -r '.alg // empty' 2>/dev/null || true)"

# --- a registry that trusts the downloaded bundle, and finds the key by kid -----------------------
kid_reg_port="$(ti_port 5003)"
ti_run_registry registry-kid "$kid_reg_port" "$kid_tg/token" "$W/certs.pem"
KREG="127.0.0.1:$kid_reg_port"
pass "docker-registry 2.8 starts with Tollgate's /certs.pem as rootcertbundle ($KREG)"

kid_push() { TI_REG="$KREG" ti_push "$@"; }
kid_pull() { TI_REG="$KREG" ti_pull "$@"; }
expect_ok "alice pushes org/kid:1 (kid-only tokens)" kid_push "$TI_ALICE" org/kid:1
expect_ok "bob pulls org/kid:1 (kid-only tokens)" kid_pull "$TI_BOB" org/kid:1 "$W/kid-pulled"
expect_eq "bob's pulled manifest digest equals the pushed one" "$TI_OCI_DIGEST" \
  "$(jq -r '.manifests[0].digest' "$W/kid-pulled/index.json" 2>/dev/null || true)"
expect_refused "bob's push is refused (kid-only tokens)" "$TI_DENIED_RE" kid_push "$TI_BOB" org/kid-bob:1

# A token signed by another key with the same kid must not pass: the registry checks the
# signature with the bundle's key. (Swap the signature for one of a token from the main Tollgate
# for another scope: same key, different payload.)
forged="${kid_tok%.*}.${main_tok##*.}"
expect_eq "a token with a mismatched signature is refused by the registry (401)" 401 \
  "$(ti_status -H "Authorization: Bearer $forged" "http://$KREG/v2/org/kid/tags/list")"
expect_eq "the genuine kid-only token is accepted by the registry (200)" 200 \
  "$(ti_status -H "Authorization: Bearer $kid_tok" "http://$KREG/v2/org/kid/tags/list")"

ti_finish
