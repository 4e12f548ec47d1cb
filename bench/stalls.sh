#!/usr/bin/env bash
# What stalls requests under load (issue 17, "the tail"): serves each target as bench/token.sh does,
# loads it with wrk recording every request's own latency (bench/latency.lua), and samples the
# thread that runs the isolate (workerd's main thread) with `perf record` on the same clock. Then
# bench/stalls.py prints per target: the latency percentiles; the gaps, spans in which no
# connection got a response; and what that thread was doing in them (V8's garbage collector, and
# within it the runtime's GC callbacks), against its share of the whole run.
#
#   bench/stalls.sh                  # TARGETS="empty sign floor tollgate" DURATION=8 WARMUP=20
#                                    # GAP_MS=30; needs wrk, perf (root, or perf_event_paranoid <= 1)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/token-lib.sh"
bench_setup wrk perf python3 jq curl
build_workers

: >"$WORK/targets"
for name in ${TARGETS:-empty sign floor tollgate}; do
  tg_section "$name: ${WARMUP:-20}s of warm-up, then ${DURATION}s of wrk ($CONNECTIONS connections) under perf"
  serve_target "$name"
  request_of "$name"
  WARMUP="${WARMUP:-20}" warm_up "$URL$REQ_PATH" "${REQ_HEADERS[@]}"
  lat="$WORK/latency-$name"
  wrk -t"$CONNECTIONS" -c"$CONNECTIONS" -d"$((DURATION + 2))s" -s "$TG_ROOT/bench/latency.lua" \
    "${REQ_HEADERS[@]}" "$URL$REQ_PATH" -- "$lat" >"$WORK/wrk-$name.txt" &
  wrk_pid=$!
  sleep 1
  # The main thread only (-t): the isolate runs there; V8's helper threads are not what a request
  # waits for. CLOCK_MONOTONIC, as latency.lua's timestamps.
  perf record -q -F 2000 --call-graph=fp -k CLOCK_MONOTONIC -t "$WORKERD" -o "$WORK/$name.perf" \
    -- sleep "$DURATION" >/dev/null 2>&1
  wait "$wrk_pid"
  perf script -i "$WORK/$name.perf" -F time,ip,sym >"$WORK/$name.stacks" 2>/dev/null
  printf '%s %s %s\n' "$name" "$WORK/$name.stacks" "$lat" >>"$WORK/targets"
  # Stop this target's server before the next one loads the machine.
  kill "${PROXY_PIDS[-1]}" 2>/dev/null || true
  wait "${PROXY_PIDS[-1]}" 2>/dev/null || true
  unset 'PROXY_PIDS[-1]'
  tg_section_done
done
GAP_MS="${GAP_MS:-30}" python3 "$TG_ROOT/bench/stalls.py" "$WORK/targets"
