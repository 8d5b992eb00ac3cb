# az.sh — the az CLI (Debian azure-cli 2.45) against the regions that
# harness.sh started: source it after harness.sh, call after start_regions.
# See /work/shared/reference/clients/az-cli.md for why each setting is needed.

# az_env: a config directory of the test's own (under $VAR), trusting the
# regions' CA, no telemetry, no colours.
az_env() {
  export AZURE_CONFIG_DIR=$VAR/az REQUESTS_CA_BUNDLE=$CA AZURE_CORE_COLLECT_TELEMETRY=0 AZURE_CORE_NO_COLOR=1
}

# az_login BASE [CLOUD]: az_env, then the region at BASE (e.g. $EAST)
# registered as cloud CLOUD (default vmrp) with its four endpoints (so az
# makes no metadata request), made the current cloud, and a service-principal
# login there with the scripts/run principal.
az_login() {
  local base=$1 cloud=${2:-vmrp}
  az_env
  az cloud register -n "$cloud" --endpoint-resource-manager "$base/" --endpoint-active-directory "$base/adfs" \
    --endpoint-active-directory-resource-id "$base/" --endpoint-active-directory-graph-resource-id "$base/graph/" -o none
  az cloud set -n "$cloud"
  az login --service-principal -u "$CLIENT_ID" -p "$CLIENT_SECRET" --tenant "$TENANT" -o none
}

# az_nbd_uri ID [unix|tcp] [Read|Write]: grants NBD access to the disk or
# disk restore point ID with `az rest` and prints the URI that opens it
# (Write for a disk, Read for a disk restore point unless told).
az_nbd_uri() {
  local id=$1 field=nbdUri access=${3:-}
  [ "${2:-unix}" = tcp ] && field=nbdTcpUri
  [ -n "$access" ] || case $id in *diskRestorePoints*) access=Read ;; *) access=Write ;; esac
  az rest --method post --url "$id/vmrpGrantNbdAccess?api-version=2024-03-02" --body "{\"access\":\"$access\"}" \
    --query "$field" -o tsv
}
