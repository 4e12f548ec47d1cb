#!/usr/bin/env bash
# Interop: the Docker CLI + a private dockerd (vfs, no bridge, no iptables) through Tollgate in
# proxy mode (MODE=both under wrangler dev) in front of docker-registry 2.8 WITHOUT auth.
#   tests/interop/run.sh proxy-docker   (or run this file directly; KEEP_WORK=1 keeps logs)
# admin pushes public/hello:1; alice logs in (docker login at the proxy) and pushes org/app:1, which
# lands in the origin with the same digest; the image is removed and bob (pull only) pulls it back;
# bob's push, an anonymous pull of org/* and an anonymous push are refused; public/* pulls anonymously.
# SKIPs (does not fail) when dockerd cannot run on this machine, and says why.
# Ports: Tollgate 8867, origin 5061 (PROXY_DOCKER_TG_PORT / PROXY_DOCKER_REG_PORT; a free one if taken).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tg_need_interop_tools docker-registry jq curl tar
ti_work_dir

# The daemon first: without it there is nothing to test, so skip before starting anything else.
if ! ti_start_dockerd; then
  skip "docker CLI + private dockerd through the proxy" "$TI_SKIP_REASON"
  ti_finish
  exit $?
fi
pass "private dockerd answers on $DOCKER_HOST"

TG_PORT="$(ti_port "${PROXY_DOCKER_TG_PORT:-8867}")"
ORIGIN_PORT="$(ti_port "${PROXY_DOCKER_REG_PORT:-5061}")"
TG="http://127.0.0.1:$TG_PORT"
R="127.0.0.1:$TG_PORT"                   # what docker talks to: the proxy
ORIGIN="http://127.0.0.1:$ORIGIN_PORT"   # read directly only to check what landed there

# --- the origin: docker-registry 2.8 without any auth section -----------------------------------
mkdir -p "$W/origin-data"
cat >"$W/origin.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $W/origin-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$ORIGIN_PORT
  relativeurls: true
EOF
docker-registry serve "$W/origin.yml" >"$W/origin.log" 2>&1 &
origin_pid=$!
ti_on_exit "ti_kill_pid $origin_pid"
ti_wait_http "$ORIGIN/v2/" 30 || { tail -n 20 "$W/origin.log" >&2; tg_die "the origin did not answer on $ORIGIN"; }

# --- Tollgate MODE=both in front of it, with its own KV state and worker snapshot -----------------
# Its own state and snapshot directories (under $W): in a full run.sh, $TI_WORK/state and
# $TI_WORK/worker belong to the token tests' Tollgate.
if [ "${TI_SKIP_PREPARE:-0}" = 1 ]; then
  ti_seed_kv "$W/state"
else
  HOME="$TI_REAL_HOME" TG_PERSIST_DIR="$W/state" bash "$TG_ROOT/scripts/dev.sh" --prepare-only \
    >"$W/prepare.log" 2>&1 \
    || { tail -n 30 "$W/prepare.log" >&2; tg_die "scripts/dev.sh --prepare-only failed (log: $W/prepare.log)"; }
fi
TI_WORK="$W" ti_snapshot_worker
ti_on_exit "HOME='$TI_REAL_HOME' PORT=$TG_PORT TG_PIDFILE='$W/tollgate.pid' bash '$TG_ROOT/scripts/serve.sh' stop"
HOME="$TI_REAL_HOME" PORT="$TG_PORT" TG_PERSIST_DIR="$W/state" TG_PIDFILE="$W/tollgate.pid" \
  TG_LOGFILE="$W/tollgate.log" TG_START_TIMEOUT="${TG_START_TIMEOUT:-120}" \
  bash "$TG_ROOT/scripts/serve.sh" start -- --config "$W/worker/wrangler.toml" \
  --var MODE:both --var "REALM:$TG/token" --var "ORIGIN:$ORIGIN" --var "PROXY_SERVICE:$TI_SERVICE" \
  >"$W/serve.log" 2>&1 || { cat "$W/serve.log" >&2; tg_die "Tollgate did not start"; }
tg_info "Tollgate (MODE=both) on $TG in front of docker-registry (no auth) on $ORIGIN"
expect_eq "anonymous /v2/ at the proxy is 401" 401 "$(ti_status "$TG/v2/")"

# --- an image: a one-file rootfs, imported into the daemon -----------------------------------------
mkdir -p "$W/rootfs"
printf 'hello through the tollgate proxy %s\n' "$(date +%s)" >"$W/rootfs/hello.txt"
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .
expect_ok "docker import of a one-file rootfs as $R/org/app:1" docker import "$W/rootfs.tar" "$R/org/app:1"
expect_ok "docker tag as $R/public/hello:1" docker tag "$R/org/app:1" "$R/public/hello:1"

# origin_digest REPO TAG: the manifest digest the origin itself reports (no auth there).
origin_digest() {
  curl -s -m 10 -o /dev/null -D - \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "$ORIGIN/v2/$1/manifests/$2" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'
}
# repo_digest IMAGE: the digest the daemon recorded for IMAGE's repository (after a push or pull).
repo_digest() {
  docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$1" 2>/dev/null \
    | sed -n 's/^.*@//p' | head -n1
}

# --- admin puts an image in public/* --------------------------------------------------------------
expect_ok "docker login $R as admin" docker login "$R" -u admin --password-stdin <<<"${TI_ADMIN#*:}"
expect_ok "admin pushes public/hello:1 through the proxy" docker push "$R/public/hello:1"
expect_ok "docker logout (admin)" docker logout "$R"

# --- alice (pull+push org/*) pushes ------------------------------------------------------------------
expect_ok "docker login $R as alice" docker login "$R" -u alice --password-stdin <<<"${TI_ALICE#*:}"
expect_match "docker stored an identity (refresh) token for $R, not the password" '^tgr_[A-Za-z0-9_-]{43}[.][A-Za-z0-9_-]+$' \
  "$(jq -r --arg r "$R" '.auths[$r].identitytoken // empty' "$DOCKER_CONFIG/config.json" 2>/dev/null || true)"
expect_ok "alice pushes org/app:1 through the proxy" docker push "$R/org/app:1"
pushed="$(repo_digest "$R/org/app:1")"
expect_match "the daemon recorded the pushed digest" '^sha256:[0-9a-f]{64}$' "$pushed"
expect_eq "the origin has org/app:1 with that digest" "$pushed" "$(origin_digest org/app 1)"
expect_ok "docker logout (alice)" docker logout "$R"

# --- bob (pull org/*) pulls it back ------------------------------------------------------------------
expect_ok "docker rmi $R/org/app:1" docker rmi "$R/org/app:1"
expect_fail "the image is gone locally" docker image inspect "$R/org/app:1"
expect_ok "docker login $R as bob" docker login "$R" -u bob --password-stdin <<<"${TI_BOB#*:}"
expect_ok "bob pulls org/app:1 through the proxy" docker pull "$R/org/app:1"
expect_eq "bob's pulled image has the pushed digest" "$pushed" "$(repo_digest "$R/org/app:1")"
expect_match "the pulled image holds the file" 'hello through the tollgate proxy' \
  "$(docker image save "$R/org/app:1" 2>/dev/null | tar -xO --wildcards '*/layer.tar' 2>/dev/null \
    | tar -xO ./hello.txt 2>/dev/null || true)"
expect_ok "docker tag for bob's push" docker tag "$R/org/app:1" "$R/org/bob-app:1"
expect_refused "bob's push to org/bob-app:1 is refused" "$TI_DENIED_RE" docker push "$R/org/bob-app:1"
expect_eq "nothing of bob's reached the origin" 404 "$(ti_status "$ORIGIN/v2/org/bob-app/manifests/1")"
expect_ok "docker logout (bob)" docker logout "$R"

# --- anonymous ---------------------------------------------------------------------------------------
expect_ok "docker rmi $R/org/app:1 (before the anonymous pull)" docker rmi "$R/org/app:1"
expect_refused "anonymous pull of org/app:1 is refused" "$TI_DENIED_RE" docker pull "$R/org/app:1"
expect_ok "docker tag for an anonymous push" docker tag "$R/org/bob-app:1" "$R/org/anon:1"
expect_refused "anonymous push to org/anon:1 is refused" "$TI_DENIED_RE" docker push "$R/org/anon:1"
expect_eq "nothing anonymous reached the origin" 404 "$(ti_status "$ORIGIN/v2/org/anon/manifests/1")"
expect_ok "docker rmi $R/public/hello:1" docker rmi "$R/public/hello:1"
expect_ok "anonymous pull of public/hello:1 works" docker pull "$R/public/hello:1"
expect_eq "the public image has the digest the origin holds" "$(origin_digest public/hello 1)" \
  "$(repo_digest "$R/public/hello:1")"

ti_finish
