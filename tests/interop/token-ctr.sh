#!/usr/bin/env bash
# Interop: containerd 1.6's ctr (a private containerd) against docker-registry 2.8 with token auth
# from Tollgate.
#   tests/interop/run.sh token-ctr   (or run this file directly: it then starts its own environment)
# containerd asks for tokens with POST grant_type=password (client_id containerd-client, scopes
# space-joined): bob pulls, alice pushes, bob's push and a wrong password are refused, anonymous
# pulls public/* but not org/*.
# SKIPs (does not fail) when containerd cannot run on this machine, and says why.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ti_env_up

SRC="$TI_REG/org/app:1"
# The images ctr works on: pushed with skopeo first (idempotent when token-skopeo already did).
expect_ok "setup: alice pushes org/app:1 (skopeo)" ti_push "$TI_ALICE" org/app:1
expect_ok "setup: admin pushes public/hello:1 (skopeo)" ti_push "$TI_ADMIN" public/hello:1

if ! ti_start_containerd; then
  skip "ctr + private containerd" "$TI_SKIP_REASON"
  ti_finish
  exit $?
fi
pass "private containerd answers on $TI_CTR_SOCK"

# --- bob pulls with the password grant --------------------------------------------------------
mark="$(ti_audit_mark)"
expect_ok "ctr images pull --plain-http --user bob:*** $SRC" \
  ti_ctr images pull --plain-http --user "$TI_BOB" "$SRC"
audit="$(ti_audit_since "$mark")"
expect_match "containerd asked with POST grant_type=password (client_id containerd-client)" \
  '"outcome":"issued".*"grant":"password","account":"bob".*"client_id":"containerd-client"' "$audit"
expect_match "bob was granted pull on org/app" '"granted":\["repository:org/app:pull"\]' "$audit"
expect_eq "ctr has the image with the pushed manifest digest" "$TI_OCI_DIGEST" \
  "$(ti_ctr images ls 2>/dev/null | awk -v r="$SRC" '$1 == r {print $3}')"

# --- alice pushes -------------------------------------------------------------------------------
DST="$TI_REG/org/ctr-app:1"
expect_ok "ctr images tag $SRC $DST" ti_ctr images tag "$SRC" "$DST"
mark="$(ti_audit_mark)"
expect_ok "ctr images push --plain-http --user alice:*** $DST" \
  ti_ctr images push --plain-http --user "$TI_ALICE" "$DST"
expect_match "alice's push token came from the password grant with pull+push" \
  '"grant":"password","account":"alice".*"granted":\["repository:org/ctr-app:pull,push"\]' \
  "$(ti_audit_since "$mark")"
tags="$(ti_list_tags "$TI_BOB" org/ctr-app 2>/dev/null | jq -c '.Tags' 2>/dev/null || true)"
expect_eq "the registry lists org/ctr-app:1 (skopeo list-tags as bob)" '["1"]' "$tags"

# --- refusals -----------------------------------------------------------------------------------
BOBDST="$TI_REG/org/ctr-bob:1"
expect_ok "ctr images tag $SRC $BOBDST" ti_ctr images tag "$SRC" "$BOBDST"
expect_refused "bob's ctr push to org/ctr-bob:1 is refused" "$TI_DENIED_RE" \
  ti_ctr images push --plain-http --user "$TI_BOB" "$BOBDST"
expect_refused "ctr pull with a wrong password is refused" "$TI_DENIED_RE" \
  ti_ctr images pull --plain-http --user "bob:not-bobs-password" "$TI_REG/org/app:1"
expect_refused "anonymous ctr pull of org/app:1 is refused" "$TI_DENIED_RE" \
  ti_ctr images pull --plain-http "$TI_REG/org/app:1"

# --- anonymous pull of the public namespace -----------------------------------------------------
expect_ok "anonymous ctr pull of public/hello:1" ti_ctr images pull --plain-http "$TI_REG/public/hello:1"

ti_finish
