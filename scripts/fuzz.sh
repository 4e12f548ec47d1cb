#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time, one after another (2 cores are shared).
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#     SECONDS_PER_TARGET  default $FUZZ_SECONDS, else 20 (CI); e.g. FUZZ_SECONDS=600 for a long run
#     TARGET              only these targets (default: all, as `cargo fuzz list` prints them)
# Environment: FUZZ_TOOLCHAIN (default nightly, see scripts/lib.sh), FUZZ_SANITIZER (default address; "none" is
# faster and needs no ASan runtime), FUZZ_RSS_MB (default 2048), FUZZ_JOBS is not used: one
# process per target keeps the machine responsive.
# Seeds: fuzz/corpus/<target>/ and past crashes fuzz/regressions/<target>/ (committed, read-only here). The growing working corpus lives in
# fuzz/target/corpus/<target>/ (untracked, kept between runs). A crash stops the script non-zero
# and prints the reproducer (fuzz/artifacts/<target>/crash-*); see the README's Tests section.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TG_ROOT/fuzz"

seconds="${FUZZ_SECONDS:-20}"
if [ "$#" -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  seconds="$1"
  shift
fi
toolchain="$TG_FUZZ_TOOLCHAIN"
sanitizer="${FUZZ_SANITIZER:-address}"
rss_mb="${FUZZ_RSS_MB:-2048}"

tg_have cargo-fuzz || tg_die "cargo-fuzz is not installed: run scripts/setup.sh"
rustup run "$toolchain" rustc --version >/dev/null 2>&1 \
  || tg_die "Rust toolchain '$toolchain' is missing: run scripts/setup.sh"

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo "+$toolchain" fuzz list)
fi
[ "${#targets[@]}" -gt 0 ] || tg_die "no fuzz targets found"

# The targets are outside the root workspace, so `cargo fmt --all` there does not see them.
cargo fmt --manifest-path Cargo.toml --check

# cargo-fuzz has no --locked: check fuzz/Cargo.lock first, so a lock that no longer matches
# tollgate-core's dependencies fails here, by name, instead of being re-resolved in every run.
cargo "+$toolchain" metadata --locked --format-version 1 >/dev/null \
  || tg_die "fuzz/Cargo.lock is out of date: run 'cargo +$toolchain fuzz build' in fuzz/ and commit the lock"

# One build for all targets (they share every dependency), debug assertions on. Its output goes
# to a log; on failure the compiler's errors are printed last, where a CI log's tail shows them
# (cargo-fuzz would otherwise end with its own backtrace, and the cause scrolls away).
tg_info "building ${#targets[@]} fuzz targets (toolchain $toolchain, sanitizer $sanitizer)"
mkdir -p target
build_log="target/fuzz-build.log"
if ! RUST_BACKTRACE=0 cargo "+$toolchain" fuzz build --sanitizer "$sanitizer" --debug-assertions \
  >"$build_log" 2>&1; then
  grep -v '^ *Compiling ' "$build_log" | tail -n 60 >&2
  printf '%s\n' "[tollgate] the build's errors:" >&2
  grep -E -A3 '^(error|fatal|.*(No space left|Killed|signal: ))' "$build_log" | head -n 40 >&2 || true
  df -h . >&2 || true
  tg_die "the fuzz targets did not build (full log: fuzz/$build_log)"
fi

failed=()
for t in "${targets[@]}"; do
  work="target/corpus/$t"
  mkdir -p "$work" "corpus/$t" "artifacts/$t"
  # Past crashes (fuzz/regressions/<target>/) run first with the seeds, so a regression fails fast.
  dirs=("$work" "corpus/$t")
  [ -d "regressions/$t" ] && dirs+=("regressions/$t")
  tg_info "fuzzing $t for ${seconds}s"
  log="target/fuzz-$t.log"
  # -max_len bounds one input (every core limit is below 20 KB, so longer inputs only test the
  # length checks); -timeout flags any single input slower than 10 s as a hang.
  if cargo "+$toolchain" fuzz run --sanitizer "$sanitizer" --debug-assertions "$t" \
    "${dirs[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout=10 -max_len=20000 \
    -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' "$log" | tr '\n' ' ' || true
    printf '\n'
  else
    tail -n 40 "$log" >&2
    crash="$(grep -Eo 'artifacts/[^ ]+' "$log" | tail -n1 || true)"
    tg_warn "$t FAILED; reproducer: fuzz/${crash:-artifacts/$t/}"
    tg_warn "replay: cargo +$toolchain fuzz run $t fuzz/${crash:-artifacts/$t/<file>}  (from fuzz/)"
    failed+=("$t")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  tg_die "fuzz targets that crashed: ${failed[*]} (full logs: fuzz/target/fuzz-<target>.log)"
fi
tg_info "all ${#targets[@]} fuzz targets ran ${seconds}s each without a crash"
