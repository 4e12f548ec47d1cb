#!/usr/bin/env bash
# Interop: podman 4.3 (private storage: --root/--runroot in the work dir, vfs) against
# docker-registry 2.8 with token auth from Tollgate.
#   tests/interop/run.sh token-podman   (or run this file directly: it then starts its own environment)
# podman login (a login probe: no scope), pull/push through the stored login, bob's push refused,
# a wrong password refused at login.
# SKIPs (does not fail) when podman cannot run on this machine, and says why.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ti_env_up

AUTH="$W/podman-auth.json"
# Private storage, no system configuration, no events journal, no cgroup manager needed for
# pull/push; the registries.conf/policy.json are our own minimal ones.
# podman refuses a runroot longer than 50 characters: a short directory of its own.
P="$(mktemp -d /tmp/tg-podman.XXXXXX)"
ti_on_exit "chmod -R u+w '$P' 2>/dev/null; rm -rf '$P'"
mkdir -p "$P/root" "$P/run" "$W/containers"
cat >"$W/containers/registries.conf" <<EOF
unqualified-search-registries = []
[[registry]]
location = "$TI_REG"
insecure = true
EOF
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$W/containers/policy.json"
export CONTAINERS_REGISTRIES_CONF="$W/containers/registries.conf"
export REGISTRY_AUTH_FILE="$AUTH"
pm() {
  podman --root "$P/root" --runroot "$P/run" --storage-driver vfs \
    --events-backend file --cgroup-manager cgroupfs "$@"
}
# podman reads policy.json from --signature-policy on pull/push.
POL=(--signature-policy "$W/containers/policy.json")

if ! tg_have podman; then
  skip "podman" "podman is not installed (scripts/setup.sh --interop)"
  ti_finish
  exit $?
fi
if ! out="$(pm info --format '{{.Store.GraphDriverName}}' 2>&1)"; then
  skip "podman" "podman info fails here: $(printf '%s' "$out" | tail -n1 | cut -c1-300)"
  ti_finish
  exit $?
fi
pass "podman runs with private storage ($out)"

expect_ok "setup: alice pushes org/app:1 (skopeo)" ti_push "$TI_ALICE" org/app:1

# --- alice: login, pull, push -----------------------------------------------------------------
mark="$(ti_audit_mark)"
expect_ok "podman login $TI_REG -u alice --password-stdin" \
  pm login --tls-verify=false --authfile "$AUTH" -u alice --password-stdin "$TI_REG" <<<"${TI_ALICE#*:}"
expect_match "the login probe got a token with an empty grant" \
  '"outcome":"issued".*"account":"alice".*"requested":\[\],"granted":\[\]' "$(ti_audit_since "$mark")"
expect_ok "podman pull $TI_REG/org/app:1 (as alice)" \
  pm pull --tls-verify=false --authfile "$AUTH" "${POL[@]}" "$TI_REG/org/app:1"
expect_ok "podman tag to org/podman-app:1" pm tag "$TI_REG/org/app:1" "$TI_REG/org/podman-app:1"
expect_ok "podman push $TI_REG/org/podman-app:1 (as alice)" \
  pm push --tls-verify=false --authfile "$AUTH" "${POL[@]}" "$TI_REG/org/podman-app:1"
tags="$(ti_list_tags "$TI_BOB" org/podman-app 2>/dev/null | jq -c '.Tags' 2>/dev/null || true)"
expect_eq "the registry lists org/podman-app:1 (skopeo list-tags as bob)" '["1"]' "$tags"
expect_ok "podman logout" pm logout --authfile "$AUTH" "$TI_REG"

# --- bob: pull yes, push no -----------------------------------------------------------------------
expect_ok "podman login as bob" \
  pm login --tls-verify=false --authfile "$AUTH" -u bob --password-stdin "$TI_REG" <<<"${TI_BOB#*:}"
expect_ok "bob: podman pull org/podman-app:1" \
  pm pull --tls-verify=false --authfile "$AUTH" "${POL[@]}" "$TI_REG/org/podman-app:1"
expect_ok "podman tag to org/podman-bob:1" pm tag "$TI_REG/org/app:1" "$TI_REG/org/podman-bob:1"
expect_refused "bob: podman push org/podman-bob:1 is refused" "$TI_DENIED_RE" \
  pm push --tls-verify=false --authfile "$AUTH" "${POL[@]}" "$TI_REG/org/podman-bob:1"
expect_ok "podman logout (bob)" pm logout --authfile "$AUTH" "$TI_REG"

# --- a wrong password -------------------------------------------------------------------------------
expect_refused "podman login with a wrong password is refused" "$TI_DENIED_RE" \
  pm login --tls-verify=false --authfile "$AUTH" -u alice --password-stdin "$TI_REG" <<<"not-alices-password"

ti_finish
