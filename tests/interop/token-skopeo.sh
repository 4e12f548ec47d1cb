#!/usr/bin/env bash
# Interop: skopeo 1.9 against docker-registry 2.8 with token auth from Tollgate.
#   tests/interop/run.sh token-skopeo   (or run this file directly: it then starts its own environment)
# alice (pull+push org/*) pushes an image built offline with umoci; bob (pull org/*) lists its tags
# and pulls it, and his push is refused; admin pushes to public/*, which anonymous users may pull,
# while anonymous pulls of org/* are refused; the catalog is for admin only; ci-bot's API key works
# as a password; an identity (refresh) token in the auth file is used through POST refresh_token.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ti_env_up

# --- alice pushes, bob lists and pulls ------------------------------------------------------
expect_ok "alice pushes org/app:1 with skopeo copy" ti_push "$TI_ALICE" org/app:1

tags="$(ti_list_tags "$TI_BOB" org/app 2>"$W/bob-tags.err" | jq -c '.Tags' 2>/dev/null || true)"
expect_eq "bob lists the tags of org/app (skopeo list-tags)" '["1"]' "$tags"

expect_ok "bob pulls org/app:1 into an OCI layout (skopeo copy)" ti_pull "$TI_BOB" org/app:1 "$W/bob-pulled"
expect_eq "bob's pulled manifest digest equals the pushed one" "$TI_OCI_DIGEST" \
  "$(jq -r '.manifests[0].digest' "$W/bob-pulled/index.json" 2>/dev/null || true)"

# --- refusals -------------------------------------------------------------------------------
expect_refused "bob's push to org/bob-push:1 is refused" "$TI_DENIED_RE" ti_push "$TI_BOB" org/bob-push:1
# Check the registry itself: nothing was written (admin may read anything).
admin_pull_tok="$(ti_token "$TI_ADMIN" repository:org/bob-push:pull)"
expect_eq "registry has no org/bob-push manifest after bob's refused push" 404 \
  "$(ti_status -H "Authorization: Bearer $admin_pull_tok" "http://$TI_REG/v2/org/bob-push/manifests/1")"

expect_refused "anonymous pull of org/app:1 is refused" "$TI_DENIED_RE" ti_pull "" org/app:1 "$W/anon-org"
expect_refused "anonymous list-tags of org/app is refused" "$TI_DENIED_RE" ti_list_tags "" org/app
expect_refused "anonymous push to public/anon:1 is refused" "$TI_DENIED_RE" ti_push "" public/anon:1
expect_refused "wrong password for alice is refused" "$TI_DENIED_RE" ti_push "alice:not-her-password" org/app:wrong
expect_refused "disabled-user cannot push to org/* (its groups would allow it)" "$TI_DENIED_RE" ti_push "$TI_DISABLED" org/app:disabled

# --- public namespace -----------------------------------------------------------------------
expect_ok "admin pushes public/hello:1" ti_push "$TI_ADMIN" public/hello:1
expect_ok "anonymous pull of public/hello:1 works" ti_pull "" public/hello:1 "$W/anon-public"
expect_eq "anonymous pull got the pushed manifest" "$TI_OCI_DIGEST" \
  "$(jq -r '.manifests[0].digest' "$W/anon-public/index.json" 2>/dev/null || true)"
tags="$(ti_list_tags "" public/hello 2>/dev/null | jq -c '.Tags' 2>/dev/null || true)"
expect_eq "anonymous list-tags of public/hello" '["1"]' "$tags"

# --- catalog: admin only --------------------------------------------------------------------
admin_cat="$(ti_token "$TI_ADMIN" 'registry:catalog:*')"
catalog="$(curl -s -m 10 -H "Authorization: Bearer $admin_cat" "http://$TI_REG/v2/_catalog" \
  | jq -c '.repositories' 2>/dev/null || true)"
expect_match "admin reads /v2/_catalog with a Tollgate token" '"org/app".*"public/hello"' "$catalog"

bob_cat="$(ti_token "$TI_BOB" 'registry:catalog:*')"
expect_match "bob still gets a token when asking for the catalog (empty grant, 200)" '^ey' "$bob_cat"
expect_eq "bob's token is refused at /v2/_catalog (401)" 401 \
  "$(ti_status -H "Authorization: Bearer $bob_cat" "http://$TI_REG/v2/_catalog")"
expect_match "the registry says insufficient_scope to bob" 'insufficient_scope' \
  "$(curl -s -m 10 -D - -o /dev/null -H "Authorization: Bearer $bob_cat" "http://$TI_REG/v2/_catalog" \
     | tr -d '\r' | grep -i '^www-authenticate:' || true)"
expect_eq "anonymous /v2/_catalog is 401" 401 "$(ti_status "http://$TI_REG/v2/_catalog")"

# --- ci-bot's API key as a password ---------------------------------------------------------
expect_ok "ci-bot pushes org/ci:1 with its API key as the password" ti_push "ci-bot:$TI_CIBOT_KEY" org/ci:1
expect_ok "ci-bot pulls org/app:1 with its API key" ti_pull "ci-bot:$TI_CIBOT_KEY" org/app:1 "$W/ci-pulled"
expect_refused "ci-bot with a wrong API key is refused" "$TI_DENIED_RE" \
  ti_pull "ci-bot:tgk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" org/app:1 "$W/ci-wrong"

# --- skopeo login (stores the password in its auth file) then a push with the stored login ---
mark="$(ti_audit_mark)"
expect_ok "skopeo login as alice" ti_skopeo login --tls-verify=false -u alice --password-stdin "$TI_REG" \
  <<<"${TI_ALICE#*:}"
expect_ok "skopeo push as alice after login (stored credentials)" \
  ti_skopeo copy --dest-tls-verify=false "oci:$TI_OCI:v1" "docker://$TI_REG/org/app:2"
audit="$(ti_audit_since "$mark")"
expect_match "Tollgate issued alice's tokens for the push" '"outcome":"issued".*"account":"alice"' "$audit"

# --- an identity (refresh) token in the auth file: containers/image then only POSTs
#     grant_type=refresh_token, with a chunked body (no Content-Length) -------------------------
rt="$(curl -s -m 10 -u "$TI_ALICE" \
  "$TI_TG/token?service=$TI_SERVICE&offline_token=true&client_id=skopeo" | jq -r '.refresh_token // empty')"
expect_match "GET /token with offline_token=true returns a refresh token" '^tgr_' "$rt"
jq -n --arg r "$TI_REG" --arg a "$(printf 'alice:' | base64)" --arg t "$rt" \
  '{auths: {($r): {auth: $a, identitytoken: $t}}}' >"$W/identity-auth.json"
mark="$(ti_audit_mark)"
expect_ok "skopeo copy with only the identity token in --authfile (push org/app:3)" \
  skopeo --insecure-policy copy --authfile "$W/identity-auth.json" --dest-tls-verify=false \
  "oci:$TI_OCI:v1" "docker://$TI_REG/org/app:3"
audit="$(ti_audit_since "$mark")"
expect_match "skopeo's tokens came from POST grant_type=refresh_token" \
  '"outcome":"issued".*"grant":"refresh_token","account":"alice".*"granted":\["repository:org/app:pull,push"\]' "$audit"
expect_eq "and from nothing else (no password grant, no GET)" "" \
  "$(printf '%s\n' "$audit" | grep -v '"grant":"refresh_token"' || true)"
jq -n --arg r "$TI_REG" --arg a "$(printf 'alice:' | base64)" \
  '{auths: {($r): {auth: $a, identitytoken: "tgr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}}' >"$W/bad-identity-auth.json"
expect_refused "an unknown refresh token in the auth file is refused" "$TI_DENIED_RE" \
  skopeo --insecure-policy copy --authfile "$W/bad-identity-auth.json" --dest-tls-verify=false \
  "oci:$TI_OCI:v1" "docker://$TI_REG/org/app:4"

ti_finish
