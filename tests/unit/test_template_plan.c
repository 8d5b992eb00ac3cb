/*
 * test_template_plan.c — the planner (src/template/template.c …): Microsoft's
 * restore point templates planned with real values, ARM's errors with their
 * line and column, copy loops, conditions, dependencies, nested deployments,
 * the limits, secure values, and the time an 800-resource template takes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "template/template.h"
#include "unit.h"

#define SUB "00000000-0000-0000-0000-0000000000aa"
#define RG "/subscriptions/" SUB "/resourceGroups/rg1"
#define SCHEMA "\"$schema\": \"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#\""
#define SUB_SCHEMA \
  "\"$schema\": \"https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#\""

static const struct tpl_world rg_world = {
    .scope = TPL_SCOPE_RESOURCE_GROUP,
    .subscription_id = SUB,
    .subscription_name = "sub one",
    .tenant_id = "11111111-1111-1111-1111-111111111111",
    .resource_group = "rg1",
    .rg_location = "eastus",
    .deployment_name = "dep1",
    .mode = "Incremental",
};

static const struct tpl_world sub_world = {
    .scope = TPL_SCOPE_SUBSCRIPTION,
    .subscription_id = SUB,
    .subscription_name = "sub one",
    .tenant_id = "11111111-1111-1111-1111-111111111111",
    .deployment_name = "subdep",
    .deployment_location = "westus",
    .mode = "Incremental",
};

struct loaded {
  json_t *doc, *params;
  struct tpl_posmap *pos;
  struct tpl_template *t;
  struct tpl_error err;
};

static int load(struct loaded *l, const char *text, const char *params, const struct tpl_world *w)
{
  memset(l, 0, sizeof *l);
  int r = tpl_read(text, strlen(text), &l->doc, &l->pos, &l->err);
  if (r < 0)
    return r;
  l->params = params ? json_loads(params, 0, NULL) : NULL;
  struct tpl_input in = {l->doc, l->pos, l->params, "properties.template", w};
  return tpl_load(&in, &l->t, &l->err);
}

static void unload(struct loaded *l)
{
  tpl_free(l->t);
  tpl_posmap_free(l->pos);
  json_decref(l->doc);
  json_decref(l->params);
}

/* After a load that must succeed: the checks that follow need its plan. */
#define NEED_PLAN(l)  \
  do {                \
    if (!(l)->t) {    \
      unload(l);      \
      return;         \
    }                 \
  } while (0)

static char *seed(const char *name)
{
  char path[1024];
  const char *src = getenv("VMRP_SRC");
  snprintf(path, sizeof path, "%s/tests/templates/seed/%s", src ? src : ".", name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf)
    buf[n] = '\0';
  fclose(f);
  return buf;
}

/* The body of plan entry i equals the JSON text want. */
static bool body_is(struct tpl_template *t, int i, const struct tpl_world *w, const char *want)
{
  json_t *body = NULL, *expected = json_loads(want, 0, NULL);
  struct tpl_error err = {0};
  int r = tpl_body(t, i, w, &body, &err);
  bool ok = r == 0 && expected && json_equal(body, expected);
  if (!ok) {
    char *got = body ? json_dumps(body, JSON_COMPACT) : NULL;
    printf("# body %d: r=%d %s\n#   got  %s\n#   want %s\n", i, r, err.message, got ? got : "(none)", want);
    free(got);
  }
  json_decref(body);
  json_decref(expected);
  return ok;
}

static bool deps_are(const struct tpl_template *t, int i, int n, const int *want)
{
  const struct tpl_resource *r = tpl_get(t, i);
  if (r->ndepends != n)
    return false;
  for (int k = 0; k < n; k++)
    if (r->depends[k] != want[k])
      return false;
  return true;
}

/* err is InvalidTemplate "Deployment template validation failed: '<detail>'." at line/col and path. */
static bool failed(const struct tpl_error *err, const char *detail, int line, int col, const char *path)
{
  char want[sizeof err->message];
  snprintf(want, sizeof want, "Deployment template validation failed: '%s'.", detail);
  bool ok = !strcmp(err->code, "InvalidTemplate") && !strcmp(err->message, want) && err->line == line &&
            err->col == col && !strcmp(err->path, path);
  if (!ok)
    printf("# got  %s %s (%d:%d %s)\n# want %s (%d:%d %s)\n", err->code, err->message, err->line, err->col, err->path,
           want, line, col, path);
  return ok;
}

/* ---- Microsoft's restore point templates ------------------------------------------ */
static void seed_collection(void **state)
{
  (void)state;
  char *text = seed("CreateRestorePointCollection.json");
  struct loaded l;
  CHECK(text && load(&l, text,
                     "{\"RestorePointCollectionName\": {\"value\": \"rpc1\"}, \"VMResourceId\": {\"value\": \"" RG
                     "/providers/Microsoft.Compute/virtualMachines/vm1\"}}",
                     &rg_world) == 0,
        "CreateRestorePointCollection.json plans (%s)", l.err.message);
  if (!l.t) {
    free(text);
    unload(&l);
    return;
  }
  CHECK(tpl_count(l.t) == 1, "one resource");
  const struct tpl_resource *r = tpl_get(l.t, 0);
  CHECK(r->kind == TPL_RESOURCE && !strcmp(r->id, RG "/providers/Microsoft.Compute/restorePointCollections/rpc1") &&
            !strcmp(r->type, "Microsoft.Compute/restorePointCollections") && !strcmp(r->name, "rpc1") &&
            !strcmp(r->api_version, "2021-03-01") && !strcmp(r->subscription, SUB) &&
            !strcmp(r->resource_group, "rg1") && r->deploy && r->ndepends == 0,
        "the collection's id, type, name, apiVersion, scope");
  CHECK(r->pos.line == 14 && r->pos.col == 19 && !strcmp(r->path, "properties.template.resources[0]"),
        "declared at line 14, column 19 (resources[0])");
  CHECK(body_is(l.t, 0, &rg_world,
                "{\"location\": \"eastus\", \"properties\": {\"source\": {\"id\": \"" RG
                "/providers/Microsoft.Compute/virtualMachines/vm1\"}}}"),
        "its body: location from resourceGroup(), the VM's id");
  json_t *view = tpl_parameters_view(l.t);
  json_t *want = json_pack("{s:{s:s,s:s}, s:{s:s,s:s}}", "RestorePointCollectionName", "type", "String", "value",
                           "rpc1", "VMResourceId", "type", "String", "value",
                           RG "/providers/Microsoft.Compute/virtualMachines/vm1");
  CHECK(json_equal(view, want), "the parameters view: capitalised types, values");
  CHECK(strlen(tpl_hash(l.t)) > 0, "a template hash (%s)", tpl_hash(l.t));
  json_decref(view);
  json_decref(want);
  unload(&l);
  free(text);
}

static void seed_restore_point_and_disk(void **state)
{
  (void)state;
  char *text = seed("CreateRestorePoint.json");
  struct loaded l;
  CHECK(text && load(&l, text,
                     "{\"RestorePointCollectionName\": {\"value\": \"rpc1\"}, \"RestorePointName\": {\"value\": "
                     "\"rp1\"}}",
                     &rg_world) == 0,
        "CreateRestorePoint.json plans (%s)", l.err.message);
  if (!l.t) {
    free(text);
    unload(&l);
    return;
  }
  const struct tpl_resource *r = tpl_get(l.t, 0);
  CHECK(tpl_count(l.t) == 1 &&
            !strcmp(r->id, RG "/providers/Microsoft.Compute/restorePointCollections/rpc1/restorePoints/rp1") &&
            !strcmp(r->name, "rpc1/rp1") && !strcmp(r->type, "Microsoft.Compute/restorePointCollections/restorePoints"),
        "the restore point's id interleaves type and name segments");
  CHECK(body_is(l.t, 0, &rg_world, "{}"), "its body is empty (no location, no properties)");
  json_t *view = tpl_parameters_view(l.t);
  CHECK(!strcmp(json_string_value(json_object_get(json_object_get(view, "RestorePointCollectionResourceId"), "value")),
                "/subscriptions/<SubscriptionID>/resourceGroups/<ResourceGroupName>/providers/Microsoft.Compute/"
                "restorePointCollections/<RestorePointCollectionName>"),
        "the unused parameter shows its default");
  json_decref(view);
  unload(&l);
  free(text);

  text = seed("CreateDiskFromDiskRestorePoint.json");
  const char *drp = RG "/providers/Microsoft.Compute/restorePointCollections/rpc1/restorePoints/rp1/"
                       "diskRestorePoints/os1";
  char params[1024];
  snprintf(params, sizeof params,
           "{\"DiskName\": {\"value\": \"d2\"}, \"DiskRestorePointResourceId\": {\"value\": \"%s\"}}", drp);
  CHECK(text && load(&l, text, params, &rg_world) == 0, "CreateDiskFromDiskRestorePoint.json plans (%s)",
        l.err.message);
  if (!l.t) {
    free(text);
    unload(&l);
    return;
  }
  CHECK(tpl_count(l.t) == 1 && !strcmp(tpl_get(l.t, 0)->id, RG "/providers/Microsoft.Compute/disks/d2") &&
            !strcmp(tpl_get(l.t, 0)->api_version, "2020-12-01"),
        "the disk's id and apiVersion");
  char want[1024];
  snprintf(want, sizeof want,
           "{\"location\": \"eastus\", \"properties\": {\"creationData\": {\"createOption\": \"Restore\", "
           "\"sourceResourceId\": \"%s\"}}}",
           drp);
  CHECK(body_is(l.t, 0, &rg_world, want), "its body");
  unload(&l);
  free(text);
}

static void seed_restore_vm(void **state)
{
  (void)state;
  char *text = seed("RestoreVMFromRestorePoint.json");
  const char *params =
      "{\"location\": {\"value\": \"eastus\"}, \"networkInterfaceName\": {\"value\": \"nic1\"},"
      " \"networkSecurityGroupName\": {\"value\": \"nsg1\"}, \"subnetName\": {\"value\": \"default\"},"
      " \"virtualNetworkName\": {\"value\": \"vnet1\"}, \"publicIpAddressName\": {\"value\": \"pip1\"},"
      " \"virtualMachineName\": {\"value\": \"vm2\"}, \"virtualMachineComputerName\": {\"value\": \"vm2\"},"
      " \"virtualMachineSize\": {\"value\": \"Standard_D2s_v3\"}, \"adminUsername\": {\"value\": \"azureuser\"},"
      " \"adminPassword\": {\"value\": \"S3cret-Pa55w0rd\"},"
      " \"osdiskRestorePointResourceId\": {\"value\": \"" RG
      "/providers/Microsoft.Compute/restorePointCollections/rpc1/restorePoints/rp1/diskRestorePoints/os1\"},"
      " \"datadiskRestorePointResourceId\": {\"value\": \"" RG
      "/providers/Microsoft.Compute/restorePointCollections/rpc1/restorePoints/rp1/diskRestorePoints/dd1\"},"
      " \"restoredOSDiskName\": {\"value\": \"osdisk2\"}, \"restoredDataDiskName\": {\"value\": \"datadisk2\"}}";
  struct loaded l;
  CHECK(text && load(&l, text, params, &rg_world) == 0, "RestoreVMFromRestorePoint.json plans (%s)", l.err.message);
  if (!l.t) {
    free(text);
    unload(&l);
    return;
  }
  CHECK(tpl_count(l.t) == 7, "seven resources");
  static const char *const ids[] = {
      RG "/providers/Microsoft.Compute/disks/osdisk2",
      RG "/providers/Microsoft.Compute/disks/datadisk2",
      RG "/providers/Microsoft.Network/networkInterfaces/nic1",
      RG "/providers/Microsoft.Network/networkSecurityGroups/nsg1",
      RG "/providers/Microsoft.Network/virtualNetworks/vnet1",
      RG "/providers/Microsoft.Network/publicIpAddresses/pip1",
      RG "/providers/Microsoft.Compute/virtualMachines/vm2",
  };
  for (int i = 0; i < 7 && tpl_count(l.t) == 7; i++)
    CHECK(!strcmp(tpl_get(l.t, i)->id, ids[i]), "resource %d is %s", i, ids[i]);
  static const int nic_deps[] = {3, 4, 5}, vm_deps[] = {0, 1, 2};
  CHECK(deps_are(l.t, 2, 3, nic_deps), "the NIC waits for the NSG, the VNet and the public IP ('Ns/type/name')");
  CHECK(deps_are(l.t, 6, 3, vm_deps), "the VM waits for both disks and the NIC");
  CHECK(deps_are(l.t, 0, 0, NULL) && deps_are(l.t, 3, 0, NULL), "the others wait for nothing");
  CHECK(body_is(l.t, 0, &rg_world,
                "{\"location\": \"eastus\", \"properties\": {\"creationData\": {\"createOption\": \"Restore\","
                " \"sourceResourceId\": \"" RG
                "/providers/Microsoft.Compute/restorePointCollections/rpc1/restorePoints/rp1/diskRestorePoints/os1\"},"
                " \"diskSizeGB\": \"1024\"}, \"sku\": {\"name\": \"Premium_LRS\"}}"),
        "the OS disk's body: diskSizeGB stays the string \"1024\" (the handler converts it, as Azure's does)");
  CHECK(body_is(l.t, 2, &rg_world,
                "{\"location\": \"eastus\", \"properties\": {\"ipConfigurations\": [{\"name\": \"ipconfig1\","
                " \"properties\": {\"subnet\": {\"id\": \"" RG
                "/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/default\"},"
                " \"privateIPAllocationMethod\": \"Dynamic\", \"publicIpAddress\": {\"id\": \"" RG
                "/providers/Microsoft.Network/publicIpAddresses/pip1\", \"properties\": {\"deleteOption\": "
                "\"Detach\"}}}}], \"networkSecurityGroup\": {\"id\": \"" RG
                "/providers/Microsoft.Network/networkSecurityGroups/nsg1\"}}}"),
        "the NIC's body: ids from resourceId(resourceGroup().name, ...) and variables");
  CHECK(body_is(l.t, 3, &rg_world, "{\"location\": \"eastus\", \"properties\": {\"securityRules\": []}}"),
        "the NSG's body keeps its empty array");
  CHECK(body_is(l.t, 6, &rg_world,
                "{\"location\": \"eastus\", \"properties\": {\"hardwareProfile\": {\"vmSize\": \"Standard_D2s_v3\"},"
                " \"storageProfile\": {\"osDisk\": {\"osType\": \"Windows\", \"createOption\": \"attach\","
                " \"managedDisk\": {\"id\": \"" RG "/providers/Microsoft.Compute/disks/osdisk2\"}},"
                " \"datadisks\": [{\"lun\": 0, \"createOption\": \"attach\", \"managedDisk\": {\"id\": \"" RG
                "/providers/Microsoft.Compute/disks/datadisk2\"}}]},"
                " \"networkProfile\": {\"networkInterfaces\": [{\"id\": \"" RG
                "/providers/Microsoft.Network/networkInterfaces/nic1\", \"properties\": {\"deleteOption\": "
                "\"Detach\"}}]},"
                " \"diagnosticsProfile\": {\"bootDiagnostics\": {\"enabled\": true}}}}"),
        "the VM's body: 'datadisks' kept as written, the resourceId() forms resolved");
  /* the secure parameter: only its type anywhere */
  json_t *view = tpl_parameters_view(l.t);
  char *dump = json_dumps(view, JSON_COMPACT);
  CHECK(dump && !strstr(dump, "S3cret") && strstr(dump, "\"adminPassword\":{\"type\":\"SecureString\"}"),
        "the parameters view shows adminPassword's type only");
  free(dump);
  json_decref(view);
  const char *const *secrets;
  int n = tpl_secrets(l.t, &secrets);
  CHECK(n == 1 && !strcmp(secrets[0], "S3cret-Pa55w0rd"), "tpl_secrets lists the password");
  unload(&l);
  free(text);
}

/* Microsoft's crash-consistent sample: concat() without the '/'. */
static const char crash_consistent[] =
    "{\n"
    "    \"$schema\": \"https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#\",\n"
    "    \"contentVersion\": \"1.0.0.0\",\n"
    "    \"parameters\": {\n"
    "        \"RPCName\": { \"type\": \"string\" },\n"
    "        \"RPName\": { \"type\": \"string\" }\n"
    "    },\n"
    "    \"resources\": [\n"
    "        {\n"
    "            \"type\": \"Microsoft.Compute/restorePointCollections/restorePoints\",\n"
    "            \"name\": \"[concat(parameters('RPCName'), parameters('RPName'))]\",\n"
    "            \"apiVersion\": \"2021-07-01\",\n"
    "            \"properties\": { \"consistencyMode\": \"CrashConsistent\" }\n"
    "        }\n"
    "    ]\n"
    "}\n";

static void seed_crash_consistent(void **state)
{
  (void)state;
  struct loaded l;
  CHECK(load(&l, crash_consistent, "{\"RPCName\": {\"value\": \"rpc1\"}, \"RPName\": {\"value\": \"rp1\"}}",
             &rg_world) == -EINVAL,
        "the crash-consistent sample is refused");
  CHECK(failed(&l.err,
               "The template resource 'rpc1rp1' for type 'Microsoft.Compute/restorePointCollections/restorePoints' "
               "at line '9' and column '9' has incorrect segment lengths. A nested resource type must have "
               "identical number of segments as its resource name. A root resource type must have segment length "
               "one greater than its resource name. Please see https://aka.ms/arm-syntax-resources for usage "
               "details.",
               9, 9, "properties.template.resources[0]"),
        "with ARM's segment lengths message, line and column");
  unload(&l);
  CHECK(load(&l, crash_consistent, "{\"RPCName\": {\"value\": \"rpc1/\"}, \"RPName\": {\"value\": \"rp1\"}}",
             &rg_world) == 0 &&
            !strcmp(tpl_get(l.t, 0)->name, "rpc1/rp1"),
        "it deploys when the collection name ends in '/'");
  CHECK(body_is(l.t, 0, &rg_world, "{\"properties\": {\"consistencyMode\": \"CrashConsistent\"}}"), "its body");
  unload(&l);
}

/* ---- parameters -------------------------------------------------------------------- */
static const char typed[] = "{\n"
                            "  " SCHEMA ",\n"
                            "  \"parameters\": {\n"
                            "    \"n\": {\"type\": \"int\", \"minValue\": 1, \"maxValue\": 5},\n"
                            "    \"s\": {\"type\": \"string\", \"allowedValues\": [\"a\", \"b\"], \"defaultValue\": \"a\"},\n"
                            "    \"req\": {\"type\": \"string\", \"minLength\": 2, \"maxLength\": 4},\n"
                            "    \"d\": {\"type\": \"string\", \"defaultValue\": \"[concat(parameters('req'), '-', "
                            "parameters('n'))]\"},\n"
                            "    \"o\": {\"type\": \"secureObject\", \"defaultValue\": {\"k\": \"hidden1\", \"l\": "
                            "[\"hidden2\"]}},\n"
                            "    \"a\": {\"type\": \"array\", \"allowedValues\": [1, 2, 3], \"defaultValue\": [1, 3]},\n"
                            "    \"b\": {\"type\": \"Bool\", \"defaultValue\": true}\n"
                            "  },\n"
                            "  \"resources\": []\n"
                            "}\n";

static void parameters_checked(void **state)
{
  (void)state;
  struct loaded l;
  CHECK(load(&l, typed, "{\"n\": {\"value\": 3}, \"req\": {\"value\": \"[x]\"}}", &rg_world) == 0,
        "valid values plan (%s)", l.err.message);
  NEED_PLAN(&l);
  json_t *view = tpl_parameters_view(l.t);
  json_t *want = json_loads("{\"n\": {\"type\": \"Int\", \"value\": 3}, \"s\": {\"type\": \"String\", \"value\": \"a\"},"
                            " \"req\": {\"type\": \"String\", \"value\": \"[x]\"},"
                            " \"d\": {\"type\": \"String\", \"value\": \"[x]-3\"},"
                            " \"o\": {\"type\": \"SecureObject\"}, \"a\": {\"type\": \"Array\", \"value\": [1, 3]},"
                            " \"b\": {\"type\": \"Bool\", \"value\": true}}",
                            0, NULL);
  CHECK(json_equal(view, want),
        "the view: supplied values not evaluated ('[x]' stays), defaults evaluated, secure object without value");
  const char *const *secrets;
  int n = tpl_secrets(l.t, &secrets);
  CHECK(n == 2 && !strcmp(secrets[0], "hidden1") && !strcmp(secrets[1], "hidden2"),
        "the secure object's strings are secrets");
  json_decref(view);
  json_decref(want);
  unload(&l);

  CHECK(load(&l, typed, "{\"n\": {\"value\": 3}}", &rg_world) == -EINVAL &&
            failed(&l.err,
                   "The value for the template parameter 'req' at line '6' and column '12' is not provided. Please "
                   "see https://aka.ms/arm-create-parameter-file for usage details.",
                   6, 12, "properties.template.parameters.req"),
        "a missing parameter");
  unload(&l);
  CHECK(load(&l, typed, "{\"n\": {\"value\": 3}, \"req\": {\"value\": \"ab\"}, \"x\": {\"value\": 1}, \"y\": {}}",
             &rg_world) == -EINVAL &&
            failed(&l.err,
                   "The template parameters 'x, y' in the parameters file are not valid; they are not present in "
                   "the original template and can therefore not be provided at deployment time. The only supported "
                   "parameters for this template are 'n, s, req, d, o, a, b'.",
                   0, 0, "properties.parameters"),
        "extra parameters");
  unload(&l);
  CHECK(load(&l, typed, "{\"n\": {\"value\": \"3\"}, \"req\": {\"value\": \"ab\"}}", &rg_world) == -EINVAL &&
            failed(&l.err,
                   "The provided value for the template parameter 'n' at line '4' and column '10' is not valid. "
                   "Expected a value of type 'Integer', but received a value of type 'String'. Please see "
                   "https://aka.ms/arm-create-parameter-file for usage details.",
                   4, 10, "properties.template.parameters.n"),
        "a string for an int: no coercion");
  unload(&l);
  CHECK(load(&l, typed, "{\"n\": {\"value\": 3}, \"req\": {\"value\": \"ab\"}, \"s\": {\"value\": \"c\"}}",
             &rg_world) == -EINVAL &&
            failed(&l.err,
                   "The provided value 'c' for the template parameter 's' at line '5' and column '10' is not valid. "
                   "The parameter value is not part of the allowed value(s): 'a,b'.",
                   5, 10, "properties.template.parameters.s"),
        "a value outside allowedValues");
  unload(&l);
  CHECK(load(&l, typed, "{\"n\": {\"value\": 3}, \"req\": {\"value\": \"ab\"}, \"a\": {\"value\": [1, 4]}}",
             &rg_world) == -EINVAL &&
            strstr(l.err.message, "The provided value '[1,4]' for the template parameter 'a'"),
        "an array parameter: every element must be allowed");
  unload(&l);
  CHECK(load(&l, typed, "{\"n\": {\"value\": 6}, \"req\": {\"value\": \"ab\"}}", &rg_world) == -EINVAL &&
            failed(&l.err,
                   "The provided value for the template parameter 'n' at line '4' and column '10' is not valid. The "
                   "value should be less than or equal to '5'. Please see "
                   "https://aka.ms/arm-deploy/#parameter-file for usage details.",
                   4, 10, "properties.template.parameters.n"),
        "maxValue");
  unload(&l);
  CHECK(load(&l, typed, "{\"n\": {\"value\": 3}, \"req\": {\"value\": \"abcde\"}}", &rg_world) == -EINVAL &&
            failed(&l.err,
                   "The provided value for the template parameter 'req' at line '6' and column '12' is not valid. "
                   "Length of the value should be less than or equal to '4'. Please see "
                   "https://aka.ms/arm-deploy/#parameter-file for usage details.",
                   6, 12, "properties.template.parameters.req"),
        "maxLength");
  unload(&l);
  CHECK(load(&l, typed, "{\"n\": {\"value\": 0}, \"req\": {\"value\": \"ab\"}}", &rg_world) == -EINVAL &&
            strstr(l.err.message, "greater than or equal to '1'"),
        "minValue");
  unload(&l);
  CHECK(load(&l, typed,
             "{\"n\": {\"value\": 3}, \"req\": {\"reference\": {\"keyVault\": {\"id\": \"/subscriptions/x\"}, "
             "\"secretName\": \"s\"}}}",
             &rg_world) == -EINVAL &&
            strstr(l.err.message, "Key Vault references are not supported") &&
            !strcmp(l.err.path, "properties.parameters.req"),
        "a Key Vault reference is refused, naming what is unsupported");
  unload(&l);
}

/* ---- the template's shape ----------------------------------------------------------- */
static void shape_refused(void **state)
{
  (void)state;
  struct loaded l;
  CHECK(load(&l, "{" SCHEMA ",\n \"resources\": [],\n \"parameter\": {}}", NULL, &rg_world) == -EINVAL &&
            !strcmp(l.err.code, "InvalidRequestContent") &&
            !strcmp(l.err.message,
                    "The request content was invalid and could not be deserialized: 'Could not find member "
                    "'parameter' on object of type 'Template'. Path 'properties.template.parameter', line 3, "
                    "position 15.'."),
        "an unknown top-level member, as ARM's deserializer refuses it");
  unload(&l);
  CHECK(load(&l, "{" SUB_SCHEMA ", \"resources\": []}", NULL, &rg_world) == -EINVAL &&
            strstr(l.err.message, "is not supported for a deployment at resource group scope"),
        "a subscription template at resource group scope");
  unload(&l);
  CHECK(load(&l, "{" SCHEMA ", \"resources\": []}", NULL, &sub_world) == -EINVAL &&
            strstr(l.err.message, "is not supported for a deployment at subscription scope"),
        "a resource group template at subscription scope");
  unload(&l);
  CHECK(load(&l, "{\"resources\": []}", NULL, &rg_world) == -EINVAL && strstr(l.err.message, "template schema ''"),
        "no $schema");
  unload(&l);
  CHECK(load(&l, "{" SCHEMA ", \"languageVersion\": \"2.0\", \"resources\": {}}", NULL, &rg_world) == -EINVAL &&
            strstr(l.err.message, "'languageVersion'") && strstr(l.err.message, "not supported by vmrp"),
        "languageVersion 2.0");
  unload(&l);
  CHECK(load(&l, "{" SCHEMA ", \"functions\": [{\"namespace\": \"x\"}], \"resources\": []}", NULL, &rg_world) ==
                -EINVAL &&
            strstr(l.err.message, "User-defined functions are not supported by vmrp"),
        "user functions");
  unload(&l);
  CHECK(load(&l, "{" SCHEMA ", \"functions\": [], \"metadata\": {\"_generator\": {}}, \"resources\": []}", NULL,
             &rg_world) == 0,
        "an empty 'functions' and metadata are fine");
  unload(&l);
  CHECK(load(&l,
             "{" SCHEMA ", \"resources\": [{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", "
             "\"name\": \"d\", \"scope\": \"x\"}]}",
             NULL, &rg_world) == -EINVAL &&
            strstr(l.err.message, "uses 'scope', which vmrp does not support"),
        "an extension resource ('scope')");
  unload(&l);
  CHECK(load(&l,
             "{" SCHEMA ", \"resources\": [{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", "
             "\"name\": \"d\", \"existing\": true}]}",
             NULL, &rg_world) == -EINVAL &&
            strstr(l.err.message, "uses 'existing'"),
        "'existing'");
  unload(&l);
  CHECK(load(&l,
             "{" SCHEMA ", \"resources\": [{\"type\": \"Microsoft.Resources/deployments\", \"apiVersion\": "
             "\"2021-04-01\", \"name\": \"n\", \"properties\": {\"mode\": \"Incremental\", \"templateLink\": "
             "{\"uri\": \"https://example.com/t.json\"}}}]}",
             NULL, &rg_world) == -EINVAL &&
            strstr(l.err.message, "uses 'templateLink': linked templates"),
        "templateLink");
  unload(&l);
}

/* ---- dependencies -------------------------------------------------------------------- */
#define DISK(name, extra)                                                                                   \
  "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"" name "\"" extra \
  ", \"properties\": {\"diskSizeGB\": 1}}"

static void dependencies(void **state)
{
  (void)state;
  struct loaded l;
  const char *text =
      "{" SCHEMA ", \"resources\": [\n" DISK("a", "") ",\n" DISK("b", ", \"dependsOn\": [\"a\"]") ",\n" DISK(
          "c", ", \"dependsOn\": [\"[resourceId('Microsoft.Compute/disks', 'b')]\", \"Microsoft.Compute/disks/a\"]") ",\n"
      "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"[concat('l', "
      "copyIndex())]\", \"copy\": {\"name\": \"loop\", \"count\": 2}, \"properties\": {}},\n" DISK(
          "e", ", \"dependsOn\": [\"LOOP\"]") ",\n" DISK("f", ", \"condition\": false, \"dependsOn\": [\"e\"]") ",\n" DISK(
          "g", ", \"dependsOn\": [\"f\", \"a\"]") "]}";
  CHECK(load(&l, text, NULL, &rg_world) == 0, "a template with every form of dependsOn plans (%s)", l.err.message);
  NEED_PLAN(&l);
  static const int b[] = {0}, c[] = {0, 1}, e[] = {3, 4}, g[] = {0};
  CHECK(tpl_count(l.t) == 8, "8 entries (the loop expanded)");
  CHECK(deps_are(l.t, 1, 1, b), "by name");
  CHECK(deps_are(l.t, 2, 2, c), "by id (resourceId()) and by 'Ns/type/name'");
  CHECK(deps_are(l.t, 5, 2, e), "by loop name (case-insensitive): every instance");
  CHECK(!tpl_get(l.t, 6)->deploy && deps_are(l.t, 7, 1, g), "a condition-false resource drops out of dependsOn");
  CHECK(!strcmp(tpl_get(l.t, 4)->name, "l1") && !strcmp(tpl_get(l.t, 4)->path, "properties.template.resources[3]"),
        "loop instances are named by copyIndex() and keep their declaration's path");
  unload(&l);

  text = "{" SCHEMA ",\n \"resources\": [\n" DISK("a", "") ",\n  " DISK("b", ", \"dependsOn\": [\"nothere\"]") "]}";
  CHECK(load(&l, text, NULL, &rg_world) == -EINVAL &&
            failed(&l.err,
                   "The resource 'nothere' is not defined in the template. Please see https://aka.ms/arm-template "
                   "for usage details.",
                   4, 3, "properties.template.resources[1]"),
        "an unknown dependsOn");
  unload(&l);

  text = "{" SCHEMA ",\n \"resources\": [\n" DISK("a", ", \"dependsOn\": [\"c\"]") ",\n" DISK(
      "b", ", \"dependsOn\": [\"a\"]") ",\n" DISK("c", ", \"dependsOn\": [\"b\"]") "]}";
  CHECK(load(&l, text, NULL, &rg_world) == -EINVAL &&
            failed(&l.err,
                   "Circular dependency detected on resource: '" RG
                   "/providers/Microsoft.Compute/disks/a'. Please see https://aka.ms/arm-template/#resources for "
                   "usage details.",
                   3, 1, "properties.template.resources[0]"),
        "a cycle");
  unload(&l);

  /* reference() by name is a dependency, by id it is not */
  text = "{" SCHEMA ", \"resources\": [" DISK("a", "") ", " DISK("b", "") ",\n"
         "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"c\", \"properties\": "
         "{\"x\": \"[concat(reference('a').diskSizeGB, reference(resourceId('Microsoft.Compute/disks', 'b')).y)]\","
         " \"y\": \"[if(false(), reference(concat('b', '')), 1)]\"}}]}";
  CHECK(load(&l, text, NULL, &rg_world) == 0, "reference() in properties (%s)", l.err.message);
  NEED_PLAN(&l);
  static const int ab[] = {0, 1};
  CHECK(deps_are(l.t, 2, 2, ab), "reference('a') and reference(concat('b', '')) (even in an if() branch not taken) are edges, "
        "reference(resourceId(...)) is not");
  unload(&l);
}

/* ---- copy loops and conditions --------------------------------------------------------- */
static void copy_loops(void **state)
{
  (void)state;
  struct loaded l;
  const char *text =
      "{" SCHEMA ",\n"
      " \"variables\": {\"base\": \"d\", \"copy\": [{\"name\": \"sizes\", \"count\": 5, \"input\": "
      "\"[concat('s', copyIndex('sizes', 1))]\"}],\n"
      "   \"disks\": {\"copy\": [{\"name\": \"list\", \"count\": 2, \"input\": {\"lun\": \"[copyIndex('list')]\"}}]}},\n"
      " \"resources\": [{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\",\n"
      "   \"name\": \"[concat(variables('base'), copyIndex(1))]\",\n"
      "   \"copy\": {\"name\": \"disks\", \"count\": \"5\", \"mode\": \"serial\", \"batchSize\": 2},\n"
      "   \"properties\": {\"diskSizeGB\": \"[variables('sizes')[copyIndex()]]\", \"n\": null,\n"
      "     \"copy\": [{\"name\": \"tags\", \"count\": \"[copyIndex(1)]\", \"input\": "
      "\"[concat('t', copyIndex('tags'), '-', copyIndex())]\"}],\n"
      "     \"luns\": \"[variables('disks')]\"}}],\n"
      " \"outputs\": {\"names\": {\"type\": \"array\", \"copy\": {\"count\": 3, \"input\": \"[concat('o', "
      "copyIndex())]\"}},\n"
      "   \"skipped\": {\"type\": \"string\", \"condition\": false, \"value\": \"x\"},\n"
      "   \"n\": {\"type\": \"array\", \"value\": \"[variables('sizes')]\"}}}";
  CHECK(load(&l, text, NULL, &rg_world) == 0, "copy loops everywhere plan (%s)", l.err.message);
  NEED_PLAN(&l);
  CHECK(tpl_count(l.t) == 5 && !strcmp(tpl_get(l.t, 0)->name, "d1") && !strcmp(tpl_get(l.t, 4)->name, "d5"),
        "a numeric-string count of 5; copyIndex(1) names d1..d5");
  static const int none[] = {0}, first[] = {0, 1}, second[] = {2, 3};
  CHECK(deps_are(l.t, 0, 0, none) && deps_are(l.t, 1, 0, none) && deps_are(l.t, 2, 2, first) &&
            deps_are(l.t, 3, 2, first) && deps_are(l.t, 4, 2, second),
        "serial, batchSize 2: each batch waits for the one before");
  CHECK(body_is(l.t, 2, &rg_world,
                "{\"properties\": {\"diskSizeGB\": \"s3\", \"tags\": [\"t0-2\", \"t1-2\", \"t2-2\"],"
                " \"luns\": {\"list\": [{\"lun\": 0}, {\"lun\": 1}]}}}"),
        "instance 2: a variable copy, a property copy (copyIndex() is the resource's), a variable's own property "
        "copy, null dropped");
  json_t *outs = NULL;
  struct tpl_error err = {0};
  CHECK(tpl_outputs(l.t, &rg_world, &outs, &err) == 0, "outputs evaluate (%s)", err.message);
  json_t *want = json_loads("{\"names\": {\"type\": \"Array\", \"value\": [\"o0\", \"o1\", \"o2\"]},"
                            " \"n\": {\"type\": \"Array\", \"value\": [\"s1\", \"s2\", \"s3\", \"s4\", \"s5\"]}}",
                            0, NULL);
  CHECK(json_equal(outs, want), "output copy; a condition-false output is left out");
  json_decref(outs);
  json_decref(want);
  unload(&l);

  static const struct {
    const char *copy, *what;
  } bad[] = {
      {"{\"name\": \"l\", \"count\": 801}", "must be an integer from 0 to 800"},
      {"{\"name\": \"l\", \"count\": -1}", "must be an integer from 0 to 800"},
      {"{\"name\": \"l\", \"count\": \"x\"}", "must be an integer from 0 to 800"},
      {"{\"name\": \"l\", \"count\": 2, \"mode\": \"serial\", \"batchSize\": 3}", "batchSize"},
      {"{\"name\": \"l\", \"count\": 2, \"mode\": \"sideways\"}", "copy mode 'sideways'"},
      {"{\"count\": 2}", "must have a 'name' and a 'count'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char t[1024];
    snprintf(t, sizeof t,
             "{" SCHEMA ", \"resources\": [{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", "
             "\"name\": \"[concat('d', copyIndex())]\", \"copy\": %s}]}",
             bad[i].copy);
    CHECK(load(&l, t, NULL, &rg_world) == -EINVAL && strstr(l.err.message, bad[i].what),
          "copy %s is refused (%s)", bad[i].copy, l.err.message);
    unload(&l);
  }
  CHECK(load(&l,
             "{" SCHEMA ", \"resources\": [{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", "
             "\"name\": \"[concat('d', copyIndex())]\", \"copy\": {\"name\": \"l\", \"count\": 0}}]}",
             NULL, &rg_world) == 0 &&
            tpl_count(l.t) == 0,
        "a count of 0 plans nothing");
  unload(&l);
}

static void children_and_conditions(void **state)
{
  (void)state;
  struct loaded l;
  const char *text =
      "{" SCHEMA ", \"parameters\": {\"on\": {\"type\": \"bool\"}}, \"resources\": [\n"
      "{\"type\": \"Microsoft.Compute/restorePointCollections\", \"apiVersion\": \"2021-03-01\", \"name\": \"rpc\","
      " \"location\": \"[resourceGroup().location]\", \"comments\": \"c\", \"resources\": [\n"
      "  {\"type\": \"restorePoints\", \"apiVersion\": \"2021-03-01\", \"name\": \"rp1\", \"dependsOn\": [\"rpc\"]},\n"
      "  {\"type\": \"restorePoints\", \"apiVersion\": \"2021-03-01\", \"name\": \"rp2\"}]},\n"
      "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"x\","
      " \"condition\": \"[parameters('on')]\"},\n"
      "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"y\","
      " \"dependsOn\": [\"x\", \"rpc/rp2\"]}]}";
  CHECK(load(&l, text, "{\"on\": {\"value\": false}}", &rg_world) == 0, "children and a condition plan (%s)",
        l.err.message);
  NEED_PLAN(&l);
  CHECK(tpl_count(l.t) == 5, "the children are flattened after their parent");
  const struct tpl_resource *rp1 = tpl_get(l.t, 1), *rp2 = tpl_get(l.t, 2);
  CHECK(!strcmp(rp1->type, "Microsoft.Compute/restorePointCollections/restorePoints") &&
            !strcmp(rp1->name, "rpc/rp1") &&
            !strcmp(rp1->id, RG "/providers/Microsoft.Compute/restorePointCollections/rpc/restorePoints/rp1") &&
            !strcmp(rp1->path, "properties.template.resources[0].resources[0]"),
        "a child's full type, name, id and path");
  static const int on_parent[] = {0}, y[] = {2};
  CHECK(deps_are(l.t, 1, 1, on_parent) && rp2->ndepends == 0,
        "a child waits for its parent only when it says so (dependsOn)");
  CHECK(!tpl_get(l.t, 3)->deploy && deps_are(l.t, 4, 1, y), "condition false: not deployed, not waited for");
  CHECK(body_is(l.t, 0, &rg_world, "{\"location\": \"eastus\"}"), "comments and children are not in the body");
  unload(&l);
  CHECK(load(&l, text, "{\"on\": {\"value\": true}}", &rg_world) == 0 && tpl_get(l.t, 3)->deploy, "condition true");
  static const int y2[] = {2, 3};
  CHECK(deps_are(l.t, 4, 2, y2), "then it is waited for");
  unload(&l);
}

static void resource_errors(void **state)
{
  (void)state;
  struct loaded l;
  static const struct {
    const char *resource, *message, *path;
  } bad[] = {
      {"{\"type\": \"Microsoft.Compute/disks\", \"name\": \"d\"}",
       "The template resource 'd' at line '2' and column '3' is missing the required member 'apiVersion'.",
       "properties.template.resources[0]"},
      {"{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"[createArray()]\"}",
       "The template resource '[createArray()]' at line '2' and column '75' must have a non-empty string 'name'.",
       "properties.template.resources[0].name"},
      {"{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"d\", \"condition\": \"yes\"}",
       "The template resource 'd' at line '2' and column '93' has a condition that is not a boolean value. Please "
       "see https://aka.ms/arm-template/#resources for usage details.",
       "properties.template.resources[0].condition"},
      {"{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"d\", \"dependsOn\": \"x\"}",
       "The 'dependsOn' of the template resource 'd' at line '2' and column '93' must be an array.",
       "properties.template.resources[0].dependsOn"},
      {"{\"type\": \"Microsoft.Compute/restorePointCollections\", \"apiVersion\": \"2021-03-01\", \"name\": \"c\", "
       "\"resources\": [{\"type\": \"restorePoints\", \"apiVersion\": \"2021-03-01\", \"name\": \"[copyIndex()]\", "
       "\"copy\": {\"name\": \"l\", \"count\": 2}}]}",
       "The template resource '[copyIndex()]' at line '2' and column '112' is declared inside its parent's "
       "'resources' and cannot have a copy loop. Please see https://aka.ms/arm-copy for usage details.",
       "properties.template.resources[0].resources[0].copy"},
      {"{\"type\": \"Microsoft.Compute/restorePointCollections\", \"apiVersion\": \"2021-03-01\", \"name\": \"c\", "
       "\"resources\": [{\"type\": \"restorePoints\", \"apiVersion\": \"2021-03-01\", \"name\": \"a/b\"}]}",
       "The template resource 'c/a/b' for type 'Microsoft.Compute/restorePointCollections/restorePoints' at line "
       "'2' and column '112' has incorrect segment lengths. A nested resource type must have identical number of "
       "segments as its resource name. A root resource type must have segment length one greater than its "
       "resource name. Please see https://aka.ms/arm-syntax-resources for usage details.",
       "properties.template.resources[0].resources[0]"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[1024];
    snprintf(text, sizeof text, "{" SCHEMA ", \"resources\": [\n  %s]}", bad[i].resource);
    struct tpl_error *e = &l.err;
    CHECK(load(&l, text, NULL, &rg_world) == -EINVAL && failed(e, bad[i].message, e->line, e->col, bad[i].path) &&
              e->line == 2,
          "refused: %s", bad[i].message);
    unload(&l);
  }
  CHECK(load(&l, "{" SCHEMA ", \"resources\": [\n" DISK("d", "") ",\n" DISK("D", "") "]}", NULL, &rg_world) == -EINVAL &&
            failed(&l.err,
                   "The resource '" RG "/providers/Microsoft.Compute/disks/D' at line '3' and column '1' is defined "
                   "multiple times in a template. Please see https://aka.ms/arm-template/#resources for usage "
                   "details.",
                   3, 1, "properties.template.resources[1]"),
        "one id twice");
  unload(&l);
  CHECK(load(&l, "{" SCHEMA ", \"resources\": [\n" DISK("d", ", \"condition\": false") ",\n" DISK("d", "") "]}", NULL,
             &rg_world) == 0,
        "unless a condition leaves one out (%s)", l.err.message);
  unload(&l);
  /* a child may also give its full type and name */
  CHECK(load(&l,
             "{" SCHEMA ", \"resources\": [{\"type\": \"Microsoft.Compute/restorePointCollections\", \"apiVersion\": "
             "\"2021-03-01\", \"name\": \"c\", \"resources\": [{\"type\": "
             "\"Microsoft.Compute/restorePointCollections/restorePoints\", \"apiVersion\": \"2021-03-01\", \"name\": "
             "\"c/p\"}]}]}",
             NULL, &rg_world) == 0 &&
            !strcmp(tpl_get(l.t, 1)->name, "c/p"),
        "a child with its full type and name (%s)", l.err.message);
  unload(&l);
}

/* ---- nested deployments --------------------------------------------------------------------- */
static void nested_deployments(void **state)
{
  (void)state;
  struct loaded l;
  const char *text =
      "{" SCHEMA ", \"parameters\": {\"size\": {\"type\": \"int\", \"defaultValue\": 4}},"
      " \"variables\": {\"prefix\": \"n\"}, \"resources\": [\n"
      "{\"type\": \"Microsoft.Resources/deployments\", \"apiVersion\": \"2021-04-01\", \"name\": \"outer1\","
      " \"properties\": {\"mode\": \"Incremental\", \"template\": {" SCHEMA ", \"resources\": [{\"type\": "
      "\"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"[concat(variables('prefix'), "
      "'o')]\", \"properties\": {\"diskSizeGB\": \"[parameters('size')]\"}}]}}},\n"
      "{\"type\": \"Microsoft.Resources/deployments\", \"apiVersion\": \"2021-04-01\", \"name\": \"inner1\","
      " \"resourceGroup\": \"rg2\", \"dependsOn\": [\"outer1\"],"
      " \"properties\": {\"mode\": \"Incremental\", \"expressionEvaluationOptions\": {\"scope\": \"inner\"},"
      " \"parameters\": {\"inner\": {\"value\": \"[concat(variables('prefix'), parameters('size'))]\"}},"
      " \"template\": {" SCHEMA ", \"parameters\": {\"inner\": {\"type\": \"string\"}}, \"variables\": {\"prefix\": "
      "\"i\"}, \"resources\": [{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": "
      "\"[concat(variables('prefix'), resourceGroup().name)]\", \"properties\": {\"diskSizeGB\": "
      "\"[parameters('inner')]\"}}], \"outputs\": {\"s\": {\"type\": \"string\", \"value\": \"[parameters('inner')]\"}}}}}]}";
  CHECK(load(&l, text, NULL, &rg_world) == 0, "nested deployments plan (%s)", l.err.message);
  NEED_PLAN(&l);
  const struct tpl_resource *o = tpl_get(l.t, 0), *i = tpl_get(l.t, 1);
  CHECK(o->kind == TPL_DEPLOYMENT && !strcmp(o->id, RG "/providers/Microsoft.Resources/deployments/outer1") &&
            !strcmp(o->resource_group, "rg1"),
        "a nested deployment into the same resource group");
  CHECK(i->kind == TPL_DEPLOYMENT &&
            !strcmp(i->id, "/subscriptions/" SUB "/resourceGroups/rg2/providers/Microsoft.Resources/deployments/inner1") &&
            !strcmp(i->resource_group, "rg2") && !strcmp(i->subscription, SUB),
        "one into another resource group (its resourceGroup member)");
  CHECK(body_is(l.t, 1, &rg_world,
                "{\"properties\": {\"mode\": \"Incremental\", \"expressionEvaluationOptions\": {\"scope\": "
                "\"inner\"}, \"parameters\": {\"inner\": {\"value\": \"n4\"}}, \"template\": {\"$schema\": "
                "\"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#\", "
                "\"parameters\": {\"inner\": {\"type\": \"string\"}}, \"variables\": {\"prefix\": \"i\"}, "
                "\"resources\": [{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", "
                "\"name\": \"[concat(variables('prefix'), resourceGroup().name)]\", \"properties\": "
                "{\"diskSizeGB\": \"[parameters('inner')]\"}}], \"outputs\": {\"s\": {\"type\": \"string\", \"value\": "
                "\"[parameters('inner')]\"}}}}}"),
        "a deployment's body: parameters evaluated, its template as written, no resourceGroup");

  struct tpl_template *child = NULL;
  struct tpl_error err = {0};
  CHECK(tpl_nested(l.t, 0, &rg_world, &child, &err) == 0, "outer scope plans (%s)", err.message);
  CHECK(child && tpl_count(child) == 1 && !strcmp(tpl_get(child, 0)->name, "no") &&
            body_is(child, 0, &rg_world, "{\"properties\": {\"diskSizeGB\": 4}}"),
        "outer: the parent's variables and parameters");
  CHECK(child && !strcmp(tpl_get(child, 0)->path, "properties.template.resources[0].properties.template.resources[0]"),
        "errors in it would name its path inside the parent");
  tpl_free(child);
  struct tpl_world rg2 = rg_world;
  rg2.resource_group = "rg2";
  rg2.deployment_name = "inner1";
  CHECK(tpl_nested(l.t, 1, &rg2, &child, &err) == 0, "inner scope plans (%s)", err.message);
  CHECK(child && !strcmp(tpl_get(child, 0)->name, "irg2") &&
            !strcmp(tpl_get(child, 0)->id, "/subscriptions/" SUB "/resourceGroups/rg2/providers/Microsoft.Compute/disks/irg2") &&
            body_is(child, 0, &rg2, "{\"properties\": {\"diskSizeGB\": \"n4\"}}"),
        "inner: its own variables, parameters passed, its own resource group");
  json_t *outs = NULL;
  CHECK(child && tpl_outputs(child, &rg2, &outs, &err) == 0 &&
            !strcmp(json_string_value(json_object_get(json_object_get(outs, "s"), "value")), "n4"),
        "its outputs");
  json_decref(outs);
  tpl_free(child);
  CHECK(tpl_nested(l.t, 5, &rg_world, &child, &err) == -EINVAL && !child, "tpl_nested of something else is refused");
  unload(&l);

  /* errors inside a nested template are found when the parent loads */
  text = "{" SCHEMA ", \"resources\": [{\"type\": \"Microsoft.Resources/deployments\", \"apiVersion\": "
         "\"2021-04-01\", \"name\": \"n1\", \"properties\": {\"mode\": \"Incremental\", \"template\": {" SCHEMA
         ", \"resources\": [{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": "
         "\"a/b\"}]}}}]}";
  CHECK(load(&l, text, NULL, &rg_world) == -EINVAL && strstr(l.err.message, "incorrect segment lengths") &&
            !strcmp(l.err.path, "properties.template.resources[0].properties.template.resources[0]"),
        "a nested template's error is found at the parent's load, with its path");
  unload(&l);
  text = "{" SCHEMA ", \"resources\": [{\"type\": \"Microsoft.Resources/deployments\", \"apiVersion\": "
         "\"2021-04-01\", \"name\": \"n1\", \"properties\": {\"mode\": \"Complete\", \"template\": {" SCHEMA
         ", \"resources\": []}}}]}";
  CHECK(load(&l, text, NULL, &rg_world) == -EINVAL && strstr(l.err.message, "support only 'Incremental' mode"),
        "a nested deployment in Complete mode is refused");
  unload(&l);
}

static void subscription_scope(void **state)
{
  (void)state;
  struct loaded l;
  const char *text =
      "{" SUB_SCHEMA ", \"parameters\": {\"rgName\": {\"type\": \"string\"}}, \"resources\": [\n"
      "{\"type\": \"Microsoft.Resources/resourceGroups\", \"apiVersion\": \"2021-04-01\", \"name\": "
      "\"[parameters('rgName')]\", \"location\": \"[deployment().location]\", \"tags\": {\"a\": \"b\"}},\n"
      "{\"type\": \"Microsoft.Resources/deployments\", \"apiVersion\": \"2021-04-01\", \"name\": \"intoRg\","
      " \"resourceGroup\": \"[parameters('rgName')]\", \"dependsOn\": [\"[resourceId('Microsoft.Resources/"
      "resourceGroups', parameters('rgName'))]\"],"
      " \"properties\": {\"mode\": \"Incremental\", \"expressionEvaluationOptions\": {\"scope\": \"inner\"},"
      " \"template\": {" SCHEMA ", \"resources\": [{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": "
      "\"2020-12-01\", \"name\": \"d1\", \"location\": \"[resourceGroup().location]\"}]}}},\n"
      "{\"type\": \"Microsoft.Resources/deployments\", \"apiVersion\": \"2021-04-01\", \"name\": \"atSub\","
      " \"location\": \"westus\", \"properties\": {\"mode\": \"Incremental\", \"template\": {" SUB_SCHEMA
      ", \"resources\": []}}}]}";
  CHECK(load(&l, text, "{\"rgName\": {\"value\": \"newrg\"}}", &sub_world) == 0,
        "a subscription template plans (%s)", l.err.message);
  NEED_PLAN(&l);
  const struct tpl_resource *g = tpl_get(l.t, 0), *d = tpl_get(l.t, 1), *s = tpl_get(l.t, 2);
  CHECK(!strcmp(g->id, "/subscriptions/" SUB "/resourceGroups/newrg") && !g->resource_group,
        "a resource group resource is the resource group");
  CHECK(body_is(l.t, 0, &sub_world, "{\"location\": \"westus\", \"tags\": {\"a\": \"b\"}}"),
        "its body: deployment().location");
  static const int on_rg[] = {0};
  CHECK(!strcmp(d->id, "/subscriptions/" SUB "/resourceGroups/newrg/providers/Microsoft.Resources/deployments/intoRg") &&
            !strcmp(d->resource_group, "newrg") && deps_are(l.t, 1, 1, on_rg),
        "a deployment into it, waiting for it (dependsOn by id)");
  CHECK(!strcmp(s->id, "/subscriptions/" SUB "/providers/Microsoft.Resources/deployments/atSub") &&
            !s->resource_group,
        "a deployment at subscription scope");
  struct tpl_world newrg = rg_world;
  newrg.resource_group = "newrg";
  newrg.rg_location = "westus";
  struct tpl_template *child = NULL;
  struct tpl_error err = {0};
  CHECK(tpl_nested(l.t, 1, &newrg, &child, &err) == 0 &&
            !strcmp(tpl_get(child, 0)->id, "/subscriptions/" SUB "/resourceGroups/newrg/providers/Microsoft.Compute/disks/d1") &&
            body_is(child, 0, &newrg, "{\"location\": \"westus\"}"),
        "the nested template runs in the new resource group (%s)", err.message);
  tpl_free(child);
  unload(&l);
  CHECK(load(&l,
             "{" SCHEMA ", \"resources\": [{\"type\": \"Microsoft.Resources/resourceGroups\", \"apiVersion\": "
             "\"2021-04-01\", \"name\": \"g\", \"location\": \"eastus\"}]}",
             NULL, &rg_world) == -EINVAL &&
            strstr(l.err.message, "can only be deployed at subscription scope"),
        "a resource group at resource group scope is refused");
  unload(&l);
}

/* ---- errors in expressions -------------------------------------------------------------------- */
static void expression_errors(void **state)
{
  (void)state;
  struct loaded l;
  CHECK(load(&l, "{" SCHEMA ",\n \"variables\": {\"a\": \"[variables('b')]\",\n \"b\": \"[concat(variables('a'))]\"}, "
                 "\"resources\": []}",
             NULL, &rg_world) == -EINVAL &&
            strstr(l.err.message, "circular") && l.err.line == 3 && !strcmp(l.err.path, "properties.template.variables.b"),
        "variables that use each other (%s, %d:%d %s)", l.err.message, l.err.line, l.err.col, l.err.path);
  unload(&l);
  CHECK(load(&l, "{" SCHEMA ", \"parameters\": {\"p\": {\"type\": \"string\", \"defaultValue\": \"[parameters('q')]\"},"
                 " \"q\": {\"type\": \"string\", \"defaultValue\": \"[parameters('p')]\"}}, \"resources\": []}",
             NULL, &rg_world) == -EINVAL &&
            strstr(l.err.message, "circular"),
        "parameter defaults that use each other");
  unload(&l);
  CHECK(load(&l, "{" SCHEMA ", \"parameters\": {\"p\": {\"type\": \"string\", \"defaultValue\": \"[variables('v')]\"}},"
                 " \"variables\": {\"v\": \"[parameters('nope')]\"}, \"resources\": []}",
             NULL, &rg_world) == -EINVAL &&
            strstr(l.err.message, "The template parameter 'p' at line '1' and column '151' is not valid: The "
                                  "template function 'variables' is not expected at this location."),
        "variables() in a parameter's default (%s)", l.err.message);
  unload(&l);
  CHECK(load(&l, "{" SCHEMA ", \"variables\": {\"v\": \"[parameters('nope')]\"}, \"resources\": []}", NULL,
             &rg_world) == -EINVAL &&
            strstr(l.err.message, "The template variable 'v' at line '1' and column '115' is not valid: The template "
                                  "parameter 'nope' is not found."),
        "an unknown parameter (%s)", l.err.message);
  unload(&l);
  CHECK(load(&l, "{" SCHEMA ", \"resources\": [\n  " DISK("[concat('d', copyIndex())]", "") "]}", NULL, &rg_world) ==
                -EINVAL &&
            strstr(l.err.message, "The template resource '[concat('d', copyIndex())]' at line '2' and column '") &&
            strstr(l.err.message, "'copyIndex' is not expected at this location") &&
            !strcmp(l.err.path, "properties.template.resources[0].name"),
        "copyIndex() outside a loop (%s)", l.err.message);
  unload(&l);
  CHECK(load(&l, "{" SCHEMA ", \"resources\": [" DISK("[reference('x').name]", "") "]}", NULL, &rg_world) == -EINVAL,
        "reference() in a name is refused (%s)", l.err.message);
  unload(&l);
  /* a body: what cannot parse is found at load; what fails when evaluated at
   * tpl_body cites its node; reference() to be known later is -EAGAIN */
  const char *text = "{" SCHEMA ", \"resources\": [" DISK("a", "") ",\n"
                     "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"b\",\n"
                     "  \"properties\": {\"x\": \"[reference('a').diskSizeGB]\",\n  \"y\": [1, \"[nosuch()]\"]}}]}";
  CHECK(load(&l, text, NULL, &rg_world) == -EINVAL &&
            failed(&l.err,
                   "The template resource 'b' at line '4' and column '12' is not valid: The template function "
                   "'nosuch' is not found. Please see https://aka.ms/arm-functions for usage details. Please see "
                   "https://aka.ms/arm-template-expressions for usage details.",
                   4, 12, "properties.template.resources[1]"),
        "an unknown function in a body is found at load");
  unload(&l);
  text = "{" SCHEMA ", \"resources\": [" DISK("a", "") ",\n"
         "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"b\",\n"
         "  \"properties\": {\"x\": \"[reference('a').diskSizeGB]\",\n  \"y\": [1, \"[createObject('k', 1).nope]\"]}}]}";
  CHECK(load(&l, text, NULL, &rg_world) == 0, "a body with reference() and a bad property loads (%s)", l.err.message);
  NEED_PLAN(&l);
  json_t *body = NULL;
  struct tpl_error err = {0};
  CHECK(tpl_body(l.t, 1, &rg_world, &body, &err) == -EAGAIN && !body,
        "reference() of a resource not deployed yet: -EAGAIN (validate, what-if)");
  json_object_set_new(json_object_get(json_array_get(json_object_get(l.doc, "resources"), 1), "properties"), "x",
                      json_string("fixed"));
  CHECK(tpl_body(l.t, 1, &rg_world, &body, &err) == -EINVAL && !body && strstr(err.message, "'nope'") &&
            err.line == 4 && err.col == 12 && !strcmp(err.path, "properties.template.resources[1].properties.y[1]"),
        "a failing expression in a body: its line, column and path (%s %d:%d %s)", err.message, err.line, err.col,
        err.path);
  unload(&l);
  CHECK(load(&l, "{" SUB_SCHEMA ", \"resources\": []}", NULL,
             &(struct tpl_world){.scope = TPL_SCOPE_SUBSCRIPTION, .subscription_id = SUB, .mode = "Complete",
                                 .deployment_location = "westus"}) == -EINVAL &&
            strstr(l.err.message, "'Complete' is not supported for a deployment at subscription scope"),
        "Complete mode at subscription scope is refused");
  unload(&l);
}

/* ---- limits ------------------------------------------------------------------------------------ */
/* head, then n copies of item separated by commas with each '#' replaced by
 * the copy's number, then tail. */
static char *many(const char *head, const char *item, int n, const char *tail)
{
  size_t cap = strlen(head) + strlen(tail) + (size_t)n * (strlen(item) * 4 + 8) + 1;
  char *s = malloc(cap);
  size_t len = (size_t)snprintf(s, cap, "%s", head);
  for (int i = 0; i < n; i++) {
    if (i)
      s[len++] = ',';
    for (const char *p = item; *p; p++)
      len += *p == '#' ? (size_t)snprintf(s + len, cap - len, "%d", i) : (s[len] = *p, 1);
  }
  snprintf(s + len, cap - len, "%s", tail);
  return s;
}

static void limits(void **state)
{
  (void)state;
  struct loaded l;
  static const struct {
    const char *head, *fmt, *tail, *message;
    int ok, bad;
  } cases[] = {
      {"{" SCHEMA ", \"resources\": [], \"parameters\": {", "\"p#\": {\"type\": \"int\", \"defaultValue\": 1}", "}}",
       "The number of template parameters limit exceeded. Limit: '256' and actual: '257'.", 256, 257},
      {"{" SCHEMA ", \"resources\": [], \"variables\": {", "\"v#\": 1", "}}",
       "The number of template variables limit exceeded. Limit: '256' and actual: '257'.", 256, 257},
      {"{" SCHEMA ", \"resources\": [], \"outputs\": {", "\"o#\": {\"type\": \"int\", \"value\": 1}", "}}",
       "The number of template outputs limit exceeded. Limit: '64' and actual: '65'.", 64, 65},
      {"{" SCHEMA ", \"resources\": [",
       "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"1\", \"name\": \"[concat('d#-', "
       "copyIndex())]\", \"copy\": {\"name\": \"l\", \"count\": 100}}",
       "]}", "The number of template resources limit exceeded. Limit: '800' and actual: '900'.", 8, 9},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *ok = many(cases[i].head, cases[i].fmt, cases[i].ok, cases[i].tail);
    char *bad = many(cases[i].head, cases[i].fmt, cases[i].bad, cases[i].tail);
    CHECK(load(&l, ok, NULL, &rg_world) == 0, "at the limit: plans (%s)", l.err.message);
    unload(&l);
    CHECK(load(&l, bad, NULL, &rg_world) == -EINVAL && strstr(l.err.message, cases[i].message),
          "%s (%s)", cases[i].message, l.err.message);
    unload(&l);
    free(ok);
    free(bad);
  }
  /* 4 MB: a template whose text is too large */
  size_t big = (4u << 20) + 16;
  char *text = malloc(big + 512);
  int n = snprintf(text, 256, "{" SCHEMA ", \"resources\": [], \"variables\": {\"v\": \"");
  memset(text + n, 'x', big);
  snprintf(text + n + big, 128, "\"}}");
  CHECK(load(&l, text, NULL, &rg_world) == -EINVAL && !strcmp(l.err.code, "DeploymentJobSizeExceeded"),
        "a template over 4 MB: DeploymentJobSizeExceeded");
  unload(&l);
  free(text);
}

/* ---- expansion: a few bytes may not make gigabytes -------------------------------------------------- */
/* head, then variables v1..vn each "[f(variables('v<i-1>'), ...)]" as step writes it with # for the previous
 * one, then tail. */
static char *chain(const char *v0, const char *step, int n, const char *tail)
{
  size_t cap = 512 + strlen(v0) + (size_t)n * (strlen(step) * 4 + 32) + strlen(tail);
  char *s = malloc(cap);
  size_t len = (size_t)snprintf(s, cap, "{" SCHEMA ", \"resources\": [], %s\"variables\": {\"v0\": %s", tail, v0);
  for (int i = 1; i <= n; i++) {
    len += (size_t)snprintf(s + len, cap - len, ", \"v%d\": \"[", i);
    for (const char *p = step; *p; p++)
      len += *p == '#' ? (size_t)snprintf(s + len, cap - len, "variables('v%d')", i - 1) : (s[len] = *p, 1);
    len += (size_t)snprintf(s + len, cap - len, "]\"");
  }
  snprintf(s + len, cap - len, "}}");
  return s;
}

/* Refused with DeploymentJobSizeExceeded and its message, in well under the time and memory the value would
 * take. */
static void too_big(const char *text, const char *what)
{
  struct loaded l;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  int r = load(&l, text, NULL, &rg_world);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  CHECK(r == -E2BIG && !strcmp(l.err.code, "DeploymentJobSizeExceeded") &&
            strstr(l.err.message, "bytes a template may come to once expanded") && l.err.path[0],
        "%s: DeploymentJobSizeExceeded (%s; %s)", what, l.err.message, l.err.path);
  printf("# %s refused in %.3f s\n", what, s);
  unload(&l);
}

static void expansion_bounded(void **state)
{
  (void)state;
  char *t;
  /* 2^60 bytes: a string, an array, and a tree sharing one node 2^60 times, doubled variable by variable */
  too_big(t = chain("\"xxxxxxxxxxxxxxxx\"", "concat(#, #)", 60, ""), "a string doubled 60 times");
  free(t);
  too_big(t = chain("[\"a\", \"b\"]", "concat(#, #)", 60, ""), "an array doubled 60 times");
  free(t);
  too_big(t = chain("[\"a\", \"b\"]", "createArray(#, #)", 60, ""), "a tree of one shared node");
  free(t);
  too_big(t = chain("[\"a\", \"b\"]", "string(createArray(#, #))", 60, ""), "string() of such a tree");
  free(t);
  /* one call: 16,000 x 16,000 bytes; concat() of an array 5,000 times; union() of large arrays */
  too_big(t = chain("\"[padLeft('', 16000, 'a')]\"", "replace(#, 'a', #)", 1, ""), "replace() multiplying");
  free(t);
  too_big(t = chain("\"[range(0, 10000)]\"", "concat(#, #, #, #, #, #, #, #, #, #, #, #, #, #, #, #, #, #, #, #, #)",
                    2, ""),
          "concat() of a 10,000-element array 21 times, twice");
  free(t);
  /* base64 of base64 ... of a 16,000-character string */
  too_big(t = chain("\"[padLeft('', 16000, 'a')]\"",
                    "base64(base64(base64(base64(base64(base64(base64(base64(base64(base64(base64(base64(base64("
                    "base64(base64(base64(base64(base64(base64(base64(#))))))))))))))))))))",
                    1, ""),
          "base64() of base64() ...");
  free(t);
  /* copy loops: a variable copy of 800 ranges, a property copy of 800 copies of a literal array */
  too_big("{" SCHEMA ", \"resources\": [], \"variables\": {\"copy\": [{\"name\": \"x\", \"count\": 800, \"input\": "
          "\"[range(0, 10000)]\"}]}}",
          "a variable copy of 800 ranges of 10,000");
  too_big("{" SCHEMA ", \"resources\": [], \"variables\": {\"r\": \"[range(0, 10000)]\", \"o\": {\"copy\": [{\"name\": "
          "\"x\", \"count\": 800, \"input\": {\"copy\": [{\"name\": \"y\", \"count\": 800, \"input\": [1, 2, 3, 4, 5, 6, "
          "7, 8]}]}}]}}}",
          "property copies of 800 x 800 literal arrays");
  /* the work of all evaluations together: 200 variables each making 3.2 MB (each within the size) */
  char *step = many("length(concat(", "variables('v0')", 200, "))");
  too_big(t = chain("\"[padLeft('', 16000, 'a')]\"", step, 200, ""), "200 variables of 3.2 MB of work each");
  free(t);
  free(step);
  /* union() compares each element with each: bounded */
  struct loaded l;
  t = chain("\"[range(0, 10000)]\"", "union(#, range(10000, 10000))", 1, "");
  CHECK(load(&l, t, NULL, &rg_world) == -EINVAL && strstr(l.err.message, "at most 16384 elements together"),
        "union() of 20,000 elements refused (%s)", l.err.message);
  unload(&l);
  free(t);
  /* nested copy loops of nested deployments: 800 x 800 x 800 disks */
  char *nest = strdup("{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"1\", \"name\": \"[concat('d', "
                      "copyIndex())]\", \"copy\": {\"name\": \"d\", \"count\": 800}}");
  for (int i = 0; i < 3; i++) {
    char *outer = NULL;
    int n = i < 2 ? asprintf(&outer,
                             "{\"type\": \"Microsoft.Resources/deployments\", \"apiVersion\": \"2021-04-01\", \"name\": "
                             "\"[concat('n%d-', copyIndex())]\", \"copy\": {\"name\": \"n%d\", \"count\": 800}, "
                             "\"properties\": {\"mode\": \"Incremental\", \"template\": {" SCHEMA ", \"resources\": [%s]}}}",
                             i, i, nest)
                  : asprintf(&outer, "{" SCHEMA ", \"resources\": [%s]}", nest);
    free(nest);
    nest = n > 0 ? outer : NULL;
  }
  CHECK(load(&l, nest, NULL, &rg_world) == -EINVAL &&
            strstr(l.err.message, "declare more than '8000' resources together"),
        "800 nested deployments of 800 of 800 disks: refused at once (%s)", l.err.message);
  unload(&l);
  free(nest);
  /* well within: a 1 MB variable made by doubling, used by 800 resources */
  t = chain("\"xxxxxxxxxxxxxxxx\"", "concat(#, #)", 16, "");
  CHECK(load(&l, t, NULL, &rg_world) == 0, "a 1 MB variable made by doubling plans (%s)", l.err.message);
  unload(&l);
  free(t);
}

/* ---- names are case-insensitive: two spellings of one are refused ------------------------------------ */
static void names_case_insensitive(void **state)
{
  (void)state;
  struct loaded l;
  static const struct {
    const char *text, *params, *message;
  } cases[] = {
      /* parameters('PW') would read the secure 'pw' into a plain output */
      {"{" SCHEMA ", \"parameters\": {\"pw\": {\"type\": \"securestring\"}, \"PW\": {\"type\": \"string\"}}, "
       "\"resources\": [], \"outputs\": {\"o\": {\"type\": \"string\", \"value\": \"[parameters('PW')]\"}}}",
       "{\"pw\": {\"value\": \"Zz-secret-9\"}}",
       "The template parameter 'PW' at line '1' and column '110' is declared more than once: 'pw' and 'PW' are one "
       "name"},
      {"{" SCHEMA ", \"parameters\": {\"pw\": {\"type\": \"securestring\"}}, \"resources\": []}",
       "{\"pw\": {\"value\": \"Zz-secret-9\"}, \"Pw\": {\"value\": \"x\"}}",
       "The template parameter 'Pw' is given more than once: 'pw' and 'Pw' are one name"},
      {"{" SCHEMA ", \"variables\": {\"a\": 1, \"copy\": [{\"name\": \"A\", \"count\": 1, \"input\": 2}]}, "
       "\"resources\": []}",
       NULL, "The template variable 'A' at line '1' and column '109' is declared more than once: 'a' and 'A'"},
      {"{" SCHEMA ", \"resources\": [], \"outputs\": {\"o\": {\"type\": \"int\", \"value\": 1}, \"O\": {\"type\": "
       "\"int\", \"value\": 2}}}",
       NULL, "The template output 'O' at line '1' and column '124' is declared more than once: 'o' and 'O'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECK(load(&l, cases[i].text, cases[i].params, &rg_world) == -EINVAL &&
              strstr(l.err.message, cases[i].message) && !strstr(l.err.message, "Zz-secret"),
          "refused: %s (%s)", cases[i].message, l.err.message);
    unload(&l);
  }
}

/* ---- secure values ------------------------------------------------------------------------------- */
static void secure_values(void **state)
{
  (void)state;
  struct loaded l;
  const char *text =
      "{" SCHEMA ", \"parameters\": {\"pw\": {\"type\": \"securestring\"}, \"o\": {\"type\": \"secureObject\"}},"
      " \"resources\": [{\"type\": \"Microsoft.Compute/virtualMachines\", \"apiVersion\": \"2021-07-01\", "
      "\"name\": \"vm\", \"properties\": {\"osProfile\": {\"adminPassword\": \"[parameters('pw')]\"}}}],"
      " \"outputs\": {\"p\": {\"type\": \"securestring\", \"value\": \"[parameters('pw')]\"},"
      " \"q\": {\"type\": \"secureObject\", \"value\": \"[parameters('o')]\"}}}";
  CHECK(load(&l, text, "{\"pw\": {\"value\": \"Zz-secret-1\"}, \"o\": {\"value\": {\"k\": \"Zz-secret-2\"}}}",
             &rg_world) == 0,
        "secure parameters plan (%s)", l.err.message);
  json_t *view = tpl_parameters_view(l.t), *outs = NULL;
  struct tpl_error err = {0};
  CHECK(tpl_outputs(l.t, &rg_world, &outs, &err) == 0, "outputs evaluate");
  char *v = json_dumps(view, JSON_COMPACT), *o = json_dumps(outs, JSON_COMPACT);
  CHECK(v && !strstr(v, "Zz-secret") && strstr(v, "\"pw\":{\"type\":\"SecureString\"}") &&
            strstr(v, "\"o\":{\"type\":\"SecureObject\"}"),
        "the parameters view has no secure value");
  CHECK(o && !strstr(o, "Zz-secret") && !strcmp(o, "{\"p\":{\"type\":\"SecureString\"},\"q\":{\"type\":\"SecureObject\"}}"),
        "secure outputs carry no value");
  const char *const *secrets;
  CHECK(tpl_secrets(l.t, &secrets) == 2 && !strcmp(secrets[0], "Zz-secret-1") && !strcmp(secrets[1], "Zz-secret-2"),
        "tpl_secrets lists both, for the engine to mask");
  CHECK(!strstr(l.err.message, "Zz-secret"), "nothing in the error buffer");
  free(v);
  free(o);
  json_decref(view);
  json_decref(outs);
  unload(&l);
  CHECK(load(&l, "{" SCHEMA ", \"parameters\": {\"pw\": {\"type\": \"securestring\", \"allowedValues\": [\"a\"]}}, "
                 "\"resources\": []}",
             "{\"pw\": {\"value\": \"Zz-secret-3\"}}", &rg_world) == -EINVAL &&
            !strstr(l.err.message, "Zz-secret"),
        "an error about a secure value does not quote it");
  unload(&l);
}

/* ---- speed ------------------------------------------------------------------------------------------ */
static void eight_hundred_resources(void **state)
{
  (void)state;
  const char *text =
      "{" SCHEMA ", \"parameters\": {\"prefix\": {\"type\": \"string\", \"defaultValue\": \"disk\"}},"
      " \"variables\": {\"sizes\": [32, 64, 128, 256], \"tags\": {\"env\": \"[concat('bench-', "
      "parameters('prefix'))]\"}},"
      " \"resources\": [\n"
      "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"[concat(parameters('prefix'), "
      "'-', padLeft(string(copyIndex()), 4, '0'))]\", \"location\": \"[resourceGroup().location]\","
      " \"tags\": \"[union(variables('tags'), createObject('i', string(copyIndex())))]\","
      " \"copy\": {\"name\": \"disks\", \"count\": 400},"
      " \"properties\": {\"diskSizeGB\": \"[variables('sizes')[mod(copyIndex(), length(variables('sizes')))]]\","
      " \"creationData\": {\"createOption\": \"Empty\"}, \"label\": \"[toUpper(format('{0}-{1}', "
      "uniqueString(resourceGroup().id, string(copyIndex())), copyIndex(1)))]\"}},\n"
      "{\"type\": \"Microsoft.Compute/restorePointCollections\", \"apiVersion\": \"2021-03-01\", \"name\": "
      "\"[concat('rpc-', copyIndex())]\", \"location\": \"[resourceGroup().location]\","
      " \"dependsOn\": [\"[resourceId('Microsoft.Compute/disks', concat(parameters('prefix'), '-', "
      "padLeft(string(copyIndex()), 4, '0')))]\"],"
      " \"copy\": {\"name\": \"rpcs\", \"count\": 400, \"mode\": \"serial\", \"batchSize\": 50},"
      " \"properties\": {\"source\": {\"id\": \"[resourceId('Microsoft.Compute/virtualMachines', concat('vm', "
      "copyIndex()))]\"}, \"copy\": [{\"name\": \"notes\", \"count\": 3, \"input\": \"[concat('n', "
      "copyIndex('notes'), '-', copyIndex(), '-', if(equals(copyIndex('notes'), 1), 'odd', 'even'))]\"}]}}]}";
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  struct loaded l;
  int r = load(&l, text, NULL, &rg_world);
  int bodies = 0;
  for (int i = 0; r == 0 && i < tpl_count(l.t); i++) {
    json_t *body = NULL;
    struct tpl_error err = {0};
    if (tpl_body(l.t, i, &rg_world, &body, &err) == 0)
      bodies++;
    json_decref(body);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  CHECK(r == 0 && tpl_count(l.t) == 800 && bodies == 800, "800 resources load, plan and evaluate (%s)",
        l.err.message);
  CHECK(r == 0 && tpl_get(l.t, 400)->ndepends == 1 && tpl_get(l.t, 450)->ndepends == 51,
        "their dependencies: by id, and serial batches of 50");
  printf("# 800 resources: read + load + plan + 800 bodies in %.1f ms\n", ms);
  unload(&l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(seed_collection),
      UNIT_TEST(seed_restore_point_and_disk),
      UNIT_TEST(seed_restore_vm),
      UNIT_TEST(seed_crash_consistent),
      UNIT_TEST(parameters_checked),
      UNIT_TEST(shape_refused),
      UNIT_TEST(dependencies),
      UNIT_TEST(copy_loops),
      UNIT_TEST(children_and_conditions),
      UNIT_TEST(resource_errors),
      UNIT_TEST(nested_deployments),
      UNIT_TEST(subscription_scope),
      UNIT_TEST(expression_errors),
      UNIT_TEST(limits),
      UNIT_TEST(expansion_bounded),
      UNIT_TEST(names_case_insensitive),
      UNIT_TEST(secure_values),
      UNIT_TEST(eight_hundred_resources),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
