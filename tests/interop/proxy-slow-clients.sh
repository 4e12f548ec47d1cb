#!/usr/bin/env bash
# Slow clients and the edge cache (issue 18, item 6): a large cacheable blob pulled through
# Tollgate's proxy by three clients at once, each reading at 2 KB/s and cut off, for a few rounds,
# under plain workerd as proxy-stream.sh runs it. The review saw wrangler dev run out of file
# descriptors and crash. Measured here: workerd's open file descriptors and resident memory during
# and after the rounds, that workerd survives, and that a normal pull still returns the blob.
#   tests/interop/proxy-slow-clients.sh   (MIB=60 ROUNDS=2 CUT=8 CLIENTS=3; KEEP_WORK=1 keeps logs)
#   SLOW_VIA=wrangler ...                  the same through `wrangler dev` (the review's setup;
#                                          measured over all of wrangler's processes; not in CI)
# About 30 s. The worker tees a cacheable response into Cache.put, so the cache write reads the
# origin at full speed while the clients read slowly: the check is that nothing stays pinned.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/proxy-lib.sh"

MIB="${MIB:-60}"
ROUNDS="${ROUNDS:-2}"
CUT="${CUT:-8}"
CLIENTS="${CLIENTS:-3}"
# A tee buffering for three slow clients holds up to 3 x MIB; a plain pass-through holds a few MiB.
MAX_GROWTH_MIB="${MAX_GROWTH_MIB:-64}"
MAX_FD_GROWTH="${MAX_FD_GROWTH:-32}"

proxy_streaming_setup
if [ "${SLOW_VIA:-workerd}" = wrangler ]; then
  start_tollgate --var "ORIGIN:http://127.0.0.1:$PROXY_REGISTRY_PORT" --var PROXY_SERVICE:registry.local
  wpid="$(worker_workerd_pid)"
  # Every process of wrangler dev's group: node, its dev-proxy workerd and the worker's workerd.
  measured() { pgrep -g "$(cat "$PROXY_SERVE_PIDFILE")"; }
else
  start_miniflare tollgate "http://127.0.0.1:$PROXY_REGISTRY_PORT"
  TG="$MF_URL"
  wpid="$MF_WORKERD"
  measured() { echo "$wpid"; }
fi
# Miniflare's node process (workerd's parent) serves its loopback services; measured too.
npid="$(awk '$1 == "PPid:" {print $2}' "/proc/$wpid/status")"
kib_of() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$2/status" 2>/dev/null || echo 0; }
kib() { local p t=0; for p in $(measured); do t=$(( t + $(kib_of "$1" "$p") )); done; echo "$t"; }
fds() { local p t=0; for p in $(measured); do t=$(( t + $(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) )); done; echo "$t"; }

# One blob of MIB MiB of random bytes (not zeros: nothing along the way may compress it away).
blob="$WORK/blob"
head -c "$((MIB * 1024 * 1024))" /dev/urandom >"$blob"
digest="sha256:$(sha256sum "$blob" | cut -d' ' -f1)"
token="$(token "$ALICE" registry.local "repository:org/slow:pull,push")"
[ -n "$token" ] || tg_die "no token for alice"
loc="$(curl -s -o /dev/null -D - -X POST -H "Authorization: Bearer $token" \
  "$TG/v2/org/slow/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')"
case "$loc" in http*) ;; *) loc="$TG$loc" ;; esac
sep='?'; case "$loc" in *\?*) sep='&' ;; esac
code="$(curl -s -o /dev/null -w '%{http_code}' -X PUT -T "$blob" -H "Authorization: Bearer $token" \
  -H "Content-Type: application/octet-stream" "$loc${sep}digest=$digest")"
check "push of $MIB MiB (201)" 201 "$code"

fd0="$(fds)"
rss0=$(( $(kib VmRSS) / 1024 ))
tg_info "workerd pid $wpid at start: $fd0 fds, VmRSS $rss0 MiB"
nrss0=$(( $(kib_of VmRSS "$npid") / 1024 ))
( while kill -0 "$wpid" 2>/dev/null; do echo "$(fds) $(kib VmRSS) $(kib_of VmRSS "$npid")"; sleep 0.2; done ) >"$WORK/samples" &
SAMPLER=$!
PROXY_PIDS+=("$SAMPLER")
for round in $(seq 1 "$ROUNDS"); do
  pids=()
  for c in $(seq 1 "$CLIENTS"); do
    curl -s -o /dev/null --limit-rate 2k --max-time "$CUT" -H "Authorization: Bearer $token" \
      "$TG/v2/org/slow/blobs/$digest" &
    pids+=("$!")
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  tg_info "round $round: $CLIENTS clients at 2 KB/s cut off after ${CUT}s; workerd now $(fds) fds, VmRSS $(( $(kib VmRSS) / 1024 )) MiB"
done
sleep 2
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
peak_fd="$(awk '{print $1}' "$WORK/samples" | sort -n | tail -n1)"
peak_rss="$(awk '{print $2}' "$WORK/samples" | sort -n | tail -n1 | awk '{printf "%d", $1 / 1024}')"
peak_nrss="$(awk '{print $3}' "$WORK/samples" | sort -n | tail -n1 | awk '{printf "%d", $1 / 1024}')"
fd1="$(fds)"
rss1=$(( $(kib VmRSS) / 1024 ))
tg_info "workerd: fds $fd0 at start, peak $peak_fd, $fd1 after; VmRSS $rss0 MiB at start, peak $peak_rss MiB, $rss1 MiB after"
for p in $(measured); do
  tg_info "  pid $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-60)): $(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) fds, VmRSS $(( $(kib_of VmRSS "$p") / 1024 )) MiB"
done
tg_info "workerd's parent node (pid $npid): VmRSS $nrss0 MiB at start, peak $peak_nrss MiB"
# Whether the edge cache was filled: the registry's log counts origin GETs of the blob.
tg_info "origin GETs of the blob: $(grep -c "GET /v2/org/slow/blobs/$digest" "$WORK/registry.log" || true) (of $(( ROUNDS * CLIENTS + 1 )) pulls)"
check "workerd survives slow, cut-off clients" alive "$(kill -0 "$wpid" 2>/dev/null && echo alive || echo dead)"
got="sha256:$(curl -s -m 60 -H "Authorization: Bearer $token" "$TG/v2/org/slow/blobs/$digest" | sha256sum | cut -d' ' -f1)"
check "a normal pull afterwards returns the blob" "$digest" "$got"
growth=$(( peak_rss - rss0 ))
if [ "$growth" -le "$MAX_GROWTH_MIB" ]; then
  check "workerd memory does not hold the blob per slow client (+${growth} MiB <= ${MAX_GROWTH_MIB})" ok ok
else
  check "workerd memory does not hold the blob per slow client (+${growth} MiB)" "<= $MAX_GROWTH_MIB" "$growth"
fi
if [ $(( fd1 - fd0 )) -le "$MAX_FD_GROWTH" ]; then
  check "file descriptors are released (+$(( fd1 - fd0 )) <= $MAX_FD_GROWTH)" ok ok
else
  check "file descriptors are released (+$(( fd1 - fd0 )))" "<= $MAX_FD_GROWTH" "$(( fd1 - fd0 ))"
fi
finish
