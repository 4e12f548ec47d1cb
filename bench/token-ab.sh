#!/usr/bin/env bash
# Compares builds of Tollgate by token issuance, interleaved so this shared machine's noise hits
# every build alike (bench/token.sh compares Tollgate with an empty worker; this compares a
# change with what it replaces):
#
#   bash scripts/build.sh && cp -r build /tmp/tg-A
#   (change something, rebuild, cp -r build /tmp/tg-B)
#   bash bench/token-ab.sh /tmp/tg-A /tmp/tg-B ...        (DURATION=8 ROUNDS=5 CONNECTIONS=8 WARMUP=40
#                                                          PROCESSES=2 workerds per target)
#   bash bench/token-ab.sh build build+TOKEN_X5C=off     # one build, two configurations
#
# A target is a build directory, optionally followed by `+NAME=VALUE,...`: settings over the
# demo's (bench/token-serve.mjs VARS), to compare configurations of one build.
# Each target runs in PROCESSES workerds (Miniflare) of its own with the demo policy's KV: processes
# of one build run up to ~9% apart at steady state (bench/README.md, "Why several processes per
# target"), so a difference between targets smaller than that needs more than one process each.
# Every round runs wrk against each process in turn: GET /token for API-key user ci-bot, warm
# caches, as token.sh's (b). Prints per target the median req/s and workerd CPU ms per request
# (/proc utime+stime) over processes and rounds, each process's own median, and each target's
# ratio to the first.
set -euo pipefail
ROUNDS="${ROUNDS:-5}"
PROCESSES="${PROCESSES:-2}"
source "$(dirname "${BASH_SOURCE[0]}")/token-lib.sh"

[ "$#" -ge 2 ] || tg_die "usage: bench/token-ab.sh TARGET TARGET [TARGET...] (TARGET: a copy of build/ [+NAME=VALUE,...])"
for target in "$@"; do
  dir="${target%%+*}"
  [ -s "$dir/index.js" ] && [ -s "$dir/index_bg.wasm" ] || tg_die "$dir has no index.js + index_bg.wasm"
done
bench_setup wrk jq curl bc node

# One slot per process: its URL, its workerd's PID, and which target (argument) it serves.
URLS=() PIDS=() OF=()
t=0
for target in "$@"; do
  dir="${target%%+*}" vars=""
  [ "$dir" = "$target" ] || vars="${target#*+}"
  for _ in $(seq 1 "$PROCESSES"); do
    serve tollgate "$WORK/kv.json" "$dir" "$vars"
    body="$(curl -s -H "$CI_AUTH" "$URL$TOKEN_PATH")"
    check "$target issues ci-bot a token" 3 "$(printf '%s' "$body" | jq -r '.token // ""' | tr '.' '\n' | grep -c .)"
    URLS+=("$URL") PIDS+=("$WORKERD") OF+=("$t")
  done
  tg_info "$target: token $(printf '%s' "$body" | jq -r '.token // ""' | tr -d '\n' | wc -c) bytes, response body $(printf '%s' "$body" | wc -c) bytes"
  : >"$WORK/ab-$t"
  t=$((t + 1))
done
[ "$FAILURES" -eq 0 ] || finish

tg_section "warm-up: ${WARMUP:-40}s of the same load per process, once (token-lib.sh warm_up)"
for url in "${URLS[@]}"; do warm_up "$url$TOKEN_PATH" -H "$CI_AUTH"; done
tg_section_done

tg_section "load: $ROUNDS rounds x ${DURATION}s per process ($PROCESSES per target), $CONNECTIONS connections"
# Each round starts one process later than the last, so that no process always follows the same
# one. Lines of ab-T: "req/s p50 p99 cpu-ms/req slot".
n="${#URLS[@]}"
for round in $(seq 1 "$ROUNDS"); do
  for k in $(seq 0 $((n - 1))); do
    i=$(((round - 1 + k) % n))
    run_slot "$i" "${URLS[$i]}$TOKEN_PATH" "${PIDS[$i]}" -H "$CI_AUTH" >>"$WORK/ab-${OF[$i]}"
  done
  line="round $round:"
  for i in "${!URLS[@]}"; do line="$line $(grep " $i\$" "$WORK/ab-${OF[$i]}" | tail -n1 | cut -d' ' -f1,4)"; done
  tg_info "$line  (req/s cpu-ms/req per process)"
done
tg_section_done

t=0
for target in "$@"; do
  printf '%s per process (median CPU ms/req over rounds): %s\n' "$target" "$(for i in "${!URLS[@]}"; do
    [ "${OF[$i]}" = "$t" ] && process_median "ab-$t" "$i"; done | joined)"
  t=$((t + 1))
done
printf '\n%-40s %10s %14s %12s %12s\n' "target (median of $PROCESSES x $ROUNDS x ${DURATION}s)" "req/s" "CPU ms/req" "req/s / 1st" "CPU / 1st"
first_rps="$(col ab-0 1)" first_cpu="$(col ab-0 4)"
i=0
for target in "$@"; do
  rps="$(col "ab-$i" 1)" cpu="$(col "ab-$i" 4)"
  printf '%-40s %10s %14s %12s %12s\n' "$target" "$rps" "$cpu" "$(r3 "$rps / $first_rps")" "$(r3 "$cpu / $first_cpu")"
  i=$((i + 1))
done
