#!/usr/bin/env bash
# scripts/serve.sh stop ends the whole process group it started, also after the group's leader
# (wrangler's node process) has died: before, stop said "not running" and left workerd serving.
#   bash tests/scripts/serve-stop.sh     (after scripts/build.sh; about 10-20 s, wrangler dev's start)
# Settings: SERVE_TEST_PORT (default 8796; the inspector takes the next port). Its own persist dir, pidfile, log and env file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$TG_ROOT"

port="${SERVE_TEST_PORT:-8796}"
work="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-serve-stop.XXXXXX")"
export PORT="$port" TG_PERSIST_DIR="$work/state" TG_PIDFILE="$work/serve.pid" TG_LOGFILE="$work/serve.log"
# wrangler's inspector (default 9229) on a port of this test's own, beside PORT.
export TG_INSPECTOR_PORT="${TG_INSPECTOR_PORT:-$((port + 1))}"
serve() { bash scripts/serve.sh "$@"; }
fail() { tg_warn "serve-stop: FAIL: $*"; tail -n 20 "$TG_LOGFILE" >&2 2>/dev/null || true; exit 1; }
# On failure, end what is left of the group by its ID too (the bug under test leaves workerd running).
cleanup() {
  serve stop >/dev/null 2>&1 || true
  [ -n "${pgid:-}" ] && pgrep -g "$pgid" >/dev/null && kill -KILL -- "-$pgid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Signing keys as the Miniflare tests make them (Node's crypto; openssl for the certificate).
node --input-type=module -e '
  import { defaultSecrets } from "./tests/miniflare/helpers.mjs";
  import { writeFileSync } from "node:fs";
  const lines = Object.entries(defaultSecrets()).map(([k, v]) => `${k}="${v.trim()}"`);
  writeFileSync(process.argv[1], lines.join("\n") + "\n", { mode: 0o600 });
' "$work/dev.vars"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

serve start -- --env-file "$work/dev.vars" >/dev/null || fail "wrangler dev did not start"
read -r leader pgid <"$TG_PIDFILE"
pgid="${pgid:-$leader}"  # setsid makes the leader's PID the group's ID
# The recorded group is wrangler's own, never this script's (stop signals the whole group; an early
# read of the group, before setsid ran, once recorded the caller's and stop killed the caller).
[ "$pgid" = "$leader" ] || fail "recorded process group $pgid is not the leader's ($leader)"
[ "$pgid" != "$(ps -o pgid= -p $$ | tr -d ' ')" ] || fail "recorded process group $pgid is the caller's"
members="$(pgrep -g "$pgid" | wc -l)"
pgrep -g "$pgid" -f workerd >/dev/null || fail "no workerd in process group $pgid"

# The leader dies without cleaning up (as after a crash or a kill -9): workerd keeps serving.
kill -KILL "$leader"
for _ in $(seq 1 20); do kill -0 "$leader" 2>/dev/null || break; sleep 0.1; done
kill -0 "$leader" 2>/dev/null && fail "leader $leader did not die"
listening || fail "nothing listens on $port after the leader died: the test no longer shows the case"

out="$(serve stop)"
case "$out" in *"stopped"*) ;; *) fail "stop said: $out" ;; esac
for _ in $(seq 1 20); do pgrep -g "$pgid" >/dev/null || break; sleep 0.25; done
left="$(pgrep -g "$pgid" -a || true)"
[ -z "$left" ] || fail "still alive in group $pgid after stop: $left"
listening && fail "something still listens on $port after stop"
[ -f "$TG_PIDFILE" ] && fail "stop left the pidfile"
tg_info "serve-stop: ok (group $pgid had $members processes; leader killed first; nothing left after stop)"
