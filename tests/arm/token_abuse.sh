#!/usr/bin/env bash
# Abuse of the identity endpoint and of the log:
#  - `vmrpd sp create/rotate --secret` refuses a secret shorter than 16
#    characters or made of few different ones;
#  - failed client-credential attempts are throttled per source address (a
#    burst of 10, then 429 + Retry-After with an AAD-style body, even for the
#    right secret) and per client id (a guesser spread over many addresses),
#    while the same principal from another address, and other principals,
#    keep getting tokens;
#  - CR/LF in a request path or in the token form's client_id cannot forge a
#    log line: each request writes one line, with the characters escaped.
. "$VMRP_SRC/tests/lib/harness.sh"
STATUS=; BODY=
start_regions
LOG=$VAR/eastus/vmrpd.log

# ---- log injection ----
forged='ts=2000-01-01T00:00:00.000Z level=error mod=forged msg="injected"'
curl -s --cacert "$CA" -o /dev/null "$EAST/probe%0d%0a$(jq -rn --arg s "$forged" '$s|@uri')" || true
curl -s --cacert "$CA" -o /dev/null -X POST "$EAST/adfs/oauth2/token" --data-urlencode grant_type=client_credentials \
  --data-urlencode "client_id=evil"$'\r\n'"$forged" --data-urlencode "client_secret=x" \
  --data-urlencode "scope=$EAST//.default" || true
sleep 0.5
check bash -c "! grep -q '^ts=2000-01-01' '$LOG'" "no forged line starts in the log"
check test "$(grep -c 'mod=forged' "$LOG")" = 2 "each injection stays inside one line (the path's and the client id's)"
check grep -qF 'probe\r\nts=2000-01-01T00:00:00.000Z level=error mod=forged msg=\"injected\"' "$LOG" \
  "the path's CR, LF and quotes are escaped"
check grep -qF 'client evil\r\nts=2000-01-01' "$LOG" "the client id's CR and LF are escaped"

# ---- weak secrets ----
weak() { # DESCRIPTION ARGS...
  local desc=$1; shift
  out=$("$VMRPD" sp "$@" -c "$EAST_CONF" 2>&1) && rc=0 || rc=$?
  check test "$rc" != 0 "$desc is refused"
  check grep -q "at least 16 characters" <<<"$out" "with a clear error ($desc)"
}
weak "sp create --secret a" create --name weak --secret a
weak "a 15-character secret" create --name weak --secret abcdefghijklmno
weak "a 20-character secret of one letter" create --name weak --secret aaaaaaaaaaaaaaaaaaaa
check bash -c "! '$VMRPD' sp list -c '$EAST_CONF' | grep -q ' weak '" "and no principal was created"
out=$("$VMRPD" sp create -c "$EAST_CONF" --name strong --role Reader --secret 'correct-horse-42') && rc=0 || rc=$?
check test "$rc" = 0 "a 16-character secret of varied characters is accepted"
STRONG_ID=$(jq -r .clientId <<<"$out")
weak "sp rotate --secret short" rotate --client-id "$STRONG_ID" --secret short
check test -n "$(token "$EAST" "$STRONG_ID" correct-horse-42)" "the strong secret's principal gets a token (and rotate left it alone)"

# ---- throttling ----
# try SOURCE CLIENT_ID SECRET → sets STATUS, BODY, HEADERS
try() {
  STATUS=$(curl -s --cacert "$CA" --interface "$1" -D "$HEADERS" -o "$VAR/body" -w '%{http_code}' \
    -X POST "$EAST/adfs/oauth2/token" --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$2" --data-urlencode "client_secret=$3" --data-urlencode "scope=$EAST//.default")
  BODY=$(cat "$VAR/body")
}
codes=()
for i in $(seq 30); do try 127.0.0.2 "$CLIENT_ID" "wrong-secret-$i"; codes+=("$STATUS"); done
n401=$(printf '%s\n' "${codes[@]}" | grep -c '^401$' || true)
n429=$(printf '%s\n' "${codes[@]}" | grep -c '^429$' || true)
# (an 11th failure is allowed in once the 30 took more than 6 s: a slow build)
check test "$n401" -ge 10 -a "$n401" -le 11 -a $((n401 + n429)) = 30 \
  "30 wrong secrets from one address: the first 10 answered 401, then 429 ($n401 + $n429)"
# Back to a known level: after Retry-After one token is there; a failure takes it.
sleep "$(header Retry-After)"
try 127.0.0.2 "$CLIENT_ID" wrong-again
check test "$STATUS" = 401 "after Retry-After the address may try again (one more wrong secret: 401)"
try 127.0.0.2 "$CLIENT_ID" "$CLIENT_SECRET"
check test "$STATUS" = 429 "the right secret from the throttled address waits too"
retry=$(header Retry-After)
check bash -c "[[ '$retry' =~ ^[0-9]+$ ]] && [ '$retry' -ge 5 ] && [ '$retry' -le 7 ]" "with Retry-After in seconds ($retry)"
check test "$(jq -r .error <<<"$BODY")" = temporarily_unavailable "and an Azure AD style error body"
check grep -q "AADSTS50053" <<<"$(jq -r .error_description <<<"$BODY")" "whose description names the AADSTS code"
try 127.0.0.1 "$CLIENT_ID" "$CLIENT_SECRET"
check test "$STATUS" = 200 "the same principal from another address gets its token at once"
sleep "$retry"
try 127.0.0.2 "$CLIENT_ID" "$CLIENT_SECRET"
check test "$STATUS" = 200 "after Retry-After the throttled address gets a token again"

# A guesser spread over many addresses, 9 wrong secrets from each (under the
# per-address burst): past 100 failures the client id itself is throttled.
fails=0; throttled=
for a in $(seq 3 40); do
  for i in $(seq 9); do
    try "127.0.0.$a" "$STRONG_ID" "wrong-$a-$i"
    [ "$STATUS" = 401 ] && fails=$((fails + 1))
    [ "$STATUS" = 429 ] && { throttled=1; break 2; }
  done
done
check test -n "$throttled" -a "$fails" -ge 100 "wrong secrets for one client id from many addresses: 429 after $fails failures"
sleep "$(header Retry-After)"
try 127.0.0.41 "$STRONG_ID" wrong-again
check test "$STATUS" = 401 "after Retry-After that client id may try again (one more wrong secret: 401)"
try 127.0.0.1 "$STRONG_ID" correct-horse-42
check test "$STATUS" = 429 "then it waits, from any address and with the right secret"
try 127.0.0.1 "$CLIENT_ID" "$CLIENT_SECRET"
check test "$STATUS" = 200 "another principal is unaffected"

finish
