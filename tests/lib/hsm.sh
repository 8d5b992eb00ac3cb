# hsm.sh — a private PKCS#11 token (SoftHSM2) for the shell tests of
# customer-managed keys.  Source it after harness.sh, then, before
# start_regions:
#
#   hsm_init                            the token 'vmrp-hsm' under $VAR/hsm
#                                       (SOFTHSM2_CONF exported: the daemons
#                                       started next use the same token)
#   export VMRP_CONFIG_EXTRA=$(hsm_config)   [encryption] pkcs11_module and
#                                       pkcs11_pin_file for both regions
#   hsm_key LABEL HEXID                 an AES-256 key in the token (token
#                                       object, sensitive, may encrypt and
#                                       decrypt); prints its key URL
#   hsm_url LABEL HEXID                 the key URL of LABEL/HEXID
#   hsm_delete LABEL HEXID              destroys it (crypto-erase)
#   hsm_disable LABEL HEXID             CKA_ENCRYPT/CKA_DECRYPT false: its
#   hsm_enable LABEL HEXID              domains answer "disabled" (needs the
#                                       regions' configuration: start_regions first)
#
# The user PIN is random, in $HSM_PIN and in the 0600 file $HSM_DIR/pin.
HSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
HSM_TOKEN=vmrp-hsm

hsm_init() {
  command -v softhsm2-util >/dev/null && command -v pkcs11-tool >/dev/null && [ -f "$HSM_MODULE" ] || {
    echo "hsm.sh: softhsm2 and opensc (pkcs11-tool) are needed: scripts/deps test"; exit 1
  }
  HSM_DIR=$VAR/hsm
  mkdir -p "$HSM_DIR/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$HSM_DIR/tokens" \
    > "$HSM_DIR/softhsm2.conf"
  export SOFTHSM2_CONF=$HSM_DIR/softhsm2.conf
  HSM_PIN=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  (umask 077 && printf '%s\n' "$HSM_PIN" > "$HSM_DIR/pin")
  softhsm2-util --init-token --free --label "$HSM_TOKEN" --so-pin "so$HSM_PIN" --pin "$HSM_PIN" >/dev/null
}

hsm_config() {
  printf '[encryption]\\npkcs11_module = %s\\npkcs11_pin_file = %s' "$HSM_MODULE" "$HSM_DIR/pin"
}

hsm_url() { echo "https://$HSM_TOKEN.vault.vmrp.local/keys/$1/$2"; }

hsm_tool() {
  pkcs11-tool --module "$HSM_MODULE" --token-label "$HSM_TOKEN" --login --pin "$HSM_PIN" "$@" >/dev/null 2>>"$HSM_DIR/tool.err"
}

# SoftHSM2's file token is shared with the running daemons; a key generation
# that meets another process's write of the token's files can fail once
# (CI saw it under load: pkcs11-tool's C_GenerateKey, never vmrpd's calls).
# So it is tried three times, each failure kept in $HSM_DIR/tool.err.
hsm_key() {
  local try
  for try in 1 2 3; do
    echo "hsm_key $1/$2 try $try" >>"$HSM_DIR/tool.err"
    # a try that failed after the token stored the key must not make a second
    hsm_tool --keygen --key-type AES:32 --label "$1" --id "$2" --sensitive --usage-decrypt || hsm_has "$1" "$2" && {
      hsm_url "$1" "$2"; return 0; }
    sleep 0.2
  done
  echo "hsm_key: cannot generate $1/$2: $(tail -3 "$HSM_DIR/tool.err" 2>/dev/null)" >&2
  return 1
}

hsm_has() {
  pkcs11-tool --module "$HSM_MODULE" --token-label "$HSM_TOKEN" --login --pin "$HSM_PIN" --list-objects \
    --type secrkey 2>>"$HSM_DIR/tool.err" |
    awk -v l="$1" -v i="$2" '/^ *label:/ {lab = $2} /^ *ID:/ && lab == l && $2 == i {f = 1} END {exit !f}'
}

hsm_delete() { hsm_tool --delete-object --type secrkey --label "$1" --id "$2"; }

# pkcs11-tool cannot change a key's attributes; vmrpd keys disable-key does
# (C_SetAttributeValue), through the region's configuration.
hsm_disable() { "$VMRPD" keys disable-key --key "$(hsm_url "$1" "$2")" -c "$EAST_CONF" >/dev/null; }
hsm_enable() { "$VMRPD" keys enable-key --key "$(hsm_url "$1" "$2")" -c "$EAST_CONF" >/dev/null; }
