# Browser sign-in for interop tests (token-signin.sh, token-device.sh). Source it after lib.sh and
# ti_env_up; it runs nothing.
#
#   ti_signin_up [--var NAME:VALUE]...
#       starts the OpenID provider fixture (npm oidc-provider, tests/fixtures/oidc-provider.mjs) on
#       TI_IDP_PORT (8790, or a free port) and sets IDP to its issuer URL; adds an ACL rule (the
#       IdP group `staff` may pull and push team/*); restarts Tollgate with sign-in on (SIGNIN_*,
#       plus the --var arguments) and puts the ACL and a Tollgate without sign-in back on exit.
#       Returns 1 with TI_SIGNIN_ERROR set if the provider does not come up.
#   ti_signin_browser CMD ARGS...
#       tests/interop/signin-browser.mjs as alice with this test's chromium profile; screenshots
#       in $TI_TWORK/screens.
#   ti_signin_skip_reason
#       prints why browser sign-in cannot be tested here (and returns 0), or returns 1.
#   ti_signin_require NAME [DIR]
#       ends the test with one SKIP line for NAME when browser sign-in (or core/src/DIR, when given)
#       is missing here.

ti_signin_skip_reason() {
  if [ ! -d "$TG_ROOT/core/src/signin" ]; then
    printf 'core/src/signin is missing (issue 14 not merged)\n'
  elif [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    printf "chromium is not installed (scripts/setup.sh --interop installs Debian's chromium)\n"
  elif ! tg_have node; then
    printf 'node is not installed\n'
  else
    return 1
  fi
}

ti_signin_require() {
  local reason
  if ! reason="$(ti_signin_skip_reason)"; then
    [ -z "${2:-}" ] || [ -d "$TG_ROOT/core/src/$2" ] && return 0
    reason="core/src/$2 is missing (not merged)"
  fi
  skip "$1" "$reason"
  ti_finish
  exit $?
}

ti_signin_up() {
  local w="$TI_TWORK" idp_port providers
  idp_port="$(ti_port "${TI_IDP_PORT:-8790}")"
  node "$TG_ROOT/tests/fixtures/oidc-provider.mjs" --port "$idp_port" \
    --redirect-uri "$TI_TG/login/callback" --url-file "$w/idp.url" >"$w/idp.log" 2>&1 &
  ti_on_exit "ti_kill_pid $!"
  for _ in $(seq 1 40); do [ -s "$w/idp.url" ] && break; sleep 0.25; done
  IDP="$(cat "$w/idp.url" 2>/dev/null || true)"
  if [ -z "$IDP" ] || ! ti_wait_http "$IDP/.well-known/openid-configuration" 10; then
    TI_SIGNIN_ERROR="oidc-provider did not start on 127.0.0.1:$idp_port: $(tail -n 3 "$w/idp.log" | tr '\n' ' ')"
    return 1
  fi
  providers="$(jq -nc --arg iss "$IDP" '[{"name": "idp", "label": "the test provider", "issuer": $iss,
    "client_id": "tollgate", "account_claim": "preferred_username", "prefix": "sso-",
    "groups_claim": "groups", "scopes": ["profile", "email", "groups"]}]')"
  ti_kv get acl >"$w/acl.orig.json" 2>"$w/acl-get.log" || tg_die "reading the acl record failed"
  ti_on_exit "ti_kv put acl \"\$(cat '$w/acl.orig.json')\"; ti_restart_tollgate"
  jq -c '[{"match": {"group": "staff", "type": "repository", "name": "team/*"}, "actions": ["pull", "push"],
           "comment": "sign-in tests: the IdP group staff builds team/*"}] + .' "$w/acl.orig.json" >"$w/acl.json"
  ti_kv put acl "$(cat "$w/acl.json")" >"$w/kv-put.log" 2>&1 || tg_die "seeding acl failed"
  ti_restart_tollgate --var "SIGNIN_PROVIDERS:$providers" --var "SIGNIN_SECRET_IDP:tollgate-test-client-secret" \
    --var "SIGNIN_SESSION_KEY:interop-session-key-0123456789abcdef" --var "SIGNIN_URL:$TI_TG" \
    --var "SIGNIN_REGISTRY:$TI_REG" "$@"
}

ti_signin_browser() {
  node "$TG_ROOT/tests/interop/signin-browser.mjs" "$@" --base "$TI_TG" --login alice \
    --profile "$TI_TWORK/chromium-profile" --shots "$TI_TWORK/screens"
}
