# Helpers for the proxy interop tests (tests/interop/proxy-*.sh). Source it; it runs nothing.
#
# Each test gets its own work directory, local KV state and ports, so it can run next to a dev
# server or the token-service interop tests. Everything started here is stopped by PID on exit.

TG_INTEROP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$TG_INTEROP_DIR/../../scripts/lib.sh"

# Under tests/interop/run.sh the token tests' lib.sh has pointed HOME at a client work dir; rustup,
# cargo and wrangler (dev.sh, serve.sh) need the caller's real HOME. Clients under test get their
# own HOME explicitly (see the SK array in proxy-registry.sh).
if [ -n "${TI_REAL_HOME:-}" ]; then
  export HOME="$TI_REAL_HOME"
fi

# Ports (override from the environment if they clash).
PROXY_REGISTRY_PORT="${PROXY_REGISTRY_PORT:-5051}"
PROXY_STATIC_PORT="${PROXY_STATIC_PORT:-5052}"
PROXY_PORT="${PROXY_PORT:-8857}"

# Demo credentials (policy/demo.toml, seeded into local KV by scripts/dev.sh --prepare-only).
ALICE=alice:alice-demo-pass            # pull+push org/*
BOB=bob:bob-demo-pass                  # pull org/*
ADMIN=admin:admin-demo-pass            # everything, incl. registry:catalog:*
CHART_KEY=tgk_1TIk6LOvIEHkSqA1Zg0WOvI47ycEwjruD_m15CUvwW0.Y2hhcnQtdXNlcg   # chart-user: artifact-repository org1/*

PROXY_PIDS=()
FAILURES=0

proxy_work_dir() {
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-proxy-interop.XXXXXX")"
  export WORK
  mkdir -p "$WORK/home"
  trap proxy_cleanup EXIT
}

proxy_cleanup() {
  local status=$?
  if [ -n "${PROXY_SERVE_PIDFILE:-}" ]; then
    PORT="$PROXY_PORT" TG_PIDFILE="$PROXY_SERVE_PIDFILE" bash "$TG_ROOT/scripts/serve.sh" stop >/dev/null 2>&1 || true
  fi
  local pid
  for pid in "${PROXY_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PROXY_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    tg_info "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}

# check NAME EXPECTED ACTUAL: records a failure instead of stopping, so one run shows them all.
check() {
  if [ "$2" = "$3" ]; then
    printf '  ok   %s\n' "$1"
  else
    printf '  FAIL %s: expected [%s], got [%s]\n' "$1" "$2" "$3"
    FAILURES=$((FAILURES + 1))
  fi
}

# check_match NAME REGEX TEXT
check_match() {
  if printf '%s' "$3" | grep -Eq -- "$2"; then
    printf '  ok   %s\n' "$1"
  else
    printf '  FAIL %s: [%s] does not match /%s/\n' "$1" "$3" "$2"
    FAILURES=$((FAILURES + 1))
  fi
}

finish() {
  if [ "$FAILURES" -gt 0 ]; then
    tg_die "$FAILURES check(s) failed (KEEP_WORK=1 keeps $WORK; wrangler log: $WORK/wrangler.log)"
  fi
  tg_info "all checks passed"
}

wait_http() { # URL [seconds]
  local i
  for i in $(seq 1 $(( ${2:-30} * 4 ))); do
    curl -s -o /dev/null -m 2 "$1" && return 0
    sleep 0.25
  done
  tg_die "$1 did not answer"
}

# docker-registry 2.8 without any auth section: the origin Tollgate protects. PROXY_ORIGIN=v3 runs
# distribution 3.x on the same config instead (tg_v3_registry in scripts/lib.sh finds the binary).
start_registry() {
  mkdir -p "$WORK/registry-data"
  cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PROXY_REGISTRY_PORT
  relativeurls: true
EOF
  local what="docker-registry 2.8"
  if [ "${PROXY_ORIGIN:-}" = v3 ]; then
    tg_v3_registry || tg_die "$TG_V3_MISSING"
    what="registry $("$TG_V3_BIN" --version 2>/dev/null | awk '{print $NF}')"
    tg_v3_serve "$WORK/registry.yml" "$WORK/registry.log"
  else
    docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
  fi
  PROXY_PIDS+=($!)
  wait_http "http://127.0.0.1:$PROXY_REGISTRY_PORT/v2/"
  tg_info "$what (no auth) on 127.0.0.1:$PROXY_REGISTRY_PORT"
}

# A static Helm repository: python's http.server over $WORK/charts.
start_static() {
  (cd "$WORK/charts" && exec python3 -m http.server "$PROXY_STATIC_PORT" --bind 127.0.0.1) >"$WORK/static.log" 2>&1 &
  PROXY_PIDS+=($!)
  wait_http "http://127.0.0.1:$PROXY_STATIC_PORT/"
  tg_info "static chart repository on 127.0.0.1:$PROXY_STATIC_PORT"
}

# start_tollgate [--var NAME:VALUE ...]: keys, .dev.vars and demo KV in $WORK/state, then
# wrangler dev MODE=both on $PROXY_PORT with the given vars.
start_tollgate() {
  export TG_PERSIST_DIR="$WORK/state"
  bash "$TG_ROOT/scripts/dev.sh" --prepare-only >"$WORK/prepare.log" 2>&1 \
    || { tail -n 30 "$WORK/prepare.log" >&2; tg_die "scripts/dev.sh --prepare-only failed"; }
  PROXY_SERVE_PIDFILE="$WORK/wrangler.pid"
  PORT="$PROXY_PORT" TG_PIDFILE="$PROXY_SERVE_PIDFILE" TG_LOGFILE="$WORK/wrangler.log" \
    bash "$TG_ROOT/scripts/serve.sh" start -- \
    --var MODE:both --var "REALM:http://127.0.0.1:$PROXY_PORT/token" "$@"
  TG="http://127.0.0.1:$PROXY_PORT"
  export TG
}

stop_tollgate() {
  PORT="$PROXY_PORT" TG_PIDFILE="$PROXY_SERVE_PIDFILE" bash "$TG_ROOT/scripts/serve.sh" stop >/dev/null
  PROXY_SERVE_PIDFILE=""
}

# token USER:PASS SERVICE SCOPE...: a registry token from Tollgate's GET /token.
token() {
  local creds="$1" service="$2"
  shift 2
  local q="service=$service" s
  for s in "$@"; do q="$q&scope=$s"; done
  curl -s -u "$creds" "$TG/token?$q" | jq -r '.token // empty'
}

# status [curl args...]: the HTTP status of a request.
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# header NAME [curl args...]: one response header's value.
header() {
  local name="$1"
  shift
  curl -s -o /dev/null -D - "$@" | tr -d '\r' | grep -i "^$name:" | head -n1 | cut -d' ' -f2-
}

# wrangler dev runs two workerd processes: its own dev proxy on the public port (which, in
# wrangler 4.86, buffers whole response bodies and slows large downloads to a few MB/s) and the
# one that runs the worker, listening on a random loopback port. Measurements (memory, CPU,
# throughput) are of the worker's own workerd, reached directly.

# worker_workerd_pid: PID of the workerd that runs the worker (not wrangler's dev proxy).
worker_workerd_pid() {
  local leader p
  leader="$(cat "$PROXY_SERVE_PIDFILE")"
  for p in $(pgrep -g "$leader" 2>/dev/null || true); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'workerd serve' || continue
    # The dev proxy binds the public port; the worker's workerd binds port 0 (random).
    tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- '--socket-addr=entry=127.0.0.1:0 ' || continue
    printf '%s\n' "$p"
    return 0
  done
  return 1
}

# worker_direct_url PID HEALTH_PATH: http://127.0.0.1:PORT of that workerd's entry socket (the
# listening port that answers HEALTH_PATH with 200).
worker_direct_url() {
  local pid="$1" path="$2" port
  for port in $(ss -ltnpH 2>/dev/null | awk -v p="pid=$pid," '$0 ~ p {n=split($4, a, ":"); print a[n]}'); do
    if [ "$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$path")" = 200 ]; then
      printf 'http://127.0.0.1:%s\n' "$port"
      return 0
    fi
  done
  return 1
}

# For the benchmarks that source this (bench/proxy.sh, bench/token-lib.sh): the median of the
# numbers on stdin (of an even count, the mean of the middle two), and a process's CPU time
# (utime + stime) in clock ticks.
median() {
  sort -n | awk '{a[NR] = $1} END {
    if (NR % 2) print a[(NR + 1) / 2]; else if (NR) printf "%.6g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS="$(getconf CLK_TCK)"

# await_miniflare PID LOG WHAT: waits for a node script serving a worker under Miniflare (PID,
# output in LOG) to print "READY <url>"; sets READY_URL and READY_WORKERD (the workerd under it,
# whose CPU the benchmarks read). Dies, showing LOG, if the script exits first.
await_miniflare() {
  local pid="$1" log="$2" what="$3" p
  for _ in $(seq 1 240); do
    grep -q '^READY ' "$log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; tg_die "$what exited"; }
    sleep 0.25
  done
  READY_URL="$(awk '/^READY / {print $2}' "$log")"
  [ -n "$READY_URL" ] || tg_die "$what did not report its URL"
  READY_WORKERD=""
  for p in $(pgrep -P "$pid"); do
    if grep -qa workerd "/proc/$p/cmdline"; then READY_WORKERD="$p"; fi
  done
  [ -n "$READY_WORKERD" ] || tg_die "no workerd under $what (node pid $pid)"
}

# proxy_streaming_setup: where the streaming checks (proxy-stream.sh, proxy-slow-clients.sh) start:
# their tools, a work dir, docker-registry as the origin and a built worker for Miniflare to serve.
proxy_streaming_setup() {
  tg_need_interop_tools docker-registry jq curl sha256sum
  proxy_work_dir
  start_registry
  [ -s "$TG_ROOT/build/index.js" ] || bash "$TG_ROOT/scripts/build.sh"
}

# start_miniflare NAME ORIGIN [noauth]: serves the built Tollgate (or the no-auth bench worker)
# under plain Miniflare via proxy-miniflare.mjs; sets MF_URL and MF_WORKERD (the workerd PID).
start_miniflare() {
  local name="$1" origin="$2" kind="${3:-}"
  node "$TG_INTEROP_DIR/proxy-miniflare.mjs" "$origin" $kind >"$WORK/miniflare-$name.log" 2>&1 &
  PROXY_PIDS+=("$!")
  await_miniflare "$!" "$WORK/miniflare-$name.log" "Miniflare ($name)"
  MF_URL="$READY_URL" MF_WORKERD="$READY_WORKERD"
  tg_info "$name under Miniflare at $MF_URL (workerd pid $MF_WORKERD)"
}
