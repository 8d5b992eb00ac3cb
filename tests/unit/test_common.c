/*
 * test_common.c — src/common: base64url (known vectors, round trips of every
 * length, invalid input), percent-decoding and form bodies (including
 * malformed escapes).
 */
#include <string.h>

#include "common/base64url.h"
#include "common/urlcode.h"
#include "unit.h"

static void b64_vectors(void **state)
{
  (void)state;
  static const struct { const char *raw, *enc; } v[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}, {"\xff\xff\xfe", "___-"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char *e = base64url_encode(v[i].raw, strlen(v[i].raw));
    CHECK(e && strcmp(e, v[i].enc) == 0, "base64url_encode(\"%s\") = \"%s\"", v[i].enc, e ? e : "(null)");
    size_t n = 99;
    unsigned char *d = base64url_decode(v[i].enc, strlen(v[i].enc), &n);
    CHECK(d && n == strlen(v[i].raw) && memcmp(d, v[i].raw, n) == 0 && d[n] == '\0',
          "base64url_decode(\"%s\") gives the bytes back, NUL-terminated", v[i].enc);
    free(e);
    free(d);
  }
}

static void b64_round_trips(void **state)
{
  (void)state;
  unsigned char buf[257];
  int bad = 0;
  for (size_t len = 0; len <= sizeof buf; len++) {
    for (size_t i = 0; i < len; i++)
      buf[i] = (unsigned char)(i * 131 + len * 7);
    char *e = base64url_encode(buf, len);
    size_t n = 0;
    unsigned char *d = e ? base64url_decode(e, strlen(e), &n) : NULL;
    if (!e || strlen(e) != (len * 4 + 2) / 3 || strspn(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                          "0123456789-_") != strlen(e) ||
        !d || n != len || memcmp(d, buf, len) != 0)
      bad++;
    free(e);
    free(d);
  }
  CHECK(bad == 0, "base64url round trips for every length 0..257 (unpadded, URL alphabet, exact length)");
}

static void b64_invalid(void **state)
{
  (void)state;
  static const char *bad[] = {"Zm9v=", "Zm9vYg==", "Zm+v", "Zm/v", "Z", "Zm9vY", "Zm 9v", "Zm9v!", "Zm9v\n",
                              "\xc3\xa9"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t n;
    unsigned char *d = base64url_decode(bad[i], strlen(bad[i]), &n);
    CHECK(d == NULL, "base64url_decode refuses invalid input #%zu", i);
    free(d);
  }
  size_t n;
  unsigned char *d = base64url_decode("Zm9vYmFy", 4, &n); /* length is honoured */
  CHECK(d && n == 3 && memcmp(d, "foo", 3) == 0, "base64url_decode reads only in_len characters");
  free(d);
}

static void url_decoding(void **state)
{
  (void)state;
  static const struct { const char *in; int form; const char *out; } v[] = {
      {"a%20b", 0, "a b"}, {"a+b", 1, "a b"}, {"a+b", 0, "a+b"}, {"%41%42c", 0, "ABc"}, {"%2f%2F", 0, "//"},
      {"", 0, ""}, {"100%25", 0, "100%"}, {"%e2%82%ac", 0, "\xe2\x82\xac"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char *o = url_decode(v[i].in, strlen(v[i].in), v[i].form);
    CHECK(o && strcmp(o, v[i].out) == 0, "url_decode(\"%s\", form=%d)", v[i].in, v[i].form);
    free(o);
  }
  static const char *bad[] = {"%", "%4", "abc%", "a%zz", "%g1", "%1g", "x%4"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *o = url_decode(bad[i], strlen(bad[i]), 0);
    CHECK(o == NULL, "url_decode refuses the malformed escape \"%s\"", bad[i]);
    free(o);
  }
  char *o = url_decode("a%41xyz", 4, 0);
  CHECK(o && strcmp(o, "aA") == 0, "url_decode reads only len characters");
  free(o);
  o = url_decode("ab%4", 3, 0); /* "ab%" with the rest cut off */
  CHECK(o == NULL, "url_decode refuses an escape cut off by len");
  free(o);
}

static void url_encoding(void **state)
{
  (void)state;
  const char *s = "a b/c?d=e&f%g~h_i.j-k\xc3\xa9";
  char *e = url_encode(s);
  CHECK(e && strcmp(e, "a%20b%2Fc%3Fd%3De%26f%25g~h_i.j-k%C3%A9") == 0, "url_encode escapes all but unreserved");
  char *d = e ? url_decode(e, strlen(e), 0) : NULL;
  CHECK(d && strcmp(d, s) == 0, "url_decode(url_encode(s)) == s");
  free(e);
  free(d);
}

static void form_bodies(void **state)
{
  (void)state;
  const char *body = "grant_type=client_credentials&client_id_x=1&client_id=abc&scope=https%3A%2F%2Fh%3A1%2F%2F.default"
                     "&empty=&flag&plus=a+b";
  char *v = form_get(body, "grant_type");
  CHECK(v && strcmp(v, "client_credentials") == 0, "form_get: first field");
  free(v);
  v = form_get(body, "client_id");
  CHECK(v && strcmp(v, "abc") == 0, "form_get: a name that is a prefix of another is matched exactly");
  free(v);
  v = form_get(body, "scope");
  CHECK(v && strcmp(v, "https://h:1//.default") == 0, "form_get: percent-decoded value");
  free(v);
  v = form_get(body, "empty");
  CHECK(v && strcmp(v, "") == 0, "form_get: empty value");
  free(v);
  v = form_get(body, "plus");
  CHECK(v && strcmp(v, "a b") == 0, "form_get: '+' is a space");
  free(v);
  v = form_get(body, "flag");
  CHECK(v == NULL, "form_get: a field without '=' has no value");
  free(v);
  v = form_get(body, "missing");
  CHECK(v == NULL, "form_get: missing field");
  free(v);
  v = form_get(NULL, "a");
  CHECK(v == NULL, "form_get: no body");
  v = form_get("a=%zz&b=1", "a");
  CHECK(v == NULL, "form_get: malformed escape gives NULL");
  free(v);
  v = form_get("a=%zz&b=1", "b");
  CHECK(v && strcmp(v, "1") == 0, "form_get: a malformed field does not hide the others");
  free(v);
  v = form_get("a=1%", "a");
  CHECK(v == NULL, "form_get: truncated escape at the end gives NULL");
  free(v);
  v = form_get("&&a=1&&", "a");
  CHECK(v && strcmp(v, "1") == 0, "form_get: empty fields are skipped");
  free(v);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(b64_vectors), UNIT_TEST(b64_round_trips), UNIT_TEST(b64_invalid),
      UNIT_TEST(url_decoding), UNIT_TEST(url_encoding), UNIT_TEST(form_bodies),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
