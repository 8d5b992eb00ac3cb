# tokens.sh — crafting JWTs in bash for the authentication tests: base64url,
# RS256 signatures with a region's signing key (openssl dgst -sign), HS256
# with an arbitrary key, and a default set of claims that vmrpd accepts.
# Source it after harness.sh and start_regions.

# stdin → unpadded base64url on stdout
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# b64url_json JSON → the JSON text as one base64url part
b64url_json() { printf '%s' "$1" | b64url; }

# kid_of REGION → the key id this region signs with (from its JWKS)
kid_of() { jq -r '.keys[0].kid' "$VAR/$1/keys/jwks.json"; }

# claims [jq filter...] → a valid payload for eastus (iss, aud, oid = the
# scripts/run principal, exp an hour away) changed by the given jq filter
claims() {
  local now; now=$(date +%s)
  jq -cn --arg iss "$EAST/adfs" --arg aud "$EAST/" --arg oid "$CLIENT_ID" --arg tid "$TENANT" \
    --argjson now "$now" \
    '{iss:$iss, aud:$aud, oid:$oid, sub:$oid, appid:$oid, tid:$tid, iat:$now, nbf:$now, exp:($now+3600)}
     | '"${1:-.}"
}

# jwt_rs256 KEY_PEM HEADER_JSON PAYLOAD_JSON → header.payload.signature
jwt_rs256() {
  local h p s
  h=$(b64url_json "$2"); p=$(b64url_json "$3")
  s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$1" -binary | b64url)
  echo "$h.$p.$s"
}

# jwt_hs256 KEY_FILE HEADER_JSON PAYLOAD_JSON → HMAC-SHA256 signed with the
# bytes of KEY_FILE (e.g. a public key PEM: the algorithm-confusion attack)
jwt_hs256() {
  local h p s hex
  h=$(b64url_json "$2"); p=$(b64url_json "$3")
  hex=$(xxd -p "$1" | tr -d '\n')
  s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hex" -binary | b64url)
  echo "$h.$p.$s"
}

# rs256_header REGION → {"alg":"RS256","typ":"JWT","kid":...}
rs256_header() { jq -cn --arg kid "$(kid_of "$1")" '{alg:"RS256", typ:"JWT", kid:$kid}'; }

# base64url on stdin → decoded bytes (padding restored)
b64url_decode() {
  local s; s=$(tr '_-' '/+'); while [ $(( ${#s} % 4 )) != 0 ]; do s="$s="; done
  printf '%s' "$s" | base64 -d
}
