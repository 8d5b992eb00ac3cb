/*
 * test_template_plan.c — the planner (src/template/template.c …): Microsoft's
 * restore point templates planned with real values, copy loops, conditions,
 * dependencies and nested deployments.  Its refusals and limits are in
 * test_template_checks.c.
 */
#include "template_plan.h"

/* ---- the seed templates -------------------------------------------------------------- */

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
int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(seed_collection),
      UNIT_TEST(seed_restore_point_and_disk),
      UNIT_TEST(seed_restore_vm),
      UNIT_TEST(seed_crash_consistent),
      UNIT_TEST(dependencies),
      UNIT_TEST(copy_loops),
      UNIT_TEST(children_and_conditions),
      UNIT_TEST(nested_deployments),
      UNIT_TEST(subscription_scope),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
