/*
 * test_template_checks.c — what the planner refuses and bounds: parameters
 * against their declarations, the template's shape, resource and expression
 * errors with ARM's texts, line and column, the limits and the expansion
 * bounds, names in two spellings, secure values never shown, and the time an
 * 800-resource template takes.
 */
#include <time.h>

#include "template_plan.h"

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
      UNIT_TEST(parameters_checked),
      UNIT_TEST(shape_refused),
      UNIT_TEST(resource_errors),
      UNIT_TEST(expression_errors),
      UNIT_TEST(limits),
      UNIT_TEST(expansion_bounded),
      UNIT_TEST(names_case_insensitive),
      UNIT_TEST(secure_values),
      UNIT_TEST(eight_hundred_resources),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
