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
      {"[providers('Microsoft.Compute')]", "The template function 'providers' is not supported by this service."},
      {"[filter(createArray(1, 2), lambda('x', greater(lambdaVariables('x'), 1)))]",
       "The template function 'filter' is not supported"},
      {"[managementGroup()]", "The template function 'managementGroup' is not supported"},
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

  /* messages become JSON strings: never a cut or stray UTF-8 sequence */
  json_t *v = NULL;
  memset(&last, 0, sizeof last);
  CHECK(tpl_eval_string(&eval_ctx, "[concat('a' \xC3\xA9)]", &v, &last) == -EINVAL &&
            strstr(last.message, "the character '\xC3\xA9' at position '11' is not expected"),
        "a non-ASCII character quoted whole: %s", last.message);
  char *wide = malloc(4 * 1500 + 64);
  strcpy(wide, "[parameters('obj')['");
  for (int i = 0; i < 1500; i++)
    strcat(wide, "\xC3\xA9");
  strcat(wide, "']]");
  json_t *m = NULL;
  CHECK(tpl_eval_string(&eval_ctx, wide, &v, &last) == -EINVAL && strlen(last.message) > 2000 &&
            (m = json_string(last.message)) != NULL,
        "a message cut to fit is still valid UTF-8 (%zu bytes)", strlen(last.message));
  json_decref(m);
  struct tpl_posmap *pm = NULL;
  json_t *doc = NULL;
  char *deepname = malloc(4 * 300 + 64), *q = deepname;
  q += sprintf(q, "{\"");
  for (int i = 0; i < 300; i++)
    q += sprintf(q, "\xC3\xA9");
  sprintf(q, "\": [1 2]}");
  json_t *path = NULL;
  CHECK(tpl_read(deepname, strlen(deepname), &doc, &pm, &last) == -EINVAL && (m = json_string(last.message)) &&
            (path = json_string(last.path)) && strlen(last.path) > 200,
        "a reader error's path cut to fit is valid UTF-8 too (%zu bytes)", strlen(last.path));
  json_decref(m);
  json_decref(path);
  free(deepname);
  free(wide);

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
  CHECK(tpl_eval_string(&eval_ctx, "[reference('disk1').diskSizeGB]", &v, &last) == -EAGAIN && !v,
        "reference() the world cannot answer yet: -EAGAIN");
  world.reference = reference;
  eval_ctx.allow = TPL_ALLOW_COPY_INDEX;
}

static void collect(void *ctx, const char *name)
{
  strcat(ctx, name);
  strcat(ctx, ";");
}

static void references_found(void **state)
{
  (void)state;
  char seen[1024] = "";
  struct tpl_error err;
  CHECK(tpl_expr_references(&eval_ctx,
                            "[concat(reference('disk1').x, if(true(), 'a', reference(parameters('name'))), "
                            "reference(resourceId('Microsoft.Compute/disks', 'd2'), '2021-04-01', 'Full').y)]",
                            collect, seen, &err) == 0 &&
            !strcmp(seen, "disk1;rpc1;/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Compute/disks/d2;"),
        "reference() arguments found in order, in both branches of if(), none called: %s", seen);
  seen[0] = '\0';
  CHECK(tpl_expr_references(&eval_ctx, "[parameters('list')[0]]", collect, seen, &err) == 0 && !seen[0] &&
            tpl_expr_references(&eval_ctx, "reference('x')", collect, seen, &err) == 0 && !seen[0],
        "none in an expression without reference(), nor in a plain string");
  CHECK(tpl_expr_references(&eval_ctx, "[reference('x'", collect, seen, &err) == 0 && !seen[0] &&
            tpl_expr_references(&eval_ctx, "[reference('x']", collect, seen, &err) == -EINVAL &&
            strstr(err.message, "expected token 'RightParenthesis'"),
        "a malformed expression: its parse error (%s)", err.message);
  CHECK(tpl_expr_references(&eval_ctx, "[concat(reference(parameters('nope')).a, reference('disk1').b)]", collect,
                            seen, &err) == 0 &&
            !strcmp(seen, "disk1;"),
        "an argument that cannot be evaluated now is skipped, the others found: %s", seen);
}

/* Mangled inputs (a fixed pseudo-random sequence of inserted, deleted and
 * replaced characters): every one is evaluated or refused with a code and
 * a message that is valid UTF-8 — and, under ASan, without a fault or a
 * leak. */
static void mangled_inputs(void **state)
{
  (void)state;
  static const char *const seeds[] = {
      "[concat('a', parameters('obj').alpha.beta[0], string(createObject('k', createArray(1, 2))))]",
      "[format('{0:N2} {1,-4} {{', 12345, 'ab')]",
      "[if(equals(1, 1), union(createObject('a', 1), createObject('b', 2)), null())]",
      "[resourceId('sub', 'rg', 'Microsoft.Compute/restorePointCollections/restorePoints', 'a', 'b')]",
      "[dateTimeAdd('2020-01-31T10:00:00.123Z', '-P1Y2M3DT4H5M6.5S', 'o')]",
      "[split(base64ToString(base64('a,b;c')), createArray(',', ';'))]",
      "[substring(padLeft(string(copyIndex(3)), 5, '0'), 1, 2)]",
      "{\"a\": [1, 2.5e3, {'b': \"c\\u00e9\"}], // x\n b: /* y */ true}",
  };
  static const char alphabet[] = "[]()',.{}:\"0123456789-abcPNTZ\\/ \n";
  unsigned seed = 12345;
  int evaluated = 0, refused = 0, bad = 0;
  for (int iter = 0; iter < 20000; iter++) {
    char buf[512];
    size_t len = strlen(seeds[iter % 8]);
    memcpy(buf, seeds[iter % 8], len + 1);
    for (int m = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 4; m > 0; m--) {
      seed = seed * 1103515245 + 12345;
      size_t at = (seed >> 16) % (len + 1);
      while (at > 0 && at < len && ((unsigned char)buf[at] & 0xC0) == 0x80)
        at--; /* at a character's start: the text stays UTF-8, as a JSON string's value is */
      size_t width = at < len && ((unsigned char)buf[at] & 0x80) ? 2 : 1;
      int op = (int)(seed >> 8) % 4;
      char c = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
      if (op == 0 && at < len) {
        memmove(buf + at + 1, buf + at + width, len - at - width + 1);
        buf[at] = c;
        len -= width - 1;
      } else if (op == 1 && len < 500) {
        memmove(buf + at + 1, buf + at, len - at + 1);
        buf[at] = c;
        len++;
      } else if (op == 2 && at < len) {
        memmove(buf + at, buf + at + width, len - at - width + 1);
        len -= width;
      } else if (len < 500) {
        memmove(buf + at + 2, buf + at, len - at + 1);
        memcpy(buf + at, "\xC3\xA9", 2);
        len += 2;
      }
    }
    json_t *v = NULL, *msg = NULL;
    struct tpl_posmap *pos = NULL;
    struct tpl_error err = {0};
    int rc = iter % 8 == 7 ? tpl_read(buf, len, &v, &pos, &err) : tpl_eval_string(&eval_ctx, buf, &v, &err);
    if (rc == 0) {
      evaluated++;
    } else {
      refused++;
      msg = json_string(err.message);
      bad += rc != -EINVAL || !err.code[0] || !msg;
    }
    json_decref(msg);
    json_decref(v);
    tpl_posmap_free(pos);
  }
  CHECK(bad == 0 && evaluated > 0 && refused > 0,
        "20,000 mangled inputs: %d evaluated, %d refused, %d refused badly", evaluated, refused, bad);
}

/* ---- Microsoft's restore point templates (tests/templates/seed) ---------- */
struct seed {
  json_t *template;
  struct tpl_eval ev;
  int evaluated, failed;
  char first_error[2600];
};

static int seed_lookup(void *ctx, enum tpl_lookup what, const char *name, json_t **out, struct tpl_error *err)
{
  struct seed *sd = ctx;
  if (what == TPL_PARAMETER) {
    if (!find_ci(json_object_get(sd->template, "parameters"), name))
      return snprintf(err->message, sizeof err->message, "The template parameter '%s' is not found.", name), -EINVAL;
    char v[300];
    snprintf(v, sizeof v, "p-%s", name);
    *out = json_string(v);
    return 0;
  }
  json_t *decl = what == TPL_VARIABLE ? find_ci(json_object_get(sd->template, "variables"), name) : NULL;
  if (!json_is_string(decl))
    return snprintf(err->message, sizeof err->message, "The template variable '%s' is not found.", name), -EINVAL;
  return tpl_eval_string(&sd->ev, json_string_value(decl), out, err);
}

static void seed_walk(struct seed *sd, json_t *v)
{
  const char *k;
  json_t *m;
  size_t i;
  if (json_is_object(v)) {
    json_object_foreach(v, k, m) {
      seed_walk(sd, m);
    }
  } else if (json_is_array(v)) {
    json_array_foreach(v, i, m) {
      seed_walk(sd, m);
    }
  } else if (json_is_string(v)) {
    json_t *r = NULL;
    struct tpl_error err = {0};
    if (tpl_eval_string(&sd->ev, json_string_value(v), &r, &err) == 0) {
      sd->evaluated++;
    } else if (sd->failed++ == 0) {
      snprintf(sd->first_error, sizeof sd->first_error, "%s: %s", json_string_value(v), err.message);
    }
    json_decref(r);
  }
}

static void seed_templates(void **state)
{
  (void)state;
  static const char *const names[] = {"CreateRestorePointCollection.json", "CreateRestorePoint.json",
                                      "CreateDiskFromDiskRestorePoint.json", "RestoreVMFromRestorePoint.json"};
  char dir[512];
  snprintf(dir, sizeof dir, "%s", __FILE__);
  *strrchr(dir, '/') = '\0';
  for (size_t f = 0; f < sizeof names / sizeof *names; f++) {
    char path[700];
    snprintf(path, sizeof path, "%s/../templates/seed/%s", dir, names[f]);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL, "%s is readable", path);
    if (!fp)
      continue;
    /* the body az 2.45 sends: a JSON prefix, an unquoted template: and the file's text */
    static char body[1 << 20];
    size_t n = (size_t)sprintf(body, "{\"properties\": {\"parameters\": {}, \"mode\": \"Incremental\", template:");
    n += fread(body + n, 1, sizeof body - n - 3, fp);
    fclose(fp);
    memcpy(body + n, "}}", 3);
    json_t *doc = NULL;
    struct tpl_posmap *pos = NULL;
    struct tpl_error err = {0};
    int rc = tpl_read(body, n + 2, &doc, &pos, &err);
    struct seed sd = {.template = json_object_get(json_object_get(doc, "properties"), "template")};
    sd.ev = (struct tpl_eval){.world = &world, .lookup = seed_lookup, .ctx = &sd};
    json_t *resources = json_object_get(sd.template, "resources");
    struct tpl_pos at = {0};
    CHECK(rc == 0 && json_array_size(resources) > 0 && tpl_pos_of(pos, json_array_get(resources, 0), &at) &&
              at.line > 1 && (f != 0 || (at.line == 14 && at.col == 19)),
          "%s: az's body read, resources[0] at the file's own line %d, column %d (%s)", names[f], at.line, at.col,
          err.message);
    seed_walk(&sd, resources);
    CHECK(sd.evaluated > 0 && sd.failed == 0, "%s: every string of its resources evaluated (%d; %s)", names[f],
          sd.evaluated, sd.first_error);
    if (f == 3) {
      json_t *subnet = NULL;
      CHECK(seed_lookup(&sd, TPL_VARIABLE, "subnetRef", &subnet, &err) == 0 &&
                !strcmp(json_string_value(subnet), "/subscriptions/sub1/resourceGroups/rg1/providers/"
                                                   "Microsoft.Network/virtualNetworks/p-virtualNetworkName/subnets/"
                                                   "p-subnetName"),
            "RestoreVMFromRestorePoint: variables('subnetRef') = %s", json_string_value(subnet));
      json_decref(subnet);
    }
    json_decref(doc);
    tpl_posmap_free(pos);
  }
}

/* ---- the function library, against Microsoft's documented examples ---------- */
static void functions_string(void **state)
{
  (void)state;
  static const struct row rows[] = {
      {"[base64('one, two, three')]", "\"b25lLCB0d28sIHRocmVl\""},
      {"[base64ToString('b25lLCB0d28sIHRocmVl')]", "\"one, two, three\""},
      {"[base64ToJson(base64('{''one'': ''a'', ''two'': ''b''}'))]", "{\"one\":\"a\",\"two\":\"b\"}"},
      {"[base64(base64ToString('b25lLCB0d28sIHRocmVl'))]", "\"b25lLCB0d28sIHRocmVl\""},
      {"[base64('')]", "\"\""},
      {"[base64ToString('SGk=')]", "\"Hi\""},
      {"[contains('OneTwoThree', 'e')]", "true"},
      {"[contains('OneTwoThree', 'z')]", "false"},
      {"[contains('OneTwoThree', 'one')]", "false"},
      {"[dataUri('Hello')]", "\"data:text/plain;charset=utf8;base64,SGVsbG8=\""},
      {"[dataUriToString('data:;base64,SGVsbG8sIFdvcmxkIQ==')]", "\"Hello, World!\""},
      {"[dataUriToString(dataUri('Hello'))]", "\"Hello\""},
      {"[dataUriToString('data:text/plain,a%20b')]", "\"a b\""},
      {"[dataUriToString('data:;foo=bar;base64,R0lGODdh')]", "\"GIF87a\""},
      {"[dataUriToString('data:application/json;base64,MTAw')]", "100"},
      {"[dataUriToString('data:application/json;charset=UTF-8;base64,MTAw')]", "100"},
      {"[dataUriToString('data:text/plain;charset=UTF-8;page=21,the%20data:1234,5678')]", "\"the data:1234,5678\""},
      {"[endsWith('', '')]", "true"},
      {"[endsWith('abcdef', '')]", "true"},
      {"[indexOf('', '')]", "0"},
      {"[indexOf('abcdef', '')]", "0"},
      {"[lastIndexOf('', '')]", "0"},
      {"[lastIndexOf('abcdef', '')]", "5"},
      {"[padLeft('123', 2, '0')]", "\"123\""},
      {"[padLeft('123', 10)]", "\"       123\""},
      {"[skip('one two three', 13)]", "\"\""},
      {"[take('one two three', -100)]", "\"\""},
      {"[take('one two three', 100)]", "\"one two three\""},
      {"[split('', '')]", "[\"\"]"},
      {"[concat(toLower('ONE'), '-', toUpper('two'), '-', base64('three'))]", "\"one-TWO-dGhyZWU=\""},
      {"[substring('one two three', 4, 3)]", "\"two\""},
      {"[empty(intersection(createArray('aaa'), createArray('bbb')))]", "true"},
      {"[empty('')]", "true"},
      {"[endsWith('abcdef', 'ef')]", "true"},
      {"[endsWith('abcdef', 'F')]", "true"},
      {"[endsWith('abcdef', 'e')]", "false"},
      {"[startsWith('abcdef', 'ab')]", "true"},
      {"[startsWith('abcdef', 'A')]", "true"},
      {"[startsWith('abcdef', 'e')]", "false"},
      {"[first('One Two Three')]", "\"O\""},
      {"[last('One Two Three')]", "\"e\""},
      {"[first('')]", "\"\""},
      {"[format('{0}, {1}. Formatted number: {2:N0}', 'Hello', 'User', 8175133)]",
       "\"Hello, User. Formatted number: 8,175,133\""},
      {"[format('{0:N2}|{1:D3}|{2:X}|{3:000}|{4,5}|{4,-5}|{{x}}', 1234, 7, 255, 42, 'ab')]",
       "\"1,234.00|007|FF|042|   ab|ab   |{x}\""},
      {"[format('{0} {1} {2}', true(), createArray(1, 'a'), -5)]", "\"True [1,'a'] -5\""},
      {"[indexOf('test', 't')]", "0"},
      {"[indexOf('abcdef', 'CD')]", "2"},
      {"[indexOf('abcdef', 'z')]", "-1"},
      {"[lastIndexOf('test', 't')]", "3"},
      {"[lastIndexOf('abcdef', 'AB')]", "0"},
      {"[lastIndexOf('abcdef', 'z')]", "-1"},
      {"[indexOf(createArray('a', 'b', 'a'), 'a')]", "0"},
      {"[lastIndexOf(createArray('a', 'b', 'a'), 'a')]", "2"},
      {"[join(createArray('one', 'two', 'three'), ',')]", "\"one,two,three\""},
      {"[length('One Two Three')]", "13"},
      {"[length('h\u00e9llo')]", "5"},
      {"[padLeft('123', 10, '0')]", "\"0000000123\""},
      {"[padLeft(7, 3)]", "\"  7\""},
      {"[padLeft('abcdef', 3, '0')]", "\"abcdef\""},
      {"[replace('123-123-1234', '-', '')]", "\"1231231234\""},
      {"[replace('123-123-1234', '1234', 'xxxx')]", "\"123-123-xxxx\""},
      {"[skip('one two three', 4)]", "\"two three\""},
      {"[take('one two three', 2)]", "\"on\""},
      {"[split('one,two,three', ',')]", "[\"one\",\"two\",\"three\"]"},
      {"[split('one;two,three', createArray(',', ';'))]", "[\"one\",\"two\",\"three\"]"},
      {"[split('a,,b,', ',')]", "[\"a\",\"\",\"b\",\"\"]"},
      {"[string(createObject('valueA', 10, 'valueB', 'Example Text'))]",
       "\"{\\\"valueA\\\":10,\\\"valueB\\\":\\\"Example Text\\\"}\""},
      {"[string(createArray('a', 'b', 'c'))]", "\"[\\\"a\\\",\\\"b\\\",\\\"c\\\"]\""},
      {"[string(5)]", "\"5\""},
      {"[string(true())]", "\"True\""},
      {"[substring('hello there', 1, 3)]", "\"ell\""},
      {"[substring('hello there', 6)]", "\"there\""},
      {"[toLower('One Two Three')]", "\"one two three\""},
      {"[toUpper('One Two Three')]", "\"ONE TWO THREE\""},
      {"[trim('    one two three   ')]", "\"one two three\""},
      {"[uniqueString('test')]", "\"rbgf3xv4ufgzg\""},
      {"[uniqueString('hello', 'world')]", "\"a7wkljktk6wne\""},
      {"[guid('hello', 'world')]", "\"a5b868f8-11fe-567a-ace0-e77cc87f104e\""},
      {"[uri('http://contoso.com/resources/', 'nested/azuredeploy.json')]",
       "\"http://contoso.com/resources/nested/azuredeploy.json\""},
      {"[uri('http://contoso.com/resources/azuredeploy.json', 'nested/x.json')]",
       "\"http://contoso.com/resources/nested/x.json\""},
      {"[uri('http://contoso.com/a/b', '/c')]", "\"http://contoso.com/c\""},
      {"[uri('http://contoso.com', 'c')]", "\"http://contoso.com/c\""},
      {"[uriComponent('http://contoso.com/resources/nested/azuredeploy.json')]",
       "\"http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json\""},
      {"[uriComponentToString('http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json')]",
       "\"http://contoso.com/resources/nested/azuredeploy.json\""},
  };
  check_rows(rows, sizeof rows / sizeof *rows);
  static const struct row errors[] = {
      {"[base64()]", "function requires 1 argument(s) while 0 were provided"},
      {"[base64(100)]", "The template language function 'base64' expects its parameter to be of type 'String'. The "
                        "provided value is of type 'Integer'."},
      {"[base64ToString(100)]", "The template language function 'base64ToString' expects its parameter to be a "
                                "string. The provided value is of type 'Integer'."},
      {"[base64ToString(createArray(''))]", "The provided value is of type 'Array'."},
      {"[base64ToString('not base64!')]", "expects its parameter to be a valid base64 string"},
      {"[base64ToJson(base64('{'))]", "expects its parameter to encode valid JSON"},
      {"[dataUriToString('invalid datauri')]", "The provided value 'invalid datauri' was not formatted correctly."},
      {"[dataUriToString('data:;charset=latin1,abc')]", "The provided charset 'latin1' is not supported."},
      {"[endsWith(1, 2)]", "The template language function 'endsWith' expects its parameters to be of type string "
                           "and string. The provided value is of type 'Integer' and 'Integer'."},
      {"[indexOf(1, 2)]", "expects its parameters to be of type string and string"},
      {"[first(1)]", "The template language function 'first' expects its parameter be an array or a string. The "
                     "provided value is of type 'Integer'."},
      {"[format('{1}', 'a')]", "Index (zero based) must be greater than or equal to zero and less than the size of "
                               "the argument list."},
      {"[format('{0', 'a')]", "Input string was not in a correct format."},
      {"[format('a}b')]", "Input string was not in a correct format."},
      {"[format('{0:Q}', 1)]", "Format specifier was invalid."},
      {"[padLeft('a', 3, 'xy')]", "expects its third parameter to be a single character"},
      {"[padLeft('a', 100000)]", "expects its second parameter to be at most 16384"},
      {"[replace('abc', '', 'x')]", "expects its second parameter to be a non-empty string"},
      {"[substring('hello', 3, 5)]", "The index and length parameters must refer to a location within the string. "
                                     "The index parameter: '3', the length parameter: '5', the length of the string "
                                     "parameter: '5'."},
      {"[substring('hello', -1)]", "The index parameter: '-1'"},
      {"[guid()]", "Unable to evaluate template language function 'guid'. At least one parameter should be provided."},
      {"[guid('a', 1)]", "expects its second parameter to be of type 'String'"},
      {"[uniqueString(createObject())]", "expects its first parameter to be of type 'String'"},
      {"[newGuid()]", "The template function 'newGuid' is not expected at this location."},
      {"[uri('relative', 'x')]", "expects its first parameter to be an absolute URI"},
      {"[uriComponentToString('%zz')]", "expects its parameter to be a valid encoded URI component"},
      {"[join(createArray(createArray()), ',')]", "The element at index 0 is of type 'Array'."},
  };
  check_errors(errors, sizeof errors / sizeof *errors);
}

static void functions_array_object(void **state)
{
  (void)state;
  static const struct row rows[] = {
      {"[array(1)]", "[1]"},
      {"[array('efgh')]", "[\"efgh\"]"},
      {"[array(createObject('a', 'b', 'c', 'd'))]", "[{\"a\":\"b\",\"c\":\"d\"}]"},
      {"[array(createArray(1, 2))]", "[1,2]"},
      {"[concat(createArray('1-1', '1-2', '1-3'), createArray('2-1', '2-2', '2-3'))]",
       "[\"1-1\",\"1-2\",\"1-3\",\"2-1\",\"2-2\",\"2-3\"]"},
      {"[contains(createObject('one', 'a', 'two', 'b'), 'one')]", "true"},
      {"[contains(createObject('one', 'a', 'two', 'b'), 'ONE')]", "true"},
      {"[contains(createObject('one', 'a', 'two', 'b'), 'a')]", "false"},
      {"[contains(createArray('one', 'two', 'three'), 'three')]", "true"},
      {"[contains(createArray('one', 'two', 'three'), 'four')]", "false"},
      {"[contains(createArray(1, 2), 2)]", "true"},
      {"[createArray('a', 'b', 'c')]", "[\"a\",\"b\",\"c\"]"},
      {"[createArray(1, 2, 3)]", "[1,2,3]"},
      {"[createArray(createArray('one', 'two', 'three'))]", "[[\"one\",\"two\",\"three\"]]"},
      {"[createArray()]", "[]"},
      {"[empty(createArray())]", "true"},
      {"[empty(createObject())]", "true"},
      {"[empty(createArray(1))]", "false"},
      {"[empty(null())]", "true"},
      {"[first(createArray('one', 'two', 'three'))]", "\"one\""},
      {"[last(createArray('one', 'two', 'three'))]", "\"three\""},
      {"[first(createArray())]", "null"},
      {"[intersection(createObject('one', 'a', 'two', 'b', 'three', 'c'), createObject('one', 'a', 'two', 'z', "
       "'three', 'c'))]",
       "{\"one\":\"a\",\"three\":\"c\"}"},
      {"[intersection(createArray('one', 'two', 'three'), createArray('two', 'three'))]", "[\"two\",\"three\"]"},
      {"[length(createArray('one', 'two', 'three'))]", "3"},
      {"[length(createObject('propA', 'one', 'propB', 'two', 'propC', 'three', 'propD', createObject('propD-1', "
       "'sub', 'propD-2', 'sub')))]",
       "4"},
      {"[max(createArray(0, 3, 2, 5, 4))]", "5"},
      {"[max(0, 3, 2, 5, 4)]", "5"},
      {"[min(createArray(0, 3, 2, 5, 4))]", "0"},
      {"[min(0, 3, 2, 5, 4)]", "0"},
      {"[range(5, 3)]", "[5,6,7]"},
      {"[range(1, 0)]", "[]"},
      {"[skip(createArray('one', 'two', 'three'), 2)]", "[\"three\"]"},
      {"[skip(createArray('one', 'two', 'three'), -1)]", "[\"one\",\"two\",\"three\"]"},
      {"[skip('abc', 10)]", "\"\""},
      {"[take(createArray('one', 'two', 'three'), 2)]", "[\"one\",\"two\"]"},
      {"[take(createArray('one'), 0)]", "[]"},
      {"[union(createObject('one', 'a', 'two', 'b', 'three', 'c1'), createObject('three', 'c2', 'four', 'd', "
       "'five', 'e'))]",
       "{\"one\":\"a\",\"two\":\"b\",\"three\":\"c2\",\"four\":\"d\",\"five\":\"e\"}"},
      {"[union(createArray('one', 'two', 'three'), createArray('three', 'four'))]",
       "[\"one\",\"two\",\"three\",\"four\"]"},
      {"[union(createObject('a', createObject('x', 1, 'y', 2)), createObject('a', createObject('y', 3)))]",
       "{\"a\":{\"x\":1,\"y\":3}}"},
      {"[flatten(createArray(createArray('one', 'two'), createArray('three'), createArray('four', 'five')))]",
       "[\"one\",\"two\",\"three\",\"four\",\"five\"]"},
      {"[createObject('intProp', 1, 'stringProp', 'abc', 'boolProp', true(), 'arrayProp', createArray('a', 'b', "
       "'c'), 'objectProp', createObject('key1', 'value1'))]",
       "{\"intProp\":1,\"stringProp\":\"abc\",\"boolProp\":true,\"arrayProp\":[\"a\",\"b\",\"c\"],\"objectProp\":{"
       "\"key1\":\"value1\"}}"},
      {"[createObject()]", "{}"},
      {"[json('{\"a\": \"b\"}')]", "{\"a\":\"b\"}"},
      {"[json('{''a'': [1, 2]}').a[1]]", "2"},
      {"[json('null')]", "null"},
      {"[json('true')]", "true"},
      {"[json('[1,2,3]')]", "[1,2,3]"},
      {"[null()]", "null"},
      {"[items(createObject('item002', createObject('enabled', false()), 'item001', createObject('enabled', "
       "true())))]",
       "[{\"key\":\"item001\",\"value\":{\"enabled\":true}},{\"key\":\"item002\",\"value\":{\"enabled\":false}}]"},
      {"[objectKeys(createObject('a', 1, 'b', 2))]", "[\"a\",\"b\"]"},
      {"[tryGet(parameters('obj'), 'alpha', 'beta', 1)]", "20"},
      {"[tryGet(parameters('obj'), 'nope')]", "null"},
      {"[shallowMerge(createArray(createObject('a', 1, 'b', 2), createObject('b', 3)))]", "{\"a\":1,\"b\":3}"},
  };
  check_rows(rows, sizeof rows / sizeof *rows);
  static const struct row errors[] = {
      {"[empty(1)]", "The template function 'empty' expects its parameter to be an object, an array, or a string. "
                     "The provided value is of type 'Integer'."},
      {"[empty(1, 2)]", "function requires 1 argument(s) while 2 were provided"},
      {"[length(1)]", "expects its parameter to be an array, an object, or a string. The provided value is of type "
                      "'Integer'."},
      {"[contains(1, 1)]", "expects its first parameter to be an array, an object, or a string"},
      {"[skip(createArray(), 'a')]", "expects its second parameter to be of type 'Integer'"},
      {"[union(createArray(1), createObject())]", "expects its parameters to be either all arrays or all objects"},
      {"[union(createArray(1))]", "function requires at least 2 argument(s) while 1 were provided"},
      {"[range(0, 10001)]", "non-negative integer up to 10000"},
      {"[range(2147483647, 1)]", "no greater than 2147483647"},
      {"[max(createArray())]", "the array is empty"},
      {"[min(1, 'a')]", "The provided value is of type 'String'."},
      {"[createObject('a')]", "must have an even number of parameters"},
      {"[createObject(1, 'a')]", "expects its first parameter to be a string (a property name)"},
      {"[json('{')]", "expects its parameter to be a valid JSON string"},
      {"[items(createArray())]", "expects its parameter to be of type 'Object'"},
      {"[flatten(createArray(1))]", "The element at index 0 is of type 'Integer'."},
  };
  check_errors(errors, sizeof errors / sizeof *errors);
}

static void functions_logic_numeric_date(void **state)
{
  (void)state;
  static const struct row rows[] = {
      {"[coalesce(null(), null(), 'default')]", "\"default\""},
      {"[coalesce(null(), 1, 2)]", "1"},
      {"[coalesce(null(), null())]", "null"},
      {"[equals(1, 1)]", "true"},
      {"[equals('a', 'A')]", "false"},
      {"[equals(createArray('a', 'b'), createArray('a', 'b'))]", "true"},
      {"[equals(createObject('a', 'b'), createObject('a', 'b'))]", "true"},
      {"[equals(createObject('a', 'b'), createObject('a', 'c'))]", "false"},
      {"[greater(10, 5)]", "true"},
      {"[greater('A', 'a')]", "false"},
      {"[greaterOrEquals(10, 10)]", "true"},
      {"[greaterOrEquals('A', 'a')]", "false"},
      {"[less(10, 5)]", "false"},
      {"[less('A', 'a')]", "true"},
      {"[lessOrEquals(10, 10)]", "true"},
      {"[lessOrEquals('b', 'a')]", "false"},
      {"[and(true(), false())]", "false"},
      {"[and(true(), true(), true())]", "true"},
      {"[or(true(), false())]", "true"},
      {"[or(false(), false())]", "false"},
      {"[and(true())]", "true"},
      {"[and(false(), parameters('list')[99])]", "false"},
      {"[and(not(empty(parameters('list'))), equals(parameters('list')[0], 'a'))]", "true"},
      {"[or(true(), parameters('nope'))]", "true"},
      {"[not(true())]", "false"},
      {"[if(equals(1, 1), 'yes', 'no')]", "\"yes\""},
      {"[if(equals('a', 'b'), 'yes', 'no')]", "\"no\""},
      {"[if(true(), 'taken', parameters('list')[99])]", "\"taken\""},
      {"[if(false(), parameters('nope'), createObject('k', 'v')).k]", "\"v\""},
      {"[bool('true')]", "true"},
      {"[bool('False')]", "false"},
      {"[bool(0)]", "false"},
      {"[bool(1)]", "true"},
      {"[true()]", "true"},
      {"[false()]", "false"},
      {"[add(5, 3)]", "8"},
      {"[sub(7, 3)]", "4"},
      {"[mul(5, 3)]", "15"},
      {"[div(8, 3)]", "2"},
      {"[div(-8, 3)]", "-2"},
      {"[mod(7, 3)]", "1"},
      {"[mod(-7, 3)]", "-1"},
      {"[int('4')]", "4"},
      {"[int('-12')]", "-12"},
      {"[add(int('4'), 1)]", "5"},
      {"[float('3.5')]", "3.5"},
      {"[add(9223372036854775806, 1)]", "9223372036854775807"},
      {"[dateTimeAdd('2020-04-07 14:53:14Z', 'P3Y')]", "\"4/7/2023 2:53:14 PM\""},
      {"[dateTimeAdd('2020-04-07 14:53:14Z', '-P9D')]", "\"3/29/2020 2:53:14 PM\""},
      {"[dateTimeAdd('2020-04-07 14:53:14Z', 'PT1H')]", "\"4/7/2020 3:53:14 PM\""},
      {"[dateTimeAdd('2020-01-31T00:00:00Z', 'P1M', 'yyyy-MM-dd')]", "\"2020-02-29\""},
      {"[dateTimeAdd('20200407T145314Z', 'PT30M', 'u')]", "\"2020-04-07 15:23:14Z\""},
      {"[dateTimeAdd('2020-04-07T14:53:14.5+02:00', 'PT1.25S', 'o')]", "\"2020-04-07T12:53:15.7500000Z\""},
      {"[dateTimeAdd('2020-04-07T00:00:00Z', 'P1W', 'd')]", "\"04/14/2020\""},
      {"[dateTimeFromEpoch(1683040573)]", "\"2023-05-02T15:16:13Z\""},
      {"[dateTimeToEpoch('2023-05-02T15:16:13Z')]", "1683040573"},
      {"[dateTimeToEpoch(dateTimeAdd('2023-05-02T15:16:13Z', 'P1Y', 's'))]", "1714662973"},
  };
  check_rows(rows, sizeof rows / sizeof *rows);
  static const struct row errors[] = {
      {"[and(true(), 'true')]", "expects its second parameter to be of type 'Boolean'. The provided value is of type "
                                "'String'."},
      {"[and()]", "Unable to evaluate template language function 'and'. At least one parameter should be provided."},
      {"[or(false(), 'x')]", "expects its second parameter to be of type 'Boolean'"},
      {"[not(1)]", "expects its parameter to be of type 'Boolean'"},
      {"[if('yes', 1, 2)]", "expects its first parameter to be of type 'Boolean'"},
      {"[if(true(), 1)]", "function requires 3 argument(s) while 2 were provided"},
      {"[if(false(), 'a', parameters('list')[99])]", "array index '99' is out of bounds"},
      {"[bool('yes')]", "expects its parameter to be 'true' or 'false'"},
      {"[less(1, 'a')]", "expects its parameters to be of type integer and integer or string and string. The provided "
                         "value is of type 'Integer' and 'String'."},
      {"[equals(1)]", "function requires 2 argument(s) while 1 were provided"},
      {"[add('1', 2)]", "The template language function 'add' expects its first parameter to be of type 'Integer'. "
                        "The provided value is of type 'String'."},
      {"[div(1, 0)]", "cannot divide by zero"},
      {"[mod(1, 0)]", "cannot divide by zero"},
      {"[add(9223372036854775807, 1)]", "overflowed"},
      {"[mul(9223372036854775807, 2)]", "overflowed"},
      {"[int('4x')]", "expects its parameter to be an integer or a string holding one"},
      {"[int(createArray())]", "expects its parameter to be a string or an integer"},
      {"[utcNow()]", "The template function 'utcNow' is not expected at this location. The function can only be used "
                     "with parameter default value."},
      {"[dateTimeAdd('yesterday', 'P1D')]", "expects its first parameter to be a date and time in ISO 8601 format"},
      {"[dateTimeAdd('2020-02-30T00:00:00Z', 'P1D')]", "in ISO 8601 format"},
      {"[dateTimeAdd('2020-01-01T00:00:00Z', '1D')]", "expects its second parameter to be a duration"},
      {"[dateTimeAdd('2020-01-01T00:00:00Z', 'P')]", "expects its second parameter to be a duration"},
      {"[dateTimeAdd('9999-12-31T00:00:00Z', 'P1D')]", "expects its second parameter to be a duration"},
      {"[dateTimeFromEpoch(-1)]", "non-negative number of seconds"},
  };
  check_errors(errors, sizeof errors / sizeof *errors);

  eval_ctx.allow = TPL_ALLOW_NOW;
  char *now = value_of("[utcNow()]"), *guid = value_of("[newGuid()]"), *md = value_of("[utcNow('M d')]");
  CHECK(now && strlen(now) == 18 && now[9] == 'T' && now[16] == 'Z', "utcNow() in a parameter default: %s", now);
  CHECK(guid && strlen(guid) == 38 && guid[15] == '4', "newGuid() there: %s", guid);
  CHECK(md && strchr(md, ' ') && strlen(md) <= 7, "utcNow('M d'): %s", md);
  free(now);
  free(guid);
  free(md);
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
      UNIT_TEST(references_found),
      UNIT_TEST(seed_templates),
      UNIT_TEST(mangled_inputs),
      UNIT_TEST(functions_string),
      UNIT_TEST(functions_array_object),
      UNIT_TEST(functions_logic_numeric_date),
  };
  params = json_loads(params_json, 0, NULL);
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  json_decref(params);
  return unit_finish(rc);
}
