/*
 * test_template_lang.c — the ARM template language (src/template/): the
 * tolerant reader and its positions, the hashes against their reference
 * vectors (reference/templates/arm-hash.py), expressions and the function
 * library against Microsoft's documented examples and ARM's errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/template.h"
#include "unit.h"

/* ---- reader ----------------------------------------------------------------- */
static int read_text(const char *text, json_t **out, struct tpl_posmap **pos, struct tpl_error *err)
{
  memset(err, 0, sizeof *err);
  return tpl_read(text, strlen(text), out, pos, err);
}

static bool at(const struct tpl_posmap *pos, const json_t *node, int line, int col)
{
  struct tpl_pos p;
  return tpl_pos_of(pos, node, &p) && p.line == line && p.col == col;
}

static void reader_az_wire_form(void **state)
{
  (void)state;
  /* az's splice: a JSON prefix, an unquoted `template:` and the file's own text */
  const char *body = "{\"properties\": {\"parameters\": {\"n\": {\"value\": \"rpc1\"}}, \"mode\": \"Incremental\", "
                     "template:{\n"
                     "  // a JSONC comment az passes through verbatim\n"
                     "  \"$schema\": \"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#\",\n"
                     "  /* block\n     comment */ \"variables\": {\"multi\": \"line one\nline two\", \"t\": \"a\tb\"},\n"
                     "  \"resources\": [ { \"name\": \"[parameters('n')]\", \"n\": -42, \"r\": 1.5e3, \"z\": 0 } ]\n"
                     "}\n}}";
  json_t *v = NULL;
  struct tpl_posmap *pos = NULL;
  struct tpl_error err;
  CHECK(read_text(body, &v, &pos, &err) == 0, "az's body is read (%s)", err.message);
  json_t *t = json_object_get(json_object_get(v, "properties"), "template");
  CHECK(json_is_object(t) && at(pos, t, 1, 89), "template is an object starting at line 1, column 89");
  json_t *vars = json_object_get(t, "variables");
  CHECK(!strcmp(json_string_value(json_object_get(vars, "multi")), "line one\nline two"),
        "a raw newline inside a string is kept");
  CHECK(!strcmp(json_string_value(json_object_get(vars, "t")), "a\tb"), "a raw tab too");
  CHECK(at(pos, vars, 5, 30), "variables' value starts after the block comment (line 5, column 30)");
  json_t *r0 = json_array_get(json_object_get(t, "resources"), 0);
  CHECK(at(pos, r0, 7, 18), "resources[0] at line 7 (the raw newline counts), column 18");
  CHECK(at(pos, json_object_get(r0, "name"), 7, 28), "its name at line 7, column 28");
  CHECK(json_integer_value(json_object_get(r0, "n")) == -42 && json_is_integer(json_object_get(r0, "z")),
        "integers are JSON_INTEGER");
  CHECK(json_is_real(json_object_get(r0, "r")) && json_real_value(json_object_get(r0, "r")) == 1500.0,
        "others JSON_REAL");
  struct tpl_pos p;
  CHECK(!tpl_pos_of(pos, json_true(), &p) && !tpl_pos_of(NULL, t, &p), "true and a NULL map: no position");
  json_t *other = json_string("x");
  CHECK(!tpl_pos_of(pos, other, &p), "a node not from this text: no position");
  json_decref(other);
  json_decref(v);
  tpl_posmap_free(pos);

  CHECK(read_text("\xEF\xBB\xBF{\"a\"\r\n:\r\n[1, {\"b\": \"\\u00e9\\ud83d\\ude00\\/\"}]}", &v, &pos, &err) == 0,
        "a BOM, CRLF line ends and escapes (%s)", err.message);
  json_t *a = json_object_get(v, "a");
  CHECK(at(pos, a, 3, 1) && at(pos, json_array_get(a, 1), 3, 5), "CRLF counts as one line end");
  CHECK(!strcmp(json_string_value(json_object_get(json_array_get(a, 1), "b")), "\xC3\xA9\xF0\x9F\x98\x80/"),
        "\\u escapes, a surrogate pair and \\/ decoded");
  json_decref(v);
  tpl_posmap_free(pos);

  CHECK(read_text("  \"just a string\" // and a comment", &v, NULL, &err) == 0 && json_is_string(v),
        "any value at the top, no position map asked for");
  json_decref(v);
}

struct bad {
  const char *text, *why, *detail;
  int line, col;
};

static void reader_refuses(void **state)
{
  (void)state;
  static const struct bad bad[] = {
      {"{\"a\": 1, \"a\": 2}", "a duplicate member name", "Property with the same name already exists", 1, 10},
      {"{\"a\": 1,}", "a trailing comma in an object", "Invalid property identifier character: }", 1, 9},
      {"[1, 2,]", "a trailing comma in an array", "Unexpected character encountered while parsing value: ]", 1, 7},
      {"{\"a\": \"\xC3\x28\"}", "invalid UTF-8 in a string", "Invalid UTF-8 byte sequence", 1, 8},
      {"{\"a\": \"\xED\xA0\x80\"}", "an encoded surrogate", "Invalid UTF-8 byte sequence", 1, 8},
      {"{\"a\": \"\xC0\xAF\"}", "an overlong form", "Invalid UTF-8 byte sequence", 1, 8},
      {"{\n  \"a\": 99999999999999999999}", "an integer beyond 64 bits", "too large or small for an Int64", 2, 28},
      {"{\"a\": \"abc", "an unterminated string", "Unterminated string", 1, 11},
      {"{\"a\": 1 /* never closed", "an unterminated comment", "Unexpected end while parsing comment", 1, 24},
      {"{\"a\": 1} x", "text after the value", "Additional text encountered after finished reading JSON content: x",
       1, 10},
      {"", "nothing", "Unexpected end when reading JSON", 1, 1},
      {"{\"a\" 1}", "a missing colon", "Expected ':' but got: 1", 1, 6},
      {"{\"a\": tru}", "a bad literal", "Unexpected character encountered while parsing value: t", 1, 7},
      {"{\"a\": 01}", "a leading zero", "while parsing number", 1, 8},
      {"{\"a\": \"\\x\"}", "a bad escape", "Bad JSON escape sequence: x", 1, 9},
      {"{\"a\": \"\\ud800\"}", "a lone surrogate escape", "lone surrogate", 1, 14},
      {"{\"a\": \"\\u0000\"}", "an escaped NUL", "NUL", 1, 14},
      {"{\"a\": \"\x01\"}", "a raw control character other than newline, CR, tab", "Invalid control character", 1, 8},
      {"{a-b: 1}", "an unquoted name with a character outside identifiers", "Expected ':' but got: -", 1, 3},
      {"{\"x\": {\"y\": [0, {\"z\" 1}]}}", "an error deep inside", "Path 'x.y[1].z'", 1, 22},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    json_t *v = (json_t *)1;
    struct tpl_posmap *pos = (struct tpl_posmap *)1;
    struct tpl_error err;
    int rc = read_text(bad[i].text, &v, &pos, &err);
    CHECK(rc == -EINVAL && !v && !pos && !strcmp(err.code, "InvalidRequestContent") &&
              strstr(err.message, "The request content was invalid and could not be deserialized: '") ==
                  err.message &&
              strstr(err.message, bad[i].detail) && err.line == bad[i].line && err.col == bad[i].col,
          "refused: %s (%d: %s at %d:%d)", bad[i].why, rc, err.message, err.line, err.col);
  }
  json_t *v;
  struct tpl_error err;
  static const char nul[] = "{\"a\": \"x\0y\"}";
  memset(&err, 0, sizeof err);
  CHECK(tpl_read(nul, sizeof nul - 1, &v, NULL, &err) == -EINVAL && strstr(err.message, "NUL"),
        "a NUL byte inside a string is refused (%s)", err.message);
}

static void reader_depth(void **state)
{
  (void)state;
  char text[2 * 257 + 1];
  json_t *v;
  struct tpl_error err;
  for (int depth = 256; depth <= 257; depth++) {
    memset(text, '[', (size_t)depth);
    memset(text + depth, ']', (size_t)depth);
    text[2 * depth] = '\0';
    int rc = read_text(text, &v, NULL, &err);
    if (depth == 256)
      CHECK(rc == 0, "256 nested arrays are read");
    else
      CHECK(rc == -EINVAL && strstr(err.message, "MaxDepth of 256") && err.col == 257,
            "257 are refused (%s)", err.message);
    if (rc == 0)
      json_decref(v);
  }
}

/* ---- hashes --------------------------------------------------------------- */
static void hashes_match_arm(void **state)
{
  (void)state;
  static const struct {
    const char *want, *args[3];
    int n;
  } unique[] = {
      {"rbgf3xv4ufgzg", {"test"}, 1},
      {"a7wkljktk6wne", {"hello", "world"}, 2},
      {"cgtzqvhu4i23s", {"abc"}, 1},
      {"bmg7c6xu4tw46", {"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg"}, 1},
      {"xzi4ioaxtmth4", {"foo", "bar", "baz"}, 3},
  },
    guid[] = {
        {"a5b868f8-11fe-567a-ace0-e77cc87f104e", {"hello", "world"}, 2},
        {"bb733f78-f75f-5345-b2b1-ca384ca6fcab",
         {"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg"},
         1},
        {"3703365d-5a9f-59b4-bca7-b9681389e4c1", {"a"}, 1},
    };
  for (size_t i = 0; i < sizeof unique / sizeof *unique; i++) {
    char out[14];
    tpl_unique_string(unique[i].args, unique[i].n, out);
    CHECK(!strcmp(out, unique[i].want), "uniqueString vector %zu: %s", i, out);
  }
  for (size_t i = 0; i < sizeof guid / sizeof *guid; i++) {
    char out[37];
    tpl_guid(guid[i].args, guid[i].n, out);
    CHECK(!strcmp(out, guid[i].want), "guid vector %zu: %s", i, out);
  }
  /* the spec's CalculateTemplateHash example, whose answer Azure gave */
  const char *tpl = "{\"$schema\": \"http://schemas.management.azure.com/deploymentTemplate?api-version=2014-04-01-preview\","
                    " \"contentVersion\": \"1.0.0.0\", \"parameters\": {\"string\": {\"type\": \"string\"}},"
                    " \"variables\": {\"string\": \"string\", \"int\": 42, \"bool\": true, \"array\": [1, 2, 3, 4],"
                    "   \"object\": {\"object\": {\"vmSize\": \"Large\", \"location\": \"West US\"}}},"
                    " \"resources\": [], \"outputs\": {\"string\": {\"type\": \"string\", \"value\": \"myvalue\"}}}";
  json_t *t = json_loads(tpl, 0, NULL);
  char hash[21];
  CHECK(t && tpl_template_hash(t, hash) == 0 && !strcmp(hash, "695440707931307747"), "templateHash: %s", hash);
  json_decref(t);
  /* pieces fed one after the other hash as their concatenation */
  const char *pieces[] = {"abcdefg", "hijklmnopq", "r"};
  char u1[14], u2[14];
  const char *joined[] = {"abcdefg-hijklmnopq-r"};
  tpl_unique_string(pieces, 3, u1);
  tpl_unique_string(joined, 1, u2);
  CHECK(!strcmp(u1, u2), "arguments joined by '-' as one string: %s", u1);
  /* every tail length (0 to 7 bytes after the 8-byte blocks), from arm-hash.py */
  static const uint64_t prefix[] = {
      0ull, 2686549150780078204ull, 11355322349145293752ull, 1272152910408594873ull, 15372358952837647232ull,
      16732853381781808622ull, 10021811203041407848ull, 6596867396500806095ull, 9789183536796037058ull,
      14559245107501256122ull, 10952528056088815004ull, 14695319728199611614ull, 4519271795247019205ull,
      2045492944909996510ull, 7267302996520919423ull, 15166599610638339902ull, 7600853937674922557ull,
      14991926722596873084ull};
  int same = 0;
  for (size_t k = 0; k < sizeof prefix / sizeof *prefix; k++)
    same += tpl_murmur64("abcdefghijklmnopq", k) == prefix[k];
  CHECK(same == 18, "MurmurHash64 of the first 0..17 bytes of 'abcdefghijklmnopq' (%d of 18 right)", same);
}

/* ---- expressions ----------------------------------------------------------- */
static const char *params_json = "{\"name\": \"rpc1\", \"count\": 3, \"flag\": true, \"none\": null,"
                                 " \"os\": \"Linux\", \"list\": [\"a\", \"b\", \"c\"],"
                                 " \"obj\": {\"Alpha\": {\"Beta\": [10, 20]}, \"k\": \"v\"}}";
static json_t *params, *vars;
static int copy_index = 4;

static json_t *find_ci(json_t *obj, const char *name)
{
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v) {
    if (strcasecmp(k, name) == 0)
      return v;
  }
  return NULL;
}

static int lookup(void *ctx, enum tpl_lookup what, const char *name, json_t **out, struct tpl_error *err)
{
  json_t *v = NULL;
  switch (what) {
  case TPL_PARAMETER:
    v = find_ci(params, name);
    break;
  case TPL_VARIABLE:
    v = find_ci(vars, name);
    break;
  case TPL_COPY_INDEX:
    if (name && strcasecmp(name, "loop") != 0)
      break;
    *out = json_integer(name ? 7 : copy_index);
    return 0;
  case TPL_DEPLOYMENT_OBJECT:
    *out = json_pack("{s:s, s:{s:s}}", "name", "dep1", "properties", "mode", "Incremental");
    return 0;
  }
  if (!v) {
    snprintf(err->code, sizeof err->code, "InvalidTemplate");
    snprintf(err->message, sizeof err->message, "The template %s '%s' is not found.",
             what == TPL_PARAMETER ? "parameter" : what == TPL_VARIABLE ? "variable" : "copy loop", name ? name : "");
    return -EINVAL;
  }
  *out = json_incref(v);
  return 0;
}

static const char *resource_id_of(void *ctx, const char *name)
{
  return strcmp(name, "disk1") == 0 ? "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Compute/disks/disk1"
                                    : NULL;
}

static int reference(void *ctx, const char *id, const char *api_version, bool full, json_t **out,
                     struct tpl_error *err)
{
  *out = full ? json_pack("{s:s, s:s?, s:{s:i}}", "id", id, "apiVersion", api_version, "properties", "diskSizeGB", 8)
              : json_pack("{s:i, s:s}", "diskSizeGB", 8, "id", id);
  return 0;
}

static struct tpl_world world = {
    .scope = TPL_SCOPE_RESOURCE_GROUP,
    .subscription_id = "sub1",
    .subscription_name = "Sub One",
    .tenant_id = "tenant1",
    .resource_group = "rg1",
    .rg_location = "eastus",
    .deployment_name = "dep1",
    .mode = "Incremental",
    .reference = reference,
};
static struct tpl_eval eval_ctx = {.world = &world, .lookup = lookup, .allow = TPL_ALLOW_COPY_INDEX,
                                   .resource_id_of = resource_id_of};
static struct tpl_error last;

/* The value of a template string as compact JSON (malloc'd), or "!" + the
 * error code and message. */
static char *value_of(const char *s)
{
  json_t *v = NULL;
  char *text = NULL;
  memset(&last, 0, sizeof last);
  int rc = tpl_eval_string(&eval_ctx, s, &v, &last);
  if (rc == 0) {
    text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
  } else if (asprintf(&text, "!%d %s: %s", rc, last.code, last.message) < 0) {
    text = NULL;
  }
  return text;
}

/* Each row: a template string and its value as compact JSON. */
struct row {
  const char *expr, *want;
};

static void check_rows(const struct row *rows, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    char *got = value_of(rows[i].expr);
    CHECK(got && strcmp(got, rows[i].want) == 0, "%s = %s%s%s", rows[i].expr, got ? got : "(null)",
          got && strcmp(got, rows[i].want) == 0 ? "" : "   expected ", got && strcmp(got, rows[i].want) == 0 ? "" : rows[i].want);
    free(got);
  }
}

/* Each row: a template string and a piece of the error it must give. */
static void check_errors(const struct row *rows, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    char *got = value_of(rows[i].expr);
    bool ok = got && got[0] == '!' && strstr(got, rows[i].want) && strstr(got, "InvalidTemplate");
    CHECK(ok, "%s fails: %s%s%s", rows[i].expr, got ? got : "(null)", ok ? "" : "   expected ", ok ? "" : rows[i].want);
    free(got);
  }
}

static void expressions(void **state)
{
  (void)state;
  CHECK(tpl_is_expression("[x()]") && !tpl_is_expression("[[x()]") && !tpl_is_expression("[x] y") &&
            !tpl_is_expression("x") && !tpl_is_expression("[") && tpl_is_expression("[]"),
        "what an expression is");
  static const struct row rows[] = {
      {"plain text", "\"plain text\""},
      {"[[test value]", "\"[test value]\""},
      {"[[not closed", "\"[[not closed\""},
      {"[test] value", "\"[test] value\""},
      {"['abc']", "\"abc\""},
      {"['it''s']", "\"it's\""},
      {"['']", "\"\""},
      {"[-42]", "-42"},
      {"[ concat ( 'a' , 'b' ) ]", "\"ab\""},
      {"[concat('a',\n  'b')]", "\"ab\""},
      {"[parameters('name')]", "\"rpc1\""},
      {"[PARAMETERS('NAME')]", "\"rpc1\""},
      {"[parameters('list')[1]]", "\"b\""},
      {"[parameters('obj').alpha.BETA[1]]", "20"},
      {"[parameters('obj')['ALPHA']['Beta'][0]]", "10"},
      {"[parameters('obj')[parameters('os')]]", "!-22 InvalidTemplate: The language expression property 'Linux' "
                                                "doesn't exist, available properties are 'Alpha, k'."},
      {"[variables('sizes')[parameters('os')]]", "\"Standard_B1s\""},
      {"[variables('VAR1')]", "\"value1\""},
      {"[concat('a', 1, parameters('flag'), parameters('none'), 'z')]", "\"a1Truez\""},
      {"[concat(parameters('name'), '/', 'rp1')]", "\"rpc1/rp1\""},
      {"[concat(parameters('list'), parameters('none'), parameters('list'))]", "[\"a\",\"b\",\"c\",\"a\",\"b\",\"c\"]"},
      {"[concat('x')]", "\"x\""},
      {"[resourceGroup().location]", "\"eastus\""},
      {"[resourceGroup().name]", "\"rg1\""},
      {"[resourceGroup().id]", "\"/subscriptions/sub1/resourceGroups/rg1\""},
      {"[resourceGroup().properties.provisioningState]", "\"Succeeded\""},
      {"[subscription()]", "{\"id\":\"/subscriptions/sub1\",\"subscriptionId\":\"sub1\",\"tenantId\":\"tenant1\","
                           "\"displayName\":\"Sub One\"}"},
      {"[deployment().name]", "\"dep1\""},
      {"[resourceId('Microsoft.Network/networkInterfaces', 'nic1')]",
       "\"/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Network/networkInterfaces/nic1\""},
      {"[resourceId(resourceGroup().name, 'Microsoft.Network/networkSecurityGroups', 'nsg')]",
       "\"/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg\""},
      {"[resourceId('rg2', 'Microsoft.Compute/restorePointCollections/restorePoints', 'rpc', 'rp')]",
       "\"/subscriptions/sub1/resourceGroups/rg2/providers/Microsoft.Compute/restorePointCollections/rpc/"
       "restorePoints/rp\""},
      {"[resourceId('sub2', 'rg2', 'Microsoft.Compute/disks', 'd1')]",
       "\"/subscriptions/sub2/resourceGroups/rg2/providers/Microsoft.Compute/disks/d1\""},
      {"[resourceId('Microsoft.Network/networkSecurityGroups/', 'nsg')]",
       "\"/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg\""},
      {"[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'rg9')]",
       "\"/subscriptions/sub1/providers/Microsoft.Resources/resourceGroups/rg9\""},
      {"[subscriptionResourceId('sub2', 'Microsoft.Authorization/roleDefinitions', 'r1')]",
       "\"/subscriptions/sub2/providers/Microsoft.Authorization/roleDefinitions/r1\""},
      {"[tenantResourceId('Microsoft.Management/managementGroups', 'mg')]",
       "\"/providers/Microsoft.Management/managementGroups/mg\""},
      {"[extensionResourceId(resourceId('Microsoft.Compute/disks', 'd1'), 'Microsoft.Authorization/locks', 'l')]",
       "\"/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Compute/disks/d1/providers/"
       "Microsoft.Authorization/locks/l\""},
      {"[copyIndex()]", "4"},
      {"[copyIndex(1)]", "5"},
      {"[copyIndex('loop')]", "7"},
      {"[copyIndex('LOOP', -7)]", "0"},
  };
  vars = json_pack("{s:s, s:{s:s, s:s}}", "var1", "value1", "sizes", "Windows", "Standard_D2s", "Linux",
                   "Standard_B1s");
  check_rows(rows, sizeof rows / sizeof *rows);

  world.scope = TPL_SCOPE_SUBSCRIPTION;
  world.resource_group = NULL;
  static const struct row sub[] = {
      {"[resourceId('Microsoft.Resources/resourceGroups', 'rg5')]",
       "\"/subscriptions/sub1/providers/Microsoft.Resources/resourceGroups/rg5\""},
      {"[resourceId('rg5', 'Microsoft.Compute/disks', 'd')]",
       "\"/subscriptions/sub1/resourceGroups/rg5/providers/Microsoft.Compute/disks/d\""},
  };
  check_rows(sub, sizeof sub / sizeof *sub);
  static const struct row sub_errors[] = {
      {"[resourceGroup()]", "is not expected at this location"},
  };
  check_errors(sub_errors, 1);
  world.scope = TPL_SCOPE_RESOURCE_GROUP;
  world.resource_group = "rg1";
  json_decref(vars);
}

static void expression_errors(void **state)
{
  (void)state;
  static const struct row rows[] = {
      {"[foo('a')]", "The template function 'foo' is not found. Please see https://aka.ms/arm-functions"},
      {"[concat('a', nope())]", "The template function 'nope' is not found"},
      {"[listKeys(resourceId('Microsoft.Storage/storageAccounts', 's'), '2019-06-01')]",
       "The template function 'listKeys' is not supported"},
      {"[ns.fn('a')]", "user-defined functions are not supported"},
      {"[parameters()]", "Unable to evaluate template language function 'parameters': function requires 1 "
                         "argument(s) while 0 were provided. Please see https://aka.ms/arm-template-expressions/"
                         "#parameters for usage details."},
      {"[concat()]", "Unable to evaluate template language function 'concat'. At least one parameter should be "
                     "provided."},
      {"[copyIndex(1, 2, 3)]", "function requires between 0 and 2 argument(s) while 3 were provided"},
      {"[parameters(1)]", "The template language function 'parameters' expects its parameter to be of type "
                          "'String'. The provided value is of type 'Integer'."},
      {"[parameters('missing')]", "The template parameter 'missing' is not found."},
      {"[concat('a', parameters('obj'))]", "expects its second parameter to be a string, an integer"},
      {"[concat('a', parameters('list'))]", "Either all or none of the parameters must be an array."},
      {"[concat('a']", "Unable to parse language expression 'concat('a'': expected token 'RightParenthesis' and "
                      "actual 'EndOfData'."},
      {"[concat('a') 'b']", "expected token 'EndOfData' and actual 'String'"},
      {"[concat('abc)]", "the string literal starting at position '7' is not terminated"},
      {"[concat]", "expected token 'LeftParenthesis' and actual 'EndOfData'"},
      {"[parameters('obj').]", "expected token 'Identifier' and actual 'EndOfData'"},
      {"[parameters('list')[1]", "expected token 'RightSquareBracket' and actual 'EndOfData'"},
      {"[concat('a';'b')]", "the character ';' at position '10' is not expected"},
      {"[12a]", "the character 'a' is not expected after a number"},
      {"[99999999999999999999]", "too large or small for an Int64"},
      {"[]", "the expression is empty"},
      {"[   ]", "the expression is empty"},
      {"[parameters('obj').nope]", "The language expression property 'nope' doesn't exist, available properties "
                                   "are 'Alpha, k'."},
      {"[parameters('list')[3]]", "The language expression property array index '3' is out of bounds."},
      {"[parameters('list')[-1]]", "The language expression property array index '-1' is out of bounds."},
      {"[parameters('name').length]", "can't be evaluated, the value is of type 'String'"},
      {"[parameters('list')[parameters('flag')]]", "can't be indexed by a value of type 'Boolean'"},
      {"[resourceId('Microsoft.Compute/disks')]", "function requires at least 2 argument(s) while 1 were provided"},
      {"[resourceId('Microsoft.Compute/disks', 'a', 'b')]", "the type 'Microsoft.Compute/disks' requires '1' "
                                                          "resource name argument(s)."},
      {"[resourceId('rg', 'name')]", "the resource type (such as 'Microsoft.Compute/disks') must be one of its first"},
      {"[resourceId('Microsoft.Compute/disks', 1)]", "all function arguments must be string literals"},
      {"[reference('disk1')]", "The template function 'reference' is not expected at this location."},
      {"[copyIndex('other')]", "The template copy loop 'other' is not found."},
      {"[pickZones('Microsoft.Compute', 'virtualMachines', 'westus2')]", "'pickZones' is not supported"},
  };
  check_errors(rows, sizeof rows / sizeof *rows);

  /* nesting and length limits */
  char *deep = malloc(TPL_MAX_EXPRESSION + 16);
  strcpy(deep, "[");
  for (int i = 0; i < 200; i++)
    strcat(deep, "concat(");
  strcat(deep, "'x'");
  for (int i = 0; i < 200; i++)
    strcat(deep, ")");
  strcat(deep, "]");
  char *got = value_of(deep);
  CHECK(got && strstr(got, "nested more than 128 levels"), "200 nested calls are refused, not a stack overflow: %s",
        got);
  free(got);
  memset(deep, ' ', TPL_MAX_EXPRESSION + 2);
  memcpy(deep, "['x'", 4);
  strcpy(deep + TPL_MAX_EXPRESSION + 2, "]");
  got = value_of(deep);
  CHECK(got && strstr(got, "more than the limit of '24576' characters"), "an overlong expression is refused: %.80s",
        got);
  free(got);
  strcpy(deep + TPL_MAX_EXPRESSION + 1, "]");
  got = value_of(deep);
  CHECK(got && !strcmp(got, "\"x\""), "one of exactly 24,576 characters is evaluated: %.80s", got);
  free(got);
  free(deep);

  eval_ctx.allow = TPL_ALLOW_REFERENCE;
  static const struct row refs[] = {
      {"[reference('disk1').diskSizeGB]", "8"},
      {"[reference('disk1', '2021-04-01', 'Full').apiVersion]", "\"2021-04-01\""},
      {"[reference(resourceId('Microsoft.Compute/disks', 'other')).id]",
       "\"/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Compute/disks/other\""},
  };
  check_rows(refs, sizeof refs / sizeof *refs);
  static const struct row ref_errors[] = {
      {"[reference('nosuch')]", "The template reference 'nosuch' is not valid: could not find template resource"},
      {"[reference('disk1', '2021-04-01', 'Partial')]", "expects its third parameter to be 'Full'"},
      {"[copyIndex()]", "The template function 'copyIndex' is not expected at this location."},
  };
  check_errors(ref_errors, sizeof ref_errors / sizeof *ref_errors);
  world.reference = NULL;
  json_t *v = NULL;
  CHECK(tpl_eval_string(&eval_ctx, "[reference('disk1').diskSizeGB]", &v, &last) == -EAGAIN && !v,
        "reference() the world cannot answer yet: -EAGAIN");
  world.reference = reference;
  eval_ctx.allow = TPL_ALLOW_COPY_INDEX;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(reader_az_wire_form),
      UNIT_TEST(reader_refuses),
      UNIT_TEST(reader_depth),
      UNIT_TEST(hashes_match_arm),
      UNIT_TEST(expressions),
      UNIT_TEST(expression_errors),
  };
  params = json_loads(params_json, 0, NULL);
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  json_decref(params);
  return unit_finish(rc);
}
