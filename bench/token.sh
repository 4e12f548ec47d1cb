#!/usr/bin/env bash
# Token-issuance benchmark (issue 2 "Performance"), one run, same machine, side by side in workerd
# (plain Miniflare: wrangler dev's dev proxy and inspector session add their own noisy cost):
#   a. bench/empty-worker   an empty workers-rs worker (200 "ok")                  -> the runtime's cost
#   s. bench/sign-worker    signs one fixed ES256 JWT per request (key parsed once) -> bare ES256 sign
#   f. bench/floor-worker   answers GET /token in Tollgate's shape (same request read, same token,
#                           body, headers and audit-line length) with no decisions -> the protocol's
#                           own cost in this runtime; (b) - (f) is Tollgate's own work
#   b. Tollgate             GET /token for API-key user ci-bot (policy/demo.toml), push+pull on
#                           org/app, warm caches (ACL, verified credential, parsed key)
#   p. Tollgate again       with workerd's stdout through Miniflare's pipe (a, s, f and b write it
#                           to a file: bench/workerd-stdout-to-file.sh says why)
# Prints req/s and latency p50/p99 per target (each request's own latency, bench/latency.lua; beside
# them wrk's own p99, which its coordinated-omission correction inflates, and the slowest request;
# medians over ROUNDS rounds of PROCESSES
# workerds per target), workerd CPU per request from /proc utime+stime of each workerd, CPU per
# token (b - a) and its ratio to a bare sign (s - a), the same ratio for the floor (f - a) and
# Tollgate's own work over it ((b - f) / (s - a)), the sign cost timed with a loop inside one
# request, the built worker's size, and bcrypt in wasm: a cold password request (alice, cost 10)
# against warm ones.
# The load generator (wrk) shares the 2 cores with workerd: compare ratios, not absolutes.
#   HARNESS=workerd bench/token.sh
#                           every worker under workerd alone instead of Miniflare (token-serve.mjs):
#                           no Miniflare entry worker in front of each request, as on Cloudflare;
#                           (p) then discards workerd's stdout instead of piping it
#   bench/token.sh          (DURATION=8 ROUNDS=3 CONNECTIONS=8 PROCESSES=3 workerds per target,
#                            WARMUP=40 seconds per process first; KEEP_WORK=1 keeps the logs)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/token-lib.sh"
PROCESSES="${PROCESSES:-3}"
export TG_HARNESS="${HARNESS:-miniflare}"
if [ "$TG_HARNESS" = workerd ]; then P_LABEL="(p) (b) with stdout discarded"; else P_LABEL="(p) (b) with stdout via Miniflare's pipe"; fi

ALICE_PASS=alice-demo-pass

bench_setup wrk jq curl bc node gzip

tg_section "build the four workers"
build_workers
tg_section_done

tg_section "the four workers under $TG_HARNESS (Tollgate's KV: the demo policy)"

# Each workerd writes its stdout (Tollgate's audit lines) to a file, as a host's log collector
# would take it; (p) is Tollgate again with Miniflare's own pipe, whose reader wake-up per line
# is a cost of this harness (bench/workerd-stdout-to-file.sh).
# PROCESSES workerds each for (a), (s), (f) and (b): processes of one build ran at steady state up to
# ~9% apart in CPU per request here (PROCESSES=1 bench/token-ab.sh with one build served four
# times: 0.4665, 0.4404, 0.4329, 0.4277 ms, each process's place varied by round), which alone
# moved a one-process-per-target ratio by ~0.1. Each figure below is the median over every
# process and round of its target.
TARGETS=(empty sign floor tollgate)
# One slot per process: its target, URL, workerd PID, and which of its target's processes it is.
SLOT_TARGET=() SLOT_URL=() SLOT_PID=() SLOT_PROC=()
for p in $(seq 0 $((PROCESSES - 1))); do
  for t in "${TARGETS[@]}"; do
    serve_target "$t"
    SLOT_TARGET+=("$t") SLOT_URL+=("$URL") SLOT_PID+=("$WORKERD") SLOT_PROC+=("$p")
  done
done
# Each target's first process answers the functional checks below.
E_URL="${SLOT_URL[0]}" S_URL="${SLOT_URL[1]}" F_URL="${SLOT_URL[2]}" T_URL="${SLOT_URL[3]}"
WORKERD_STDOUT=pipe serve tollgate "$WORK/kv.json" && P_URL="$URL" P_PID="$WORKERD"

check "empty worker 200" 200 "$(status "$E_URL/")"
check "sign worker returns a JWT" 3 "$(curl -s "$S_URL/" | tr '.' '\n' | grep -c .)"
floor_body="$(curl -s -H "$CI_AUTH" "$F_URL$TOKEN_PATH")"
check "floor worker answers in the token response's shape" 3 "$(printf '%s' "$floor_body" | jq -r '.access_token // ""' | tr '.' '\n' | grep -c .)"
body="$(curl -s -H "$CI_AUTH" "$T_URL$TOKEN_PATH")"
check "Tollgate issues ci-bot a token" 3 "$(printf '%s' "$body" | jq -r '.token // ""' | tr '.' '\n' | grep -c .)"
check "Tollgate refuses a wrong key" 401 "$(status -u ci-bot:tgk_wrong "$T_URL$TOKEN_PATH")"
tg_info "response bodies: Tollgate $(printf '%s' "$body" | wc -c) bytes, floor $(printf '%s' "$floor_body" | wc -c) bytes"
[ "$FAILURES" -eq 0 ] || finish
tg_section_done

curl_ms() { curl -s -o /dev/null -w '%{time_total}\n' "$@" | awk '{printf "%.2f\n", $1 * 1000}'; }

tg_section "bcrypt in wasm: alice (password, bcrypt cost 10), cold then warm"
cold_ms="$(curl_ms -u "alice:$ALICE_PASS" "$T_URL$TOKEN_PATH")"
check "alice's cold request issues a token" 200 "$(status -u "alice:$ALICE_PASS" "$T_URL$TOKEN_PATH")"
warm_ms="$(for _ in $(seq 1 15); do curl_ms -u "alice:$ALICE_PASS" "$T_URL$TOKEN_PATH"; done | median)"
# A wrong password is never cached, so every one pays a full bcrypt check: repeated cold samples.
wrong_ms="$(for _ in $(seq 1 5); do curl_ms -u alice:wrong-pass "$T_URL$TOKEN_PATH"; done | median)"
apikey_ms="$(for _ in $(seq 1 15); do curl_ms -H "$CI_AUTH" "$T_URL$TOKEN_PATH"; done | median)"
tg_info "alice cold ${cold_ms} ms, warm ${warm_ms} ms (median of 15), wrong password ${wrong_ms} ms (median of 5), ci-bot ${apikey_ms} ms"
tg_section_done

tg_section "bare ES256 sign timed inside one request (sign-worker ?n=)"
one="$(for _ in 1 2 3 4 5; do curl_ms "$S_URL/?n=1"; done | median)"
many="$(for _ in 1 2 3; do curl_ms "$S_URL/?n=200"; done | median)"
loop_sign_ms="$(echo "scale=3; ($many - $one) / 199" | bc)"
tg_info "n=1 ${one} ms, n=200 ${many} ms: ${loop_sign_ms} ms per signature"
tg_section_done

tg_section "warm-up: ${WARMUP:-40}s of the same load per process, once (token-lib.sh warm_up says why)"
for i in "${!SLOT_URL[@]}"; do
  request_of "${SLOT_TARGET[$i]}"
  warm_up "${SLOT_URL[$i]}$REQ_PATH" "${REQ_HEADERS[@]}"
done
warm_up "$P_URL$TOKEN_PATH" -H "$CI_AUTH"
tg_section_done

tg_section "load: $ROUNDS rounds x ${DURATION}s per process ($PROCESSES per target, 1 for (p)), $CONNECTIONS connections, wrk on loopback"
for t in "${TARGETS[@]}"; do : >"$WORK/$t" && : >"$WORK/$t.rounds"; done
: >"$WORK/pipe"
# Every process is measured once per round. Each round starts one process later than the last: a
# target measured right after another could read a few % off, and a fixed order would put that
# bias into every round the same way. Lines: "req/s p50 p99 cpu-ms/req wrk-p99 max process".
measure() {
  request_of "${SLOT_TARGET[$1]}"
  run_slot "${SLOT_PROC[$1]}" "${SLOT_URL[$1]}$REQ_PATH" "${SLOT_PID[$1]}" "${REQ_HEADERS[@]}" >>"$WORK/${SLOT_TARGET[$1]}"
}
n=$((${#SLOT_URL[@]} + 1))
for round in $(seq 1 "$ROUNDS"); do
  for j in $(seq 0 $((n - 1))); do
    k=$(((round - 1 + j) % n))
    if [ "$k" -eq $((n - 1)) ]; then
      run "$P_URL$TOKEN_PATH" "$P_PID" -H "$CI_AUTH" >>"$WORK/pipe"
    else
      measure "$k"
    fi
  done
  # This round's mean per target over its processes (for the per-round ratio below).
  for t in "${TARGETS[@]}"; do
    tail -n "$PROCESSES" "$WORK/$t" | awk '{ c += $4 } END { printf "%.4f\n", c / NR }' >>"$WORK/$t.rounds"
  done
  tg_info "round $round: CPU ms/req (mean of $PROCESSES processes) empty $(tail -n1 "$WORK/empty.rounds"), sign $(tail -n1 "$WORK/sign.rounds"), floor $(tail -n1 "$WORK/floor.rounds"), tollgate $(tail -n1 "$WORK/tollgate.rounds"); tollgate via pipe $(tail -n1 "$WORK/pipe") (req/s p50 p99 cpu-ms/req wrk-p99 max)"
done
tg_section_done

e_rps="$(col empty 1)" s_rps="$(col sign 1)" t_rps="$(col tollgate 1)"
e_cpu="$(col empty 4)" s_cpu="$(col sign 4)" f_cpu="$(col floor 4)" t_cpu="$(col tollgate 4)" p_cpu="$(col pipe 4)"
wasm="$TG_ROOT/build/index_bg.wasm"
raw=$(wc -c <"$wasm") gz=$(gzip -9 -c "$wasm" | wc -c) js=$(wc -c <"$TG_ROOT/build/index.js")
jsgz=$(gzip -9 -c "$TG_ROOT/build/index.js" | wc -c)

# round_ratios TARGET: (TARGET - empty) / (sign - empty) per round, from each target's mean over
# its processes in that round.
round_ratios() {
  paste -d' ' "$WORK/empty.rounds" "$WORK/sign.rounds" "$WORK/$1.rounds" \
    | awk '{ if ($2 - $1 > 0) printf "%.3f\n", ($3 - $1) / ($2 - $1) }'
}

# Each process's own median CPU per request: how far apart processes of one build run.
for t in "${TARGETS[@]}"; do
  printf '%s per process (median over rounds): %s\n' "$t" "$(for i in $(seq 0 $((PROCESSES - 1))); do
    process_median "$t" "$i"; done | joined)"
done
# row LABEL FILE: one target's medians. p50 and p99 of the latencies requests had; wrk's p99 and
# the slowest request, for the tail (bench/README.md, "The tail").
row() {
  printf '%-44s %10s %9s %9s %14s %9s %9s\n' "$1" "$(col "$2" 1)" "$(col "$2" 2)" "$(col "$2" 3)" \
    "$(col "$2" 4)" "$(col "$2" 5)" "$(col "$2" 6)"
}
printf '\n%-44s %10s %9s %9s %14s %9s %9s\n' "target ($TG_HARNESS; median of $PROCESSES x $ROUNDS x ${DURATION}s, c=$CONNECTIONS)" \
  "req/s" "p50 ms" "p99 ms" "CPU ms/req" "wrk p99" "max ms"
row "(a) empty Rust worker" empty
row "(s) bare ES256 sign worker" sign
row "(f) protocol floor: /token's I/O, no decisions" floor
row "(b) Tollgate /token, ci-bot API key, warm" tollgate
row "$P_LABEL" pipe
ratio="$(r3 "$t_rps / $e_rps")"
verdict="$(echo "$ratio >= 0.40" | bc)"
# Issue 2's ratio was set under Miniflare, whose entry worker costs every request alike; under
# workerd alone the empty worker answers ~2.4x as fast, so the same ratio means something else.
if [ "$TG_HARNESS" = miniflare ]; then verdict="$([ "$verdict" = 1 ] && echo PASS || echo FAIL)"; else verdict="set under Miniflare"; fi
printf '\n(c) throughput b/a: %s (issue requires >= 0.40: %s); sign/a: %s\n' \
  "$ratio" "$verdict" "$(r3 "$s_rps / $e_rps")"
tok_cpu="$(r3 "$t_cpu - $e_cpu")" sign_cpu="$(r3 "$s_cpu - $e_cpu")"
printf '(d) CPU per token (workerd CPU b - a): %s ms; bare ES256 sign (s - a): %s ms; ratio %s\n' \
  "$tok_cpu" "$sign_cpu" "$(r3 "($t_cpu - $e_cpu) / ($s_cpu - $e_cpu)")"
# The same ratio per round, from each target's mean over its processes in that round (measured
# within a minute of each other), then their median: the machine's load drifts between rounds (a
# target's CPU per request moved by up to ~30% between rounds here), and a per-round ratio
# cancels what drifts slowly.
per_round="$(round_ratios tollgate)"
printf '    per round: %s; median %s\n' "$(printf '%s\n' "$per_round" | joined)" \
  "$(printf '%s\n' "$per_round" | median)"
# The floor: the same ratio for a worker that does the token response's I/O and no decisions
# (bench/floor-worker), and Tollgate's own work over it, in units of the bare signer's work.
printf '(g) protocol floor (f - a) / (s - a): %s (per round %s); Tollgate over it (b - f): %s ms, %s of (s - a)\n' \
  "$(r3 "($f_cpu - $e_cpu) / ($s_cpu - $e_cpu)")" "$(round_ratios floor | joined)" \
  "$(r3 "$t_cpu - $f_cpu")" "$(r3 "($t_cpu - $f_cpu) / ($s_cpu - $e_cpu)")"
printf '    %s: CPU per token %s ms; ratio %s\n' "${P_LABEL#(p) (b) }" \
  "$(r3 "$p_cpu - $e_cpu")" "$(r3 "($p_cpu - $e_cpu) / ($s_cpu - $e_cpu)")"
# The tail: p99 of the latencies requests had, Tollgate's over the bare signer's (issue 17: within
# 2x); the floor's likewise; then wrk's own p99 ratio, which the longest pauses set.
printf '(t) tail: p99 b/s %s (issue 17: within 2x); floor f/s %s; wrk p99 b/s %s; slowest request b %s ms, s %s ms\n' \
  "$(r3 "$(col tollgate 3) / $(col sign 3)")" "$(r3 "$(col floor 3) / $(col sign 3)")" \
  "$(r3 "$(col tollgate 5) / $(col sign 5)")" "$(col tollgate 6)" "$(col sign 6)"
printf '    from throughput (1/b - 1/a): %s ms; bare sign timed in-request (n=200 loop): %s ms; CPU per token / that: %s\n' \
  "$(r3 "1000 / $t_rps - 1000 / $e_rps")" "$loop_sign_ms" "$(r3 "($t_cpu - $e_cpu) / $loop_sign_ms")"
printf '(e) Tollgate worker: wasm %s bytes raw (%s KiB), %s bytes gzip -9 (%s KiB; budget 368640 bytes); index.js %s bytes (%s gzip)\n' \
  "$raw" "$((raw / 1024))" "$gz" "$((gz / 1024))" "$js" "$jsgz"
printf '(h) bcrypt (alice, cost 10): cold request %s ms, warm %s ms (median of 15); wrong password (always bcrypt) %s ms; ci-bot API key %s ms\n' \
  "$cold_ms" "$warm_ms" "$wrong_ms" "$apikey_ms"
[ "$FAILURES" -eq 0 ] || finish
