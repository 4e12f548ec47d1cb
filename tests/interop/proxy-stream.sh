#!/usr/bin/env bash
# Streaming check: blobs pushed (chunked PATCH) and pulled through Tollgate's proxy to
# docker-registry 2.8, with workerd's resident memory measured. A small blob first, then a large
# one (1 GiB by default): the peak must not grow with the blob size.
#   tests/interop/proxy-stream.sh            (BIG_MIB=1024 SMALL_MIB=64; KEEP_WORK=1 keeps logs)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/proxy-lib.sh"

SMALL_MIB="${SMALL_MIB:-64}"
BIG_MIB="${BIG_MIB:-1024}"
# workerd may legitimately grow a little (JIT, caches); a buffered 1 GiB body would add ~1 GiB.
MAX_GROWTH_MIB="${MAX_GROWTH_MIB:-64}"

proxy_streaming_setup

# Tollgate under plain Miniflare: the same workerd that wrangler dev runs, without wrangler's dev
# proxy (which buffers whole response bodies) and inspector session (which retains streamed
# chunks), so what is measured is Tollgate's own memory.
start_miniflare tollgate "http://127.0.0.1:$PROXY_REGISTRY_PORT"
TG="$MF_URL"
DIRECT="$MF_URL"
wpid="$MF_WORKERD"
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$wpid/status"; }
tg_info "workerd pid $wpid: VmRSS $(( $(kib VmRSS) / 1024 )) MiB at start"

# Samples VmRSS every 200 ms into $WORK/rss-$1 until stopped; prints the maximum in MiB.
sample_start() {
  ( while kill -0 "$wpid" 2>/dev/null; do kib VmRSS; sleep 0.2; done ) >"$WORK/rss-$1" &
  SAMPLER=$!
}
sample_stop() {
  kill "$SAMPLER" 2>/dev/null || true
  wait "$SAMPLER" 2>/dev/null || true
  sort -n "$WORK/rss-$1" | tail -n1 | awk '{printf "%d", $1 / 1024}'
}

# roundtrip NAME MIB: push MIB MiB of zeros (chunked PATCH, then PUT ?digest=) and pull it back.
roundtrip() {
  local name="$1" mib="$2"
  local digest token loc code got start secs
  digest="sha256:$(head -c "$((mib * 1024 * 1024))" /dev/zero | sha256sum | cut -d' ' -f1)"
  token="$(token "$ALICE" registry.local "repository:org/$name:pull,push")"
  [ -n "$token" ] || tg_die "no token for alice"
  loc="$(curl -s -o /dev/null -D - -X POST -H "Authorization: Bearer $token" \
    "$DIRECT/v2/org/$name/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')"
  [ -n "$loc" ] || tg_die "upload start gave no Location"
  case "$loc" in http*) ;; *) loc="$DIRECT$loc" ;; esac

  sample_start "$name-push"
  start="$(date +%s.%N)"
  # -T - streams stdin with chunked transfer encoding: no Content-Length, no buffering in curl.
  loc="$(head -c "$((mib * 1024 * 1024))" /dev/zero | curl -s -o /dev/null -D - -X PATCH -T - \
    -H "Authorization: Bearer $token" -H "Content-Type: application/octet-stream" "$loc" \
    | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')"
  secs="$(echo "$(date +%s.%N) - $start" | bc)"
  local push_peak
  push_peak="$(sample_stop "$name-push")"
  [ -n "$loc" ] || tg_die "PATCH gave no Location"
  case "$loc" in http*) ;; *) loc="$DIRECT$loc" ;; esac
  code="$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $token" \
    -H "Content-Length: 0" "$loc&digest=$digest")"
  check "$name: push of $mib MiB completes (201)" 201 "$code"
  tg_info "$name: pushed $mib MiB in ${secs}s, workerd peak RSS during push ${push_peak} MiB"

  sample_start "$name-pull"
  start="$(date +%s.%N)"
  got="sha256:$(curl -s -H "Authorization: Bearer $token" "$DIRECT/v2/org/$name/blobs/$digest" | sha256sum | cut -d' ' -f1)"
  secs="$(echo "$(date +%s.%N) - $start" | bc)"
  local pull_peak
  pull_peak="$(sample_stop "$name-pull")"
  check "$name: pulled blob has the pushed digest" "$digest" "$got"
  tg_info "$name: pulled $mib MiB in ${secs}s, workerd peak RSS during pull ${pull_peak} MiB"
  PEAK=$(( push_peak > pull_peak ? push_peak : pull_peak ))
}

tg_section "small blob ($SMALL_MIB MiB)"
roundtrip small "$SMALL_MIB"
small_peak="$PEAK"
tg_section_done

tg_section "large blob ($BIG_MIB MiB)"
roundtrip big "$BIG_MIB"
big_peak="$PEAK"
tg_section_done

hwm=$(( $(kib VmHWM) / 1024 ))
tg_info "workerd peak RSS: ${small_peak} MiB with $SMALL_MIB MiB blobs, ${big_peak} MiB with $BIG_MIB MiB blobs (VmHWM ${hwm} MiB)"
growth=$(( big_peak - small_peak ))
if [ "$growth" -le "$MAX_GROWTH_MIB" ]; then
  check "workerd memory does not grow with blob size (+${growth} MiB <= ${MAX_GROWTH_MIB})" ok ok
else
  check "workerd memory does not grow with blob size (+${growth} MiB)" "<= $MAX_GROWTH_MIB" "$growth"
fi
finish
