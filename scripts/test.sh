#!/usr/bin/env bash
# The one command that runs every test (CI runs it through .ci/run). Fails fast, non-zero exit.
#   scripts/test.sh                    everything: setup --interop, native, fuzz, wasm, miniflare, interop, load
#   scripts/test.sh PART [PART...]     only some parts, in the order given:
#     native     cargo fmt --check, cargo deny (licenses, bans, sources), cargo clippy (native, -D warnings),
#                cargo test --workspace
#     fuzz       scripts/fuzz.sh: every cargo-fuzz target for FUZZ_SECONDS each (default 15)
#     wasm       core + worker build for wasm32 (clippy -D warnings), the worker bundle (scripts/build.sh),
#                the bench crates (fmt --check, clippy -D warnings: they build against the core's API)
#     miniflare  build the worker, then node --test tests/miniflare/, and scripts/serve.sh's stop
#                (tests/scripts/serve-stop.sh; SERVE_TEST_PORT, default 8796 and the next one)
#     interop    build the worker, then tests/interop/run.sh and the CLI end-to-end test
#     load       bounded load test, bench/load.sh (15 s per side; LOAD_DURATION=N to change), zero errors
# Setup (scripts/setup.sh) always runs first; with --interop only when the interop part runs.
# Environment: TG_SKIP_SETUP=1 skips setup (tools known to be installed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TG_ROOT"

ALL_PARTS=(native fuzz wasm miniflare interop load)
parts=()
for arg in "$@"; do
  case "$arg" in
    native|fuzz|wasm|miniflare|interop|load) parts+=("$arg") ;;
    all) parts+=("${ALL_PARTS[@]}") ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) tg_die "unknown part: $arg (native, fuzz, wasm, miniflare, interop, load, all)" ;;
  esac
done
[ "${#parts[@]}" -gt 0 ] || parts=("${ALL_PARTS[@]}")

has_part() {
  local p
  for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done
  return 1
}

# Summary bookkeeping: every step's name and duration, printed at the end either way.
TOTAL_START="$(tg_now)"
STEPS=()
CURRENT=""
SKIPPED=""   # a step sets this to a reason to be listed as skipped, not ok
step() { # NAME CMD...
  local name="$1"
  shift
  CURRENT="$name"
  SKIPPED=""
  tg_section "$name"
  "$@"
  local status=ok
  [ -n "$SKIPPED" ] && status=skip
  STEPS+=("$(printf '%-5s %-44s %5ss %s' "$status" "$name" "$(( $(tg_now) - TG_SECTION_START ))" "$SKIPPED")")
  tg_section_done
  CURRENT=""
  note_disk "$name"
}

# The least free disk seen after any step, and after which: a CI machine's disk is smaller than a
# workstation's, and the summary says how close a run came (a fresh clone's full run ends with
# 3.8 GB in the tree, README "Tests").
DISK_MIN_KB=""
DISK_MIN_AT=""
note_disk() {
  local kb
  kb="$(df -Pk . 2>/dev/null | awk 'NR == 2 { print $4 }')" || return 0
  [ -n "$kb" ] || return 0
  if [ -z "$DISK_MIN_KB" ] || [ "$kb" -lt "$DISK_MIN_KB" ]; then
    DISK_MIN_KB="$kb"
    DISK_MIN_AT="$1"
  fi
}
disk_line() {
  note_disk "${CURRENT:-setup}"
  [ -n "$DISK_MIN_KB" ] || return 0
  printf '  disk: %d MB free at the least, after %s; build products in the tree: %s\n' \
    "$(( DISK_MIN_KB / 1024 ))" "$DISK_MIN_AT" \
    "$(du -sh target fuzz/target bench/*/target 2>/dev/null | awk '{ print $2 " " $1 }' | paste -sd, - | sed 's/,/, /g')"
}

summary() {
  local rc=$?
  local took=$(( $(tg_now) - TOTAL_START ))
  printf '\n%s\n' "${TG_BOLD}==> summary (parts: ${parts[*]})${TG_RESET}"
  local s
  if [ "$rc" -eq 0 ]; then
    for s in "${STEPS[@]}"; do printf '  %s\n' "$s"; done
    disk_line
    local skipped
    skipped="$(printf '%s\n' "${STEPS[@]}" | grep -c '^skip' || true)"
    printf '%s\n' "${TG_GREEN}${TG_BOLD}TESTS PASSED: ${#STEPS[@]} steps (${skipped} skipped), parts: ${parts[*]}, ${took}s total${TG_RESET}"
    # The plain closing line CI reads (steps, each a whole suite).
    printf 'steps: %d passed, 0 failed, %d skipped\n' "$(( ${#STEPS[@]} - skipped ))" "$skipped"
  else
    # One line for the steps that ran before the failure: CI shows only the log's last lines,
    # and they should be the failing step's own errors, not a table of what passed.
    local before=""
    for s in "${STEPS[@]}"; do
      before+="${before:+; }$(sed -E 's/^(ok|skip) +//; s/ {2,}/ /g; s/ +$//' <<<"$s")"
    done
    [ -n "$before" ] && printf '  before it: %s\n' "$before"
    disk_line
    [ -n "$CURRENT" ] && printf '  %-5s %s\n' FAIL "$CURRENT"
    printf '%s\n' "${TG_RED}${TG_BOLD}TESTS FAILED in '${CURRENT:-setup}' (exit $rc) after ${took}s${TG_RESET}"
    printf 'steps: %d passed, 1 failed\n' "${#STEPS[@]}"
  fi
  exit "$rc"
}
trap summary EXIT

run_setup() {
  if [ "${TG_SKIP_SETUP:-0}" = 1 ]; then
    tg_info "TG_SKIP_SETUP=1: not running setup"
    return 0
  fi
  if has_part interop; then
    bash scripts/setup.sh --interop
  else
    bash scripts/setup.sh
  fi
}

fmt_check() { cargo fmt --all --check; }
# deny.toml. No advisories: the RustSec database cannot be fetched here (SECURITY.md lists the known one).
# --offline --locked: reads Cargo.lock and the local registry only (about 2 s). The registry
# holds only what some build has downloaded, and on a new machine this is the first cargo step,
# so `cargo fetch --locked` downloads every locked crate first (a no-op once they are there).
deny_check() {
  tg_have cargo-deny || tg_die "cargo-deny not found: run scripts/setup.sh"
  cargo fetch --locked
  cargo deny --offline --locked check licenses bans sources
}
# --locked: the tests run against Cargo.lock's versions, never a fresh resolution.
clippy_native() { cargo clippy --locked --workspace --all-targets -- -D warnings; }
test_native() { cargo test --locked --workspace; }
build_core_wasm() { cargo build --locked -p tollgate-core --target "$TG_WASM_TARGET"; }
# CI budget: one ASan build of all targets (2-4 min cold on 2 cores, by load) plus 15 s per target.
fuzz_bounded() { bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"; }
clippy_worker_wasm() { cargo clippy --locked -p tollgate-worker --target "$TG_WASM_TARGET" -- -D warnings; }
# The bench crates are workspaces of their own (bench/README.md), built only when a bench runs:
# checked here so that a change of the core's API cannot leave a bench that no longer compiles.
BENCH_WORKERS=(bench/empty-worker bench/sign-worker bench/floor-worker bench/proxy-noauth-worker)
# Checked in the workspace's own target/ (where scripts/build.sh builds them too), without debug
# info (as the workspace's dependencies are built): in a target/ each, every crate compiled its
# own copy of worker, serde and wasm-bindgen with full debug info, 450-620 MB apiece and 2.6 GB
# for the five, and a CI run ran out of disk here. Shared, they add ~0.4 GB and take half the time.
clippy_bench_crates() {
  local crate
  for crate in "${BENCH_WORKERS[@]}" bench/kv-rounds; do
    cargo fmt --manifest-path "$crate/Cargo.toml" --check
  done
  local -a shared=(env CARGO_TARGET_DIR="$TG_TARGET_DIR" CARGO_PROFILE_DEV_DEBUG=false)
  for crate in "${BENCH_WORKERS[@]}"; do
    "${shared[@]}" cargo clippy --locked --manifest-path "$crate/Cargo.toml" \
      --target "$TG_WASM_TARGET" -- -D warnings
  done
  "${shared[@]}" cargo clippy --locked --manifest-path bench/kv-rounds/Cargo.toml -- -D warnings
}

BUILT=0
build_worker() {
  if [ "$BUILT" = 1 ]; then return 0; fi
  bash scripts/build.sh
  BUILT=1
}

test_miniflare() {
  compgen -G "tests/miniflare/*.test.mjs" >/dev/null || tg_die "no tests/miniflare/*.test.mjs found"
  # spec output reads better in CI logs than TAP; one file at a time keeps 2 cores responsive.
  node --test --test-reporter=spec --test-concurrency=1 tests/miniflare/
}

# scripts/serve.sh stop ends wrangler dev's whole process group, also after its leader died.
test_serve_stop() { bash tests/scripts/serve-stop.sh; }

test_interop() { bash tests/interop/run.sh; }

# The operator workflow end to end: keys and policy made by the CLI, synced to local KV, the worker
# started, tokens verified by the CLI and by docker-registry, a full key rotation.
test_cli_e2e() {
  bash cli/tests/e2e.sh
}

test_load() { DURATION="${LOAD_DURATION:-15}" bash bench/load.sh; }

step "setup" run_setup
for part in "${parts[@]}"; do
  case "$part" in
    native)
      step "native: cargo fmt --check" fmt_check
      step "native: cargo deny (licenses, bans, sources)" deny_check
      step "native: cargo clippy -D warnings" clippy_native
      step "native: cargo test --workspace" test_native
      ;;
    fuzz)
      step "fuzz: cargo-fuzz targets (scripts/fuzz.sh)" fuzz_bounded
      ;;
    wasm)
      step "wasm: build tollgate-core for wasm32" build_core_wasm
      step "wasm: clippy tollgate-worker (wasm32)" clippy_worker_wasm
      step "wasm: worker bundle (scripts/build.sh)" build_worker
      step "wasm: bench crates (fmt, clippy -D warnings)" clippy_bench_crates
      ;;
    miniflare)
      step "miniflare: worker bundle (scripts/build.sh)" build_worker
      step "miniflare: node --test tests/miniflare/" test_miniflare
      step "miniflare: serve.sh stop ends the process group" test_serve_stop
      ;;
    interop)
      step "interop: worker bundle (scripts/build.sh)" build_worker
      step "interop: tests/interop/run.sh" test_interop
      step "interop: CLI end-to-end (cli/tests/e2e.sh)" test_cli_e2e
      ;;
    load)
      step "load: worker bundle (scripts/build.sh)" build_worker
      step "load: bench/load.sh (zero errors)" test_load
      ;;
  esac
done
