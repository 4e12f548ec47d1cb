#!/usr/bin/env bash
# Compares builds of Tollgate by token issuance, interleaved so this shared machine's noise hits
# every build alike (bench/token.sh compares Tollgate with an empty worker; this compares a
# change with what it replaces):
#
#   bash scripts/build.sh && cp -r build /tmp/tg-A
#   (change something, rebuild, cp -r build /tmp/tg-B)
#   bash bench/token-ab.sh /tmp/tg-A /tmp/tg-B ...        (DURATION=8 ROUNDS=5 CONNECTIONS=8 WARMUP=40)
#   bash bench/token-ab.sh build build+TOKEN_X5C=off     # one build, two configurations
#
# A target is a build directory, optionally followed by `+NAME=VALUE,...`: settings over the
# demo's (bench/token-serve.mjs VARS), to compare configurations of one build.
# Each build runs in its own workerd (Miniflare) with the demo policy's KV. Every round runs wrk
# against each build in turn: GET /token for API-key user ci-bot, warm caches, as token.sh's (b).
# Prints per build the median req/s and workerd CPU ms per request (/proc utime+stime), and each
# build's ratio to the first.
set -euo pipefail
ROUNDS="${ROUNDS:-5}"
source "$(dirname "${BASH_SOURCE[0]}")/token-lib.sh"

[ "$#" -ge 2 ] || tg_die "usage: bench/token-ab.sh TARGET TARGET [TARGET...] (TARGET: a copy of build/ [+NAME=VALUE,...])"
for target in "$@"; do
  dir="${target%%+*}"
  [ -s "$dir/index.js" ] && [ -s "$dir/index_bg.wasm" ] || tg_die "$dir has no index.js + index_bg.wasm"
done
for tool in wrk jq curl bc node; do
  tg_have "$tool" || tg_die "$tool not found (apt-get install wrk; scripts/setup.sh --interop)"
done
proxy_work_dir
render_demo_kv "$WORK/kv.json"

URLS=() PIDS=()
for target in "$@"; do
  dir="${target%%+*}" vars=""
  [ "$dir" = "$target" ] || vars="${target#*+}"
  serve tollgate "$WORK/kv.json" "$dir" "$vars"
  body="$(curl -s -H "$CI_AUTH" "$URL$TOKEN_PATH")"
  check "$target issues ci-bot a token" 3 "$(printf '%s' "$body" | jq -r '.token // ""' | tr '.' '\n' | grep -c .)"
  tg_info "$target: token $(printf '%s' "$body" | jq -r '.token // ""' | tr -d '\n' | wc -c) bytes, response body $(printf '%s' "$body" | wc -c) bytes"
  URLS+=("$URL") PIDS+=("$WORKERD")
done
[ "$FAILURES" -eq 0 ] || finish

tg_section "warm-up: ${WARMUP:-40}s of the same load per build, once (token-lib.sh warm_up)"
for url in "${URLS[@]}"; do warm_up "$url$TOKEN_PATH" -H "$CI_AUTH"; done
tg_section_done

tg_section "load: $ROUNDS rounds x ${DURATION}s per build, $CONNECTIONS connections"
# Each round starts one target later than the last: a target measured right after another reads
# a few % off here (one build served first and third: 0.955x), and a fixed order would give
# every round the same bias.
n="${#URLS[@]}"
for round in $(seq 1 "$ROUNDS"); do
  for k in $(seq 0 $((n - 1))); do
    i=$(((round - 1 + k) % n))
    run "${URLS[$i]}$TOKEN_PATH" "${PIDS[$i]}" -H "$CI_AUTH" >>"$WORK/ab-$i"
  done
  line="round $round:"
  for i in "${!URLS[@]}"; do line="$line $(tail -n1 "$WORK/ab-$i" | cut -d' ' -f1,4)"; done
  tg_info "$line  (req/s cpu-ms/req per build)"
done
tg_section_done

printf '\n%-40s %10s %14s %12s %12s\n' "build (median of $ROUNDS x ${DURATION}s)" "req/s" "CPU ms/req" "req/s / 1st" "CPU / 1st"
first_rps="$(col ab-0 1)" first_cpu="$(col ab-0 4)"
i=0
for target in "$@"; do
  rps="$(col "ab-$i" 1)" cpu="$(col "ab-$i" 4)"
  printf '%-40s %10s %14s %12s %12s\n' "$target" "$rps" "$cpu" "$(r3 "$rps / $first_rps")" "$(r3 "$cpu / $first_cpu")"
  i=$((i + 1))
done
