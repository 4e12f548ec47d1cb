# Shared shell helpers for scripts/*.sh. Source it; it does not run anything by itself.
# Keeps versions and environment in one place so setup, build, dev and test agree.

# Repository root, whatever directory the caller ran from.
TG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TG_ROOT

# Pinned tool versions (see /work/shared/toolchain.md). wasm-bindgen-cli must equal the
# `wasm-bindgen` crate version in Cargo.toml, or the generated glue does not match the wasm.
TG_WORKER_BUILD_VERSION="0.8.7"
TG_WASM_BINDGEN_VERSION="0.2.130"
TG_WASM_TARGET="wasm32-unknown-unknown"
# cargo-fuzz (scripts/fuzz.sh) and the toolchain it builds with: libFuzzer and the sanitizers need
# nightly. Checked with rustc 1.97.0-nightly (2026-05-19); FUZZ_TOOLCHAIN=nightly-YYYY-MM-DD pins one.
TG_CARGO_FUZZ_VERSION="0.13.2"
# cargo-deny (scripts/test.sh native, deny.toml). `cargo install cargo-deny --version 0.20.2 --locked`
# took 3 min 46 s (2 min 55 s CPU) on this 2-core machine while others built.
TG_CARGO_DENY_VERSION="0.20.2"
TG_FUZZ_TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"
# The Rust release the team builds and lints with: rust-toolchain.toml's channel (one place; a newer
# stable may bring new clippy lints that fail -D warnings).
TG_RUST_VERSION="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$TG_ROOT/rust-toolchain.toml")"

# cargo-installed tools live here; a fresh shell on CI may not have it on PATH yet.
case ":$PATH:" in
  *":$HOME/.cargo/bin:"*) ;;
  *) export PATH="$HOME/.cargo/bin:$PATH" ;;
esac

# wrangler / workerd: no telemetry, no network look-ups, no banner (CI is loopback-only).
export WRANGLER_SEND_METRICS=false
export WRANGLER_SEND_ERROR_REPORTS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export WRANGLER_HIDE_BANNER=true
export NO_UPDATE_NOTIFIER=1
export NPM_CONFIG_UPDATE_NOTIFIER=false
export NPM_CONFIG_FUND=false
export NPM_CONFIG_AUDIT=false

# Seconds since the epoch, for section timings.
tg_now() { date +%s; }

# Colour only on a terminal; CI logs stay plain.
if [ -t 1 ]; then
  TG_BOLD=$'\033[1m'; TG_RED=$'\033[31m'; TG_GREEN=$'\033[32m'; TG_RESET=$'\033[0m'
else
  TG_BOLD=""; TG_RED=""; TG_GREEN=""; TG_RESET=""
fi

tg_info() { printf '%s\n' "[tollgate] $*"; }
tg_warn() { printf '%s\n' "[tollgate] warning: $*" >&2; }
tg_die() { printf '%s\n' "${TG_RED}[tollgate] error: $*${TG_RESET}" >&2; exit 1; }

# tg_section NAME: prints a header and remembers when the section started.
tg_section() {
  TG_SECTION_NAME="$1"
  TG_SECTION_START="$(tg_now)"
  printf '\n%s\n' "${TG_BOLD}==> $1${TG_RESET}"
}

# tg_section_done: prints how long the current section took.
tg_section_done() {
  local took=$(( $(tg_now) - ${TG_SECTION_START:-$(tg_now)} ))
  printf '%s\n' "${TG_GREEN}<== ${TG_SECTION_NAME:-step} ok (${took}s)${TG_RESET}"
}

tg_have() { command -v "$1" >/dev/null 2>&1; }

# tg_need_interop_tools TOOL...: stops with a hint at the setup step unless every TOOL is on PATH.
tg_need_interop_tools() {
  local tool
  for tool in "$@"; do
    tg_have "$tool" || tg_die "$tool not found: run scripts/setup.sh --interop"
  done
}

# Run as root directly, else through sudo (non-interactive) if there is one.
tg_sudo() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif tg_have sudo; then
    sudo -n "$@"
  else
    tg_die "need root for: $* (no sudo available)"
  fi
}

# tg_cargo_install CRATE VERSION BIN [extra cargo install args...]
# Installs a cargo tool only when BIN is missing or reports another version.
tg_cargo_install() {
  local crate="$1" version="$2" bin="$3"
  shift 3
  local have=""
  if tg_have "$bin"; then
    have="$("$bin" --version 2>/dev/null | head -n1 | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || true)"
  fi
  if [ "$have" = "$version" ]; then
    tg_info "$crate $version already installed"
    return 0
  fi
  tg_info "installing $crate $version (found: ${have:-none}); this takes a few minutes"
  cargo install "$crate" --version "$version" "$@"
}

# Cargo's target directory (honours CARGO_TARGET_DIR), e.g. for target/release/tollgate.
TG_TARGET_DIR="${CARGO_TARGET_DIR:-$TG_ROOT/target}"

# The built worker's files. build.sh writes them; the Miniflare tests and wrangler read them.
TG_BUILD_JS="$TG_ROOT/build/index.js"
TG_BUILD_WASM="$TG_ROOT/build/index_bg.wasm"

# tg_v3_registry: sets TG_V3_BIN to the distribution 3.x registry binary (Debian ships only 2.8):
# $REGISTRY_V3 when set, else ../shared/registry-v3/registry beside the repository, where CI puts
# it. Returns 1 with TG_V3_MISSING (a sentence) when there is none. The interop tests start it
# with an empty environment: 3.x reads every REGISTRY_* variable as configuration.
tg_v3_registry() {
  TG_V3_BIN="${REGISTRY_V3:-$TG_ROOT/../shared/registry-v3/registry}"
  TG_V3_MISSING=""
  [ -f "$TG_V3_BIN" ] && [ -x "$TG_V3_BIN" ] && return 0
  TG_V3_MISSING="no registry 3.x binary at $TG_V3_BIN (set REGISTRY_V3=/path/to/registry, or put it in ../shared/registry-v3/)"
  return 1
}

# tg_v3_serve CONFIG LOG: runs the 3.x binary on CONFIG in the background (its PID in $!), with
# nothing of the caller's environment but PATH and HOME.
tg_v3_serve() {
  env -i PATH=/usr/bin:/bin HOME="${TMPDIR:-/tmp}" "$TG_V3_BIN" serve "$1" >"$2" 2>&1 &
}
