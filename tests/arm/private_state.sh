#!/usr/bin/env bash
# Private state: scripts/run and vmrpd create every secret or data-bearing file
# 0600 and directory 0700 (after the first start and after a restart), user
# `nobody` can read none of endpoints.json, a region's configuration, meta.db
# or a store pack, vmrpd refuses to start on a configuration, key, data
# directory or database that others can read, and scripts/run closes up state
# an older version left open.
. "$VMRP_SRC/tests/lib/harness.sh"
STATUS=; BODY=
# The state directory as a checkout's var/ is made, and scripts/run started
# from a shell, with the usual umask 022: everything is reachable unless vmrp
# closes it itself.
chmod 755 "$VAR"
umask 022
start_regions
umask 077 # the test's own files

# open_files → the files and directories under $VAR that others may access,
# but the CA and the server certificate (public by design)
open_files() {
  find "$VAR" -mindepth 1 \( -perm /o=rwx -o -perm /g=w \) ! -name ca.pem ! -name server.pem \
    -printf '%m %p\n' | sort
}
mode() { stat -c %a "$1"; }

check_modes() { # WHEN
  local open; open=$(open_files)
  check test -z "$open" "$1: nothing under the state directory is open to others${open:+ (open: $(echo "$open" | head -5 | tr '\n' ' '))}"
  check test "$(mode "$VAR")" = 700 "$1: the state directory is 0700"
  local f
  for f in endpoints.json ids.env eastus/vmrpd.conf westus/vmrpd.conf eastus/meta.db eastus/keys/signing.pem \
           tls/server.key; do
    check test "$(mode "$VAR/$f")" = 600 "$1: $f is 0600"
  done
  local store; store=$(cd "$VAR" && ls -d eastus/stores/*) # the platform domain's
  for f in eastus eastus/stores "$store" "$store/packs" eastus/volumes eastus/keys; do
    check test "$(mode "$VAR/$f")" = 700 "$1: $f/ is 0700"
  done
  local pack; pack=$(find "$VAR/$store/packs" -name '*.pack' | head -n1)
  check test -n "$pack" -a "$(mode "${pack:-/}")" = 600 "$1: a store pack is 0600"
  # As user nobody: none of the secrets or the data can be read.
  for f in endpoints.json eastus/vmrpd.conf eastus/meta.db "${pack#"$VAR"/}"; do
    check bash -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups cat '$VAR/$f' >/dev/null 2>&1" \
      "$1: user nobody cannot read $f"
  done
}

TOKEN=$(token "$EAST")
arm PUT "$EAST/subscriptions/$SUB/resourcegroups/ps?api-version=2024-03-01" '{"location":"eastus"}'
expect 201 "" "the region serves (a resource group is created)"
check_modes "after scripts/run"

VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --stop >/dev/null
(umask 022; VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --detach >"$VAR/run.out" 2>&1)
check_modes "after a restart"

# vmrpd refuses state others can read, naming the file and the fix.
VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --stop >/dev/null
refuses() { # PATH MODE WHAT
  local before; before=$(mode "$1")
  chmod "$2" "$1"
  out=$("$VMRPD" -c "$EAST_CONF" 2>&1) && rc=0 || rc=$?
  chmod "$before" "$1"
  check test "$rc" != 0 "vmrpd refuses to start with $3 mode $2"
  check grep -qF "$1 is " <<<"$out" "and names $3 ($1)"
  check grep -q "chmod .*$1" <<<"$out" "and says the chmod that fixes it"
}
refuses "$EAST_CONF" 644 "a configuration"
refuses "$EAST_CONF" 664 "a configuration"
refuses "$VAR/eastus" 755 "a data directory"
refuses "$VAR/eastus/meta.db" 644 "a metadata database"
refuses "$VAR/eastus/keys/signing.pem" 604 "a signing key"
refuses "$VAR/tls/server.key" 644 "a TLS key"

# State left open by an older version: scripts/run closes it up and starts.
chmod 755 "$VAR" "$VAR/eastus" "$VAR"/eastus/stores/*
chmod 644 "$EAST_CONF" "$VAR/eastus/meta.db" "$VAR/endpoints.json"
(umask 022; VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --detach >"$VAR/run.out" 2>&1) && rc=0 || rc=$?
check test "$rc" = 0 "scripts/run starts regions over state an older version left open"
check_modes "after scripts/run over open state"
finish
