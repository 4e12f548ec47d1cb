#!/usr/bin/env bash
# Interop: a static Helm chart repository (python3 -m http.server) behind Tollgate's proxy.
#   tests/interop/proxy-helm.sh        (KEEP_WORK=1 keeps logs and state)
# CHART_DEPTH=2, so /org1/repo1/index.yaml is artifact-repository:org1/repo1. chart-user (API key,
# artifact-repository org1/*) fetches index.yaml and the chart with `curl -u` and with a token from
# the ChartMuseum flow (/oauth/token client_credentials); bob (no chart rule) gets 403, anonymous 401.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/proxy-lib.sh"

for tool in python3 jq curl tar; do
  tg_have "$tool" || tg_die "$tool not found"
done

proxy_work_dir

tg_section "a static chart repository"
repo="$WORK/charts/org1/repo1"
mkdir -p "$repo/charts" "$WORK/chart-src/app/templates"
cat >"$WORK/chart-src/app/Chart.yaml" <<'EOF'
apiVersion: v2
name: app
version: 1.0.0
EOF
printf 'replicas: 1\n' >"$WORK/chart-src/app/values.yaml"
tar -C "$WORK/chart-src" -czf "$repo/charts/app-1.0.0.tgz" app
sum="$(sha256sum "$repo/charts/app-1.0.0.tgz" | cut -d' ' -f1)"
cat >"$repo/index.yaml" <<EOF
apiVersion: v1
entries:
  app:
  - apiVersion: v2
    name: app
    version: 1.0.0
    digest: $sum
    urls:
    - charts/app-1.0.0.tgz
generated: "2026-11-28T00:00:00Z"
EOF
printf 'not a chart\n' >"$WORK/charts/secret.txt"
start_static
tg_section_done

start_tollgate --var "ORIGIN:http://127.0.0.1:$PROXY_STATIC_PORT" --var CHART_DEPTH:2 \
  --var PROXY_SERVICE:chartmuseum.local

tg_section "Basic credentials (helm repo add --username --password, curl -u)"
check "chart-user fetches index.yaml" 200 "$(status -u "chart-user:$CHART_KEY" "$TG/org1/repo1/index.yaml")"
check_match "index.yaml content" 'name: app' "$(curl -s -u "chart-user:$CHART_KEY" "$TG/org1/repo1/index.yaml")"
got="$(curl -s -u "chart-user:$CHART_KEY" "$TG/org1/repo1/charts/app-1.0.0.tgz" | sha256sum | cut -d' ' -f1)"
check "chart-user fetches the chart intact" "$sum" "$got"
check "bob (no chart rule) is 403" 403 "$(status -u "$BOB" "$TG/org1/repo1/index.yaml")"
check "a wrong API key is 401" 401 "$(status -u "chart-user:tgk_wrong" "$TG/org1/repo1/index.yaml")"
check "anonymous is 401" 401 "$(status "$TG/org1/repo1/index.yaml")"
check "anonymous challenge names the namespace" \
  "Bearer realm=\"$TG/token\",service=\"chartmuseum.local\",scope=\"artifact-repository:org1/repo1:pull\"" \
  "$(header www-authenticate "$TG/org1/repo1/index.yaml")"
check "files outside the chart layout are not served" 404 "$(status -u "chart-user:$CHART_KEY" "$TG/secret.txt")"
check "no traversal with encoded slashes" 400 \
  "$(status --path-as-is -u "chart-user:$CHART_KEY" "$TG/org1/repo1%2F..%2F..%2Fsecret.txt/index.yaml")"
# workerd's URL parser resolves %2e%2e itself: this becomes /index.yaml, which is nothing at depth 2.
check "no traversal with encoded dots" 404 \
  "$(status --path-as-is -u "chart-user:$CHART_KEY" "$TG/org1/%2e%2e/index.yaml")"
check "the static server saw no request outside org1/repo1" "" \
  "$(grep -v -e 'org1/repo1/' -e '"GET / HTTP' "$WORK/static.log" | grep -E '"(GET|HEAD) ' || true)"
check "another namespace is refused" 403 "$(status -u "chart-user:$CHART_KEY" "$TG/org2/repo1/index.yaml")"
tg_section_done

tg_section "a token from the ChartMuseum flow"
tok="$(curl -s -X POST -H "Authorization: Bearer $CHART_KEY" \
  "$TG/oauth/token?grant_type=client_credentials&service=chartmuseum.local&scope=artifact-repository:org1/repo1:pull" \
  | jq -r '.access_token // empty')"
[ -n "$tok" ] && check "client_credentials token issued" yes yes || check "client_credentials token issued" yes no
check "the token fetches index.yaml" 200 "$(status -H "Authorization: Bearer $tok" "$TG/org1/repo1/index.yaml")"
got="$(curl -s -H "Authorization: Bearer $tok" "$TG/org1/repo1/charts/app-1.0.0.tgz" | sha256sum | cut -d' ' -f1)"
check "the token fetches the chart intact" "$sum" "$got"
check "the token does not open another namespace" 401 \
  "$(status -H "Authorization: Bearer $tok" "$TG/org1/repo2/index.yaml")"
tg_section_done

finish
