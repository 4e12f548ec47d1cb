#!/usr/bin/env bash
# End to end with the operator CLI (issue 4): keys and .dev.vars made by `tollgate`, the demo
# policy synced to a scratch local KV by `tollgate policy sync`, the worker under `wrangler dev`,
# tokens fetched over HTTP and verified by `tollgate token inspect` and by docker-registry 2.8
# (when installed), then a full signing-key rotation with the worker restarted at each stage.
#
#   bash cli/tests/e2e.sh            (after scripts/setup.sh; builds the CLI and the worker)
# Settings: E2E_PORT (default 8797), E2E_REGISTRY_PORT (default 5097), E2E_KEEP=1 keeps the
# scratch directory. Uses its own port, persist dir, pidfile and env file, so it can run while
# `scripts/dev.sh` serves on 8787.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
port="${E2E_PORT:-8797}"
rport="${E2E_REGISTRY_PORT:-5097}"
work="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-e2e.XXXXXX")"
base="http://127.0.0.1:$port"
export TG_PERSIST_DIR="$work/state" TG_PIDFILE="$work/wrangler.pid" TG_LOGFILE="$work/wrangler.log" PORT="$port"
export TOLLGATE_WRANGLER="$root/node_modules/.bin/wrangler" WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
registry_pid=""

say() { printf '[e2e] %s\n' "$*"; }
fail() { printf '[e2e] FAIL: %s\n' "$*" >&2; [ -f "$TG_LOGFILE" ] && tail -n 30 "$TG_LOGFILE" >&2; exit 1; }
cleanup() {
  bash scripts/serve.sh stop >/dev/null 2>&1 || true
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  if [ "${E2E_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say "build the CLI"
cargo build -q --locked -p tollgate-cli
cli="${CARGO_TARGET_DIR:-$root/target}/debug/tollgate"
keys="$work/keys"

say "keys and policy with the CLI"
"$cli" keys generate --alg es256 --out-dir "$keys" --name signing >/dev/null
"$cli" keys generate --alg rs256 --out-dir "$keys" --name rsa-signing >/dev/null
"$cli" policy validate policy/demo.toml
"$cli" policy sync policy/demo.toml --local --persist-to "$work/state" | tail -n 2

start_worker() {
  "$cli" keys dev-vars --dir "$keys" >"$work/dev.vars"
  bash scripts/serve.sh start -- --env-file "$work/dev.vars" >/dev/null || fail "wrangler dev did not start"
}
stop_worker() { bash scripts/serve.sh stop >/dev/null; }

# token ACCOUNT:PASSWORD SCOPE -> prints the token
token() {
  curl -fsS -u "$1" "$base/token?service=registry.local&scope=$2" | jq -er .token || fail "no token for ${1%%:*} ($2)"
}
inspect() { # TOKEN KEYS -> exit status of token inspect
  printf '%s' "$1" | "$cli" token inspect - --jwks "$2" --issuer tollgate-dev --service registry.local >"$work/inspect.txt" 2>&1
}
kids() { curl -fsS "$base/.well-known/jwks.json" | jq -r '[.keys[].kid] | join(" ")'; }
published() { case " $(kids) " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

say "worker up with the CLI's keys"
start_worker
alice="$(token alice:alice-demo-pass repository:org/app:pull,push)"
inspect "$alice" "$base/.well-known/jwks.json" || { cat "$work/inspect.txt"; fail "inspect refused alice's token (JWKS URL)"; }
inspect "$alice" "$keys/signing.crt.pem" || { cat "$work/inspect.txt"; fail "inspect refused alice's token (certificate)"; }
grep -q 'access    repository:org/app:pull,push' "$work/inspect.txt" || fail "alice's access claim: $(cat "$work/inspect.txt")"
# The worker and `tollgate explain` agree on bob's grant.
bob="$(token bob:bob-demo-pass repository:org/app:pull,push)"
want="$("$cli" explain --policy policy/demo.toml --account bob --scope repository:org/app:pull,push | sed -n 's/^access claim: //p' | jq -c .)"
got="$(node -e 'console.log(JSON.stringify(JSON.parse(Buffer.from(process.argv[1].split(".")[1],"base64url")).access))' "$bob")"
[ "$got" = "$want" ] || fail "bob: worker granted $got, explain says $want"
say "token verified by the CLI; worker and explain agree ($got)"

if command -v docker-registry >/dev/null; then
  say "docker-registry 2.8 trusting keys/signing.crt.pem"
  cat >"$work/registry.yml" <<YML
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: $work/registry-data } }
http: { addr: 127.0.0.1:$rport }
auth:
  token:
    realm: $base/token
    service: registry.local
    issuer: tollgate-dev
    rootcertbundle: $keys/signing.crt.pem
YML
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$rport/v2/" && break; sleep 0.2; done
  code() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "http://127.0.0.1:$rport$2"; }
  [ "$(code "$alice" /v2/)" = 200 ] || fail "registry refused alice's token on /v2/: $(tail -n 5 "$work/registry.log")"
  [ "$(code "$alice" /v2/_catalog)" = 401 ] || fail "registry let alice list the catalog"
  admin="$(token admin:admin-demo-pass 'registry:catalog:*')"
  [ "$(code "$admin" /v2/_catalog)" = 200 ] || fail "registry refused admin's catalog token"
  [ "$(code invalid.token.here /v2/)" = 401 ] || fail "registry accepted garbage"
  say "docker-registry accepts the tokens (and refuses what the ACL does not grant)"
else
  say "docker-registry not installed (scripts/setup.sh --interop): registry checks skipped"
fi

say "rotation: start"
old_kid="$("$cli" keys show "$keys/signing.crt.pem" | awk '/^kid:/{print $2}')"
"$cli" keys rotate start --dir "$keys" >/dev/null
next_kid="$("$cli" keys show "$keys/signing-next.crt.pem" | awk '/^kid:/{print $2}')"
stop_worker; start_worker
published "$old_kid" && published "$next_kid" || fail "JWKS after start lacks $old_kid or $next_kid: $(kids)"
t1="$(token alice:alice-demo-pass repository:org/app:pull)"
inspect "$t1" "$base/.well-known/jwks.json" || fail "token during start"
grep -q "\"kid\":\"$old_kid\"" "$work/inspect.txt" || fail "the old key should still sign after start"

say "rotation: switch"
"$cli" keys rotate switch --dir "$keys" >/dev/null
stop_worker; start_worker
t2="$(token alice:alice-demo-pass repository:org/app:pull)"
inspect "$t2" "$base/.well-known/jwks.json" || fail "token after switch"
grep -q "\"kid\":\"$next_kid\"" "$work/inspect.txt" || fail "the new key should sign after switch: $(cat "$work/inspect.txt")"
inspect "$t1" "$base/.well-known/jwks.json" || fail "a token signed before the switch must still verify (old key published)"

say "rotation: retire"
"$cli" keys rotate retire --dir "$keys" >/dev/null
stop_worker; start_worker
published "$next_kid" && ! published "$old_kid" || fail "JWKS after retire should list $next_kid, not $old_kid: $(kids)"
if inspect "$t1" "$base/.well-known/jwks.json"; then fail "the retired key's token still verifies"; fi
inspect "$t2" "$base/.well-known/jwks.json" || fail "the current key's token after retire"
say "PASS"
