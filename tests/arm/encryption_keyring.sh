#!/usr/bin/env bash
# The keyring of encryption at rest from the operator's side: scripts/run
# makes one keyring both regions share; `vmrpd keys init` never overwrites
# it; `keys show` lists domains without key bytes; `keys rotate-master` runs
# while both daemons serve and a restart opens the new key; a missing or a
# wrong master key stops the start with a clear message and changes nothing;
# a world-readable key is refused; tests/lib/hsm.sh's token and `vmrpd keys
# disable-key|enable-key` on a customer key.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/hsm.sh"
STATUS=; BODY=
hsm_init
export VMRP_CONFIG_EXTRA=$(hsm_config)
start_regions
KR=$VAR/keys
tree() { (cd "$KR" && find . -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum); }

check test "$(stat -c %a "$KR")" = 700 "the keyring directory is 0700"
check test "$(stat -c %a%s "$KR/master.key")" = 60032 "master.key: 32 bytes, 0600"
check grep -q "^keyring = $KR\$" "$EAST_CONF" "eastus's configuration names the keyring"
check grep -q "^keyring = $KR\$" "$WEST_CONF" "westus's too (one keyring per deployment)"

before=$(tree)
out=$("$VMRPD" keys init --keyring "$KR" 2>&1) && rc=0 || rc=$?
check test "$rc" = 1 "keys init on an existing keyring fails"
check grep -q "already holds a keyring; nothing was changed" <<<"$out" "and says so"
check test "$before" = "$(tree)" "nothing in the keyring changed"

out=$("$VMRPD" keys show -c "$EAST_CONF" 2>&1)
check grep -Eq '^[0-9a-f]{32}  platform  wrapped by the master key$' <<<"$out" "keys show: the platform domain, its wrapping"
key_hex=$(od -An -tx1 "$KR/master.key" | tr -d ' \n')
check bash -c "! grep -qF '$key_hex' <<<'$out'" "keys show prints no key bytes"

url=$(hsm_key cmk1 01)
check test "$url" = "https://vmrp-hsm.vault.vmrp.local/keys/cmk1/01" "hsm_key makes a key and prints its URL"
check hsm_disable cmk1 01 "vmrpd keys disable-key disables it"
check hsm_enable cmk1 01 "vmrpd keys enable-key enables it again"
out=$("$VMRPD" keys disable-key --key "$(hsm_url cmk1 02)" -c "$EAST_CONF" 2>&1) && rc=0 || rc=$?
check test "$rc" = 1 "disable-key of a key the token lacks fails"
check grep -q "no such key in the token" <<<"$out" "and says so"
check hsm_delete cmk1 01 "hsm_delete destroys it"
hsm_disable cmk1 01 2>/dev/null && rc=0 || rc=$?
check test "$rc" != 0 "then disable-key fails"
out=$("$VMRPD" keys disable-key --key "https://vmrp-hsm/keys/cmk1/01" -c "$EAST_CONF" 2>&1) && rc=0 || rc=$?
check test "$rc" = 1 "a malformed key URL is refused"
check bash -c "! grep -qF '$HSM_PIN' '$VAR'/eastus/vmrpd.log '$VAR'/westus/vmrpd.log" "the logs hold no PIN"

old=$(sha256sum < "$KR/master.key")
old_hex=$(od -An -tx1 "$KR/master.key" | tr -d ' \n')
out=$("$VMRPD" keys rotate-master -c "$EAST_CONF" 2>&1) && rc=0 || rc=$?
check test "$rc" = 0 "keys rotate-master while both regions serve"
check test "$old" != "$(sha256sum < "$KR/master.key")" "master.key is a new key"
check test -z "$(find "$KR" -name '*.new' -o -name '*.tmp')" "no .new or .tmp file is left"
check curl -sf --cacert "$CA" "$EAST/metadata/endpoints" -o /dev/null "eastus serves on"
kill9_region eastus
restart_region eastus
check curl -sf --cacert "$CA" "$EAST/metadata/endpoints" -o /dev/null "eastus restarts with the new master key"
key_hex=$(od -An -tx1 "$KR/master.key" | tr -d ' \n')
check bash -c "! grep -qF -e '$old_hex' -e '$key_hex' '$VAR'/eastus/vmrpd.log '$VAR'/westus/vmrpd.log" \
  "the logs hold neither master key"

# A rotation killed before its commit (point 3) and after it (point 5), the
# regions serving: the next command finishes or undoes it.
for n in 3 5; do
  before=$(sha256sum < "$KR/master.key")
  VMRP_FAILPOINTS=keys.rotate.crash=$n "$VMRPD" keys rotate-master -c "$EAST_CONF" >/dev/null 2>&1 && rc=0 || rc=$?
  check test "$rc" = 137 "a rotation dies at crash point $n"
  out=$("$VMRPD" keys show -c "$WEST_CONF" 2>&1)
  check grep -q "platform  wrapped by the master key" <<<"$out" "the next keys command opens the keyring"
  check test -z "$(find "$KR" -name '*.new' -o -name '*.tmp')" "and leaves no .new or .tmp file"
  if [ "$n" = 3 ]; then want=same; else want=new; fi
  [ "$before" = "$(sha256sum < "$KR/master.key")" ] && got=same || got=new
  check test "$got" = "$want" "the master key is the $want one"
done
kill9_region westus
restart_region westus
check curl -sf --cacert "$CA" "$WEST/metadata/endpoints" -o /dev/null "westus restarts after both"

# Start-up refusals, each on a stopped eastus, each leaving the keyring as it was.
VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --stop >/dev/null
mv "$KR/master.key" "$VAR/master.key.saved"
before=$(tree)
out=$("$VMRPD" -c "$EAST_CONF" 2>&1) && rc=0 || rc=$?
check test "$rc" != 0 "no master key: vmrpd does not start"
check grep -q "no master key in $KR" <<<"$out" "and says 'no master key in $KR'"
check test "$before" = "$(tree)" "nothing in the keyring changed"

"$VMRPD" keys init --keyring "$VAR/other-keys" >/dev/null
cp -p "$VAR/other-keys/master.key" "$KR/master.key"
before=$(tree)
out=$("$VMRPD" -c "$EAST_CONF" 2>&1) && rc=0 || rc=$?
check test "$rc" != 0 "another deployment's master key: vmrpd does not start"
check grep -q "the master key in $KR does not open this deployment's keys" <<<"$out" "and says so"
check test "$before" = "$(tree)" "nothing in the keyring changed"

cp -p "$VAR/master.key.saved" "$KR/master.key"
chmod 640 "$KR/master.key"
out=$("$VMRPD" -c "$EAST_CONF" 2>&1) && rc=0 || rc=$?
check test "$rc" != 0 "a master key its group may read: vmrpd does not start"
check grep -q "is open to other users (mode 0640)" <<<"$out" "and names the mode"
chmod 600 "$KR/master.key"
VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --detach >/dev/null
check curl -sf --cacert "$CA" "$EAST/metadata/endpoints" -o /dev/null "the right key back: both regions start"
finish
