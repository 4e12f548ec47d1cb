#!/usr/bin/env bash
# Where workerd's CPU per request goes, outside the isolate too (issue 17, steady state):
# bench/profile.mjs sees only the isolate's JavaScript and wasm; bench/token.sh's CPU figure is
# the whole workerd process (runtime, HTTP, kernel). This serves the empty worker, the bare
# signer and Tollgate (as bench/token.sh does), loads each with wrk and samples its workerd with
# `perf record` (frame-pointer call graphs: workerd keeps its symbols), then prints per target the
# CPU per request split into what the samples' stacks contain (bench/workerd-perf.py), and
# Tollgate minus the bare signer per item.
#
#   bench/workerd-perf.sh            # after bench/token.sh built the three; DURATION=8 WARMUP=40; ~3 min
#
# Needs perf (apt linux-perf) and permission to profile (root, or kernel.perf_event_paranoid <= 1).
# Shares of one run are what to read: the machine's noise scales every item alike.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/token-lib.sh"
bench_setup wrk perf python3 jq curl

profile() {
  local name="$1"
  serve_target "$name"
  request_of "$name"
  # The same warm-up as token.sh (token-lib.sh warm_up, WARMUP=40 s): after 3 s V8 was still
  # running part of Tollgate's wasm in its baseline tier (Liftoff frames in the samples).
  warm_up "$URL$REQ_PATH" "${REQ_HEADERS[@]}"
  wrk -t1 -c"$CONNECTIONS" -d"$((DURATION + 2))s" "${REQ_HEADERS[@]}" "$URL$REQ_PATH" >"$WORK/wrk-$name.txt" &
  local wrk_pid=$!
  sleep 1
  # Samples for DURATION s in the middle of the load; requests counted from wrk's rate.
  perf record -q -F 2000 --call-graph=fp -p "$WORKERD" -o "$WORK/$name.perf" -- sleep "$DURATION" >/dev/null 2>&1
  wait "$wrk_pid"
  perf script -i "$WORK/$name.perf" -F ip,sym,dso >"$WORK/$name.stacks" 2>/dev/null
  rate="$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-$name.txt")"
  printf '%s %s %s\n' "$name" "$WORK/$name.stacks" "$(awk -v r="$rate" -v d="$DURATION" 'BEGIN { print r * d }')" >>"$WORK/targets"
  tg_info "$name: $rate req/s"
}

tg_section "perf record of each workerd under wrk (${DURATION}s, $CONNECTIONS connections)"
: >"$WORK/targets"
profile empty
profile sign
profile tollgate
tg_section_done
python3 "$TG_ROOT/bench/workerd-perf.py" "$WORK/targets"
