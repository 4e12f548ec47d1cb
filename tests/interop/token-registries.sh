#!/usr/bin/env bash
# Interop: one Tollgate in front of docker-registry 2.8 AND distribution 3.x in each of its key modes.
#   tests/interop/run.sh token-registries   (or run this file directly: it then starts its own environment)
# The shared Tollgate serves one service per registry, each with the token header that registry
# needs (TOKEN_KID / TOKEN_X5C; lib.sh TI_SERVICES):
#   2.8       registry.local  rootcertbundle = /certs.pem      libtrust kid + x5c (the default)
#   v3-x5c    v3-x5c.local    rootcertbundle = /certs.pem      thumbprint kid + x5c
#   v3-kid    v3-kid.local    rootcertbundle = /certs.pem      thumbprint kid only
#   v3-jwks   v3-jwks.local   jwks = `tollgate keys jwks --out` thumbprint kid only, no rootcertbundle
# all with signingalgorithms pinned to [ES256] on 3.x. Against each: skopeo and the Docker CLI push
# (alice) and pull (bob, same digest); bob's push and anonymous pulls of org/* refused, and the
# registry answers insufficient_scope; anonymous pull of public/*; /v2/_catalog for admin only.
# 3.x is the binary in ../shared/registry-v3/ or $REGISTRY_V3: missing, it is one SKIP line (a
# FAIL under CI=true). The Docker part SKIPs when dockerd cannot run here.
# Ports: TI_V3_PORT (default 5010) and the two after it, a free one when taken.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ti_env_up

CLI="$TG_TARGET_DIR/release/tollgate"
started="$(tg_now)"

# jwt_header TOKEN: the decoded JOSE header.
jwt_header() {
  python3 -c 'import base64, sys
p = sys.argv[1].split(".")[0]
print(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode())' "$1" 2>/dev/null || true
}

# www_auth REG METHOD PATH TOKEN: the registry's WWW-Authenticate for a request with TOKEN ("" none).
www_auth() {
  local auth=()
  [ -n "$4" ] && auth=(-H "Authorization: Bearer $4")
  curl -s -m 10 -D - -o /dev/null -X "$2" "${auth[@]}" "http://$1$3" | tr -d '\r' \
    | grep -i '^www-authenticate:' || true
}

# The bundle an operator downloads for rootcertbundle, the JWK set for the jwks file.
curl -s -m 10 -o "$W/certs.pem" "$TI_TG/certs.pem" || true
targets=("2.8 $TI_REG $TI_SERVICE")

if ti_need_v3 "distribution 3.x (token-registries runs against docker-registry 2.8 only)"; then
  expect_match "registry 3.x binary ($TG_V3_BIN) reports v3" '^v?3\.|[[:space:]]v3\.' \
    "$(env -i PATH=/usr/bin:/bin "$TG_V3_BIN" --version 2>&1 | head -n1)"
  expect_ok "tollgate keys jwks --out writes the jwks file (both kid forms of keys/signing.crt.pem)" \
    env HOME="$TI_REAL_HOME" "$CLI" keys jwks "$TG_ROOT/keys/signing.crt.pem" --out "$W/jwks.json"
  port="${TI_V3_PORT:-5010}"
  for mode in x5c kid jwks; do
    case "$mode" in
      x5c) service="$TI_V3_X5C_SERVICE" keys=(rootcertbundle "$W/certs.pem") ;;
      kid) service="$TI_V3_KID_SERVICE" keys=(rootcertbundle "$W/certs.pem") ;;
      jwks) service="$TI_V3_JWKS_SERVICE" keys=(jwks "$W/jwks.json") ;;
    esac
    p="$(ti_port "$port")"
    port=$((port + 1))
    ti_run_registry_v3 "registry-v3-$mode" "$p" \
      "$(ti_token_auth_yaml "$service" "$TI_TG/token" "${keys[@]}" signingalgorithms '[ES256]')"
    targets+=("v3-$mode 127.0.0.1:$p $service")
  done
  pass "registry 3.x runs in its three key modes: ${targets[*]:1}"

  # What each service's tokens carry, and what the JWKS offers for them.
  thumb="$(TI_SERVICE="$TI_V3_KID_SERVICE" ti_token "$TI_BOB" repository:org/app:pull)"
  hdr="$(jwt_header "$thumb")"
  kid="$(printf '%s' "$hdr" | jq -r '.kid // empty' 2>/dev/null || true)"
  expect_match "$TI_V3_KID_SERVICE tokens carry an RFC 7638 thumbprint kid (43 base64url characters)" \
    '^[A-Za-z0-9_-]{43}$' "$kid"
  expect_eq "$TI_V3_KID_SERVICE tokens carry no x5c" false "$(printf '%s' "$hdr" | jq 'has("x5c")' 2>/dev/null || true)"
  expect_eq "$TI_V3_X5C_SERVICE tokens carry x5c" true \
    "$(jwt_header "$(TI_SERVICE="$TI_V3_X5C_SERVICE" ti_token "$TI_BOB" repository:org/app:pull)" | jq 'has("x5c")' 2>/dev/null || true)"
  expect_match "the jwks file holds the key under that thumbprint" "^$kid\$" \
    "$(jq -r '.keys[].kid' "$W/jwks.json" 2>/dev/null || true)"
  expect_match "/.well-known/jwks.json lists it under that thumbprint too" "^$kid\$" \
    "$(curl -s -m 10 "$TI_TG/.well-known/jwks.json" | jq -r '.keys[].kid' 2>/dev/null || true)"
  expect_ok "tollgate token inspect accepts the thumbprint-kid token against the jwks file" \
    env HOME="$TI_REAL_HOME" "$CLI" token inspect "$thumb" --jwks "$W/jwks.json" --issuer "$TI_ISSUER" \
    --service "$TI_V3_KID_SERVICE"
fi

# --- skopeo against every registry ------------------------------------------------------------
for t in "${targets[@]}"; do
  read -r label reg service <<<"$t"
  on() { TI_REG="$reg" TI_SERVICE="$service" "$@"; }
  expect_ok "[$label] alice pushes org/matrix:1 (skopeo)" on ti_push "$TI_ALICE" org/matrix:1
  expect_ok "[$label] bob pulls org/matrix:1 (skopeo)" on ti_pull "$TI_BOB" org/matrix:1 "$W/pulled-$label"
  expect_eq "[$label] bob's pulled manifest digest equals the pushed one" "$TI_OCI_DIGEST" \
    "$(jq -r '.manifests[0].digest' "$W/pulled-$label/index.json" 2>/dev/null || true)"
  expect_refused "[$label] bob's push is refused (skopeo)" "$TI_DENIED_RE" on ti_push "$TI_BOB" org/matrix-bob:1
  bob="$(on ti_token "$TI_BOB" repository:org/matrix-bob:pull,push)"
  expect_match "[$label] the registry answers bob's push token with insufficient_scope" \
    'error="insufficient_scope"' "$(www_auth "$reg" POST /v2/org/matrix-bob/blobs/uploads/ "$bob")"
  expect_refused "[$label] anonymous pull of org/matrix:1 is refused (skopeo)" "$TI_DENIED_RE" \
    on ti_pull "" org/matrix:1 "$W/anon-$label"
  anon="$(on ti_token "" repository:org/matrix:pull)"
  expect_match "[$label] the registry answers an anonymous org/* token with insufficient_scope" \
    'error="insufficient_scope"' "$(www_auth "$reg" GET /v2/org/matrix/manifests/1 "$anon")"
  expect_ok "[$label] admin pushes public/hello:1 (skopeo)" on ti_push "$TI_ADMIN" public/hello:1
  expect_ok "[$label] anonymous pull of public/hello:1 works (skopeo)" on ti_pull "" public/hello:1 "$W/public-$label"
  admin_cat="$(on ti_token "$TI_ADMIN" 'registry:catalog:*')"
  expect_match "[$label] admin reads /v2/_catalog" '"org/matrix".*"public/hello"' \
    "$(curl -s -m 10 -H "Authorization: Bearer $admin_cat" "http://$reg/v2/_catalog" | jq -c '.repositories' 2>/dev/null || true)"
  bob_cat="$(on ti_token "$TI_BOB" 'registry:catalog:*')"
  expect_match "[$label] bob's catalog token gets insufficient_scope" 'error="insufficient_scope"' \
    "$(www_auth "$reg" GET /v2/_catalog "$bob_cat")"
done

# --- the Docker CLI against every registry ----------------------------------------------------
if ! ti_start_dockerd; then
  skip "Docker CLI against ${#targets[@]} registries" "$TI_SKIP_REASON"
else
  expect_ok "docker import of the test rootfs" docker import "$TI_WORK/rootfs.tar" tollgate-interop/matrix:1
  for t in "${targets[@]}"; do
    read -r label reg service <<<"$t"
    img="$reg/org/docker:1"
    expect_ok "[$label] docker login as alice" docker login "$reg" -u alice --password-stdin <<<"${TI_ALICE#*:}"
    expect_ok "[$label] docker tag" docker tag tollgate-interop/matrix:1 "$img"
    expect_ok "[$label] alice pushes org/docker:1 (docker push)" docker push "$img"
    expect_ok "[$label] docker rmi" docker rmi "$img"
    expect_ok "[$label] docker login as bob" docker login "$reg" -u bob --password-stdin <<<"${TI_BOB#*:}"
    expect_ok "[$label] bob pulls org/docker:1 (docker pull)" docker pull "$img"
    expect_ok "[$label] docker tag for bob's push" docker tag "$img" "$reg/org/docker-bob:1"
    expect_refused "[$label] bob's push is refused (docker push)" "$TI_DENIED_RE" docker push "$reg/org/docker-bob:1"
    expect_ok "[$label] docker logout" docker logout "$reg"
    expect_ok "[$label] docker rmi before the anonymous pull" docker rmi "$img" "$reg/org/docker-bob:1"
    expect_refused "[$label] anonymous pull of org/docker:1 is refused (docker pull)" \
      "$TI_DENIED_RE|pull access denied" docker pull "$img"
  done
fi

tg_info "token-registries: ${#targets[@]} registries in $(( $(tg_now) - started ))s"
ti_finish
