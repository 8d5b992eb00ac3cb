# arm-client.sh — sourced by the scripts that talk to a region's ARM API with
# curl and jq (vm-qemu, vm-restore).  It reads endpoints.json (written by
# scripts/run), logs in with the service principal found there (client
# credentials at {arm}/adfs/oauth2/token) and offers:
#   arm_client_init PROG ENDPOINTS REGION   sets base, ca, sub, token
#   arm_call METHOD PATH API-VERSION [BODY] body on stdout, ARM_STATUS and
#                                           ARM_HEADERS set; an ARM error is
#                                           printed on stderr and returns 1
#   arm_wait_op                             polls the last call's
#                                           Azure-AsyncOperation to the end

arm_client_init() {
  ARM_PROG=$1
  local endpoints=$2 region=$3 sel='.regions[0]' conf
  [ -f "$endpoints" ] || { echo "$ARM_PROG: no endpoints file $endpoints (run scripts/run, or pass -e)" >&2; exit 1; }
  [ -n "$region" ] && sel=".regions[] | select(.name == \"$region\")"
  conf=$(jq -c "$sel" "$endpoints")
  [ -n "$conf" ] || { echo "$ARM_PROG: no region '$region' in $endpoints" >&2; exit 1; }
  base=$(jq -r .armEndpoint <<<"$conf"); base=${base%/}
  ca=$(jq -r .caFile <<<"$conf")
  sub=$(jq -r .subscriptionId <<<"$conf")
  token=$(curl -sf --cacert "$ca" -X POST "$base/adfs/oauth2/token" \
    --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$(jq -r .clientId <<<"$conf")" \
    --data-urlencode "client_secret=$(jq -r .clientSecret <<<"$conf")" --data-urlencode "scope=$base//.default" |
    jq -r .access_token)
  [ -n "$token" ] && [ "$token" != null ] || { echo "$ARM_PROG: could not get a token from $base" >&2; exit 1; }
  ARM_HEADERS=$(mktemp)
  trap 'rm -f "$ARM_HEADERS"' EXIT
}

arm_call() {
  local method=$1 path=$2 api=$3 body=${4:-} out sep='?'
  case "$path" in *\?*) sep='&' ;; esac
  local args=(-s --cacert "$ca" -X "$method" -H "Authorization: Bearer $token" -D "$ARM_HEADERS" -w '\n%{http_code}')
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  case "$path" in https://*) ;; *) path=$base$path ;; esac
  [ -n "$api" ] && path=$path${sep}api-version=$api
  out=$(curl "${args[@]}" "$path")
  ARM_STATUS=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "${ARM_STATUS:0:1}" != 2 ]; then
    echo "$ARM_PROG: $method $path: HTTP $ARM_STATUS $(jq -r '.error | "\(.code): \(.message)"' <<<"$out" 2>/dev/null)" >&2
    return 1
  fi
  printf '%s\n' "$out"
}

arm_wait_op() {
  local aao status out
  aao=$(grep -i '^Azure-AsyncOperation:' "$ARM_HEADERS" | cut -d' ' -f2- | tr -d '\r')
  [ -n "$aao" ] || return 0
  for _ in $(seq 600); do
    out=$(arm_call GET "$aao" "") || return 1
    status=$(jq -r .status <<<"$out")
    case "$status" in
      Succeeded) return 0 ;;
      Failed|Canceled) echo "$ARM_PROG: operation $status: $(jq -r '.error | "\(.code): \(.message)"' <<<"$out")" >&2; return 1 ;;
    esac
    sleep 0.2
  done
  echo "$ARM_PROG: operation still running after 2 minutes" >&2
  return 1
}
