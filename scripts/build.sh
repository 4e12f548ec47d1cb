#!/usr/bin/env bash
# Builds the Cloudflare Worker: Rust -> wasm32 -> wasm-bindgen -> wasm-opt -> esbuild bundle.
#   scripts/build.sh              the tollgate worker (repo root) -> build/index.js + build/index_bg.wasm
#   scripts/build.sh CRATE_DIR    another worker crate (e.g. bench/empty-worker) -> CRATE_DIR/build/
#                                 Such a crate lives outside the workspace (give its Cargo.toml an empty
#                                 [workspace] table); it shares target/ so its deps are built once.
# worker-build would download wasm-bindgen and wasm-opt from GitHub (unreachable on CI), so we
# point it at the pinned local ones: cargo-installed wasm-bindgen, npm's binaryen and esbuild.
# wrangler.toml's [build] command calls this, so `wrangler dev` rebuilds on start.
# Prints the wasm size, raw and gzip. TG_FORCE_BUILD=1 rebuilds even when nothing changed.
# TG_KEEP_NAMES=1 always rebuilds and keeps the wasm names section (for bench/profile.mjs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

crate_dir="${1:-$TG_ROOT}"
crate_dir="$(cd "$crate_dir" && pwd)"
[ -f "$crate_dir/Cargo.toml" ] || tg_die "$crate_dir has no Cargo.toml"
if [ "$crate_dir" != "$TG_ROOT" ]; then
  export CARGO_TARGET_DIR="$TG_TARGET_DIR"
fi
js="$crate_dir/build/index.js"
wasm="$crate_dir/build/index_bg.wasm"
rel() { printf '%s' "${1#"$TG_ROOT"/}"; }

for tool in worker-build wasm-bindgen; do
  tg_have "$tool" || tg_die "$tool not found: run scripts/setup.sh first"
done
[ -x "$TG_ROOT/node_modules/.bin/esbuild" ] && [ -x "$TG_ROOT/node_modules/.bin/wasm-opt" ] \
  || tg_die "node_modules/.bin/{esbuild,wasm-opt} missing: run scripts/setup.sh (npm ci) first"

# The size budget (README "Performance"): 360 KB gzip since device login. A build over it fails, so a
# feature that grows the worker says so in its own change rather than in a later measurement.
TG_WASM_BUDGET="${TG_WASM_BUDGET:-368640}"

report_size() {
  local raw gz
  raw=$(wc -c <"$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  tg_info "wasm size: $(( raw / 1024 )) KiB raw ($raw bytes), $(( gz / 1024 )) KiB gzip ($gz bytes)"
  # A names-keeping profile build (TG_KEEP_NAMES=1) is ~60 KB larger and never shipped.
  [ "$gz" -le "$TG_WASM_BUDGET" ] || [ "${TG_KEEP_NAMES:-0}" = 1 ] \
    || tg_die "the worker is $gz bytes gzip, over the budget of $TG_WASM_BUDGET (README \"Performance\")"
}

# wrangler dev runs the [build] command twice on every start (once for the entry, once when its
# file watcher is ready) and wasm-opt alone takes seconds, so skip the work when nothing the
# bundle depends on changed since the last successful build.
stamp_dir="$TG_TARGET_DIR/tollgate-build-stamps"
stamp="$stamp_dir/$(printf '%s' "$crate_dir" | sha256sum | cut -c1-16)"
inputs=("$crate_dir/src" "$crate_dir/Cargo.toml" "$TG_ROOT/Cargo.lock" "$TG_ROOT/package-lock.json"
  "$TG_ROOT/scripts/build.sh" "$TG_ROOT/scripts/lib.sh")
[ -f "$crate_dir/Cargo.lock" ] && inputs+=("$crate_dir/Cargo.lock")
# tollgate-core: a path dependency of the worker and of bench crates (e.g. proxy-noauth-worker).
# Listed for every crate; at worst a crate that does not use it rebuilds needlessly.
inputs+=("$TG_ROOT/core/src" "$TG_ROOT/core/Cargo.toml")
if [ "${TG_FORCE_BUILD:-0}" != 1 ] && [ "${TG_KEEP_NAMES:-0}" != 1 ] && [ -z "${TG_WASM_OPT_FLAGS:-}" ] && [ -f "$stamp" ] && [ -s "$js" ] && [ -s "$wasm" ] \
  && [ -z "$(find "${inputs[@]}" -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  tg_info "$(rel "$crate_dir/build") is up to date with its sources (TG_FORCE_BUILD=1 rebuilds)"
  report_size
  exit 0
fi
mkdir -p "$stamp_dir"
# Stamp taken before building: a source saved during the build counts as newer next time.
stamp_new="$(mktemp "$stamp_dir/.new.XXXXXX")"
trap 'rm -f "$stamp_new"' EXIT

start="$(tg_now)"
cd "$crate_dir"
# RUST_LIB_BACKTRACE=0: a failed build reports its error, not worker-build's own stack trace.
RUST_LIB_BACKTRACE=0 \
WASM_BINDGEN_BIN=wasm-bindgen \
ESBUILD_BIN="$TG_ROOT/node_modules/.bin/esbuild" \
WASM_OPT_BIN="$TG_ROOT/node_modules/.bin/wasm-opt" \
  worker-build --release

[ -s "$js" ] && [ -s "$wasm" ] || tg_die "worker-build finished but $js or $wasm is missing"
# worker-build always runs wasm-opt with --debuginfo, which keeps the names section (~10% of the
# gzip size). Strip it and the producers section, with wasm-opt's default features: with
# --all-features the rewritten import section uses an encoding workerd rejects ("unknown import
# kind 0x7f"), so the worker would not load at all.
# TG_KEEP_NAMES=1 keeps the names (for a CPU profile with Rust function names, bench/profile.mjs);
# such a build is not the shipped one, so it leaves no stamp and the next plain build redoes it.
# -Oz -Oz: size-focused passes after worker-build's `-O` (which it runs with --debuginfo):
# ~2.2 KB gzip smaller for ~15 s of build time; a third pass gains nothing, and wasm-pack's
# `wasm-opt = ["-Oz"]` metadata in place of worker-build's `-O` saved only 0.4 KB.
# --gufa first (whole-program flow analysis: constants and unreachable code that only the whole
# module shows; exports and imports stay opaque to it, so the JS glue's calls are untouched):
# ~1 KB gzip for ~5 s. --traps-never-happen would save as much again but lets wasm-opt assume a
# panic never happens, so it is not used.
# --one-caller-inline-max-function-size (also in Cargo.toml's wasm-pack metadata, for
# worker-build's `-O`): binaryen inlines every function that has one caller, whatever its
# size and whatever #[inline(never)] said, and V8 compiles a wasm function whole on its first
# call, so a rarely-run callee merged into a hot function is compiled by every new isolate's
# first request (bench/README.md, "What a first request compiles"). 400 (binaryen's size
# measure, expressions) keeps small helpers inlined; it also came out ~1.3 KB gzip smaller.
# --no-inline=*::cold::*: functions in a Rust module named `cold` (refusals and their messages,
# which a granted request never runs) stay out of line even with one caller: #[inline(never)]
# reaches LLVM only, and binaryen sees no Rust attributes, only the names.
# A names-keeping build runs the same passes with the names kept (-g), so a profile or
# bench/first-request.mjs's COMPILED=1 sees the shipped code's functions.
if [ "${TG_KEEP_NAMES:-0}" = 1 ]; then
  names=(-g)
else
  names=(--strip-debug --strip-producers)
fi
# TG_WASM_OPT_FLAGS: extra wasm-opt flags for an A/B experiment (bench/README.md); such a build
# is not the shipped one, so like a names build it leaves no stamp.
read -r -a extra <<<"${TG_WASM_OPT_FLAGS:-}"
"$TG_ROOT/node_modules/.bin/wasm-opt" "$wasm" --no-inline='*::cold::*' --gufa -Oz -Oz \
  --one-caller-inline-max-function-size=400 "${extra[@]}" "${names[@]}" -o "$wasm"
if [ "${TG_KEEP_NAMES:-0}" = 1 ] || [ -n "${TG_WASM_OPT_FLAGS:-}" ]; then
  rm -f "$stamp"
else
  mv -f "$stamp_new" "$stamp"
fi
tg_info "built $(rel "$js") + $(rel "$wasm") in $(( $(tg_now) - start ))s"
report_size
