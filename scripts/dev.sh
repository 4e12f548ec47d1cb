#!/usr/bin/env bash
# Runs Tollgate locally under `wrangler dev` on http://127.0.0.1:${PORT:-8787}.
#   scripts/dev.sh                 prepare, then run wrangler dev in the foreground (Ctrl-C stops it)
#   scripts/dev.sh --background    prepare, then start it in the background (scripts/serve.sh start)
#   scripts/dev.sh --prepare-only  prepare only
#   scripts/dev.sh --interop       also install the interop packages (setup.sh --interop)
# Preparing: setup.sh, build the CLI, generate dev keys into keys/ once (kept on reruns), write
# .dev.vars from them, and (re)seed local KV from policy/demo.toml. Local KV and refresh tokens live
# in ${TG_PERSIST_DIR:-.wrangler/state}, so they survive restarts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=foreground
setup_args=()
for arg in "$@"; do
  case "$arg" in
    --background) mode=background ;;
    --prepare-only) mode=prepare ;;
    --interop) setup_args+=(--interop) ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) tg_die "unknown option: $arg (try --help)" ;;
  esac
done

cd "$TG_ROOT"
persist="${TG_PERSIST_DIR:-$TG_ROOT/.wrangler/state}"
cli="$TG_TARGET_DIR/release/tollgate"
keys="$TG_ROOT/keys"

tg_section "dev: setup"
bash "$TG_ROOT/scripts/setup.sh" "${setup_args[@]}"
tg_section_done

tg_section "dev: build the CLI"
cargo build -q -p tollgate-cli --release
tg_section_done

# TEMPORARY fallback while the CLI's `keys generate` / `keys dev-vars` are being written: the same
# key material made with openssl. Remove once the CLI commands exist.
fallback_generate() { # ALG NAME
  local alg="$1" name="$2"
  case "$alg" in
    es256)
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$keys/$name.key" 2>/dev/null
      openssl req -x509 -new -key "$keys/$name.key" -out "$keys/$name.crt" -days 3650 -sha256 \
        -subj "/CN=tollgate-dev $name" 2>/dev/null
      ;;
    rs256)
      openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$keys/$name.key" 2>/dev/null
      ;;
  esac
  chmod 600 "$keys/$name.key"
}
pem() { awk 'BEGIN{ORS="\\n"} {print}' "$1"; }
fallback_dev_vars() {
  # dotenv double-quoted values: "\n" becomes a newline.
  [ -f "$keys/signing.key" ] && printf 'SIGNING_KEY="%s"\n' "$(pem "$keys/signing.key")"
  [ -f "$keys/signing.crt" ] && printf 'SIGNING_CERT="%s"\n' "$(pem "$keys/signing.crt")"
  [ -f "$keys/rsa-signing.key" ] && printf 'RSA_SIGNING_KEY="%s"\n' "$(pem "$keys/rsa-signing.key")"
  return 0
}

have_key() { compgen -G "$keys/$1.*" >/dev/null; }

tg_section "dev: signing keys (keys/, generated once)"
mkdir -p "$keys"
chmod 700 "$keys"
for spec in es256:signing rs256:rsa-signing; do
  alg="${spec%%:*}" name="${spec#*:}"
  if have_key "$name"; then
    tg_info "keeping existing $name key ($alg)"
    continue
  fi
  tg_info "generating $name key ($alg)"
  "$cli" keys generate --alg "$alg" --out-dir "$keys" --name "$name" || true
  if ! have_key "$name"; then
    tg_warn "'tollgate keys generate' did not write keys/$name.*; using the openssl fallback"
    fallback_generate "$alg" "$name"
  fi
done
tg_section_done

tg_section "dev: .dev.vars"
tmp_vars="$(mktemp "$TG_ROOT/.dev.vars.XXXXXX")"
chmod 600 "$tmp_vars"
"$cli" keys dev-vars --dir "$keys" >"$tmp_vars" || true
if ! grep -q '^SIGNING_KEY=' "$tmp_vars"; then
  tg_warn "'tollgate keys dev-vars' gave no SIGNING_KEY; using the openssl fallback"
  fallback_dev_vars >"$tmp_vars"
fi
mv -f "$tmp_vars" "$TG_ROOT/.dev.vars"
tg_info "wrote .dev.vars ($(grep -c '=' "$TG_ROOT/.dev.vars") settings: $(cut -d= -f1 "$TG_ROOT/.dev.vars" | tr '\n' ' '))"
tg_section_done

tg_section "dev: seed local KV from policy/demo.toml"
if [ -f "$TG_ROOT/policy/demo.toml" ]; then
  seed="$(mktemp "${TMPDIR:-/tmp}/tollgate-seed.XXXXXX.json")"
  trap 'rm -f "$seed"' EXIT
  if "$cli" policy render "$TG_ROOT/policy/demo.toml" >"$seed" \
    && node -e 'const a=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); if(!Array.isArray(a)) process.exit(1)' "$seed" 2>/dev/null; then
    npx wrangler kv bulk put --local --binding TOLLGATE_KV --persist-to "$persist" "$seed"
    tg_info "seeded $(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).length)' "$seed") KV entries into $persist"
  else
    tg_warn "'tollgate policy render policy/demo.toml' did not give a JSON array; KV not seeded"
  fi
else
  tg_warn "policy/demo.toml not found; KV not seeded"
fi
tg_section_done

case "$mode" in
  prepare) exit 0 ;;
  background) exec bash "$TG_ROOT/scripts/serve.sh" start ;;
esac

tg_info "starting wrangler dev on http://127.0.0.1:${PORT:-8787} (state: $persist)"
exec "$TG_ROOT/node_modules/.bin/wrangler" dev --ip 127.0.0.1 --port "${PORT:-8787}" \
  --persist-to "$persist"
