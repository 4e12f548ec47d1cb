#!/usr/bin/env bash
# KV round trips per request kind (issue 17), before and after, in one run:
#   bench/kv-rounds.sh              BASE=e18ed02 (the commit before the reads were joined)
#   BASE=<commit> bench/kv-rounds.sh
# Builds bench/kv-rounds (native) against this tree's core and against BASE's core (a temporary
# git worktree, removed on exit), runs both and prints, per kind, the latency of a request on a
# new isolate (cold: nothing cached) and on the same isolate again (warm), in KV round trips:
# reads issued together count once (core/src/round_trips.rs counts them; nothing is timed), and
# rounds of writes alone (docker login's refresh token) are a column of their own. At a location
# where the keys are cold, one read round trip is a KV read's full latency. Credentials are
# presented as Tollgate mints them now (with a read-ahead hint) and as before ("before hints").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

BASE="${BASE:-e18ed02}"
export CARGO_TARGET_DIR="$TG_TARGET_DIR"
base_tree="$(mktemp -d /tmp/tg-kv-rounds.XXXXXX)"
cleanup() {
  git -C "$TG_ROOT" worktree remove --force "$base_tree" >/dev/null 2>&1 || rm -rf "$base_tree"
}
trap cleanup EXIT

run_bench() { # TREE [CARGO ARGS] -> the bench's lines
  local tree="$1"
  shift
  (cd "$tree/bench/kv-rounds" && cargo run -q --release "$@" 2>"$base_tree.err") \
    || { cat "$base_tree.err" >&2; tg_die "bench/kv-rounds failed in $tree"; }
}

git -C "$TG_ROOT" worktree add --detach --force "$base_tree" "$BASE" >/dev/null 2>&1 \
  || tg_die "cannot check out BASE=$BASE"
# The bench and the round-trip counter come from this tree; only the core is BASE's.
mkdir -p "$base_tree/bench"
cp -r "$TG_ROOT/bench/kv-rounds" "$base_tree/bench/"
rm -rf "$base_tree/bench/kv-rounds/target"
# A core from before issue 19 has its test doubles public and no `testing` feature, and the old
# module names (`--features base` selects them in the bench).
sed -i 's/, features = \["testing"\]//' "$base_tree/bench/kv-rounds/Cargo.toml"
cp "$TG_ROOT/core/src/round_trips.rs" "$base_tree/core/src/round_trips.rs"

tg_info "building and running bench/kv-rounds against BASE=$BASE and against this tree"
before="$(run_bench "$base_tree" --features base)"
after="$(run_bench "$TG_ROOT")"

printf '\nKV round trips per request (cold: new isolate; warm: the same isolate again)\n'
printf 'reads: round trips with a KV read; writes: round trips of writes alone (a put)\n\n'
printf '%-50s %-24s %s\n' "" "before (BASE)" "after"
printf '%-50s %-11s %-12s %-11s %s\n' "request kind" "reads c/w" "writes c/w" "reads c/w" "writes c/w"
join -t $'\t' <(printf '%s\n' "$before" | awk -F'\t' '{print NR"\t"$0}' | sort -k1,1) \
  <(printf '%s\n' "$after" | awk -F'\t' '{print NR"\t"$0}' | sort -k1,1) \
  | sort -n | awk -F'\t' '{
      ok = ($7 == "ok" && $13 == "ok") ? "" : "  (broken: " $7 "/" $13 ")";
      if ($2 != $8) ok = ok "  (kinds differ)";
      printf "%-50s %-11s %-12s %-11s %s%s\n", $2, $3 " / " $4, $5 " / " $6, $9 " / " $10,
        $11 " / " $12, ok }'
printf '\nBASE=%s vs %s (%s)\n' "$BASE" "$(git -C "$TG_ROOT" rev-parse --short HEAD)" \
  "$( [ -z "$(git -C "$TG_ROOT" status --porcelain core/src)" ] && echo clean || echo 'core/src modified')"
