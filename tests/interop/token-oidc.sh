#!/usr/bin/env bash
# Interop: workload identity federation with skopeo 1.9 against docker-registry 2.8 (token auth).
#   tests/interop/run.sh token-oidc   (or run this file directly: it then starts its own environment)
# A fixture OIDC issuer (tests/fixtures/oidc-issuer.mjs) on loopback plays GitHub Actions. Its
# record goes into Tollgate's `issuers` KV key and one claims rule in front of the ACL
# (ci/${claims.repository} for repositories of `org`); then a CI job's identity token is the
# password (`--dest-creds github-actions:<identity token>`): skopeo pushes to ci/org/app and pulls
# it back (same digest, also with the username `oidc`), its push to another repository is refused,
# an expired, a forged and a wrong-audience identity token fail, and Tollgate's audit lines carry
# the issuer and the identity token's jti.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ti_env_up

tg_have node || tg_die "node not found"

# Without the federation code in this tree the worker cannot accept identity tokens: say so.
if [ ! -d "$TG_ROOT/core/src/federation" ] && [ ! -f "$TG_ROOT/core/src/federation.rs" ]; then
  skip "workload identity federation" "core/src/federation is missing (branch oidc-core not merged), the worker has no federation"
  ti_finish
  exit $?
fi

# --- the fixture issuer -------------------------------------------------------------------------
iss_port="$(ti_port "${TI_ISSUER_PORT:-8791}")"
node "$TG_ROOT/tests/fixtures/oidc-issuer.mjs" --port "$iss_port" --url-file "$W/issuer.url" \
  >"$W/issuer.log" 2>&1 &
iss_pid=$!
ti_on_exit "ti_kill_pid $iss_pid"
for _ in $(seq 1 40); do [ -s "$W/issuer.url" ] && break; sleep 0.25; done
ISS="$(cat "$W/issuer.url" 2>/dev/null || true)"
if [ -z "$ISS" ] || ! ti_wait_http "$ISS/.well-known/openid-configuration" 10; then
  fail "fixture OIDC issuer starts on 127.0.0.1:$iss_port" "$(tail -n 3 "$W/issuer.log" | tr '\n' ' ')"
  ti_finish
  exit $?
fi
pass "fixture OIDC issuer answers discovery at $ISS"

# mint QUERY: an identity token from the fixture (GitHub-shaped, aud = the registry's service).
mint() { curl -sf -m 10 "$ISS/mint?shape=github&aud=$TI_SERVICE&$1"; }

# --- issuers record + one claims rule in front of the demo ACL (restored on exit) --------------
ti_kv get acl >"$W/acl.orig.json" 2>"$W/acl-get.log" || tg_die "reading the acl record failed"
jq -e 'type == "array"' "$W/acl.orig.json" >/dev/null || tg_die "the acl record is not a JSON array"
ti_on_exit "ti_kv put acl \"\$(cat '$W/acl.orig.json')\"; ti_kv delete issuers"
# shellcheck disable=SC2016 # ${claims.*} are Tollgate placeholders, not shell expansions
jq -c '[{"match": {"issuer": "github", "claims": {"repository_owner": "org"}, "type": "repository",
          "name": "ci/${claims.repository}"}, "actions": ["pull", "push"],
         "comment": "token-oidc: each repository of org pushes to its own ci/ path"}] + .' \
  "$W/acl.orig.json" >"$W/acl.json"
# shellcheck disable=SC2016
jq -nc --arg iss "$ISS" --arg aud "$TI_SERVICE" '[{"name": "github", "issuer": $iss, "audiences": [$aud],
  "username": "github-actions", "subject": "github:${claims.repository}:${claims.ref}", "max_lifetime": 3600}]' \
  >"$W/issuers.json"
ti_kv put issuers "$(cat "$W/issuers.json")" >"$W/kv-put.log" 2>&1 || tg_die "seeding issuers failed"
ti_kv put acl "$(cat "$W/acl.json")" >>"$W/kv-put.log" 2>&1 || tg_die "seeding acl failed"

# Tollgate caches records for CACHE_TTL (30 s) per isolate: wait, bounded, until it grants.
id_token="$(mint "alg=ES256&repository=org/app")"
expect_match "the fixture mints an ES256 identity token" '^ey[^.]+\.[^.]+\.[^.]+$' "$id_token"
grant_probe() {
  curl -s -m 10 -u "github-actions:$id_token" \
    "$TI_TG/token?service=$TI_SERVICE&scope=repository:ci/org/app:pull,push" \
    | jq -er '.token | split(".")[1] | @base64d | fromjson | .access[0].actions | join(",")' \
    | grep -qx 'pull,push'
}
ti_logfile "Tollgate grants ci/org/app to the identity token"
if ti_eventually 45 "$TI_LAST_LOG" grant_probe; then
  pass "GET /token with Basic github-actions:<identity token> grants ci/org/app pull,push (after ${TI_TOOK}s)"
else
  fail "GET /token with Basic github-actions:<identity token> grants ci/org/app pull,push" \
    "$(curl -s -m 10 -u "github-actions:$id_token" "$TI_TG/token?service=$TI_SERVICE&scope=repository:ci/org/app:pull" | head -c 300)"
  ti_finish
  exit $?
fi

# --- push and pull with the identity token as the password ---------------------------------------
mark="$(ti_audit_mark)"
expect_ok "skopeo pushes ci/org/app:1 with --dest-creds github-actions:<identity token>" \
  ti_push "github-actions:$id_token" ci/org/app:1
expect_ok "skopeo pulls ci/org/app:1 with the identity token" \
  ti_pull "github-actions:$id_token" ci/org/app:1 "$W/pulled"
expect_eq "the pulled manifest digest equals the pushed one" "$TI_OCI_DIGEST" \
  "$(jq -r '.manifests[0].digest' "$W/pulled/index.json" 2>/dev/null || true)"
jti="$(printf '%s' "$id_token" | jq -Rr 'split(".")[1] | @base64d | fromjson | .jti' 2>/dev/null || true)"
audit="$(ti_audit_since "$mark")"
expect_match "audit: issued to the workload subject, credential oidc, issuer github, the identity token's jti" \
  "\"outcome\":\"issued\".*\"account\":\"github:org/app:refs/heads/main\"" \
  "$(printf '%s\n' "$audit" | grep "\"identity_jti\":\"$jti\"" | grep '"credential":"oidc"' | grep '"issuer":"github"' || true)"
sig="${id_token##*.}"
expect_eq "no audit line contains the identity token" "" "$(printf '%s\n' "$audit" | grep -F -- "$sig" || true)"

rs_token="$(mint "alg=RS256&repository=org/tools")"
expect_ok "an RS256 identity token (org/tools) pushes ci/org/tools:1" ti_push "github-actions:$rs_token" ci/org/tools:1

expect_ok "username oidc (issuer chosen by the token's iss) pulls ci/org/app:1" \
  ti_pull "oidc:$id_token" ci/org/app:1 "$W/pulled-oidc"

expect_ok "skopeo login -u github-actions with the identity token" \
  ti_skopeo login --tls-verify=false -u github-actions --password-stdin "$TI_REG" <<<"$id_token"
expect_ok "push with the stored login (ci/org/app:2)" \
  ti_skopeo copy --dest-tls-verify=false "oci:$TI_OCI:v1" "docker://$TI_REG/ci/org/app:2"
ti_skopeo logout "$TI_REG" >/dev/null 2>&1 || true

# --- refusals ------------------------------------------------------------------------------------
expect_refused "push to another repository's path (ci/org/other:1) is refused" "$TI_DENIED_RE" \
  ti_push "github-actions:$id_token" ci/org/other:1
expect_refused "push outside ci/ (org/app:oidc) is refused" "$TI_DENIED_RE" \
  ti_push "github-actions:$id_token" org/app:oidc
admin_tok="$(ti_token "$TI_ADMIN" repository:ci/org/other:pull)"
expect_eq "the registry has no ci/org/other manifest after the refused push" 404 \
  "$(ti_status -H "Authorization: Bearer $admin_tok" "http://$TI_REG/v2/ci/org/other/manifests/1")"

expired="$(mint "alg=ES256&repository=org/app&expired=1")"
expect_refused "skopeo login with an expired identity token fails" "$TI_DENIED_RE" \
  ti_skopeo login --tls-verify=false -u github-actions --password-stdin "$TI_REG" <<<"$expired"
expect_refused "skopeo push with an expired identity token fails" "$TI_DENIED_RE" \
  ti_push "github-actions:$expired" ci/org/app:expired
body="$(curl -s -m 10 -u "github-actions:$expired" "$TI_TG/token?service=$TI_SERVICE&scope=repository:ci/org/app:pull")"
expect_match "Tollgate's 401 says the identity token expired" '"code":"UNAUTHORIZED".*expired' "$body"
expect_eq "and does not echo it" "" "$(printf '%s' "$body" | grep -F -- "${expired##*.}" || true)"

forged="$(mint "alg=ES256&repository=org/app&forged=same-kid")"
expect_refused "a forged identity token (signature by an unpublished key) fails" "$TI_DENIED_RE" \
  ti_push "github-actions:$forged" ci/org/app:forged
expect_match "Tollgate's 401 for it says the signature does not verify" '"code":"UNAUTHORIZED".*signature' \
  "$(curl -s -m 10 -u "github-actions:$forged" "$TI_TG/token?service=$TI_SERVICE&scope=repository:ci/org/app:pull")"
other_aud="$(curl -sf -m 10 "$ISS/mint?shape=github&aud=https://elsewhere.example&repository=org/app")"
expect_refused "an identity token for another audience fails" "$TI_DENIED_RE" \
  ti_push "github-actions:$other_aud" ci/org/app:aud

ti_finish
