#!/usr/bin/env bash
# Proxy benchmark, one run, same machine, same origin: a small manifest GET
#   1. straight to docker-registry 2.8 (no auth)              -> the origin's own cost
#   2. through a forwarding worker with no auth (bench/proxy-noauth-worker)
#   3. through Tollgate MODE=both with a pull token (verification cache warm after the first request)
# Prints requests/s for each and workerd CPU per request for 2 and 3 (from /proc utime+stime of
# each worker's workerd), and the ratios. The load generator (wrk) shares the 2 cores: compare ratios.
# Requests go straight to each worker's own workerd, not through wrangler's dev proxy.
#   bench/proxy.sh                 (DURATION=10 CONNECTIONS=8 THREADS=1; KEEP_WORK=1 keeps logs)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/interop/proxy-lib.sh"

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-8}"
THREADS="${THREADS:-1}"
NOAUTH_PORT="${NOAUTH_PORT:-8859}"

for tool in docker-registry wrk jq curl sha256sum; do
  tg_have "$tool" || tg_die "$tool not found (apt-get install wrk; scripts/setup.sh --interop)"
done

proxy_work_dir
start_registry
REG="http://127.0.0.1:$PROXY_REGISTRY_PORT"

tg_section "a small image manifest in the origin"
config='{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
cdigest="sha256:$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)"
loc="$(curl -s -o /dev/null -D - -X POST "$REG/v2/org/bench/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')"
case "$loc" in http*) ;; *) loc="$REG$loc" ;; esac
curl -s -o /dev/null -X PUT --data-binary "$config" -H 'Content-Type: application/octet-stream' "$loc&digest=$cdigest"
manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$cdigest\",\"size\":${#config}},\"layers\":[]}"
code="$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "$manifest" "$REG/v2/org/bench/manifests/v1")"
[ "$code" = 201 ] || tg_die "could not put the bench manifest ($code)"
tg_section_done

tg_section "start Tollgate (MODE=both) and the no-auth forwarder"
start_tollgate --var "ORIGIN:$REG" --var PROXY_SERVICE:registry.local
TG_WORKERD="$(worker_workerd_pid)"
# Load goes straight to each worker's workerd (wrangler's dev proxy in front adds its own cost).
TG_DIRECT="$(worker_direct_url "$TG_WORKERD" /healthz)"
NOAUTH_PIDFILE="$WORK/noauth.pid"
PORT="$NOAUTH_PORT" TG_PIDFILE="$NOAUTH_PIDFILE" TG_LOGFILE="$WORK/noauth.log" TG_HEALTH_PATH=/v2/ \
  bash "$TG_ROOT/scripts/serve.sh" start -- --config bench/proxy-noauth-worker/wrangler.toml --var "ORIGIN:$REG"
noauth_stop() { PORT="$NOAUTH_PORT" TG_PIDFILE="$NOAUTH_PIDFILE" bash "$TG_ROOT/scripts/serve.sh" stop >/dev/null 2>&1 || true; }
trap 'noauth_stop; proxy_cleanup' EXIT
NOAUTH_WORKERD="$(PROXY_SERVE_PIDFILE="$NOAUTH_PIDFILE" worker_workerd_pid)"
NOAUTH_DIRECT="$(worker_direct_url "$NOAUTH_WORKERD" /v2/)"
tok="$(token "$BOB" registry.local repository:org/bench:pull)"
[ -n "$tok" ] || tg_die "no token for bob"
path="/v2/org/bench/manifests/v1"
accept='Accept: application/vnd.oci.image.manifest.v1+json'
check "direct GET" 200 "$(status -H "$accept" "$REG$path")"
check "no-auth forwarder GET" 200 "$(status -H "$accept" "$NOAUTH_DIRECT$path")"
check "Tollgate GET with token" 200 "$(status -H "$accept" -H "Authorization: Bearer $tok" "$TG_DIRECT$path")"
check "Tollgate GET without token" 401 "$(status -H "$accept" "$TG_DIRECT$path")"
tg_section_done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS="$(getconf CLK_TCK)"

# run NAME URL WORKERD_PID [wrk header args...]: prints "req/s requests cpu_ms_per_request".
run() {
  local name="$1" url="$2" pid="$3"
  shift 3
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$@" "$url" >/dev/null 2>&1 || true   # warm-up
  local t0=0 t1=0 out
  [ "$pid" != - ] && t0="$(cpu_ticks "$pid")"
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$@" "$url")"
  [ "$pid" != - ] && t1="$(cpu_ticks "$pid")"
  local rps reqs non2xx
  rps="$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')"
  reqs="$(printf '%s\n' "$out" | awk '/requests in/ {print $1}')"
  non2xx="$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $NF}')"
  [ -z "$non2xx" ] || tg_warn "$name: $non2xx non-2xx responses"
  local cpu="-"
  if [ "$pid" != - ] && [ "${reqs:-0}" -gt 0 ]; then
    cpu="$(echo "scale=4; ($t1 - $t0) * 1000 / $TICKS / $reqs" | bc)"
  fi
  printf '%s %s %s\n' "$rps" "$reqs" "$cpu"
}

tg_section "load: ${DURATION}s each, $CONNECTIONS connections, $THREADS wrk thread(s)"
read -r d_rps d_reqs _ < <(run direct "$REG$path" - -H "$accept")
read -r n_rps n_reqs n_cpu < <(run noauth "$NOAUTH_DIRECT$path" "$NOAUTH_WORKERD" -H "$accept")
read -r t_rps t_reqs t_cpu < <(run tollgate "$TG_DIRECT$path" "$TG_WORKERD" -H "$accept" -H "Authorization: Bearer $tok")
tg_section_done

printf '\n%-34s %12s %10s %18s\n' "target" "requests/s" "requests" "workerd CPU ms/req"
printf '%-34s %12s %10s %18s\n' "docker-registry direct" "$d_rps" "$d_reqs" "-"
printf '%-34s %12s %10s %18s\n' "no-auth forwarding worker" "$n_rps" "$n_reqs" "$n_cpu"
printf '%-34s %12s %10s %18s\n' "Tollgate proxy (token, warm cache)" "$t_rps" "$t_reqs" "$t_cpu"
ratio() { echo "scale=3; $1 / $2" | bc; }
printf '\nthroughput: Tollgate/direct %s, Tollgate/no-auth %s, no-auth/direct %s\n' \
  "$(ratio "$t_rps" "$d_rps")" "$(ratio "$t_rps" "$n_rps")" "$(ratio "$n_rps" "$d_rps")"
overhead="$(echo "scale=1; ($t_cpu - $n_cpu) * 100 / $n_cpu" | bc)"
printf 'CPU per request: Tollgate %s ms vs no-auth %s ms: auth adds %s%% (target < 10%%)\n' "$t_cpu" "$n_cpu" "$overhead"
