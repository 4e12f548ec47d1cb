#!/usr/bin/env bash
# Proxy benchmark, one run, same machine, same origin: a small manifest GET
#   1. straight to docker-registry 2.8 (no auth)                      -> the origin's own cost
#   2. through a forwarding worker with no auth (bench/proxy-noauth-worker: same forwarding code)
#   3. through Tollgate MODE=both with a pull token (verification cache warm after the first request)
#   4. the same Tollgate with PULL_LEDGER=off: what the pull ledger's line per request costs
# Both workers run in workerd under plain Miniflare (wrangler dev's dev proxy and inspector session
# add their own, noisy, per-request cost). Prints requests/s, and workerd CPU per request from
# /proc utime+stime of each worker's own workerd; ROUNDS alternating rounds, medians reported.
# The load generator (wrk) shares the 2 cores with everything else: compare ratios, not absolutes.
#   bench/proxy.sh          (DURATION=10 ROUNDS=3 CONNECTIONS=8; KEEP_WORK=1 keeps logs)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/interop/proxy-lib.sh"

DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-8}"

for tool in docker-registry wrk jq curl sha256sum bc node; do
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

tg_section "build and start both workers under Miniflare"
bash "$TG_ROOT/scripts/build.sh" >/dev/null
bash "$TG_ROOT/scripts/build.sh" "$TG_ROOT/bench/proxy-noauth-worker" >/dev/null
start_miniflare tollgate "$REG"
TG_URL="$MF_URL" TG_WORKERD="$MF_WORKERD"
start_miniflare noauth "$REG" noauth
NA_URL="$MF_URL" NA_WORKERD="$MF_WORKERD"
start_miniflare noledger "$REG" noledger
NL_URL="$MF_URL" NL_WORKERD="$MF_WORKERD"
tok="$(curl -s -u alice:alice-demo-pass "$TG_URL/token?service=registry.local&scope=repository:org/bench:pull" | jq -r '.token // empty')"
[ -n "$tok" ] || tg_die "no token from Tollgate"
# Each Miniflare instance has its own keys: the PULL_LEDGER=off one issues its own token.
nl_tok="$(curl -s -u alice:alice-demo-pass "$NL_URL/token?service=registry.local&scope=repository:org/bench:pull" | jq -r '.token // empty')"
[ -n "$nl_tok" ] || tg_die "no token from Tollgate (PULL_LEDGER=off)"
path="/v2/org/bench/manifests/v1"
accept='Accept: application/vnd.oci.image.manifest.v1+json'
check "direct GET" 200 "$(status -H "$accept" "$REG$path")"
check "no-auth forwarder GET" 200 "$(status -H "$accept" "$NA_URL$path")"
check "Tollgate GET with token" 200 "$(status -H "$accept" -H "Authorization: Bearer $tok" "$TG_URL$path")"
check "Tollgate GET without token" 401 "$(status -H "$accept" "$TG_URL$path")"
check "Tollgate (PULL_LEDGER=off) GET with token" 200 "$(status -H "$accept" -H "Authorization: Bearer $nl_tok" "$NL_URL$path")"
[ "$FAILURES" -eq 0 ] || finish
tg_section_done

# run URL WORKERD_PID|- [wrk header args...]: prints "req/s cpu_ms_per_request".
run() {
  local url="$1" pid="$2"
  shift 2
  wrk -t1 -c"$CONNECTIONS" -d2s "$@" "$url" >/dev/null 2>&1 || true   # warm-up
  local t0=0 t1=0 out rps reqs non2xx cpu=-
  [ "$pid" != - ] && t0="$(cpu_ticks "$pid")"
  out="$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$@" "$url")"
  [ "$pid" != - ] && t1="$(cpu_ticks "$pid")"
  rps="$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')"
  reqs="$(printf '%s\n' "$out" | awk '/requests in/ {print $1}')"
  non2xx="$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $NF}')"
  [ -z "$non2xx" ] || tg_warn "$url: $non2xx non-2xx responses"
  if [ "$pid" != - ] && [ "${reqs:-0}" -gt 0 ]; then
    cpu="$(echo "scale=4; ($t1 - $t0) * 1000 / $TICKS / $reqs" | bc)"
  fi
  printf '%s %s\n' "$rps" "$cpu"
}

tg_section "load: $ROUNDS rounds x ${DURATION}s per target, $CONNECTIONS connections"
: >"$WORK/direct" && : >"$WORK/noauth" && : >"$WORK/tollgate" && : >"$WORK/noledger"
for round in $(seq 1 "$ROUNDS"); do
  run "$REG$path" - -H "$accept" >>"$WORK/direct"
  run "$NA_URL$path" "$NA_WORKERD" -H "$accept" >>"$WORK/noauth"
  run "$TG_URL$path" "$TG_WORKERD" -H "$accept" -H "Authorization: Bearer $tok" >>"$WORK/tollgate"
  run "$NL_URL$path" "$NL_WORKERD" -H "$accept" -H "Authorization: Bearer $nl_tok" >>"$WORK/noledger"
  tg_info "round $round: direct $(tail -n1 "$WORK/direct"), no-auth $(tail -n1 "$WORK/noauth"), tollgate $(tail -n1 "$WORK/tollgate"), tollgate without ledger $(tail -n1 "$WORK/noledger") (req/s cpu-ms/req)"
done
tg_section_done

d_rps="$(cut -d' ' -f1 "$WORK/direct" | median)"
n_rps="$(cut -d' ' -f1 "$WORK/noauth" | median)"
t_rps="$(cut -d' ' -f1 "$WORK/tollgate" | median)"
n_cpu="$(cut -d' ' -f2 "$WORK/noauth" | median)"
t_cpu="$(cut -d' ' -f2 "$WORK/tollgate" | median)"
l_rps="$(cut -d' ' -f1 "$WORK/noledger" | median)"
l_cpu="$(cut -d' ' -f2 "$WORK/noledger" | median)"
printf '\n%-36s %12s %20s\n' "target (median of $ROUNDS)" "requests/s" "workerd CPU ms/req"
printf '%-36s %12s %20s\n' "docker-registry direct" "$d_rps" "-"
printf '%-36s %12s %20s\n' "no-auth forwarding worker" "$n_rps" "$n_cpu"
printf '%-36s %12s %20s\n' "Tollgate proxy (token, warm cache)" "$t_rps" "$t_cpu"
printf '%-36s %12s %20s\n' "Tollgate, PULL_LEDGER=off" "$l_rps" "$l_cpu"
ratio() { echo "scale=3; $1 / $2" | bc; }
printf '\nthroughput: Tollgate/direct %s, Tollgate/no-auth %s, no-auth/direct %s\n' \
  "$(ratio "$t_rps" "$d_rps")" "$(ratio "$t_rps" "$n_rps")" "$(ratio "$n_rps" "$d_rps")"
overhead="$(echo "scale=1; ($t_cpu - $n_cpu) * 100 / $n_cpu" | bc)"
printf 'CPU per request: Tollgate %s ms vs no-auth %s ms: auth adds %s%% (target < 10%%)\n' \
  "$t_cpu" "$n_cpu" "$overhead"
ledger="$(echo "scale=4; $t_cpu - $l_cpu" | bc)"
printf 'pull ledger: %s ms CPU per request (%s vs %s ms), throughput %s req/s with it vs %s without\n' \
  "$ledger" "$t_cpu" "$l_cpu" "$t_rps" "$l_rps"
