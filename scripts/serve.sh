#!/usr/bin/env bash
# Runs `wrangler dev` in the background for tests and benchmarks, and stops it again.
#   scripts/serve.sh start [-- WRANGLER_ARGS...]   start, wait until /healthz answers 200, print the URL
#   scripts/serve.sh stop                          stop it (the whole process group it started)
#   scripts/serve.sh status                        exit 0 if it runs and /healthz answers
# It does not prepare keys/.dev.vars/KV: run `scripts/dev.sh --prepare-only` first (or use
# `scripts/dev.sh --background`, which does both).
# Settings (environment):
#   PORT              listen port on 127.0.0.1 (default 8787)
#   TG_PERSIST_DIR    local KV/state directory (default .wrangler/state); give tests their own
#   TG_PIDFILE        pidfile (default .wrangler/serve-$PORT.pid); TG_LOGFILE (default .wrangler/serve-$PORT.log)
#   TG_START_TIMEOUT  seconds to wait for /healthz (default 300: the first start compiles the worker)
#   TG_HEALTH_PATH    path that must answer 200 (default /healthz)
#   TG_INSPECTOR_PORT wrangler's inspector port when it is free (else wrangler's default, 9229); set
#                     it when several wrangler dev instances run on one machine
# Example: PORT=8788 TG_PERSIST_DIR=/tmp/tg-state scripts/serve.sh start -- --var MODE:proxy
#
# The pidfile holds "PID PGID": wrangler's own node process, started with setsid so it leads a new
# process group, and that group. stop signals the whole group (wrangler's child node and workerd
# are in it), also when the leader has died and left workerd serving.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="${PORT:-8787}"
persist="${TG_PERSIST_DIR:-$TG_ROOT/.wrangler/state}"
pidfile="${TG_PIDFILE:-$TG_ROOT/.wrangler/serve-$PORT.pid}"
logfile="${TG_LOGFILE:-$TG_ROOT/.wrangler/serve-$PORT.log}"
timeout="${TG_START_TIMEOUT:-300}"
url="http://127.0.0.1:$PORT"
health_path="${TG_HEALTH_PATH:-/healthz}"

# Reads the pidfile into PID and PGID (a pidfile from before PGID was recorded: the PID, which
# setsid made the group's leader). Returns 1 when there is no usable pidfile.
read_pidfile() {
  PID="" PGID=""
  [ -f "$pidfile" ] || return 1
  read -r PID PGID <"$pidfile" 2>/dev/null || true
  [[ "$PID" =~ ^[0-9]+$ ]] || return 1
  [[ "$PGID" =~ ^[0-9]+$ ]] || PGID="$PID"
}

# The live members of the recorded process group, one PID a line; nothing when the group is gone or
# is not ours any more (a recycled group ID: none of its members is a wrangler or a workerd).
group_members() {
  read_pidfile || return 0
  # Never the group this script runs in (the caller's): signalling it would stop the caller.
  [ "$PGID" = "$(ps -o pgid= -p $$ | tr -d ' ')" ] && return 0
  local members p ours=0
  members="$(pgrep -g "$PGID" 2>/dev/null || true)"
  for p in $members; do
    grep -qaE 'wrangler|workerd' "/proc/$p/cmdline" 2>/dev/null && ours=1
  done
  [ "$ours" = 1 ] && printf '%s\n' $members
  return 0
}

running_pid() {
  read_pidfile || return 1
  local pid="$PID"
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled PID: it must still be our wrangler.
  grep -qa wrangler "/proc/$pid/cmdline" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

# HTTP status of the health path, 000 when nothing answers.
health_status() {
  curl -s -o /dev/null -m 5 -w '%{http_code}' "$url$health_path" 2>/dev/null || true
}
healthy() { [ "$(health_status)" = 200 ]; }

# All descendants of a PID (children first-level, then theirs), from /proc via pgrep -P.
descendants() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null || true); do
    printf '%s\n' "$child"
    descendants "$child"
  done
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    if healthy; then
      tg_info "already running (pid $pid) on $url"
      return 0
    fi
    tg_die "a wrangler (pid $pid) from $pidfile runs but $url$health_path does not answer 200; run: $0 stop"
  fi
  if [ -n "$(group_members)" ] && read_pidfile; then
    tg_die "wrangler's leader from $pidfile is gone but its process group $PGID still runs; run: $0 stop"
  fi
  if [ "$(health_status)" != 000 ]; then
    tg_die "something already answers on $url (not started by $0 with this pidfile); choose another PORT"
  fi
  [ -x "$TG_ROOT/node_modules/.bin/wrangler" ] || tg_die "wrangler missing: run scripts/setup.sh first"
  # (Not when the caller passes wrangler an --env-file of its own, as the tests do.)
  case " $* " in
    *" --env-file "*) ;;
    *) [ -f "$TG_ROOT/.dev.vars" ] || tg_warn ".dev.vars missing: the worker has no signing keys (run scripts/dev.sh --prepare-only)" ;;
  esac
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")" "$persist"

  cd "$TG_ROOT"
  # TG_INSPECTOR_PORT when it is free; taken (a second instance of the same test run), wrangler's default.
  local inspector=()
  if [ -n "${TG_INSPECTOR_PORT:-}" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$TG_INSPECTOR_PORT") 2>/dev/null; then
    inspector=(--inspector-port "$TG_INSPECTOR_PORT")
  fi
  setsid node "$TG_ROOT/node_modules/wrangler/bin/wrangler.js" dev \
    --ip 127.0.0.1 --port "$PORT" --persist-to "$persist" \
    --show-interactive-dev-session=false "${inspector[@]}" "$@" </dev/null >"$logfile" 2>&1 &
  pid=$!
  # setsid runs node in place (a background job does not lead a group), making $pid the leader of
  # a new group. Until setsid has run, the child is still in this script's group: wait for it, so
  # the recorded group is never the caller's (stop would signal the caller).
  local pgid="" i
  for i in $(seq 1 50); do
    pgid="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')"
    [ "$pgid" = "$pid" ] && break
    sleep 0.1
  done
  if [ "$pgid" != "$pid" ]; then
    tg_warn "wrangler (pid $pid) did not become a process group leader; stop will signal it and its children only"
    pgid="$pid"
  fi
  printf '%s %s\n' "$pid" "$pgid" >"$pidfile"
  tg_info "wrangler dev starting (pid $pid, log ${logfile#"$TG_ROOT"/}); waiting for $url$health_path"

  local start waited status first_answer=""
  start="$(tg_now)"
  while :; do
    status="$(health_status)"
    [ "$status" = 200 ] && break
    waited=$(( $(tg_now) - start ))
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$logfile" >&2 || true
      rm -f "$pidfile"
      tg_die "wrangler dev exited before answering (log: $logfile)"
    fi
    # The server is up but answers something else: allow a short grace for wrangler's reload
    # after its second build, then give up instead of waiting out the whole timeout.
    if [ "$status" != 000 ] && [ -z "$first_answer" ]; then first_answer="$(tg_now)"; fi
    if [ -n "$first_answer" ] && [ $(( $(tg_now) - first_answer )) -ge 15 ]; then
      tail -n 20 "$logfile" >&2 || true
      cmd_stop || true
      tg_die "$url$health_path answers $status, not 200 (log: $logfile)"
    fi
    if [ "$waited" -ge "$timeout" ]; then
      tail -n 40 "$logfile" >&2 || true
      cmd_stop || true
      tg_die "$url$health_path did not answer within ${timeout}s (log: $logfile)"
    fi
    sleep 0.5
  done
  tg_info "ready on $url (pid $pid, after $(( $(tg_now) - start ))s)"
}

cmd_stop() {
  local pid="" members procs
  read_pidfile || true  # PID and PGID, for the signals below
  pid="$(running_pid)" || pid=""
  members="$(group_members)"
  if [ -z "$pid" ] && [ -z "$members" ]; then
    rm -f "$pidfile"
    tg_info "not running"
    return 0
  fi
  # The group, plus the leader's descendants in case one left the group.
  procs="$(printf '%s\n' $members ${pid:+$pid $(descendants "$pid")} | grep . | sort -u)"
  # TERM to the group lets wrangler shut workerd down itself; without a leader it reaches workerd.
  # Only a group group_members vouched for (a wrangler or workerd in it, not the caller's).
  if [ -n "$members" ]; then kill -TERM -- "-$PGID" 2>/dev/null || true; fi
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
  local i p alive
  for i in $(seq 1 20); do
    alive=0
    for p in $procs; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.25
  done
  # Only while the group is still ours: its ID could in principle have been reused by now.
  if [ -n "$(group_members)" ]; then kill -KILL -- "-$PGID" 2>/dev/null || true; fi
  for p in $procs; do
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  done
  rm -f "$pidfile"
  local leader="leader $pid"
  [ -n "$pid" ] || leader="its leader $PID already gone"
  tg_info "stopped (process group $PGID: $(printf '%s\n' $procs | wc -l) processes, $leader)"
}

cmd_status() {
  local pid
  if pid="$(running_pid)" && healthy; then
    tg_info "running (pid $pid) on $url"
    return 0
  fi
  tg_info "not running on $url"
  return 1
}

sub="${1:-}"
[ $# -gt 0 ] && shift
if [ "${1:-}" = "--" ]; then shift; fi
case "$sub" in
  start) cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop; cmd_start "$@" ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
