#!/usr/bin/env bash
# workerd with V8 flags (TG_V8_FLAGS), for Miniflare: MINIFLARE_WORKERD_PATH=bench/workerd-v8-flags.sh.
# Miniflare passes the configuration on stdin ("-"); bench/workerd-v8-flags.mjs adds the flags to
# it, then this script becomes workerd itself (exec, same PID), so Miniflare stops it as usual.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="$(mktemp "${TMPDIR:-/tmp}/workerd-config.XXXXXX")"
node "$here/workerd-v8-flags.mjs" >"$config"
exec 0<"$config"
rm -f "$config" # workerd reads the open descriptor
# The binary Miniflare itself would run (the `workerd` package's default export).
workerd="$(cd "$here" && node -e 'import("workerd").then((m) => console.log(m.default.default ?? m.default))')"
exec "$workerd" "$@"
