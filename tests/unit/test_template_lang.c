/*
 * test_template_lang.c — the ARM template language (src/template/): the
 * tolerant reader and its positions, the hashes against their reference
 * vectors (reference/templates/arm-hash.py).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(reader_az_wire_form),
      UNIT_TEST(reader_refuses),
      UNIT_TEST(reader_depth),
      UNIT_TEST(hashes_match_arm),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
