#!/usr/bin/env bash
# Interop: docker-credential-tollgate (issue 15) end to end with real parts. Tollgate with browser
# sign-in against the OpenID provider fixture (signin-lib.sh), docker-registry 2.8 with Tollgate as
# its realm, the Docker CLI with a private dockerd and skopeo, each configured to use the helper
# (`credHelpers` in a temporary DOCKER_CONFIG; `credHelpers` in skopeo's auth file and
# `credential-helpers` in a registries.conf). Commands that need an approval run on a terminal of
# their own (script(1)), where the helper prints its one instruction line; headless chromium
# (signin-browser.mjs) signs alice in and approves or denies the code shown. Covered: push + pull
# with no password typed or written to disk (docker's config has no secret, the helper's cache is
# 0600), a pull from the cache without a new approval, revocation on /account (the next pull fails
# in one line, or asks anew on a terminal), denial, expiry of an unapproved code (in the background,
# DEVICE_CODE_TTL=60), slow_down for polls faster than the interval, sign-in not enabled, Tollgate
# unreachable; `tollgate login --no-browser` filling the same cache and `tollgate logout` revoking the
# credential at Tollgate (POST /oauth/revoke) and emptying it.
# Screenshots: $TI_WORK/token-device/screens/*.png (KEEP_WORK=1 keeps them).
#   tests/interop/run.sh token-device   (or run this file directly: it then starts its own environment)
# Takes about 85 s (the expiry check waits 60 s in parallel with the rest; ~100 s when it rebuilds the helper).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ti_env_up
source "$TI_DIR/signin-lib.sh"


SHOTS="$W/screens"
ti_signin_require "device login" signin/device
for tool in script setsid; do
  tg_have "$tool" || tg_die "$tool not found (util-linux)"
done

# --- the helper on PATH, as docker and containers/image find `docker-credential-<name>` -------------
HELPER="$TG_TARGET_DIR/release/docker-credential-tollgate"
if [ ! -x "$HELPER" ] || [ -n "$(find "$TG_ROOT/helper/src" "$TG_ROOT/helper/Cargo.toml" -newer "$HELPER" -print -quit)" ]; then
  (cd "$TG_ROOT" && HOME="$TI_REAL_HOME" cargo build -q --locked --release -p tollgate-credential-helper) \
    >"$W/helper-build.log" 2>&1 || { cat "$W/helper-build.log" >&2; tg_die "building docker-credential-tollgate failed"; }
fi
mkdir -p "$W/bin" "$DOCKER_CONFIG"
ln -sf "$HELPER" "$W/bin/docker-credential-tollgate"
# A "browser" that records what the helper asks it to open (the helper tries one when DISPLAY is set).
cat >"$W/bin/xdg-open" <<EOF
#!/bin/sh
printf '%s\n' "\$1" >>"$W/opened.txt"
EOF
chmod +x "$W/bin/xdg-open"
: >"$W/opened.txt"
export PATH="$W/bin:$PATH" XDG_CONFIG_HOME="$W/config" DISPLAY=":tollgate-interop"
unset TOLLGATE_URL TOLLGATE_SERVICE TOLLGATE_INTERACTIVE TOLLGATE_NO_BROWSER
CACHE="$XDG_CONFIG_HOME/tollgate/credentials/${TI_REG//:/_}.json"

# nottty CMD...: CMD with no controlling terminal (a new session), as under CI or a daemon, even
# when this test runs from one.
nottty() { setsid -w "$@"; }

# with_approval DECISION PREFIX LOG CMD...: runs CMD on a terminal of its own (script(1); LOG gets
# what it shows, the helper's /dev/tty line included), waits for the helper's instruction, has
# chromium DECISION (approve|deny) the code it names (screenshots PREFIX-*.png), then returns CMD's
# exit status. Sets LINE, URL, CODE and BROWSER_RC (the browser step's status; output in LOG.browser).
with_approval() {
  local decision="$1" prefix="$2" log="$3" pid
  shift 3
  LINE="" URL="" CODE="" BROWSER_RC=""
  : >"$log"
  script -qefc "$(printf '%q ' "$@")" "$log" </dev/null >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do
    grep -q 'and check the code' "$log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  LINE="$(grep -o 'To sign in to .*' "$log" | tail -n 1 | tr -d '\r')" || true
  URL="$(sed -nE 's/.*, open ([^ ]+) and check the code.*/\1/p' <<<"$LINE")"
  CODE="$(sed -nE 's/.* check the code ([A-Z]{4}-[A-Z]{4}) .*/\1/p' <<<"$LINE")"
  if [ -n "$URL" ] && [ -n "$CODE" ]; then
    BROWSER_RC=0
    ti_signin_browser "$decision" --url "$URL" --code "$CODE" --prefix "$prefix" >"$log.browser" 2>&1 \
      || BROWSER_RC=$?
  fi
  local rc=0
  wait "$pid" || rc=$?
  return "$rc"
}

# --- before sign-in is on, and with Tollgate unreachable: one line each -----------------------------
expect_refused "without sign-in, the helper says device login is not enabled here" \
  'offers no device sign-in \(404 on /device/code\)' env TOLLGATE_INTERACTIVE=always \
  docker-credential-tollgate get <<<"$TI_REG"
dead_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
expect_refused "an unreachable Tollgate is named in one line" \
  "^tollgate: cannot reach Tollgate at http://127.0.0.1:$dead_port: " \
  env TOLLGATE_INTERACTIVE=always TOLLGATE_URL="http://127.0.0.1:$dead_port" docker-credential-tollgate get <<<"$TI_REG"
expect_eq "... and that is the helper's whole answer" 1 "$(wc -l <"$TI_LAST_LOG" | tr -d ' ')"
expect_eq "with no terminal and no credential, get answers the protocol's not-found (docker goes on anonymously)" \
  "credentials not found in native keychain" "$(nottty docker-credential-tollgate get <<<"$TI_REG" || true)"

# --- sign-in on, with short device timings --------------------------------------------------------
if ! ti_signin_up --var "DEVICE_CODE_TTL:60" --var "DEVICE_INTERVAL:1"; then
  fail "oidc-provider starts" "$TI_SIGNIN_ERROR"
  ti_finish
  exit $?
fi
pass "Tollgate restarted with sign-in (provider $IDP), DEVICE_CODE_TTL=60, DEVICE_INTERVAL=1"

# Expiry, in the background while the rest runs: nobody approves this code. Its answer is written
# when it exits, so expiry.out's modification time is when it gave up.
expiry_start="$(tg_now)"
TOLLGATE_INTERACTIVE=always TOLLGATE_NO_BROWSER=1 XDG_CONFIG_HOME="$W/config-expiry" \
  docker-credential-tollgate get <<<"$TI_REG" >"$W/expiry.out" 2>"$W/expiry.err" &
expiry_pid=$!
ti_on_exit "ti_kill_pid $expiry_pid"

# --- slow_down: a client polling faster than the interval (curl) -----------------------------------
code_json="$(curl -s -m 10 -X POST -d client_id=interop-curl -d service="$TI_SERVICE" "$TI_TG/device/code")"
device_code="$(jq -r '.device_code // empty' <<<"$code_json" 2>/dev/null || true)"
expect_match "POST /device/code answers a device code, a BCDF-style user code and interval 1" \
  '"interval":1' "$(jq -c '{interval, user_code}' <<<"$code_json" 2>/dev/null || true)"
poll() {
  curl -s -m 10 -X POST --data-urlencode "grant_type=urn:ietf:params:oauth:grant-type:device_code" \
    --data-urlencode "device_code=$device_code" -d client_id=interop-curl "$TI_TG/token"
}
polls="$(poll; poll; poll)"
expect_match "three polls in a row (faster than the 1 s interval) hear slow_down" '"error":"slow_down"' "$polls"
sleep 2
expect_match "2 s later it is still slow_down: the interval grew by 5 s (RFC 8628 3.5)" '"error":"slow_down"' "$(poll)"

# --- the Docker CLI: push with an approval, pull from the cache -------------------------------------
IMG="$TI_REG/team/device-docker:1"
have_docker=0
if ti_start_dockerd; then
  have_docker=1
  printf '{"credHelpers": {"%s": "tollgate"}}\n' "$TI_REG" >"$DOCKER_CONFIG/config.json"
  expect_ok "docker import of the test rootfs as $IMG" docker import "$TI_WORK/rootfs.tar" "$IMG"
  rc=0
  with_approval approve device-a "$W/push.tty" docker push "$IMG" || rc=$?
  expect_match "the helper printed one instruction on docker's terminal" \
    "^To sign in to $TI_REG, open $TI_TG/device\\?user_code=[A-Z]{4}-[A-Z]{4} and check the code [A-Z]{4}-[A-Z]{4} \\(valid 1 min\\)\\.$" "$LINE"
  expect_eq "... and asked the browser opener for the same URL" "$URL" "$(tail -n 1 "$W/opened.txt")"
  expect_eq "chromium signed alice in and approved the code the page showed" 0 "${BROWSER_RC:-none}"
  expect_match "the approval page named the client and the registry" \
    "client docker-credential-tollgate, registry $TI_REG" "$(cat "$W/push.tty.browser" 2>/dev/null)"
  if [ "$rc" -eq 0 ]; then pass "docker push $IMG through the helper"; else fail "docker push $IMG through the helper" "exit $rc"; ti_show_tail "$W/push.tty"; fi
  expect_match "docker's terminal showed who signed in and until when" "Signed in to $TI_REG as sso-alice until " "$(cat "$W/push.tty")"
  expect_ok "docker rmi $IMG" docker rmi "$IMG"
  opened_before="$(wc -l <"$W/opened.txt")"
  expect_ok "docker pull $IMG with the cached credential (no terminal)" nottty docker pull "$IMG"
  expect_eq "... without a new approval" "$opened_before" "$(wc -l <"$W/opened.txt")"
else
  skip "docker CLI + private dockerd" "$TI_SKIP_REASON"
  # The rest needs a credential: get one by the helper alone.
  with_approval approve device-a "$W/get.tty" sh -c "printf '%s\\n' '$TI_REG' | docker-credential-tollgate get" || true
fi

# --- nothing secret on disk but the helper's 0600 cache ---------------------------------------------
expect_eq "the credential cache file is mode 0600" 600 "$(stat -c %a "$CACHE" 2>/dev/null || echo missing)"
expect_eq "its directory is mode 0700" 700 "$(stat -c %a "$(dirname "$CACHE")" 2>/dev/null || echo missing)"
PASSWORD="$(jq -r '.password // empty' "$CACHE" 2>/dev/null || true)"
expect_match "the cached credential is a personal credential of sso-alice" '^sso-alice tgp_' \
  "$(jq -r '.username' "$CACHE" 2>/dev/null) ${PASSWORD:0:4}"
expect_eq "docker's config has no auths entry (no secret written by docker)" "null" \
  "$(jq -c '.auths' "$DOCKER_CONFIG/config.json" 2>/dev/null || echo missing)"
expect_eq "no file under DOCKER_CONFIG or HOME holds the credential" "" \
  "$(grep -rlF -- "${PASSWORD:-none}" "$DOCKER_CONFIG" "$HOME" 2>/dev/null || true)"
expect_eq "the credential is not in Tollgate's log" "" "$(grep -F -- "${PASSWORD:-none}" "$TI_WORK"/tollgate-*.log || true)"

# --- skopeo with the same helper (credHelpers in its auth file), from the cache ------------------
printf '{"auths": {}, "credHelpers": {"%s": "tollgate"}}\n' "$TI_REG" >"$W/auth.json"
sk() { nottty skopeo --insecure-policy "$@"; }
expect_ok "skopeo copy pushes team/device-skopeo:1 (auth file credHelpers -> the helper's cache)" \
  sk copy --authfile "$W/auth.json" --dest-tls-verify=false "oci:$TI_OCI:v1" "docker://$TI_REG/team/device-skopeo:1"
expect_ok "skopeo copy pulls it back" \
  sk copy --authfile "$W/auth.json" --src-tls-verify=false "docker://$TI_REG/team/device-skopeo:1" "oci:$W/pulled:v1"
expect_eq "the pulled manifest digest equals the pushed one" "$TI_OCI_DIGEST" \
  "$(jq -r '.manifests[0].digest' "$W/pulled/index.json" 2>/dev/null || true)"

# --- revocation on /account: the next pull fails in one line ----------------------------------------
expect_ok "chromium revokes the device credential on the account page" \
  ti_signin_browser revoke --name docker-credential-tollgate
expect_eq "GET /token with the revoked credential answers 401" 401 \
  "$(ti_status -u "sso-alice:${PASSWORD:-none}" "$TI_TG/token?service=$TI_SERVICE")"
expect_refused "with no terminal, the helper answers the revoked credential in one line" \
  "^tollgate: the credential for $TI_REG was revoked or has expired; run \`tollgate login $TI_REG\`" \
  nottty docker-credential-tollgate get <<<"$TI_REG"
expect_eq "... and only that line" 1 "$(wc -l <"$TI_LAST_LOG" | tr -d ' ')"
expect_eq "the revoked credential was erased from the cache" no "$( [ -e "$CACHE" ] && echo yes || echo no)"
if [ "$have_docker" = 1 ]; then
  # docker pull/push go on anonymously when a helper fails (docker build and compose print its line).
  expect_refused "docker pull with no credential left is refused by the registry" "$TI_DENIED_RE" nottty docker pull "$IMG"
fi

# --- skopeo asks for a new approval itself (registries.conf credential-helpers) -----------------------
cat >"$W/registries.conf" <<EOF
credential-helpers = ["tollgate"]
EOF
rc=0
with_approval approve device-b "$W/skopeo.tty" env CONTAINERS_REGISTRIES_CONF="$W/registries.conf" \
  skopeo --insecure-policy copy --dest-tls-verify=false "oci:$TI_OCI:v1" "docker://$TI_REG/team/device-skopeo:2" || rc=$?
expect_eq "skopeo (registries.conf credential-helpers) got an approval through the helper and pushed" "0 0" "$rc ${BROWSER_RC:-none}"
[ "$rc" -eq 0 ] || ti_show_tail "$W/skopeo.tty"

# --- revoked again, then on a terminal: said once, asked anew, and this time denied -------------------
expect_ok "chromium revokes the new device credential" \
  ti_signin_browser revoke --name docker-credential-tollgate
if [ "$have_docker" = 1 ]; then
  rc=0
  with_approval deny device-c "$W/deny.tty" docker pull "$IMG" || rc=$?
  out="$(tr -d '\r' <"$W/deny.tty")"
  expect_match "on a terminal the helper says the credential was revoked and asks anew" \
    "was revoked or has expired; asking for a new approval" "$out"
  expect_eq "chromium pressed Deny" 0 "${BROWSER_RC:-none}"
  expect_eq "docker pull fails after the denial" 1 "$([ "$rc" -ne 0 ] && echo 1 || echo 0)"
  expect_match "the helper's one line is on docker's terminal" \
    "tollgate: the sign-in for $TI_REG was denied in the browser; nothing was stored" "$out"
fi

# --- tollgate login / logout: the same flow by hand, feeding the helper's cache ------------------------
CLI="$TG_TARGET_DIR/release/tollgate"
if [ -x "$CLI" ] && "$CLI" login --help >/dev/null 2>&1; then
  opened_before="$(wc -l <"$W/opened.txt")"
  rc=0
  with_approval approve device-d "$W/login.tty" "$CLI" login "$TI_REG" --no-browser || rc=$?
  out="$(tr -d '\r' <"$W/login.tty")"
  expect_eq "tollgate login --no-browser, approved in chromium" "0 0" "$rc ${BROWSER_RC:-none}"
  expect_match "it says who signed in and until when" "^Signed in to $TI_REG as sso-alice until " "$out"
  expect_match "... and prints the account" "^sso-alice$" "$out"
  expect_eq "... and opened no browser" "$opened_before" "$(wc -l <"$W/opened.txt")"
  expect_eq "its credential is in the helper's cache (0600)" 600 "$(stat -c %a "$CACHE" 2>/dev/null || echo missing)"
  if [ "$have_docker" = 1 ]; then
    expect_ok "docker pull uses it with no new approval (no terminal)" nottty docker pull "$IMG"
  fi
  login_pw="$(jq -r '.password // empty' "$CACHE" 2>/dev/null || true)"
  expect_eq "the login's credential works at Tollgate" 200 \
    "$(ti_status -u "sso-alice:${login_pw:-none}" "$TI_TG/token?service=$TI_SERVICE")"
  expect_match "tollgate logout revokes it at Tollgate (POST /oauth/revoke) and erases it" \
    "^signed out of $TI_REG: the credential of sso-alice is revoked at $TI_TG and removed from this machine" \
    "$("$CLI" logout "$TI_REG" 2>&1)"
  expect_eq "the cache file is gone" no "$([ -e "$CACHE" ] && echo yes || echo no)"
  expect_eq "GET /token with the signed-out credential answers 401" 401 \
    "$(ti_status -u "sso-alice:${login_pw:-none}" "$TI_TG/token?service=$TI_SERVICE")"
else
  skip "tollgate login" "$CLI is missing or has no login command (scripts/dev.sh --prepare-only builds it)"
fi

# --- the unapproved code expired, and nothing waited past it ----------------------------------------
expiry_rc=0
wait "$expiry_pid" || expiry_rc=$?
expiry_end="$(stat -c %Y "$W/expiry.out")"
expect_eq "an unapproved code: the helper exits 1" 1 "$expiry_rc"
expect_match "... saying the code expired" "the sign-in code for $TI_REG expired after 60 s without an approval" \
  "$(cat "$W/expiry.out")"
took=$(( expiry_end - expiry_start ))
if [ "$took" -ge 55 ] && [ "$took" -le 70 ]; then
  pass "... after ${took}s (code lifetime 60 s)"
else
  fail "the helper gave up at the code's expiry" "took ${took}s for a 60 s code"
fi
expect_match "its instruction went to stderr (no terminal, TOLLGATE_INTERACTIVE=always)" "check the code [A-Z]{4}-[A-Z]{4}" \
  "$(cat "$W/expiry.err")"

for f in device-a-1-provider-login device-a-2-confirm device-a-3-approved device-c-3-denied 4-revoked; do
  if [ -s "$SHOTS/$f.png" ]; then pass "screenshot $f.png saved"; else fail "screenshot $f.png saved"; fi
done
ti_finish
