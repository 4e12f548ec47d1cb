#!/usr/bin/env bash
# Runs Tollgate locally under `wrangler dev` on http://127.0.0.1:${PORT:-8787}.
#   scripts/dev.sh                 prepare, then run wrangler dev in the foreground (Ctrl-C stops it)
#   scripts/dev.sh --background    prepare, then start it in the background (scripts/serve.sh start)
#   scripts/dev.sh --prepare-only  prepare only
#   scripts/dev.sh --interop       also install the interop packages (setup.sh --interop)
# Preparing: setup.sh, build the CLI (and docker-credential-tollgate), generate dev keys into keys/ once (kept on reruns), write
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

tg_section "dev: build the CLI and docker-credential-tollgate"
cargo build -q --locked -p tollgate-cli -p tollgate-credential-helper --release
tg_section_done

# `tollgate keys generate` writes NAME.key.pem (0600) and NAME.crt.pem.
have_key() { [ -s "$keys/$1.key.pem" ]; }

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
  "$cli" keys generate --alg "$alg" --out-dir "$keys" --name "$name" >/dev/null
  have_key "$name" || tg_die "'tollgate keys generate' did not write keys/$name.key.pem"
done
tg_section_done

tg_section "dev: .dev.vars"
tmp_vars="$(mktemp "$TG_ROOT/.dev.vars.XXXXXX")"
chmod 600 "$tmp_vars"
cleanup=("$tmp_vars")
trap 'rm -f "${cleanup[@]}"' EXIT
"$cli" keys dev-vars --dir "$keys" >"$tmp_vars"
grep -q '^SIGNING_KEY=' "$tmp_vars" || tg_die "'tollgate keys dev-vars' printed no SIGNING_KEY"
mv -f "$tmp_vars" "$TG_ROOT/.dev.vars"
tg_info "wrote .dev.vars: $(grep -o '^[A-Z_]*=' "$TG_ROOT/.dev.vars" | tr -d = | tr '\n' ' ')"
tg_section_done

tg_section "dev: seed local KV from policy/demo.toml"
if [ -f "$TG_ROOT/policy/demo.toml" ]; then
  seed="$(mktemp "${TMPDIR:-/tmp}/tollgate-seed.XXXXXX.json")"
  cleanup+=("$seed")
  "$cli" policy render "$TG_ROOT/policy/demo.toml" >"$seed"
  count="$(node -e 'const a = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (!Array.isArray(a)) { console.error("not a JSON array"); process.exit(1); }
    console.log(a.length);' "$seed")" \
    || tg_die "'tollgate policy render policy/demo.toml' did not print a JSON array of KV entries"
  # Overwrites the rendered keys; leaves others (refresh tokens, records added by hand) alone.
  "$TG_ROOT/node_modules/.bin/wrangler" kv bulk put --local --binding TOLLGATE_KV \
    --persist-to "$persist" "$seed" >/dev/null
  rm -f "$seed"
  tg_info "seeded $count KV entries into ${persist#"$TG_ROOT"/}"
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
