#!/bin/sh
# Miniflare's workerd, with its stdout appended to a file instead of the pipe Miniflare reads
# (bench/token-serve.mjs sets MINIFLARE_WORKERD_PATH to this script when TG_WORKERD_STDOUT names
# a file). Why: every console.log line (Tollgate's audit line, one per token) is a write(2) to
# that pipe, which wakes Miniflare's node on the same cores; bench/workerd-perf.sh measured that
# wake-up at ~21 us of workerd CPU per line, an eighth of a signature. On Cloudflare a log line
# never reaches a pipe (the runtime collects it), and a log collector on a host takes it from a
# file. The write itself is still done and counted. exec: workerd keeps this process's PID.
exec "$TG_REAL_WORKERD" "$@" >>"$TG_WORKERD_STDOUT"
