#!/usr/bin/env bash
# Interop: proxy-registry.sh with distribution 3.x WITHOUT auth as the origin (instead of
# docker-registry 2.8): the same pushes, pulls, refusals, cross-repository mount and catalog.
#   tests/interop/proxy-registry-v3.sh        (KEEP_WORK=1 keeps logs and state)
# 3.x is the binary in ../shared/registry-v3/ or $REGISTRY_V3; missing, this is one SKIP line
# (a failure under CI=true).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
if ! tg_v3_registry; then
  if [ "${CI:-}" = true ]; then
    printf '  FAIL proxy with a registry 3.x origin: %s; CI=true requires it\n' "$TG_V3_MISSING"
    exit 1
  fi
  printf 'SKIP proxy with a registry 3.x origin: %s\n' "$TG_V3_MISSING"
  exit 0
fi
PROXY_ORIGIN=v3 exec bash "$(dirname "${BASH_SOURCE[0]}")/proxy-registry.sh"
