# Helpers shared by bench/token.sh and bench/token-ab.sh. Source it; it runs nothing.
source "$(dirname "${BASH_SOURCE[0]}")/../tests/interop/proxy-lib.sh"

CI_KEY=tgk_Lsz1CsKo6xnYht2ybBbHfEn8vl5ZdQIszo6se_vOGDk.Y2ktYm90   # policy/README.md: demo only
CI_AUTH="Authorization: Basic $(printf 'ci-bot:%s' "$CI_KEY" | base64 -w0)"
TOKEN_PATH="/token?service=registry.local&scope=repository:org/app:pull,push"
DURATION="${DURATION:-8}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-8}"

# col FILE N: the median of column N of $WORK/FILE (lines written by run); r3 EXPR: EXPR to 3
# decimals, with a leading zero.
col() { cut -d' ' -f"$2" "$WORK/$1" | median; }
r3() { echo "scale=3; $1" | bc | sed 's/^\./0./; s/^-\./-0./'; }
# joined: stdin's lines on one line, space-separated.
joined() { tr '\n' ' ' | sed 's/ $//'; }
# process_median FILE SLOT: the median CPU ms per request of process SLOT in $WORK/FILE (the lines
# run_slot wrote for it).
process_median() { awk -v i="$2" '$NF == i { print $4 }' "$WORK/$1" | median; }

# render_demo_kv FILE: the demo policy's KV records (tollgate policy render policy/demo.toml).
render_demo_kv() {
  if [ -x "$TG_ROOT/target/release/tollgate" ] && [ -z "$(find "$TG_ROOT/cli/src" "$TG_ROOT/core/src" -newer "$TG_ROOT/target/release/tollgate" -print -quit)" ]; then
    "$TG_ROOT/target/release/tollgate" policy render "$TG_ROOT/policy/demo.toml" >"$1"
  else
    (cd "$TG_ROOT" && cargo run -q --locked --release --bin tollgate -- policy render policy/demo.toml) >"$1"
  fi
  jq -e 'map(.key) | index("user:ci-bot") != null or any(startswith("apikey:"))' "$1" >/dev/null \
    || tg_die "the rendered demo policy has no ci-bot records"
}

# bench_setup TOOL...: stops if a TOOL is missing, then makes the work directory ($WORK, removed on
# exit with every process started in it) and renders the demo policy's KV into $WORK/kv.json.
bench_setup() {
  local tool
  for tool in "$@"; do
    tg_have "$tool" || tg_die "$tool not found (apt-get install wrk linux-perf; scripts/setup.sh --interop)"
  done
  proxy_work_dir
  render_demo_kv "$WORK/kv.json"
}

# build_workers: Tollgate and the bench workers token.sh compares it with (empty, sign, floor), with
# Tollgate's release profile (scripts/build.sh), each one's size on a line.
build_workers() {
  local crate
  for crate in "$TG_ROOT" "$TG_ROOT/bench/empty-worker" "$TG_ROOT/bench/sign-worker" "$TG_ROOT/bench/floor-worker"; do
    bash "$TG_ROOT/scripts/build.sh" "$crate" >"$WORK/build.log" 2>&1 \
      || { tail -n 30 "$WORK/build.log" >&2; tg_die "scripts/build.sh $crate failed"; }
    tg_info "${crate#"$TG_ROOT"}: $(grep 'wasm size' "$WORK/build.log" | sed 's/.*wasm size: //')"
  done
}

# serve_target NAME: serves one of the compared workers (empty, sign, floor, or tollgate with the
# demo policy's KV from bench_setup) as `serve` does.
serve_target() {
  if [ "$1" = tollgate ]; then serve tollgate "$WORK/kv.json"; else serve "$1"; fi
}

# request_of TARGET: sets REQ_PATH and REQ_HEADERS (wrk/curl arguments) to the request TARGET is
# loaded with. The empty worker and the signer ignore it; the floor and Tollgate get GET /token for
# ci-bot.
request_of() {
  case "$1" in
    empty | sign) REQ_PATH=/ REQ_HEADERS=() ;;
    *) REQ_PATH="$TOKEN_PATH" REQ_HEADERS=(-H "$CI_AUTH") ;;
  esac
}

# serve NAME [args]: starts bench/token-serve.mjs; sets URL and WORKERD (that worker's workerd PID).
# workerd's stdout (console.log: Tollgate's audit lines) goes to a file next to the log, or with
# WORKERD_STDOUT=pipe through Miniflare's pipe (bench/workerd-stdout-to-file.sh says why a file).
serve() {
  local name="$1" log out=""
  shift
  log="$WORK/serve-$name-$RANDOM.log"
  [ "${WORKERD_STDOUT:-file}" = pipe ] || out="${log%.log}.stdout"
  TG_WORKERD_STDOUT="$out" node "$TG_ROOT/bench/token-serve.mjs" "$name" "$@" >"$log" 2>&1 &
  PROXY_PIDS+=("$!")
  await_miniflare "$!" "$log" "$name"
  URL="$READY_URL" WORKERD="$READY_WORKERD"
  tg_info "$name at $URL (workerd pid $WORKERD)"
}

# to_ms VALUE: wrk's latency (e.g. 812.00us, 1.93ms, 1.02s) in ms.
to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
# warm_up URL [wrk header args...]: WARMUP seconds of the same load, once per target before
# its measured rounds. V8 compiles a worker's wasm in its baseline tier (Liftoff) first and moves
# each function to TurboFan only once it has run enough: a Tollgate token request calls ~600
# functions, and under this load TurboFan was still compiling them 30 s in (bench/tier-up.mjs
# counts them), while the bare signer's few hot ones are done in a second. Without it the
# first rounds measured Tollgate partly unoptimised: in a one-off A/B (same build, not kept as a
# script) a fresh isolate used 25-43 us more CPU per token than one warmed for 40 s in round 1,
# 13-26 us in round 2. WARMUP=0 skips it.
warm_up() {
  local url="$1"
  shift
  [ "${WARMUP:-40}" -gt 0 ] || return 0
  wrk -t1 -c"$CONNECTIONS" -d"${WARMUP:-40}s" "$@" "$url" >/dev/null 2>&1 || true
}

# run URL PID [wrk header args...]: prints "req/s p50_ms p99_ms cpu_ms_per_request wrk_p99_ms
# max_ms". p50 and p99 are of the latencies requests had (bench/latency.lua records each: one
# connection per wrk thread); wrk_p99 is wrk's own figure, which adds synthetic samples after
# every slow response (its coordinated-omission correction, latency.lua says how), so a run's
# few longest pauses set it.
run() {
  local url="$1" pid="$2" t0 t1 out rps reqs non2xx wrk_p99 cpu lat p50 p99 max
  shift 2
  wrk -t1 -c"$CONNECTIONS" -d2s "$@" "$url" >/dev/null 2>&1 || true   # warm-up (JIT, caches)
  lat="$WORK/latency-$RANDOM"
  t0="$(cpu_ticks "$pid")"
  out="$(wrk -t"$CONNECTIONS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$TG_ROOT/bench/latency.lua" \
    "$@" "$url" -- "$lat")"
  t1="$(cpu_ticks "$pid")"
  # wrk's full report (latency spread, socket errors) for KEEP_WORK=1.
  printf '== %s %s\n%s\n' "$(date -u +%T)" "$url" "$out" >>"$WORK/wrk.log"
  rps="$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')"
  reqs="$(printf '%s\n' "$out" | awk '/requests in/ {print $1}')"
  non2xx="$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $NF}')"
  [ -z "$non2xx" ] || tg_warn "$url: $non2xx non-2xx responses"
  wrk_p99="$(to_ms "$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')")"
  cpu="$(echo "scale=4; ($t1 - $t0) * 1000 / $TICKS / ${reqs:-1}" | bc)"
  # Nearest-rank percentiles of every recorded latency, and the slowest.
  read -r p50 p99 max < <(cut -d' ' -f2 "$lat"-* | sort -n | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "- - -"; exit }
      printf "%.2f %.2f %.2f\n", v[int(NR * 0.50 + 0.999999)], v[int(NR * 0.99 + 0.999999)], v[NR]
    }')
  printf '%s %s %s %s %s %s\n' "$rps" "$p50" "$p99" "$cpu" "$wrk_p99" "$max"
  rm -f "$lat"-*
}

# run_slot SLOT URL PID [wrk header args...]: run's line with SLOT (which process) appended, for
# benches that serve a target in several processes.
run_slot() {
  local slot="$1"
  shift
  run "$@" | sed "s/\$/ $slot/"
}

