#!/usr/bin/env bash
# Interop: browser sign-in (issue 14) end to end with real parts. A real OpenID provider (npm
# oidc-provider, tests/fixtures/oidc-provider.mjs) on loopback; a real browser (Debian's chromium
# driven by playwright-core, tests/interop/signin-browser.mjs) signs alice in on Tollgate's /login
# and creates a personal credential; skopeo and the Docker CLI (private dockerd) log in with it and
# push and pull against docker-registry 2.8 as alice's IdP group `staff` allows (team/*), and are
# refused elsewhere; the browser revokes it and it is refused within the documented bound.
# Screenshots: $TI_WORK/token-signin/screens/*.png (KEEP_WORK=1 keeps them).
#   tests/interop/run.sh token-signin   (or run this file directly: it then starts its own environment)
# Settings: TI_IDP_PORT (8790) for the provider.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ti_env_up

source "$TI_DIR/signin-lib.sh"

SHOTS="$W/screens"
ti_signin_require "browser sign-in"

# --- the OpenID provider, Tollgate with sign-in on, ACL rules for IdP groups (signin-lib.sh) ---------
if ! ti_signin_up; then
  fail "oidc-provider starts" "$TI_SIGNIN_ERROR"
  ti_finish
  exit $?
fi
pass "oidc-provider answers discovery at $IDP"
expect_eq "GET /login redirects to the provider" 302 "$(ti_status "$TI_TG/login")"
expect_match "the authorization request carries PKCE S256, state and nonce, and our own redirect URI" \
  "^$IDP/auth\\?.*redirect_uri=http%3A%2F%2F127.0.0.1%3A${TI_TG_PORT}%2Flogin%2Fcallback.*state=.*nonce=.*code_challenge_method=S256" \
  "$(curl -s -m 10 -o /dev/null -w '%{redirect_url}' "$TI_TG/login?return=https://evil.example/")"
expect_eq "a callback without this browser's login cookie (forged state) is refused" 401 \
  "$(ti_status "$TI_TG/login/callback?code=x&state=forged")"
expect_eq "a form post without a session is refused" 401 \
  "$(ti_status -X POST -d 'name=x&days=1' "$TI_TG/account/credentials")"

# --- the browser signs in and creates a credential -------------------------------------------------
browser() { ti_signin_browser "$@"; }
expect_ok "chromium signs alice in through the provider and creates credential 'interop'" \
  browser create --name interop --days 1 --key-file "$W/key"
KEY="$(cat "$W/key" 2>/dev/null || true)"
expect_match "the page showed a personal credential once (with its owner as the hint)" \
  '^tgp_[A-Za-z0-9_-]{43}[.]c3NvLWFsaWNl$' "$KEY"
expect_eq "the credential is not in Tollgate's log" "" "$(grep -F -- "${KEY:-none}" "$(ti_tg_log)" || true)"
expect_match "Tollgate logged the sign-in with alice's IdP groups" 'signin ok provider=idp account=sso-alice groups=dev,staff' \
  "$(cat "$(ti_tg_log)")"

# --- skopeo with the credential --------------------------------------------------------------------
expect_ok "skopeo login -u sso-alice with the credential" \
  ti_skopeo login --tls-verify=false -u sso-alice --password-stdin "$TI_REG" <<<"$KEY"
expect_ok "skopeo pushes team/signin:1 (IdP group staff)" \
  ti_skopeo copy --dest-tls-verify=false "oci:$TI_OCI:v1" "docker://$TI_REG/team/signin:1"
expect_ok "skopeo pulls team/signin:1 back" \
  ti_pull "sso-alice:$KEY" team/signin:1 "$W/pulled"
expect_eq "the pulled manifest digest equals the pushed one" "$TI_OCI_DIGEST" \
  "$(jq -r '.manifests[0].digest' "$W/pulled/index.json" 2>/dev/null || true)"
expect_refused "push outside what the groups allow (org/signin:1) is refused" "$TI_DENIED_RE" \
  ti_push "sso-alice:$KEY" org/signin:1
expect_refused "the credential under another username is refused" "$TI_DENIED_RE" \
  ti_pull "bob:$KEY" team/signin:1 "$W/pulled-bob"

# --- the Docker CLI with the credential -------------------------------------------------------------
IMG="$TI_REG/team/signin-docker:1"
if ti_start_dockerd; then
  expect_ok "docker login -u sso-alice with the credential" \
    docker login "$TI_REG" -u sso-alice --password-stdin <<<"$KEY"
  expect_eq "docker got no refresh token (it keeps the credential, so a revoke ends its access)" "" \
    "$(jq -r --arg r "$TI_REG" '.auths[$r].identitytoken // empty' "$DOCKER_CONFIG/config.json" 2>/dev/null || true)"
  expect_ok "docker import of the test rootfs as $IMG" docker import "$TI_WORK/rootfs.tar" "$IMG"
  expect_ok "docker push $IMG" docker push "$IMG"
  expect_ok "docker rmi $IMG" docker rmi "$IMG"
  expect_ok "docker pull $IMG" docker pull "$IMG"
  docker rmi "$IMG" >/dev/null 2>&1 || true
  have_docker=1
else
  skip "docker CLI + private dockerd" "$TI_SKIP_REASON"
  have_docker=0
fi

# --- the browser revokes it --------------------------------------------------------------------------
expect_ok "chromium revokes credential 'interop' on the account page" browser revoke --name interop
# Personal credentials are never cached in the isolate: refused as soon as KV serves the delete
# (at once in local KV; within KV's propagation, about 60 s, on Cloudflare). Bound here: 90 s.
refused_probe() { ! ti_pull "sso-alice:$KEY" team/signin:1 "$W/pulled-after" >/dev/null 2>&1; }
ti_logfile "skopeo refused after the revoke"
if ti_eventually 90 "$TI_LAST_LOG" refused_probe; then
  pass "skopeo pull with the revoked credential is refused (after ${TI_TOOK}s)"
else
  fail "skopeo pull with the revoked credential is refused within 90 s"
fi
expect_eq "GET /token with the revoked credential answers 401" 401 \
  "$(ti_status -u "sso-alice:$KEY" "$TI_TG/token?service=$TI_SERVICE&scope=repository:team/signin:pull")"
if [ "$have_docker" = 1 ]; then
  expect_refused "docker pull with the stored, revoked credential is refused" "$TI_DENIED_RE|unauthorized|denied" \
    docker pull "$IMG"
fi

for f in 1-provider-login 2-account 3-new-credential 4-revoked; do
  if [ -s "$SHOTS/$f.png" ]; then pass "screenshot $f.png saved"; else fail "screenshot $f.png saved"; fi
done
ti_finish
