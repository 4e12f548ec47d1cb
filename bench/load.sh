#!/usr/bin/env bash
# Bounded load test (issue 6): builds Tollgate and bench/empty-worker (skipped when up to date),
# then runs bench/load.mjs: CONNECTIONS concurrent clients doing docker's login-then-token flow
# (GET /token with Basic + offline_token, then POST grant_type=refresh_token) across several
# password users and API keys against Tollgate under workerd, and plain GETs against the empty
# worker, DURATION seconds each after WARMUP. Prints req/s and p50/p90/p99 for both sides.
# Exits non-zero on any error (non-200, network error, a token for the wrong account).
#   bench/load.sh                      DURATION=15 WARMUP=2 CONNECTIONS=16 REFRESHES=4 USERS=4 KEYS=4
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$TG_ROOT"

for crate in "$TG_ROOT" "$TG_ROOT/bench/empty-worker"; do
  bash scripts/build.sh "$crate" >/dev/null
done
node bench/load.mjs
