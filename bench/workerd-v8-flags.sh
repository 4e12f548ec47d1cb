#!/usr/bin/env bash
# workerd with V8 flags (TG_V8_FLAGS), for Miniflare: wrapWorkerd (tests/miniflare/helpers.mjs) makes it MINIFLARE_WORKERD_PATH.
# Miniflare passes the configuration on stdin ("-"); bench/workerd-v8-flags.mjs adds the flags to
# it, then this script becomes workerd itself (exec, same PID), so Miniflare stops it as usual.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="$(mktemp "${TMPDIR:-/tmp}/workerd-config.XXXXXX")"
node "$here/workerd-v8-flags.mjs" >"$config"
exec 0<"$config"
rm -f "$config" # workerd reads the open descriptor
# The binary Miniflare itself would run (tests/miniflare/helpers.mjs's wrapWorkerd names it).
exec "$TG_REAL_WORKERD" "$@"
