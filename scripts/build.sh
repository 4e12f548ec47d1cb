#!/usr/bin/env bash
# Builds the Cloudflare Worker: Rust -> wasm32 -> wasm-bindgen -> wasm-opt -> esbuild bundle.
#   scripts/build.sh              the tollgate worker (repo root) -> build/index.js + build/index_bg.wasm
#   scripts/build.sh CRATE_DIR    another worker crate (e.g. bench/empty-worker) -> CRATE_DIR/build/
#                                 Such a crate lives outside the workspace (give its Cargo.toml an empty
#                                 [workspace] table); it shares target/ so its deps are built once.
# worker-build would download wasm-bindgen and wasm-opt from GitHub (unreachable on CI), so we
# point it at the pinned local ones: cargo-installed wasm-bindgen, npm's binaryen and esbuild.
# wrangler.toml's [build] command calls this, so `wrangler dev` rebuilds on start.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

crate_dir="${1:-$TG_ROOT}"
crate_dir="$(cd "$crate_dir" && pwd)"
[ -f "$crate_dir/Cargo.toml" ] || tg_die "$crate_dir has no Cargo.toml"
if [ "$crate_dir" != "$TG_ROOT" ]; then
  export CARGO_TARGET_DIR="$TG_TARGET_DIR"
fi

for tool in worker-build wasm-bindgen; do
  tg_have "$tool" || tg_die "$tool not found: run scripts/setup.sh first"
done
[ -x "$TG_ROOT/node_modules/.bin/esbuild" ] && [ -x "$TG_ROOT/node_modules/.bin/wasm-opt" ] \
  || tg_die "node_modules/.bin/{esbuild,wasm-opt} missing: run scripts/setup.sh (npm ci) first"

start="$(tg_now)"
cd "$crate_dir"
# RUST_LIB_BACKTRACE=0: a failed build reports its error, not worker-build's own stack trace.
RUST_LIB_BACKTRACE=0 \
WASM_BINDGEN_BIN=wasm-bindgen \
ESBUILD_BIN="$TG_ROOT/node_modules/.bin/esbuild" \
WASM_OPT_BIN="$TG_ROOT/node_modules/.bin/wasm-opt" \
  worker-build --release

js="$crate_dir/build/index.js"
wasm="$crate_dir/build/index_bg.wasm"
[ -s "$js" ] && [ -s "$wasm" ] || tg_die "worker-build finished but $js or $wasm is missing"

raw=$(wc -c <"$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
tg_info "built ${js#"$TG_ROOT"/} + ${wasm#"$TG_ROOT"/} in $(( $(tg_now) - start ))s"
tg_info "wasm size: $(( raw / 1024 )) KiB raw ($raw bytes), $(( gz / 1024 )) KiB gzip ($gz bytes)"
