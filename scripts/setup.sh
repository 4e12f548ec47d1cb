#!/usr/bin/env bash
# Installs everything needed to build, run and test Tollgate. Idempotent: each step checks what is
# already there first, so a rerun on a set-up machine takes seconds.
#   scripts/setup.sh            Rust (rust-toolchain.toml), worker-build, wasm-bindgen-cli, cargo-deny,
#                               nightly + cargo-fuzz, npm packages
#   scripts/setup.sh --interop  also the Debian packages the interop/bench tests drive (registry, skopeo,
#                               docker, containerd, podman, wrk, ...)
# Never asks anything (CI has no stdin).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TG_ROOT"  # rustup reads rust-toolchain.toml from here

interop=0
for arg in "$@"; do
  case "$arg" in
    --interop) interop=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) tg_die "unknown option: $arg (try --help)" ;;
  esac
done

# Debian packages for tests/interop and bench/.
# chromium: the real browser of the sign-in test (tests/interop/signin-browser.sh), driven by
# playwright-core with executablePath /usr/bin/chromium (nothing downloads a browser).
TG_INTEROP_APT=(docker-registry skopeo umoci containerd docker.io podman buildah wrk python3-venv curl openssl jq chromium)

setup_rust() {
  if ! tg_have cargo; then
    tg_have curl || tg_die "cargo not found (and no curl to fetch rustup): install Rust with rustup first"
    tg_info "cargo not found: installing Rust $TG_RUST_VERSION (minimal profile) with rustup"
    # rustup-init straight from the dist server (sh.rustup.rs is not always resolvable).
    local init
    init="$(mktemp -d)/rustup-init"
    curl --proto '=https' --tlsv1.2 -sSf -o "$init" \
      "https://static.rust-lang.org/rustup/dist/$(uname -m)-unknown-linux-gnu/rustup-init"
    chmod +x "$init"
    "$init" -y --profile minimal --default-toolchain "$TG_RUST_VERSION" --no-modify-path
    rm -rf "$(dirname "$init")"
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    tg_have cargo || tg_die "rustup finished but cargo is still not on PATH ($HOME/.cargo/bin)"
  fi
  # rust-toolchain.toml pins the release with its components and the wasm target; rustup installs
  # all of it with the toolchain. The checks below cover a toolchain installed without them.
  if rustup run "$TG_RUST_VERSION" rustc --version >/dev/null 2>&1; then
    tg_info "rust toolchain $TG_RUST_VERSION present (rust-toolchain.toml)"
  else
    (cd "$TG_ROOT" && rustup toolchain install)
  fi
  if rustup target list --installed 2>/dev/null | grep -qx "$TG_WASM_TARGET"; then
    tg_info "rust target $TG_WASM_TARGET present"
  else
    rustup target add "$TG_WASM_TARGET"
  fi
  local comp missing=()
  for comp in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$comp" || missing+=("$comp")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    rustup component add "${missing[@]}"
  else
    tg_info "rust components rustfmt, clippy present"
  fi
  tg_cargo_install worker-build "$TG_WORKER_BUILD_VERSION" worker-build --locked
  # Without --locked, as in the toolchain notes (the combination known to build here).
  tg_cargo_install wasm-bindgen-cli "$TG_WASM_BINDGEN_VERSION" wasm-bindgen
  # Fuzzing (scripts/fuzz.sh): a nightly toolchain (its std ships the ASan runtime) and cargo-fuzz.
  if rustup run "$TG_FUZZ_TOOLCHAIN" rustc --version >/dev/null 2>&1; then
    tg_info "rust toolchain $TG_FUZZ_TOOLCHAIN present (fuzzing)"
  else
    rustup toolchain install "$TG_FUZZ_TOOLCHAIN" --profile minimal
  fi
  tg_cargo_install cargo-fuzz "$TG_CARGO_FUZZ_VERSION" cargo-fuzz --locked
  # Licenses, duplicate versions and sources of the dependency tree (deny.toml).
  tg_cargo_install cargo-deny "$TG_CARGO_DENY_VERSION" cargo-deny --locked
}

# npm ci wipes node_modules, which would pull the rug from under a running `wrangler dev`, so only
# run it when package-lock.json changed since the last successful install.
setup_npm() {
  tg_have node || tg_die "node not found: install Node.js 20 first"
  tg_have npm || tg_die "npm not found"
  local stamp="$TG_ROOT/node_modules/.tollgate-lock.sha256"
  local want
  want="$(sha256sum "$TG_ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -x "$TG_ROOT/node_modules/.bin/wrangler" ]; then
    tg_info "node_modules matches package-lock.json"
    return 0
  fi
  tg_info "npm ci"
  (cd "$TG_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$want" >"$stamp"
}

apt_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

setup_interop_apt() {
  tg_have apt-get || tg_die "--interop needs a Debian/Ubuntu machine (apt-get)"
  local missing=() p
  for p in "${TG_INTEROP_APT[@]}"; do
    apt_installed "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    tg_info "interop apt packages present"
    return 0
  fi
  tg_info "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Update the index only when the package is unknown or the index is older than a day.
  local lists=/var/lib/apt/lists
  if [ -z "$(find "$lists" -maxdepth 1 -name '*_Packages*' -mtime -1 2>/dev/null | head -n1)" ] \
    || ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    tg_sudo apt-get update -q
  fi
  tg_sudo env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
    apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
}

tg_section "setup: rust toolchain"
setup_rust
tg_section_done
tg_section "setup: npm packages"
setup_npm
tg_section_done
if [ "$interop" -eq 1 ]; then
  tg_section "setup: interop packages"
  setup_interop_apt
  tg_section_done
fi
