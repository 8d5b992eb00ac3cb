#!/usr/bin/env bash
# Authentication and authorization against started regions: bearer tokens
# that are missing, expired, tampered, unsigned, HMAC-signed with the public
# key, for another audience or from an unknown issuer; the token endpoint's
# OAuth2 errors; roles (Reader can read, not write; a role on another
# subscription shows nothing); peer regions trust each other's tokens; and
# `vmrpd sp rotate` / `sp delete` take effect at the token endpoint.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/tokens.sh"
start_regions
RV=api-version=2024-03-01
G=$EAST/subscriptions/$SUB/resourcegroups
KEY=$VAR/eastus/keys/signing.pem
HDR=$(rs256_header eastus)
now=$(date +%s)

OWNER_TOKEN=$(token "$EAST")
TOKEN=$OWNER_TOKEN
arm PUT "$G/authrg?$RV" '{"location":"eastus"}'
expect 201 "" "setup: the owner creates a resource group"

# ---- bearer token checks ----
TOKEN=
arm GET "$G/authrg?$RV"
expect 401 AuthenticationFailed "no Authorization header"
check grep -qi '^WWW-Authenticate: Bearer ' "$HEADERS" "401 carries a WWW-Authenticate: Bearer header"
check grep -qi "authorization_uri=\"$EAST/adfs\"" "$HEADERS" "WWW-Authenticate names the authority"
EXTRA_CURL=(-H 'Authorization: Basic dXNlcjpwYXNz')
arm GET "$G/authrg?$RV"
expect 401 AuthenticationFailed "Basic instead of Bearer"
EXTRA_CURL=()

TOKEN=not-a-jwt
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "a token that is not a JWT"
check grep -qi '^WWW-Authenticate: Bearer ' "$HEADERS" "WWW-Authenticate on an invalid token"

TOKEN=$(jwt_rs256 "$KEY" "$HDR" "$(claims)")
arm GET "$G/authrg?$RV"
expect 200 "" "control: a token crafted here with the region's key is accepted"

TOKEN=$(jwt_rs256 "$KEY" "$HDR" "$(claims ".exp = $now - 600 | .nbf = $now - 4200 | .iat = $now - 4200")")
arm GET "$G/authrg?$RV"
expect 401 ExpiredAuthenticationToken "expired token"
TOKEN=$(jwt_rs256 "$KEY" "$HDR" "$(claims 'del(.exp)')")
arm GET "$G/authrg?$RV"
expect 401 ExpiredAuthenticationToken "token without exp"
TOKEN=$(jwt_rs256 "$KEY" "$HDR" "$(claims ".nbf = $now + 3600 | .exp = $now + 7200")")
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "token not valid yet (nbf in the future)"

# Tampering with a token the server issued.
IFS=. read -r th tp ts <<<"$OWNER_TOKEN"
payload=$(printf '%s' "$tp" | b64url_decode)
check test "$(echo "$payload" | jq -r .oid)" = "$CLIENT_ID" "the issued token's payload names the principal"
forged=$(echo "$payload" | jq -c '.oid = "00000000-0000-0000-0000-000000000001"' | b64url)
TOKEN="$th.$forged.$ts"
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "tampered payload (oid changed, old signature)"
forged=$(echo "$payload" | jq -c ".exp = $now + 86400" | b64url)
TOKEN="$th.$forged.$ts"
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "tampered payload (exp extended, old signature)"
first=${ts:0:1}; [ "$first" = A ] && repl=B || repl=A
TOKEN="$th.$tp.$repl${ts:1}"
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "tampered signature"
TOKEN="$th.$tp."
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "signature stripped"
TOKEN="$th.$tp"
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "only two parts"

TOKEN="$(b64url_json '{"alg":"none","typ":"JWT"}').$(b64url_json "$(claims)")."
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "alg none, no signature"
TOKEN="$(b64url_json '{"alg":"none","typ":"JWT"}').$(b64url_json "$(claims)").$ts"
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "alg none with a signature"

openssl pkey -in "$KEY" -pubout -out "$VAR/pub.pem" 2>/dev/null
kid=$(kid_of eastus)
TOKEN=$(jwt_hs256 "$VAR/pub.pem" "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"$kid\"}" "$(claims)")
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "HS256 signed with the public key (PEM)"
jq -c '.keys[0]' "$VAR/eastus/keys/jwks.json" | tr -d '\n' >"$VAR/pub.jwk"
TOKEN=$(jwt_hs256 "$VAR/pub.jwk" "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"$kid\"}" "$(claims)")
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "HS256 signed with the public key (JWK)"
TOKEN=$(jwt_rs256 "$KEY" "{\"alg\":\"RS512\",\"typ\":\"JWT\",\"kid\":\"$kid\"}" "$(claims)")
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "header alg other than RS256"

TOKEN=$(jwt_rs256 "$KEY" "$HDR" "$(claims '.aud = "https://other.example/"')")
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationTokenAudience "wrong audience"
TOKEN=$(jwt_rs256 "$KEY" "$HDR" "$(claims 'del(.aud)')")
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationTokenAudience "no audience"
TOKEN=$(jwt_rs256 "$KEY" "$HDR" "$(claims '.aud = ["https://other.example/", "https://management.azure.com/"]')")
arm GET "$G/authrg?$RV"
expect 200 "" "audience list holding an accepted audience"

TOKEN=$(jwt_rs256 "$KEY" "$HDR" "$(claims '.iss = "https://evil.example/adfs"')")
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationTokenTenant "unknown issuer"
TOKEN=$(jwt_rs256 "$KEY" "$HDR" "$(claims 'del(.iss)')")
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "no issuer"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$VAR/other.pem" 2>/dev/null
TOKEN=$(jwt_rs256 "$VAR/other.pem" "$HDR" "$(claims)")
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "right kid and issuer, signed with another key"
TOKEN=$(jwt_rs256 "$KEY" "$HDR" "$(claims ".iss = \"$WEST/adfs\"")")
arm GET "$G/authrg?$RV"
expect 401 "" "the peer's issuer with this region's key"
TOKEN=$(jwt_rs256 "$KEY" "$HDR" "$(claims 'del(.oid) | del(.sub)')")
arm GET "$G/authrg?$RV"
expect 401 InvalidAuthenticationToken "no oid or sub"

# ---- roles ----
reader=$("$VMRPD" sp create -c "$EAST_CONF" --name r --role Reader)
R_ID=$(echo "$reader" | jq -r .clientId); R_SECRET=$(echo "$reader" | jq -r .clientSecret)
TOKEN=$(token "$EAST" "$R_ID" "$R_SECRET")
check test -n "$TOKEN" "a Reader gets a token"
BEFORE=$(store_dump eastus)
arm GET "$G/authrg?$RV"
expect 200 "" "Reader: GET a resource group"
arm GET "$G?$RV"
expect 200 "" "Reader: list resource groups"
arm HEAD "$G/authrg?$RV"
expect 204 "" "Reader: HEAD a resource group"
arm GET "$EAST/subscriptions?api-version=2022-12-01"
check test "$(echo "$BODY" | jq -r '.value[0].subscriptionId')" = "$SUB" "Reader: sees the subscription"
arm PUT "$G/reader-rg?$RV" '{"location":"eastus"}'
expect 403 AuthorizationFailed "Reader: PUT refused"
check grep -q "$R_ID" <<<"$BODY" "AuthorizationFailed names the client"
arm PATCH "$G/authrg?$RV" '{"tags":{"a":"b"}}'
expect 403 AuthorizationFailed "Reader: PATCH refused"
arm DELETE "$G/authrg?$RV"
expect 403 AuthorizationFailed "Reader: DELETE refused"
check test "$BEFORE" = "$(store_dump eastus)" "Reader: nothing changed in the store"

contrib=$("$VMRPD" sp create -c "$EAST_CONF" --name c --role Contributor)
TOKEN=$(token "$EAST" "$(echo "$contrib" | jq -r .clientId)" "$(echo "$contrib" | jq -r .clientSecret)")
arm PUT "$G/contrib-rg?$RV" '{"location":"eastus"}'
expect 201 "" "Contributor: PUT allowed"
arm DELETE "$G/contrib-rg?$RV"
expect 202 "" "Contributor: DELETE allowed"

OTHER_SUB=$(cat /proc/sys/kernel/random/uuid)
foreign=$("$VMRPD" sp create -c "$EAST_CONF" --name f --role Owner --scope "$OTHER_SUB")
TOKEN=$(token "$EAST" "$(echo "$foreign" | jq -r .clientId)" "$(echo "$foreign" | jq -r .clientSecret)")
arm GET "$EAST/subscriptions?api-version=2022-12-01"
expect 200 "" "role elsewhere: GET /subscriptions answers"
check test "$(echo "$BODY" | jq '.value | length')" = 0 "role elsewhere: sees no subscription"
arm GET "$G?$RV"
expect 403 AuthorizationFailed "role elsewhere: cannot list this subscription's groups"
arm GET "$G/authrg?$RV"
expect 403 AuthorizationFailed "role elsewhere: cannot read a group"
arm PUT "$G/foreign-rg?$RV" '{"location":"eastus"}'
expect 403 AuthorizationFailed "role elsewhere: cannot write"

# ---- token endpoint errors ----
# token_req BASE FIELD=VALUE... → STATUS, BODY
token_req() {
  local base=$1; shift
  local args=(-s --cacert "$CA" -o "$VAR/body" -w '%{http_code}' -X POST "$base/adfs/oauth2/token")
  for f in "$@"; do args+=(--data-urlencode "$f"); done
  STATUS=$(curl "${args[@]}" || true)
  BODY=$(cat "$VAR/body")
}
oauth_error() { test "$(echo "$BODY" | jq -r .error)" = "$1"; }
SCOPE="scope=$EAST//.default"
token_req "$EAST" grant_type=client_credentials "client_id=$CLIENT_ID" "client_secret=wrong" "$SCOPE"
check test "$STATUS" = 401 "token endpoint: wrong secret is 401"
check oauth_error invalid_client "token endpoint: wrong secret is invalid_client"
token_req "$EAST" grant_type=client_credentials "client_id=$(cat /proc/sys/kernel/random/uuid)" "client_secret=$CLIENT_SECRET" "$SCOPE"
check test "$STATUS" = 401 "token endpoint: unknown client is 401"
check oauth_error invalid_client "token endpoint: unknown client is invalid_client"
token_req "$EAST" grant_type=password "client_id=$CLIENT_ID" "client_secret=$CLIENT_SECRET" "$SCOPE"
check test "$STATUS" = 400 "token endpoint: grant_type password is 400"
check oauth_error unsupported_grant_type "token endpoint: grant_type password is unsupported_grant_type"
token_req "$EAST" "client_id=$CLIENT_ID" "client_secret=$CLIENT_SECRET" "$SCOPE"
check oauth_error unsupported_grant_type "token endpoint: no grant_type is unsupported_grant_type"
token_req "$EAST" grant_type=client_credentials "client_id=$CLIENT_ID" "$SCOPE"
check test "$STATUS" = 400 "token endpoint: no secret is 400"
check oauth_error invalid_request "token endpoint: no secret is invalid_request"
token_req "$EAST" grant_type=client_credentials "client_id=$CLIENT_ID" "client_secret=$CLIENT_SECRET" \
  "scope=https://vault.azure.net/.default"
check test "$STATUS" = 400 "token endpoint: a foreign resource's scope is 400"
check oauth_error invalid_scope "token endpoint: a foreign resource's scope is invalid_scope"
token_req "$EAST" grant_type=client_credentials "client_id=$CLIENT_ID" "client_secret=$CLIENT_SECRET" "scope=openid"
check oauth_error invalid_scope "token endpoint: a scope without /.default is invalid_scope"
token_req "$EAST" grant_type=client_credentials "client_id=$CLIENT_ID" "client_secret=$CLIENT_SECRET" "$SCOPE"
check test "$STATUS" = 200 "token endpoint: control request succeeds"
check test "$(echo "$BODY" | jq -r .token_type)" = Bearer "token endpoint: token_type Bearer"
check test "$(echo "$BODY" | jq -r '.expires_in > 0')" = true "token endpoint: expires_in"

# ---- peer regions trust each other's tokens ----
west_token() {
  curl -sf --cacert "$CA" -X POST "$WEST/adfs/oauth2/token" --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$CLIENT_SECRET" \
    --data-urlencode "scope=https://management.azure.com/.default" | jq -r .access_token
}
TOKEN=$(west_token)
arm GET "$G/authrg?$RV"
expect 200 "" "a westus token is accepted by eastus"
TOKEN=$(curl -sf --cacert "$CA" -X POST "$EAST/adfs/oauth2/token" --data-urlencode grant_type=client_credentials \
  --data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$CLIENT_SECRET" \
  --data-urlencode "scope=https://management.azure.com/.default" | jq -r .access_token)
arm GET "$WEST/subscriptions/$SUB/resourcegroups?$RV"
expect 200 "" "an eastus token is accepted by westus"
TOKEN=$(jwt_rs256 "$VAR/westus/keys/signing.pem" "$(rs256_header westus)" "$(claims ".iss = \"$WEST/adfs\"")")
arm GET "$G/authrg?$RV"
expect 200 "" "a token signed with the westus key and the westus issuer is accepted by eastus"
TOKEN=$(jwt_rs256 "$VAR/westus/keys/signing.pem" "$(rs256_header westus)" "$(claims)")
arm GET "$G/authrg?$RV"
expect 401 "" "the westus key cannot sign for the eastus issuer"

# ---- sp rotate / sp delete ----
rotated=$("$VMRPD" sp rotate -c "$EAST_CONF" --client-id "$R_ID")
R_NEW=$(echo "$rotated" | jq -r .clientSecret)
check test -n "$R_NEW" -a "$R_NEW" != "$R_SECRET" "sp rotate prints a new secret"
token_req "$EAST" grant_type=client_credentials "client_id=$R_ID" "client_secret=$R_SECRET" "$SCOPE"
check test "$STATUS" = 401 "after sp rotate the old secret is refused"
token_req "$EAST" grant_type=client_credentials "client_id=$R_ID" "client_secret=$R_NEW" "$SCOPE"
check test "$STATUS" = 200 "after sp rotate the new secret works"
R_TOKEN=$(echo "$BODY" | jq -r .access_token)
"$VMRPD" sp delete -c "$EAST_CONF" --client-id "$R_ID" >/dev/null
token_req "$EAST" grant_type=client_credentials "client_id=$R_ID" "client_secret=$R_NEW" "$SCOPE"
check test "$STATUS" = 401 "after sp delete the token endpoint refuses the principal"
check oauth_error invalid_client "after sp delete: invalid_client"
TOKEN=$R_TOKEN
arm GET "$G/authrg?$RV"
expect 403 AuthorizationFailed "after sp delete a token issued before has no role left"
check test -z "$("$VMRPD" sp list -c "$EAST_CONF" | grep "$R_ID" || true)" "sp list no longer shows it"
finish
