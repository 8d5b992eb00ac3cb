/*
 * test_deploy_whatif.c — what-if's property-level differences (deploy/whatif.c):
 * members the request sets are compared as providers read them; members it
 * leaves out are no change; arrays report per position.
 */
#include <jansson.h>
#include <string.h>

#include "deploy/whatif.h"
#include "unit.h"

static json_t *J(const char *text)
{
  json_error_t e;
  json_t *v = json_loads(text, 0, &e);
  if (!v)
    fprintf(stderr, "bad test JSON: %s: %s\n", text, e.text);
  return v;
}

/* The delta as compact JSON text (malloc'd). */
static char *delta_text(const char *before, const char *after)
{
  json_t *b = before ? J(before) : NULL, *a = J(after);
  json_t *d = whatif_delta(b, a);
  char *s = d ? json_dumps(d, JSON_COMPACT) : NULL;
  json_decref(d);
  json_decref(a);
  json_decref(b);
  return s;
}

static void expect_delta(const char *before, const char *after, const char *want)
{
  char *got = delta_text(before, after);
  CHECK(got && strcmp(got, want) == 0, "delta %s → %s = %s (got %s)", before ? before : "null", after, want,
        got ? got : "NULL");
  free(got);
}

static void test_coercions(void **state)
{
  (void)state;
  /* what the providers accept as the same value is no change */
  expect_delta("{\"properties\":{\"diskSizeGB\":1024}}", "{\"properties\":{\"diskSizeGB\":\"1024\"}}", "[]");
  expect_delta("{\"properties\":{\"enabled\":true}}", "{\"properties\":{\"enabled\":\"True\"}}", "[]");
  expect_delta("{\"properties\":{\"createOption\":\"Attach\"}}", "{\"properties\":{\"createOption\":\"attach\"}}",
               "[]");
  expect_delta("{\"Properties\":{\"x\":1}}", "{\"properties\":{\"X\":1}}", "[]");
  /* and what they do not */
  expect_delta("{\"properties\":{\"diskSizeGB\":32}}", "{\"properties\":{\"diskSizeGB\":\"64\"}}",
               "[{\"path\":\"properties.diskSizeGB\",\"propertyChangeType\":\"Modify\",\"before\":32,"
               "\"after\":\"64\"}]");
  expect_delta("{\"properties\":{\"n\":1}}", "{\"properties\":{\"n\":\"1.0\"}}",
               "[{\"path\":\"properties.n\",\"propertyChangeType\":\"Modify\",\"before\":1,\"after\":\"1.0\"}]");
}

static void test_members(void **state)
{
  (void)state;
  /* read-only and defaulted members the request leaves out are no change */
  expect_delta("{\"id\":\"/x\",\"properties\":{\"provisioningState\":\"Succeeded\",\"a\":1}}",
               "{\"properties\":{\"a\":1}}", "[]");
  expect_delta("{\"properties\":{}}", "{\"properties\":{\"a\":{\"b\":2}}}",
               "[{\"path\":\"properties.a\",\"propertyChangeType\":\"Create\",\"after\":{\"b\":2}}]");
  expect_delta("{\"properties\":{\"a\":1}}", "{\"properties\":{\"a\":null}}", "[]");
  expect_delta(NULL, "{\"location\":\"eastus\"}",
               "[{\"path\":\"location\",\"propertyChangeType\":\"Create\",\"after\":\"eastus\"}]");
}

static void test_arrays(void **state)
{
  (void)state;
  expect_delta("{\"p\":[1,2,3]}", "{\"p\":[1,2,3]}", "[]");
  expect_delta("{\"p\":[1,2,3]}", "{\"p\":[1,5]}",
               "[{\"path\":\"p\",\"propertyChangeType\":\"Array\",\"children\":["
               "{\"path\":\"1\",\"propertyChangeType\":\"Modify\",\"before\":2,\"after\":5},"
               "{\"path\":\"2\",\"propertyChangeType\":\"Delete\",\"before\":3}]}]");
  expect_delta("{\"p\":[{\"name\":\"a\",\"x\":1}]}", "{\"p\":[{\"name\":\"a\",\"x\":2},{\"name\":\"b\"}]}",
               "[{\"path\":\"p\",\"propertyChangeType\":\"Array\",\"children\":["
               "{\"path\":\"0.x\",\"propertyChangeType\":\"Modify\",\"before\":1,\"after\":2},"
               "{\"path\":\"1\",\"propertyChangeType\":\"Create\",\"after\":{\"name\":\"b\"}}]}]");
}

static void test_predict(void **state)
{
  (void)state;
  json_t *b = J("{\"id\":\"/x\",\"Properties\":{\"a\":1,\"b\":{\"c\":2}},\"tags\":{\"t\":\"1\"}}");
  json_t *a = J("{\"properties\":{\"b\":{\"d\":3},\"e\":null},\"tags\":{\"u\":\"2\"}}");
  json_t *p = whatif_predict(b, a);
  char *s = p ? json_dumps(p, JSON_COMPACT) : NULL;
  CHECK(s && strcmp(s, "{\"id\":\"/x\",\"Properties\":{\"a\":1,\"b\":{\"c\":2,\"d\":3}},\"tags\":{\"t\":\"1\","
                       "\"u\":\"2\"}}") == 0,
        "the prediction lays the request over the resource, keeping its spelling (got %s)", s ? s : "NULL");
  free(s);
  json_decref(p);
  json_decref(a);
  json_decref(b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(test_coercions),
      UNIT_TEST(test_members),
      UNIT_TEST(test_arrays),
      UNIT_TEST(test_predict),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
