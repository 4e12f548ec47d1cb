#!/usr/bin/env bash
# Interop: the Docker CLI + a private dockerd (docker.io 20.10, vfs, no bridge, no iptables)
# against docker-registry 2.8 with token auth from Tollgate.
#   tests/interop/run.sh token-docker   (or run this file directly: it then starts its own environment)
# `docker login` gets a refresh token (offline_token=true) that the daemon then uses for every
# token request (POST grant_type=refresh_token); push, pull after removing the image, pull again
# after Tollgate restarted (refresh tokens live in KV), deleting the refresh token in KV or disabling
# the user stops the daemon at once, bob's push refused.
# SKIPs (does not fail) when dockerd cannot run on this machine, and says why.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ti_env_up

IMG="$TI_REG/org/docker-app:1"

if ! ti_start_dockerd; then
  skip "docker CLI + private dockerd" "$TI_SKIP_REASON"
  ti_finish
  exit $?
fi
pass "private dockerd answers on $DOCKER_HOST"

# The image: the umoci rootfs as a tarball, imported into the daemon.
expect_ok "docker import of the test rootfs as $IMG" docker import "$TI_WORK/rootfs.tar" "$IMG"

# --- login as alice: a refresh token, not the password, is stored ----------------------------
mark="$(ti_audit_mark)"
expect_ok "docker login $TI_REG -u alice --password-stdin" \
  docker login "$TI_REG" -u alice --password-stdin <<<"${TI_ALICE#*:}"
cfg="$DOCKER_CONFIG/config.json"
expect_match "docker's config.json holds an identity (refresh) token for $TI_REG" '^tgr_[A-Za-z0-9_-]{43}[.][A-Za-z0-9_-]+$' \
  "$(jq -r --arg r "$TI_REG" '.auths[$r].identitytoken // empty' "$cfg" 2>/dev/null || true)"
# docker keeps "auth" = base64("alice:"): the user name, with an empty password.
expect_eq "docker's config.json holds no password for $TI_REG (auth is \"alice:\")" "alice:" \
  "$(jq -r --arg r "$TI_REG" '.auths[$r].auth // empty' "$cfg" 2>/dev/null | base64 -d 2>/dev/null || true)"
expect_match "Tollgate minted a refresh token for alice at login (client_id docker)" \
  '"account":"alice".*"client_id":"docker".*"refresh_token_issued":true' "$(ti_audit_since "$mark")"

# --- push and pull with the refresh token ----------------------------------------------------
mark="$(ti_audit_mark)"
expect_ok "docker push $IMG (as alice, through the refresh token)" docker push "$IMG"
audit="$(ti_audit_since "$mark")"
expect_match "the push's tokens came from POST grant_type=refresh_token" \
  '"outcome":"issued".*"grant":"refresh_token","account":"alice"' "$audit"
expect_eq "no password was sent for the push (every token request used the refresh token)" "" \
  "$(printf '%s\n' "$audit" | grep -v '"grant":"refresh_token"' || true)"

expect_ok "docker rmi $IMG" docker rmi "$IMG"
expect_ok "docker pull $IMG after removing it" docker pull "$IMG"
expect_ok "the pulled image is present" docker image inspect "$IMG"

# --- refresh tokens survive a restart of Tollgate ---------------------------------------------
expect_ok "docker rmi $IMG (before the restart)" docker rmi "$IMG"
ti_restart_tollgate
pass "Tollgate restarted on the same local KV state"
mark="$(ti_audit_mark)"
expect_ok "docker pull $IMG after the restart (the stored refresh token still works)" docker pull "$IMG"
expect_match "the pull after the restart used the refresh token" \
  '"outcome":"issued".*"grant":"refresh_token","account":"alice"' "$(ti_audit_since "$mark")"

# --- revocation: deleting alice's refresh token in KV stops the daemon within CACHE_TTL ---------
# Tollgate caches records per isolate for CACHE_TTL seconds (wrangler.toml, 30), refresh records
# included (issue 17: no KV round trip on a warm isolate): a delete takes effect within that.
ttl="$(sed -n 's/^CACHE_TTL *= *"\{0,1\}\([0-9]*\)"\{0,1\}.*/\1/p' "$TI_WORK/worker/wrangler.toml" | head -n1)"
ttl="${ttl:-30}"
mapfile -t rkeys < <(ti_kv_refresh_keys alice)
expect_match "alice's refresh token is in KV (as refresh:<sha256>)" '^refresh:[0-9a-f]{64}$' "${rkeys[0]:-}"
for k in "${rkeys[@]}"; do ti_kv delete "$k" >/dev/null 2>&1 || true; done
expect_eq "alice's refresh tokens deleted from KV" "" "$(ti_kv_refresh_keys alice)"
mark="$(ti_audit_mark)"
revoked_pull_refused() { docker rmi "$IMG" >/dev/null 2>&1 || true; ! docker pull "$IMG"; }
if ti_eventually $(( ttl + 15 )) "$W/alice-revoked-pull.log" revoked_pull_refused; then
  pass "docker pull with the revoked refresh token is refused (after ${TI_TOOK}s; CACHE_TTL ${ttl}s)"
  if grep -Eqi -- "$TI_DENIED_RE" "$W/alice-revoked-pull.log"; then
    pass "the pull failed with an authorization error"
  else
    fail "the pull failed with an authorization error" "no /$TI_DENIED_RE/ in its output"
    ti_show_tail "$W/alice-revoked-pull.log"
  fi
else
  fail "docker pull with the revoked refresh token is refused" "still pulling $(( ttl + 15 ))s after the delete"
  ti_show_tail "$W/alice-revoked-pull.log"
fi
expect_match "Tollgate refused the revoked refresh token" \
  '"outcome":"refused".*"grant":"refresh_token"' "$(ti_audit_since "$mark")"

# --- bob: pull-only ---------------------------------------------------------------------------
expect_ok "docker logout" docker logout "$TI_REG"
expect_ok "docker login as bob" docker login "$TI_REG" -u bob --password-stdin <<<"${TI_BOB#*:}"
expect_ok "bob pulls ${IMG#*/} (docker pull)" docker pull "$IMG"
expect_ok "docker tag for bob's push" docker tag "$IMG" "$TI_REG/org/bob-docker:1"
mark="$(ti_audit_mark)"
expect_refused "bob's docker push to org/bob-docker:1 is refused" "$TI_DENIED_RE" docker push "$TI_REG/org/bob-docker:1"
expect_match "Tollgate granted bob only pull when his push asked for push (200, partial grant)" \
  '"account":"bob".*"granted":\["repository:org/bob-docker:pull"' "$(ti_audit_since "$mark")"

# --- disabling bob stops his refresh token too (his record is restored afterwards) ---------------
bob_record="$(ti_kv get user:bob 2>/dev/null || true)"
if printf '%s' "$bob_record" | jq -e '.password' >/dev/null 2>&1; then
  printf '%s' "$bob_record" >"$W/user-bob.json"
  ti_on_exit "ti_kv put user:bob --path '$W/user-bob.json'"
  expect_ok "disable bob in KV (user:bob disabled=true)" \
    ti_kv put user:bob "$(printf '%s' "$bob_record" | jq -c '.disabled = true')"
  # Tollgate caches user records per isolate for CACHE_TTL seconds (wrangler.toml, 30): a disabled
  # flag must take effect within that, not necessarily at once.
  pull_refused() { ! docker pull "$IMG"; }
  if ti_eventually $(( ttl + 15 )) "$W/bob-disabled-pull.log" pull_refused; then
    pass "bob (disabled) cannot pull with his stored refresh token (after ${TI_TOOK}s; CACHE_TTL ${ttl}s)"
    expect_match "the refusal says the account is disabled" 'disabled' "$(cat "$W/bob-disabled-pull.log")"
  else
    fail "bob (disabled) cannot pull with his stored refresh token" "still pulling $(( ttl + 15 ))s after disabling"
    ti_show_tail "$W/bob-disabled-pull.log"
  fi
  expect_ok "re-enable bob (his original record)" ti_kv put user:bob --path "$W/user-bob.json"
  if ti_eventually $(( ttl + 15 )) "$W/bob-enabled-pull.log" docker pull "$IMG"; then
    pass "bob pulls again once re-enabled, same refresh token (after ${TI_TOOK}s)"
  else
    fail "bob pulls again once re-enabled" "still refused $(( ttl + 15 ))s after re-enabling"
    ti_show_tail "$W/bob-enabled-pull.log"
  fi
else
  fail "read user:bob from KV" "no user record with a password came back"
fi

# --- wrong password at login --------------------------------------------------------------------
expect_ok "docker logout (bob)" docker logout "$TI_REG"
expect_refused "docker login with a wrong password is refused" "$TI_DENIED_RE" \
  docker login "$TI_REG" -u alice --password-stdin <<<"not-alices-password"

ti_finish
