# Helpers for the interop tests with real software (tests/interop/*.sh). Source it; it runs nothing.
#
# What it gives a test script:
#   ti_env_up                 work dir + Tollgate (wrangler dev) + docker-registry 2.8 with token auth
#                             + a small OCI image built offline with umoci. Reuses the environment that
#                             tests/interop/run.sh started (TI_SHARED=1) instead of starting another.
#   pass/fail/skip NAME [WHY] one result line each: "PASS name", "FAIL name: why", "SKIP name: why"
#   expect_ok/expect_fail NAME CMD...   run CMD (output in a log file), PASS/FAIL on its exit status
#   expect_refused NAME REGEX CMD...    CMD must fail AND say REGEX (e.g. "$TI_DENIED_RE")
#   expect_eq NAME WANT GOT, expect_match NAME REGEX TEXT
#   ti_eventually SECONDS LOG CMD...    retry CMD until it succeeds (effects bounded by a cache TTL)
#   ti_skopeo SUBCMD ARGS...  skopeo with --insecure-policy and this test's own --authfile
#   ti_token CREDS SCOPE...   a registry token from Tollgate's GET /token ("" CREDS: anonymous)
#   ti_start_dockerd / ti_stop_dockerd       a private dockerd (vfs, no bridge, no iptables)
#   ti_start_containerd / ti_stop_containerd a private containerd; ti_ctr runs ctr against it
#   ti_restart_tollgate       stop + start Tollgate on the same KV state (refresh tokens must survive)
#   ti_audit_mark / ti_audit_since MARK     Tollgate's audit lines (one JSON object each) after a mark
#   ti_kv SUBCMD ARGS...      wrangler kv key list|get|put|delete on Tollgate's local KV
# Everything listens on 127.0.0.1. Everything started here is stopped by its PID on exit, on
# failure too (trap); KEEP_WORK=1 keeps the work directory (logs, registry data, configs).
#
# Settings (environment):
#   TI_TG_PORT (8787), TI_REG_PORT (5000)  preferred ports; a free one is chosen if taken
#   TI_ISSUER_PORT (8791)  the token-oidc fixture issuer's preferred port
#   TI_SKIP_PREPARE=1   do not run scripts/dev.sh --prepare-only (which runs setup and builds the
#                       CLI); seed KV with the already built CLI and keys/ instead (fast reruns)
#   KEEP_WORK=1         keep the work directory
#   TI_BUILD_DIR=DIR    run the worker bundle in DIR (index.js, index_bg.wasm, worker/) instead of build/

TI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The test's name, for its result line and work directory: run.sh passes it; a test script run
# directly is named after its file (token-podman.sh: token-podman).
: "${TI_TEST:=$(basename "$0" .sh)}"
# shellcheck source=../../scripts/lib.sh
source "$TI_DIR/../../scripts/lib.sh"

# The caller's HOME: rustup, cargo and wrangler (scripts/dev.sh, serve.sh) need it, while the clients
# under test get a HOME inside the work directory (see ti_work_dir). Exported once, by the first
# script that sources this, so child test scripts still know it.
: "${TI_REAL_HOME:=$HOME}"
export TI_REAL_HOME

TI_SERVICE="registry.local"
TI_ISSUER="tollgate-dev"
# The shared Tollgate also serves one service per distribution 3.x key mode (token-registries),
# each with the token header that mode needs (README "Pointing a registry at Tollgate"):
# rootcertbundle + x5c; rootcertbundle + kid only (RFC 7638 thumbprint); a jwks file, kid only.
# registry.local keeps the default header (libtrust kid + x5c) that docker-registry 2.8 reads.
# TI_TOKEN_KID= TI_TOKEN_X5C= (set, empty) runs everything with the default header: the negative
# control, under which token-registries must fail for v3-kid and v3-jwks.
TI_V3_X5C_SERVICE="v3-x5c.local"
TI_V3_KID_SERVICE="v3-kid.local"
TI_V3_JWKS_SERVICE="v3-jwks.local"
TI_SERVICES="registry.local chartmuseum.local $TI_V3_X5C_SERVICE $TI_V3_KID_SERVICE $TI_V3_JWKS_SERVICE"
TI_TOKEN_KID="${TI_TOKEN_KID-$TI_V3_X5C_SERVICE=thumbprint $TI_V3_KID_SERVICE=thumbprint $TI_V3_JWKS_SERVICE=thumbprint}"
TI_TOKEN_X5C="${TI_TOKEN_X5C-$TI_V3_KID_SERVICE=off $TI_V3_JWKS_SERVICE=off}"

# Demo credentials (policy/demo.toml; see policy/README.md). Public, demo only.
TI_ADMIN="admin:admin-demo-pass"     # everything, incl. registry:catalog:*
TI_ALICE="alice:alice-demo-pass"     # pull+push org/* and alice/*
TI_BOB="bob:bob-demo-pass"           # pull org/*
TI_CIBOT_KEY="tgk_Lsz1CsKo6xnYht2ybBbHfEn8vl5ZdQIszo6se_vOGDk.Y2ktYm90"   # ci-bot: pull+push org/*
TI_DISABLED="disabled-user:disabled-demo-pass"

TI_PASS=0
TI_FAIL=0
TI_SKIP=0
TI_STEP=0
TI_CLEANUP=()   # commands run in reverse order on exit

# ---------------------------------------------------------------------------------------------
# Results

pass() { TI_PASS=$((TI_PASS + 1)); printf 'PASS %s\n' "$1"; }
fail() { TI_FAIL=$((TI_FAIL + 1)); printf 'FAIL %s%s\n' "$1" "${2:+: $2}"; }
skip() { TI_SKIP=$((TI_SKIP + 1)); printf 'SKIP %s%s\n' "$1" "${2:+: $2}"; }

# ti_logfile NAME: sets TI_LAST_LOG to a fresh log file for one step, $TI_LOGS/NN-slug.log
# (not printed: a $(...) subshell would lose the step counter).
ti_logfile() {
  TI_STEP=$((TI_STEP + 1))
  local slug
  slug="$(printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '-' | cut -c1-60)"
  TI_LAST_LOG="$(printf '%s/%02d-%s.log' "$TI_LOGS" "$TI_STEP" "$slug")"
}

# Shows the end of a failed step's output, indented, so a CI log explains the failure.
ti_show_tail() {
  [ -s "$1" ] || return 0
  tail -n "${2:-15}" "$1" | sed 's/^/    | /'
  printf '    (full output: %s)\n' "$1"
}

# ti_logged NAME CMD...: runs CMD with its output in a new step log for NAME (TI_LAST_LOG); CMD's
# exit status.
ti_logged() {
  ti_logfile "$1"
  shift
  "$@" >"$TI_LAST_LOG" 2>&1
}

# expect_ok NAME CMD...: PASS if CMD exits 0.
expect_ok() {
  local name="$1"
  if ti_logged "$@"; then
    pass "$name"
  else
    fail "$name" "exit $? from: ${*:2}"
    ti_show_tail "$TI_LAST_LOG"
  fi
}

# expect_fail NAME CMD...: PASS if CMD exits non-zero (a refusal); its output stays in the log.
# TI_LAST_LOG names that log, so a caller can also check what the refusal said.
expect_fail() {
  local name="$1"
  if ti_logged "$@"; then
    fail "$name" "succeeded but must be refused: ${*:2}"
    ti_show_tail "$TI_LAST_LOG"
  else
    pass "$name"
  fi
}

# expect_refused NAME REGEX CMD...: PASS if CMD exits non-zero AND its output matches REGEX (the
# client's words for an authorization refusal), so a crash or a connection error does not count.
expect_refused() {
  local name="$1" re="$2"
  if ti_logged "$name" "${@:3}"; then
    fail "$name" "succeeded but must be refused: ${*:3}"
    ti_show_tail "$TI_LAST_LOG"
  elif grep -Eqi -- "$re" "$TI_LAST_LOG"; then
    pass "$name"
  else
    fail "$name" "failed, but not with an authorization error (/$re/)"
    ti_show_tail "$TI_LAST_LOG"
  fi
}

# What the clients print when the registry or Tollgate refuses (skopeo says "invalid
# username/password" even for a registry's insufficient_scope).
TI_DENIED_RE='unauthorized|denied|authentication required|insufficient_scope|invalid username/password|401'


expect_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected [$2], got [$3]"; fi
}

expect_match() {
  if printf '%s' "$3" | grep -Eq -- "$2"; then
    pass "$1"
  else
    fail "$1" "[$(printf '%s' "$3" | head -c 300)] does not match /$2/"
  fi
}

# ti_eventually SECONDS LOG CMD...: runs CMD (output to LOG) every 3 s until it succeeds or SECONDS
# have passed; sets TI_TOOK to the seconds it took. For effects bounded by a cache TTL.
ti_eventually() {
  local limit="$1" log="$2" start
  shift 2
  start="$(tg_now)"
  while :; do
    if "$@" >"$log" 2>&1; then
      TI_TOOK=$(( $(tg_now) - start ))
      return 0
    fi
    [ $(( $(tg_now) - start )) -ge "$limit" ] && return 1
    sleep 3
  done
}

# Prints the counts in a form run.sh reads, and exits non-zero if anything failed.
ti_finish() {
  printf 'RESULT %s: %d passed, %d failed, %d skipped\n' \
    "${TI_TEST:-interop}" "$TI_PASS" "$TI_FAIL" "$TI_SKIP"
  [ "$TI_FAIL" -eq 0 ]
}

# ---------------------------------------------------------------------------------------------
# Work directory and cleanup

ti_on_exit() { TI_CLEANUP+=("$1"); }

ti_cleanup() {
  local status=$? i
  trap - EXIT INT TERM
  # A script may define ti_exit_report to print a last word (its output is not silenced).
  if declare -F ti_exit_report >/dev/null; then ti_exit_report || true; fi
  for (( i=${#TI_CLEANUP[@]}-1; i>=0; i-- )); do
    eval "${TI_CLEANUP[$i]}" >/dev/null 2>&1 || true
  done
  if [ -n "${TI_OWN_WORK:-}" ]; then
    if [ "${KEEP_WORK:-0}" = 1 ] || [ "$status" -ne 0 ]; then
      tg_info "work directory kept: $TI_OWN_WORK"
    else
      rm -rf "$TI_OWN_WORK"
    fi
  fi
  exit "$status"
}

# ti_work_dir: $TI_WORK (the shared one from run.sh, or a fresh temp dir owned by this process),
# plus $TI_TWORK, this test's own subdirectory, and $TI_LOGS for step logs.
ti_work_dir() {
  trap ti_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  if [ -z "${TI_WORK:-}" ]; then
    TI_WORK="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-interop.XXXXXX")"
    TI_OWN_WORK="$TI_WORK"
    export TI_WORK
  fi
  TI_TWORK="$TI_WORK/${TI_TEST:-run}"
  W="$TI_TWORK"  # the short name every test uses for its own directory
  TI_LOGS="$TI_TWORK/logs"
  mkdir -p "$TI_TWORK" "$TI_LOGS" "$TI_WORK/home"
  # Clients read config from $HOME (skopeo's blob cache, docker's config): keep them in the work dir.
  export HOME="$TI_WORK/home"
  export DOCKER_CONFIG="$TI_TWORK/docker-config"
}

# ti_port PREFERRED: PREFERRED if nothing listens on it on 127.0.0.1, else a free ephemeral port.
ti_port() {
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    printf '%s\n' "$1"
    return 0
  fi
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ti_wait_http URL SECONDS: until URL answers any HTTP status.
ti_wait_http() {
  local i
  for i in $(seq 1 $(( ${2:-30} * 4 ))); do
    [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true)" != 000 ] && return 0
    sleep 0.25
  done
  return 1
}

# ti_kill_pid PID [seconds]: TERM, wait, then KILL. Only for PIDs this harness started.
ti_kill_pid() {
  local pid="$1" i
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 $(( ${2:-10} * 4 ))); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# Tollgate under wrangler dev

# The worker runs from a snapshot of build/ (taken once per run) with a wrangler.toml that has no
# [build] section: wrangler dev would otherwise rebuild, and restart on every edit under src/ or
# core/src/ while the tests run. scripts/test.sh builds the bundle right before the interop part.
# scripts/build.sh writes build/ in place (worker-build, then wasm-opt over the wasm), so a copy
# taken mid-build is a broken worker. It holds a $TG_TARGET_DIR/tollgate-build-stamps/.new.* file
# while it runs: wait for none (ignoring ones older than 30 min, left by a killed build), copy,
# and accept the copy only if no build started meanwhile and the files still match.
ti_build_busy() {
  [ -n "$(find "$TG_TARGET_DIR/tollgate-build-stamps" -maxdepth 1 -name '.new.*' -mmin -30 \
    -print -quit 2>/dev/null)" ]
}

ti_snapshot_worker() {
  local dir="$TI_WORK/worker" attempt waited
  local build="${TI_BUILD_DIR:-$TG_ROOT/build}"
  local js="$build/index.js" wasm="$build/index_bg.wasm"
  [ -s "$js" ] && [ -s "$wasm" ] \
    || tg_die "$build/index.js or index_bg.wasm missing: run scripts/build.sh first"
  [ -s "$TG_ROOT/.dev.vars" ] || tg_die ".dev.vars missing: scripts/dev.sh --prepare-only writes it"
  for attempt in 1 2 3 4 5; do
    waited=0
    while ti_build_busy; do
      [ "$waited" = 0 ] && tg_info "a worker build is running (scripts/build.sh); waiting for it to finish"
      waited=$((waited + 2))
      [ "$waited" -ge "${TI_BUILD_WAIT:-900}" ] && tg_die "a worker build is still running after ${waited}s"
      sleep 2
    done
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -r "$build/." "$dir/"
    rm -rf "$dir/.tmp" "$dir/wrangler.toml" "$dir/.dev.vars"
    if ! ti_build_busy && cmp -s "$wasm" "$dir/index_bg.wasm" \
      && cmp -s "$js" "$dir/index.js" \
      && [ "$(head -c 4 "$dir/index_bg.wasm" | od -An -tx1 | tr -d ' \n')" = 0061736d ]; then
      break
    fi
    [ "$attempt" = 5 ] && tg_die "could not take a consistent copy of build/ (a build kept changing it)"
    sleep 3
  done
  # Same settings as the repo's wrangler.toml, minus the build step, main pointing at the copy.
  awk '/^\[/{ skip = ($0 == "[build]") } !skip' "$TG_ROOT/wrangler.toml" \
    | sed 's#^main = .*#main = "index.js"#' >"$dir/wrangler.toml"
  install -m 600 "$TG_ROOT/.dev.vars" "$dir/.dev.vars"
}

# ti_seed_kv STATE_DIR: the demo records (policy/demo.toml) into a local KV state directory, with
# the CLI scripts/dev.sh built (as dev.sh does it).
ti_seed_kv() {
  local cli="$TG_TARGET_DIR/release/tollgate" seed log
  seed="$(mktemp "$TI_WORK/seed.XXXXXX.json")"
  log="$seed.log"
  [ -x "$cli" ] || tg_die "$cli is missing: run scripts/dev.sh --prepare-only (or cargo build -p tollgate-cli --release)"
  HOME="$TI_REAL_HOME" "$cli" policy render "$TG_ROOT/policy/demo.toml" >"$seed" 2>"$log" \
    || { cat "$log" >&2; tg_die "tollgate policy render policy/demo.toml failed"; }
  (cd "$TG_ROOT" && HOME="$TI_REAL_HOME" node_modules/.bin/wrangler kv bulk put --local \
    --binding TOLLGATE_KV --persist-to "$1" "$seed") >>"$log" 2>&1 \
    || { tail -n 20 "$log" >&2; tg_die "seeding local KV in $1 failed"; }
}

# Keys, .dev.vars and the demo KV records (into $TI_WORK/state).
ti_prepare_tollgate() {
  export TG_PERSIST_DIR="$TI_WORK/state"
  local log="$TI_WORK/prepare.log"
  if [ "${TI_SKIP_PREPARE:-0}" = 1 ]; then
    [ -s "$TG_ROOT/keys/signing.crt.pem" ] || tg_die "TI_SKIP_PREPARE=1 but keys/signing.crt.pem is missing"
    ti_seed_kv "$TG_PERSIST_DIR"
  else
    tg_info "scripts/dev.sh --prepare-only (setup, CLI, keys, .dev.vars, KV seed; log: $log)"
    HOME="$TI_REAL_HOME" bash "$TG_ROOT/scripts/dev.sh" --prepare-only >"$log" 2>&1 \
      || { tail -n 30 "$log" >&2; tg_die "scripts/dev.sh --prepare-only failed (log: $log)"; }
  fi
  # The registry trusts the certificate of the key that signs: copy it with the snapshot.
  cp "$TG_ROOT/keys/signing.crt.pem" "$TI_WORK/rootcerts.pem"
}

# Each start logs to its own file, tollgate-N.log; $TI_WORK/tollgate.starts holds N so every test
# process (run.sh runs each in its own) finds the current one after another restarted Tollgate.
ti_tg_starts() { cat "$TI_WORK/tollgate.starts" 2>/dev/null || echo 0; }
ti_tg_log() { printf '%s/tollgate-%s.log\n' "$TI_WORK" "$(ti_tg_starts)"; }

# ti_start_tollgate [WRANGLER_ARGS...]: extra arguments (e.g. --var NAME:VALUE) go to wrangler dev.
ti_start_tollgate() {
  local n
  n=$(( $(ti_tg_starts) + 1 ))
  printf '%s\n' "$n" >"$TI_WORK/tollgate.starts"
  local log="$TI_WORK/tollgate-$n.log"
  HOME="$TI_REAL_HOME" PORT="$TI_TG_PORT" TG_PERSIST_DIR="$TI_WORK/state" TG_PIDFILE="$TI_WORK/tollgate.pid" \
    TG_LOGFILE="$log" TG_START_TIMEOUT="${TG_START_TIMEOUT:-120}" \
    bash "$TG_ROOT/scripts/serve.sh" start -- --config "$TI_WORK/worker/wrangler.toml" \
    --var "REALM:$TI_TG/token" --var "SERVICES:$TI_SERVICES" --var "TOKEN_KID:$TI_TOKEN_KID" \
    --var "TOKEN_X5C:$TI_TOKEN_X5C" "$@" >"$TI_WORK/serve-$n.log" 2>&1 \
    || { cat "$TI_WORK/serve-$n.log" >&2; tg_die "Tollgate did not start"; }
}

ti_stop_tollgate() {
  HOME="$TI_REAL_HOME" PORT="$TI_TG_PORT" TG_PIDFILE="$TI_WORK/tollgate.pid" bash "$TG_ROOT/scripts/serve.sh" stop \
    >>"$TI_WORK/serve-stop.log" 2>&1 || true
}

ti_restart_tollgate() {
  ti_stop_tollgate
  ti_start_tollgate "$@"
}

# ti_kv SUBCMD ARGS...: `wrangler kv key SUBCMD` on the running Tollgate's local KV (list, get,
# put, delete), e.g. to revoke a refresh token or disable a user while clients hold tokens.
ti_kv() {
  local sub="$1"
  shift
  (cd "$TG_ROOT" && HOME="$TI_REAL_HOME" node_modules/.bin/wrangler kv key "$sub" --local \
    --binding TOLLGATE_KV --persist-to "$TI_WORK/state" "$@")
}

# ti_kv_refresh_keys ACCOUNT: the KV keys of ACCOUNT's refresh tokens, one a line.
ti_kv_refresh_keys() {
  local k
  for k in $(ti_kv list --prefix refresh: 2>/dev/null | jq -r '.[].name'); do
    [ "$(ti_kv get "$k" 2>/dev/null | jq -r '.account' 2>/dev/null)" = "$1" ] && printf '%s\n' "$k"
  done
  return 0
}

# ti_audit_mark: a position in Tollgate's log; ti_audit_since MARK: the audit lines after it
# (across restarts: every log file started after the mark).
ti_audit_mark() { printf '%s:%s\n' "$(ti_tg_starts)" "$(wc -l <"$(ti_tg_log)")"; }
ti_audit_since() {
  local start="${1%%:*}" line="${1#*:}" n last
  last="$(ti_tg_starts)"
  for (( n=start; n<=last; n++ )); do
    if [ "$n" -eq "$start" ]; then
      tail -n +"$((line + 1))" "$TI_WORK/tollgate-$n.log"
    else
      cat "$TI_WORK/tollgate-$n.log"
    fi
  done | grep '^{"event":"token"' || true
}

# ---------------------------------------------------------------------------------------------
# docker-registry 2.8 with token auth against Tollgate

# ti_registry_config NAME PORT [YAML]: $TI_WORK/NAME.yml for a registry on 127.0.0.1:PORT storing
# into $TI_WORK/NAME-data; the same file serves docker-registry 2.8 and distribution 3.x. YAML is
# appended right after `http.addr`: an `auth:` block, or more `http:` keys indented by two.
ti_registry_config() {
  local name="$1" port="$2" extra="${3:-}"
  mkdir -p "$TI_WORK/$name-data"
  cat >"$TI_WORK/$name.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $TI_WORK/$name-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$extra
EOF
}

# ti_token_auth_yaml SERVICE REALM [KEY VALUE]...: the `auth.token` block with issuer, plus KEY:
# VALUE pairs (rootcertbundle FILE, jwks FILE, signingalgorithms "[ES256]").
ti_token_auth_yaml() {
  local service="$1" realm="$2"
  shift 2
  printf 'auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n' "$realm" "$service" "$TI_ISSUER"
  while [ "$#" -ge 2 ]; do
    printf '    %s: %s\n' "$1" "$2"
    shift 2
  done
}

# ti_wait_registry NAME PORT PID WHAT: stop PID on exit; wait until it answers, or die with its log.
ti_wait_registry() {
  printf '%s\n' "$3" >"$TI_WORK/$1.pid"
  ti_on_exit "ti_kill_pid $3"
  if ! ti_wait_http "http://127.0.0.1:$2/v2/" 30; then
    tail -n 20 "$TI_WORK/$1.log" >&2
    tg_die "$4 $1 did not answer on 127.0.0.1:$2 (config $TI_WORK/$1.yml)"
  fi
}

# ti_run_registry NAME PORT REALM ROOTCERTS: a docker-registry 2.8 with token auth on 127.0.0.1:PORT
# (config $TI_WORK/NAME.yml, data $TI_WORK/NAME-data, log $TI_WORK/NAME.log), stopped on exit.
ti_run_registry() {
  local name="$1" port="$2" realm="$3" certs="$4"
  ti_registry_config "$name" "$port" "$(ti_token_auth_yaml "$TI_SERVICE" "$realm" rootcertbundle "$certs")"
  docker-registry serve "$TI_WORK/$name.yml" >"$TI_WORK/$name.log" 2>&1 &
  ti_wait_registry "$name" "$port" "$!" docker-registry
}

# ti_need_v3 NAME: 0 when the distribution 3.x binary is there (TG_V3_BIN, scripts/lib.sh);
# otherwise one line for NAME and 1: FAIL under CI=true (CI must test 3.x), SKIP elsewhere.
ti_need_v3() {
  tg_v3_registry && return 0
  if [ "${CI:-}" = true ]; then
    fail "$1" "$TG_V3_MISSING; CI=true requires it"
  else
    skip "$1" "$TG_V3_MISSING"
  fi
  return 1
}

# ti_run_registry_v3 NAME PORT YAML: distribution 3.x (after ti_need_v3) on 127.0.0.1:PORT with
# YAML as in ti_registry_config (e.g. from ti_token_auth_yaml), stopped on exit.
ti_run_registry_v3() {
  ti_registry_config "$1" "$2" "$3"
  tg_v3_serve "$TI_WORK/$1.yml" "$TI_WORK/$1.log"
  ti_wait_registry "$1" "$2" "$!" "registry 3.x"
}

ti_start_registry() {
  ti_run_registry registry "$TI_REG_PORT" "$TI_TG/token" "$TI_WORK/rootcerts.pem"
}

# ---------------------------------------------------------------------------------------------
# A small image, built offline

# $TI_WORK/oci (OCI layout, tag v1: one layer with /hello.txt) and $TI_WORK/rootfs.tar (the same
# files, for `docker import`).
ti_build_image() {
  local oci="$TI_WORK/oci" bundle="$TI_WORK/bundle" log="$TI_WORK/umoci.log"
  {
    umoci init --layout "$oci" &&
      umoci new --image "$oci:v1" &&
      umoci unpack --rootless --image "$oci:v1" "$bundle" &&
      printf 'hello from tollgate interop %s\n' "$(date +%s)" >"$bundle/rootfs/hello.txt" &&
      umoci repack --image "$oci:v1" "$bundle" &&
      umoci config --image "$oci:v1" --config.cmd /hello.txt &&
      tar -C "$bundle/rootfs" -cf "$TI_WORK/rootfs.tar" .
  } >"$log" 2>&1 || { cat "$log" >&2; tg_die "building the image with umoci failed"; }
  TI_OCI="$oci"
  TI_OCI_DIGEST="$(jq -r '.manifests[0].digest' "$oci/index.json")"
  export TI_OCI TI_OCI_DIGEST
}

# ---------------------------------------------------------------------------------------------
# The whole environment

ti_env_up() {
  tg_need_interop_tools docker-registry skopeo umoci jq curl python3
  ti_work_dir
  if [ "${TI_SHARED:-0}" = 1 ]; then
    # run.sh started everything; its variables are in the environment.
    curl -s -o /dev/null -m 5 "http://$TI_REG/v2/" || tg_die "shared registry on $TI_REG does not answer"
    return 0
  fi
  TI_TG_PORT="$(ti_port "${TI_TG_PORT:-8787}")"
  TI_REG_PORT="$(ti_port "${TI_REG_PORT:-5000}")"
  TI_TG="http://127.0.0.1:$TI_TG_PORT"
  TI_REG="127.0.0.1:$TI_REG_PORT"
  export TI_TG_PORT TI_REG_PORT TI_TG TI_REG
  tg_info "work directory $TI_WORK; Tollgate $TI_TG, registry $TI_REG"
  ti_prepare_tollgate
  ti_snapshot_worker
  ti_on_exit ti_stop_tollgate
  ti_start_tollgate
  ti_start_registry
  ti_build_image
}

# ---------------------------------------------------------------------------------------------
# Clients

# ti_skopeo SUBCMD ARGS...: skopeo with its own, initially empty auth file for this test, so no
# credentials leak in from ~/.docker or /run/containers.
ti_skopeo() {
  local sub="$1"
  shift
  local authfile="$TI_TWORK/skopeo-auth.json"
  [ -f "$authfile" ] || printf '{"auths":{}}\n' >"$authfile"
  skopeo --insecure-policy "$sub" --authfile "$authfile" "$@"
}

# ti_creds_args PREFIX CREDS: skopeo's credential flags ("" CREDS: anonymous).
ti_creds_args() {
  if [ -n "$2" ]; then printf '%s\n' "--${1}creds" "$2"; else printf '%s\n' "--${1}no-creds"; fi
}

# ti_push CREDS REPO:TAG      skopeo copy of the test image to the registry
ti_push() {
  local args
  mapfile -t args < <(ti_creds_args dest- "$1")
  ti_skopeo copy --dest-tls-verify=false "${args[@]}" "oci:$TI_OCI:v1" "docker://$TI_REG/$2"
}

# ti_pull CREDS REPO:TAG DIR  skopeo copy from the registry into an OCI layout DIR (tag v1)
ti_pull() {
  local args
  mapfile -t args < <(ti_creds_args src- "$1")
  rm -rf "$3"
  ti_skopeo copy --src-tls-verify=false "${args[@]}" "docker://$TI_REG/$2" "oci:$3:v1"
}

# ti_list_tags CREDS REPO
ti_list_tags() {
  local args
  mapfile -t args < <(ti_creds_args "" "$1")
  ti_skopeo list-tags --tls-verify=false "${args[@]}" "docker://$TI_REG/$2"
}

# ti_token CREDS SCOPE...: the token from GET /token (empty when refused). CREDS "" is anonymous.
ti_token() {
  local creds="$1" q="service=$TI_SERVICE" s
  shift
  for s in "$@"; do q="$q&scope=$s"; done
  if [ -n "$creds" ]; then
    curl -s -m 10 -u "$creds" "$TI_TG/token?$q"
  else
    curl -s -m 10 "$TI_TG/token?$q"
  fi | jq -r '.token // empty' 2>/dev/null
}

# ti_status [curl args...]: HTTP status code.
ti_status() { curl -s -m 10 -o /dev/null -w '%{http_code}' "$@"; }

# ---------------------------------------------------------------------------------------------
# A private dockerd

# ti_start_dockerd: sets DOCKER_HOST. Returns 1 with TI_SKIP_REASON set when dockerd cannot run
# here (no privileges, no cgroups, ...), so the caller can SKIP instead of failing.
ti_start_dockerd() {
  TI_SKIP_REASON=""
  if ! tg_have dockerd || ! tg_have docker; then
    TI_SKIP_REASON="dockerd or the docker CLI is not installed (scripts/setup.sh --interop)"
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    TI_SKIP_REASON="dockerd needs root here (running as uid $(id -u))"
    return 1
  fi
  # Short paths: unix socket paths are limited to 108 bytes.
  local d
  d="$(mktemp -d /tmp/tg-dockerd.XXXXXX)"
  TI_DOCKERD_DIR="$d"
  ti_on_exit "rm -rf '$d'"
  mkdir -p "$d/data" "$d/exec"
  setsid dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/docker.pid" \
    -H "unix://$d/docker.sock" --storage-driver vfs --bridge none --iptables=false \
    --ip6tables=false --ip-masq=false --userland-proxy=false \
    >"$TI_TWORK/dockerd.log" 2>&1 </dev/null &
  TI_DOCKERD_PID=$!
  ti_on_exit "ti_stop_dockerd"
  export DOCKER_HOST="unix://$d/docker.sock"
  ti_await_daemon dockerd "$TI_DOCKERD_PID" 60 ti_dockerd_last_error " (log: $TI_TWORK/dockerd.log)" \
    docker version
}

ti_dockerd_last_error() { grep -E 'level=(fatal|error)' "$TI_TWORK/dockerd.log" | tail -n1; }

# ti_await_daemon NAME PID SECONDS WHY_FN NOTE PROBE...: polls PROBE every 0.5 s until it
# succeeds. When PID exits first (WHY_FN prints the log line that says why) or SECONDS pass (NOTE
# is added to the reason), sets TI_SKIP_REASON and returns 1, for the caller to SKIP.
ti_await_daemon() {
  local name="$1" pid="$2" secs="$3" why="$4" note="$5" i
  shift 5
  for i in $(seq 1 $((secs * 2))); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      TI_SKIP_REASON="$name exited at start: $("$why" | cut -c1-300)"
      return 1
    fi
    sleep 0.5
  done
  TI_SKIP_REASON="$name did not answer within ${secs}s$note"
  return 1
}

ti_stop_dockerd() {
  [ -n "${TI_DOCKERD_PID:-}" ] || return 0
  # dockerd stops the containerd it started itself on TERM.
  ti_kill_pid "$TI_DOCKERD_PID" 30
  TI_DOCKERD_PID=""
  # vfs layers can be read-only; make sure the directory can go.
  [ -n "${TI_DOCKERD_DIR:-}" ] && chmod -R u+w "$TI_DOCKERD_DIR" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# A private containerd for ctr

ti_start_containerd() {
  TI_SKIP_REASON=""
  if ! tg_have containerd || ! tg_have ctr; then
    TI_SKIP_REASON="containerd or ctr is not installed (scripts/setup.sh --interop)"
    return 1
  fi
  local d
  d="$(mktemp -d /tmp/tg-containerd.XXXXXX)"
  TI_CONTAINERD_DIR="$d"
  ti_on_exit "rm -rf '$d'"
  cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
# Only the image/content/snapshot services ctr needs: no CRI, no metrics, no debug socket.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
  setsid containerd --config "$d/config.toml" >"$TI_TWORK/containerd.log" 2>&1 </dev/null &
  TI_CONTAINERD_PID=$!
  ti_on_exit "ti_stop_containerd"
  TI_CTR_SOCK="$d/containerd.sock"
  ti_await_daemon containerd "$TI_CONTAINERD_PID" 30 ti_containerd_last_error "" \
    ctr --address "$TI_CTR_SOCK" version
}

ti_containerd_last_error() { tail -n1 "$TI_TWORK/containerd.log"; }

ti_stop_containerd() {
  [ -n "${TI_CONTAINERD_PID:-}" ] || return 0
  ti_kill_pid "$TI_CONTAINERD_PID" 20
  TI_CONTAINERD_PID=""
}

# ti_ctr ARGS...: ctr against the private containerd, in its own namespace, with the native
# snapshotter (works on any filesystem; overlayfs may not inside a container).
ti_ctr() {
  CONTAINERD_SNAPSHOTTER=native ctr --address "$TI_CTR_SOCK" --namespace tollgate-interop "$@"
}
