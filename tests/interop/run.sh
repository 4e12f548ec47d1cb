#!/usr/bin/env bash
# Interop tests of the token service with real software: docker-registry 2.8 with token auth
# against Tollgate (wrangler dev), and skopeo, the Docker CLI + dockerd, containerd's ctr.
#   tests/interop/run.sh                      every tests/interop/token-*.sh and proxy-*.sh
#   tests/interop/run.sh token-skopeo [...]   only these (name with or without .sh)
#   tests/interop/run.sh --list               the names
# One environment (Tollgate + registry + a umoci image, see lib.sh) is started for all token-*
# tests and stopped at the end; proxy-* tests start their own. Each check prints PASS/FAIL/SKIP;
# the last line is "N passed, N failed, N skipped"; the exit status is non-zero if anything failed.
# Prerequisites: scripts/setup.sh --interop, and a built worker (scripts/build.sh); scripts/test.sh
# interop does both. Settings: see the head of tests/interop/lib.sh (TI_SKIP_PREPARE=1, KEEP_WORK=1,
# TI_TG_PORT, TI_REG_PORT).
set -euo pipefail
TI_TEST=run
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

all_tests() {
  local f
  for f in "$TI_DIR"/token-*.sh "$TI_DIR"/proxy-*.sh; do
    [ -f "$f" ] || continue
    case "$f" in */proxy-lib.sh) continue ;; esac
    basename "$f" .sh
  done
}

tests=()
for arg in "$@"; do
  case "$arg" in
    --list) all_tests; exit 0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) tg_die "unknown option: $arg (try --help)" ;;
    *)
      name="$(basename "$arg" .sh)"
      [ -f "$TI_DIR/$name.sh" ] || tg_die "no such test: $name (try --list)"
      tests+=("$name")
      ;;
  esac
done
[ "${#tests[@]}" -gt 0 ] || mapfile -t tests < <(all_tests)
[ "${#tests[@]}" -gt 0 ] || tg_die "no tests found in $TI_DIR"

needs_env=0
for t in "${tests[@]}"; do
  case "$t" in token-*) needs_env=1 ;; esac
done

# If the environment does not come up, still end with a FAIL line and the summary.
ti_exit_report() {
  [ "${TI_ENV_OK:-0}" = 1 ] && return 0
  printf 'FAIL interop environment: Tollgate, the registry or the image did not come up (see above)\n'
  printf '%d passed, %d failed, %d skipped\n' 0 1 0
}

if [ "$needs_env" = 1 ]; then
  tg_section "interop: Tollgate + docker-registry 2.8 (token auth) + umoci image"
  TI_ENV_OK=0
  ti_env_up
  TI_ENV_OK=1
  export TI_SHARED=1 TI_OCI TI_OCI_DIGEST
  tg_section_done
else
  ti_work_dir
fi
TI_ENV_OK=1

total_pass=0 total_fail=0 total_skip=0
per_test=()
for t in "${tests[@]}"; do
  tg_section "interop: $t"
  log="$TI_WORK/$t.out"
  set +e
  TI_TEST="$t" bash "$TI_DIR/$t.sh" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  p=$(grep -c '^PASS ' "$log" || true)
  f=$(grep -c '^FAIL ' "$log" || true)
  s=$(grep -c '^SKIP ' "$log" || true)
  # proxy-*.sh report "  ok   ..." / "  FAIL ...": count those too.
  case "$t" in
    proxy-*)
      p=$((p + $(grep -c '^  ok   ' "$log" || true)))
      f=$((f + $(grep -c '^  FAIL ' "$log" || true)))
      ;;
  esac
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    printf 'FAIL %s: exited %s before reporting a failed check\n' "$t" "$rc"
    f=1
  fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + s))
  per_test+=("$(printf '%-16s %3d passed, %3d failed, %3d skipped (exit %s)' "$t" "$p" "$f" "$s" "$rc")")
  tg_section_done
done

printf '\n%s\n' "interop summary:"
for line in "${per_test[@]}"; do printf '  %s\n' "$line"; done
if [ "$total_skip" -gt 0 ]; then
  grep -h '^SKIP ' "$TI_WORK"/*.out 2>/dev/null | sed 's/^/  /' || true
fi
printf '%d passed, %d failed, %d skipped\n' "$total_pass" "$total_fail" "$total_skip"
[ "$total_fail" -eq 0 ]
