#!/usr/bin/env bash
# Interop: the edge controls of issue 16 end to end, Tollgate MODE=both (wrangler dev) in front of
# docker-registry 2.8 without auth. One environment for all of them (CI time):
#   - network-bound API keys: refused from a second loopback address (127.0.0.2) at issuance, and a
#     token issued on the allowed network refused from 127.0.0.2 on registry requests;
#   - the catalog filtered to the caller, paginated, over an origin with many repositories, most hidden;
#   - the pull ledger of a real skopeo push + pull, read back by `tollgate audit` (who pulled a
#     repository / a digest, everything one credential did, top, refusals);
#   - `tollgate policy replay` over the log just recorded: the live policy changes nothing, a
#     candidate with a rule in the wrong place changes decisions (exit 3), grouped by rule.
#   tests/interop/proxy-controls.sh        (KEEP_WORK=1 keeps logs and state)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/proxy-lib.sh"

tg_need_interop_tools docker-registry skopeo umoci jq curl
# The second loopback address the "elsewhere" requests come from (Linux routes all of 127/8 to lo).
OTHER_IP="${PROXY_OTHER_IP:-127.0.0.2}"
curl -s -o /dev/null --interface "$OTHER_IP" "http://127.0.0.1:1/" 2>/dev/null || true

proxy_work_dir
start_registry
O="http://127.0.0.1:$PROXY_REGISTRY_PORT"

tg_section "origin: many repositories, most of them hidden from bob"
# One tiny image (config blob + manifest) pushed straight into the origin under many names.
cfg='{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
cfg_digest="sha256:$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)"
manifest="$(jq -cn --arg d "$cfg_digest" --argjson s "${#cfg}" \
  '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$d,size:$s},layers:[]}')"
first_repo=""
origin_repo() { # NAME: the blob uploaded once, then mounted (one request) into every other name
  if [ -z "$first_repo" ]; then
    local loc
    loc="$(curl -s -o /dev/null -D - -X POST "$O/v2/$1/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')"
    case "$loc" in /*) loc="$O$loc" ;; esac
    curl -s -o /dev/null -f -X PUT -H 'content-type: application/octet-stream' --data-binary "$cfg" \
      "$loc&digest=$cfg_digest"
    first_repo="$1"
  else
    curl -s -o /dev/null -f -X POST "$O/v2/$1/blobs/uploads/?mount=$cfg_digest&from=$first_repo"
  fi
  curl -s -o /dev/null -f -X PUT -H 'content-type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "$manifest" "$O/v2/$1/manifests/v1"
}
names=()
for i in $(seq -w 0 19); do names+=("hidden/r$i"); done
for i in $(seq -w 0 4); do names+=("org/app$i"); done
for i in $(seq -w 0 39); do names+=("org/secret$i"); done
names+=("public/base")
for n in "${names[@]}"; do origin_repo "$n"; done
check "the origin lists all ${#names[@]} repositories" "${#names[@]}" \
  "$(curl -s "$O/v2/_catalog?n=1000" | jq '.repositories | length')"
tg_section_done

# A network-bound API key for ci-bot (as `tollgate apikey create --allow-net` writes it: 256
# random bits, then ci-bot as the read-ahead hint), seeded into KV next to the demo policy before
# Tollgate starts.
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
BOUND_KEY="tgk_$(head -c 32 /dev/urandom | b64url).$(printf ci-bot | b64url)"
bound_digest="$(printf '%s' "$BOUND_KEY" | sha256sum | cut -d' ' -f1)"
export TG_PERSIST_DIR="$WORK/state"
bash "$TG_ROOT/scripts/dev.sh" --prepare-only >"$WORK/prepare.log" 2>&1 \
  || { tail -n 30 "$WORK/prepare.log" >&2; tg_die "scripts/dev.sh --prepare-only failed"; }
"$TG_ROOT/node_modules/.bin/wrangler" kv key put --local --binding TOLLGATE_KV --persist-to "$WORK/state" \
  "apikey:$bound_digest" \
  '{"account":"ci-bot","name":"bound","created":1,"net":{"cidrs":["127.0.0.1/32","::1/128"]}}' \
  >"$WORK/kv-put.log" 2>&1 || { cat "$WORK/kv-put.log" >&2; tg_die "could not seed the bound key"; }
PROXY_SERVE_PIDFILE="$WORK/wrangler.pid"
PORT="$PROXY_PORT" TG_PIDFILE="$PROXY_SERVE_PIDFILE" TG_LOGFILE="$WORK/wrangler.log" \
  bash "$TG_ROOT/scripts/serve.sh" start -- \
  --var MODE:both --var "REALM:http://127.0.0.1:$PROXY_PORT/token" \
  --var "ORIGIN:$O" --var PROXY_SERVICE:registry.local
TG="http://127.0.0.1:$PROXY_PORT"

tg_section "network-bound API key (127.0.0.1/32, ::1/128)"
q="service=registry.local&scope=repository:org/app0:pull"
check "the bound key gets a token from 127.0.0.1" 200 \
  "$(status -u "ci-bot:$BOUND_KEY" "$TG/token?$q")"
check "the bound key (hinted, as apikey create mints it) works as a Bearer API key too" 200 \
  "$(status -H "Authorization: Bearer $BOUND_KEY" "$TG/token?$q")"
bound_token="$(curl -s -u "ci-bot:$BOUND_KEY" "$TG/token?$q" | jq -r .token)"
check "the token carries the binding as its net claim" '{"cidrs":["127.0.0.1/32","::1/128"]}' \
  "$(cut -d. -f2 <<<"$bound_token" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -c .net)"
check "the bound key is refused at issuance from $OTHER_IP" 403 \
  "$(status --interface "$OTHER_IP" -u "ci-bot:$BOUND_KEY" "$TG/token?$q")"
check_match "the refusal names the caller's address, not the allowed networks" \
  "may not be used from $OTHER_IP" \
  "$(curl -s --interface "$OTHER_IP" -u "ci-bot:$BOUND_KEY" "$TG/token?$q" | jq -r '.errors[0].message')"
check "its token works on the registry from 127.0.0.1" 200 \
  "$(status -H "Authorization: Bearer $bound_token" "$TG/v2/org/app0/manifests/v1" \
     -H 'accept: application/vnd.oci.image.manifest.v1+json')"
check "the same token copied to $OTHER_IP is refused (403)" 403 \
  "$(status --interface "$OTHER_IP" -H "Authorization: Bearer $bound_token" "$TG/v2/org/app0/manifests/v1")"
check "and on /v2/ too" 403 \
  "$(status --interface "$OTHER_IP" -H "Authorization: Bearer $bound_token" "$TG/v2/")"
check "the key as a Basic password in the proxy from $OTHER_IP is refused (403, as a token)" 403 \
  "$(status --interface "$OTHER_IP" -u "ci-bot:$BOUND_KEY" "$TG/v2/org/app0/tags/list")"
check "from 127.0.0.1 it is let through" 200 \
  "$(status -u "ci-bot:$BOUND_KEY" "$TG/v2/org/app0/tags/list")"
SK=(env HOME="$WORK/home" XDG_RUNTIME_DIR="$WORK/home" skopeo --insecure-policy)
"${SK[@]}" inspect --tls-verify=false --creds "ci-bot:$BOUND_KEY" \
  "docker://127.0.0.1:$PROXY_PORT/org/app0:v1" >"$WORK/bound-inspect.log" 2>&1 \
  && check "skopeo with the bound key from 127.0.0.1" 0 0 \
  || check "skopeo with the bound key from 127.0.0.1 (see $WORK/bound-inspect.log)" 0 1
tg_section_done

tg_section "catalog filtered to the caller, paginated"
# catalog_pages AUTH_ARGS... : follows Link headers with n=2, prints every name, one per line.
catalog_pages() {
  local url="$TG/v2/_catalog?n=2" pages=0 headers body link
  while [ -n "$url" ] && [ "$pages" -lt 50 ]; do
    headers="$WORK/catalog.h"
    body="$(curl -s -D "$headers" "$@" "$url")"
    jq -r '.repositories[]' <<<"$body"
    link="$(tr -d '\r' <"$headers" | grep -i '^link:' | sed -E 's/^[Ll]ink: <([^>]*)>.*/\1/' || true)"
    url="${link:+$TG$link}"
    pages=$((pages + 1))
  done
}
bob_cat="$(token "$BOB" registry.local 'registry:catalog:*')"
check "bob's catalog token carries no catalog right" '[]' \
  "$(cut -d. -f2 <<<"$bob_cat" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -c .access)"
first_headers="$(curl -s -D - -o /dev/null -H "Authorization: Bearer $bob_cat" "$TG/v2/_catalog?n=2" | tr -d '\r')"
check_match "the first page links to the next" \
  '^[Ll]ink: </v2/_catalog\?last=org%2Fapp1&n=2>; rel="next"' "$(grep -i '^link:' <<<"$first_headers")"
want='["org/app0","org/app1","org/app2","org/app3","org/app4","public/base"]'
check "bob pages through exactly the repositories he may pull (token)" "$want" \
  "$(catalog_pages -H "Authorization: Bearer $bob_cat" | jq -Rsc 'split("\n") | map(select(. != ""))')"
check "bob pages through the same with Basic credentials" "$want" \
  "$(catalog_pages -u "$BOB" | jq -Rsc 'split("\n") | map(select(. != ""))')"
anon_cat="$(curl -s "$TG/token?service=registry.local&scope=registry:catalog:*" | jq -r .token)"
check "an anonymous token sees only public/*" '["public/base"]' \
  "$(curl -s -H "Authorization: Bearer $anon_cat" "$TG/v2/_catalog" | jq -c .repositories)"
admin_cat="$(token "$ADMIN" registry.local 'registry:catalog:*')"
check "admin (registry:catalog:*) gets the origin's whole catalog" "${#names[@]}" \
  "$(curl -s -H "Authorization: Bearer $admin_cat" "$TG/v2/_catalog?n=1000" | jq '.repositories | length')"
check "no credentials: still the challenge" 401 "$(status "$TG/v2/_catalog")"
check "a bad n is 400 in the registry's format" PAGINATION_NUMBER_INVALID \
  "$(curl -s -H "Authorization: Bearer $bob_cat" "$TG/v2/_catalog?n=5000" | jq -r '.errors[0].code')"
tg_section_done

tg_section "pull ledger: a real skopeo push and pull, then tollgate audit"
CLI="$TG_TARGET_DIR/release/tollgate"
umoci init --layout "$WORK/oci" >/dev/null
umoci new --image "$WORK/oci:v1" >/dev/null
umoci unpack --rootless --image "$WORK/oci:v1" "$WORK/bundle" >/dev/null
printf 'ledger\n' >"$WORK/bundle/rootfs/ledger.txt"
umoci repack --image "$WORK/oci:v1" "$WORK/bundle" >/dev/null
R="127.0.0.1:$PROXY_PORT"
"${SK[@]}" copy --dest-tls-verify=false --dest-creds "$ALICE" \
  "oci:$WORK/oci:v1" "docker://$R/org/ledger:v1" >"$WORK/ledger-push.log" 2>&1 \
  && check "alice pushes org/ledger:v1" 0 0 || check "alice pushes org/ledger:v1 (see $WORK/ledger-push.log)" 0 1
"${SK[@]}" copy --src-tls-verify=false --src-creds "$BOB" \
  "docker://$R/org/ledger:v1" "oci:$WORK/pulled:v1" >"$WORK/ledger-pull.log" 2>&1 \
  && check "bob pulls org/ledger:v1" 0 0 || check "bob pulls org/ledger:v1 (see $WORK/ledger-pull.log)" 0 1
layer="$(jq -r '.layers[-1].digest' "$WORK/oci/blobs/sha256/$(jq -r '.manifests[0].digest' "$WORK/oci/index.json" | cut -d: -f2)")"
sleep 1 # wrangler dev writes console output asynchronously
LOG="$WORK/wrangler.log"
check_match "the ledger never holds a secret" '^0$' \
  "$(grep -c -e "$BOUND_KEY" -e "${BOB#*:}" -e "${ALICE#*:}" -e "$bound_token" "$LOG" || true)"
who_pulled="$("$CLI" audit --log "$LOG" pulls --repo org/ledger 2>/dev/null)"
check_match "audit pulls: bob's token pulled org/ledger's layer" "bob +token<-password +GET +$layer +200 " "$who_pulled"
check "audit pulls: alice's push (HEAD checks, uploads) is not a pull" 0 "$(grep -c ' alice ' <<<"$who_pulled" || true)"
by_digest="$("$CLI" audit --log "$LOG" pulls --repo org/ledger --ref "$layer" 2>/dev/null)"
check_match "audit pulls --ref DIGEST: who pulled that blob, from where" "bob .*$layer .*127\.0\.0\.1" "$by_digest"
cred="$("$CLI" audit --log "$LOG" credential --account ci-bot --key bound 2>/dev/null)"
check_match "audit credential: the bound key's refused issuance from $OTHER_IP" "token +refused +403 .*$OTHER_IP" "$cred"
check_match "audit credential: its copied token refused in the proxy from $OTHER_IP" "proxy +refused +403 .*$OTHER_IP +net_network" "$cred"
top="$("$CLI" audit --log "$LOG" top --limit 3 2>/dev/null)"
check_match "audit top lists org/ledger" '^org/ledger ' "$top"
refusals="$(grep '"event"' "$LOG" | "$CLI" audit refusals 2>/dev/null)"
check_match "audit refusals (stdin): network refusals counted (token x2, Basic x1)" '^proxy +net_network +3 ' "$refusals"
check_match "audit refusals: the issuance refusals grouped as denied" '^token +denied +2 ' "$refusals"
tg_section_done

tg_section "policy replay over the recorded log"
cp "$TG_ROOT/policy/demo.toml" "$WORK/live.toml"
"$CLI" policy replay --log "$LOG" --candidate "$WORK/live.toml" >"$WORK/replay-live.txt" 2>&1
check "the live policy changes no decision (exit 0)" 0 "$?"
check_match "it replayed token and proxied decisions" '^replayed [1-9][0-9]* logged decision' "$(cat "$WORK/replay-live.txt")"
# A candidate that puts the org/secret* deny in front of everything (admins too) and drops
# bob's group from org/*: a typical ordering mistake.
python3 - "$WORK/live.toml" "$WORK/candidate.toml" <<'PY'
import sys
text = open(sys.argv[1]).read()
deny = '[[rules]]\ncomment = "explicit deny: org/secret* is off limits to everyone else (actions = [] denies)"\nmatch = { type = "repository", name = "org/secret*" }\nactions = []\n'
assert deny in text
text = text.replace(deny, "")
first = text.index("[[rules]]")
text = text[:first] + deny.replace("org/secret*", "org/*") + "\n" + text[first:]
open(sys.argv[2], "w").write(text)
PY
set +e
"$CLI" policy replay --log "$LOG" --candidate "$WORK/candidate.toml" >"$WORK/replay-candidate.txt" 2>&1
rc=$?
set -e
check "a candidate that changes decisions exits 3" 3 "$rc"
replay_out="$(cat "$WORK/replay-candidate.txt")"
check_match "allow -> deny, grouped by the misplaced rule" \
  '^  decided by rule #0 \(explicit deny' "$replay_out"
check_match "bob's pull of org/ledger is among them" 'proxy +bob +GET /v2/org/ledger/manifests/v1' "$replay_out"
check_match "alice's token for org/ledger too" 'token +alice +repository:org/ledger:push' "$replay_out"
tg_section_done

finish
