/*
 * test_common.c — src/common: base64url (known vectors, round trips of every
 * length, invalid input), percent-decoding and form bodies (including
 * malformed escapes), the log's escaping (every control byte, cuts at a whole
 * escape), and failure throttles (burst, refill, Retry-After, a full table).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "common/base64url.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/throttle.h"
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

static void log_escaping(void **state)
{
  (void)state;
  char out[64];
  size_t n = log_escape("GET /a\r\nts=x level=error \"q\" \\ \t\x01\x7f\x1b end", out, sizeof out);
  CHECK(strcmp(out, "GET /a\\r\\nts=x level=error \\\"q\\\" \\\\ \\t\\x01\\x7f\\x1b end") == 0 && n == strlen(out),
        "log_escape: CR, LF, tab, quote, backslash and control bytes escaped (%s)", out);
  int raw = 0;
  for (int c = 1; c < 256; c++) {
    char in[2] = {(char)c, 0}, o[8];
    log_escape(in, o, sizeof o);
    raw += strchr(o, '\n') || strchr(o, '\r') || (o[0] && (unsigned char)o[0] < 0x20) ||
           (unsigned char)o[0] == 0x7f;
  }
  CHECK(raw == 0, "log_escape: no byte 1..255 comes out as a raw control byte");
  n = log_escape("abc\n", out, 5);
  CHECK(strcmp(out, "abc") == 0 && n == 3, "log_escape: an escape that does not fit is left out whole (%s)", out);
  n = log_escape("\x01", out, 4);
  CHECK(strcmp(out, "") == 0 && n == 0, "log_escape: \\xNN needs 4 bytes and a NUL");
  char utf8[] = "d\xc3\xa9j\xc3\xa0";
  log_escape(utf8, out, sizeof out);
  CHECK(strcmp(out, utf8) == 0, "log_escape: UTF-8 text is kept as it is");
}

static void throttles(void **state)
{
  (void)state;
  static struct throttle t = THROTTLE_INIT(3, 0.5); /* 3 failures, then one every 2 s */
  int64_t now = 1000000;
  CHECK(throttle_wait_s(&t, "a", now) == 0, "throttle: a key that never failed may try");
  for (int i = 0; i < 3; i++)
    throttle_fail(&t, "a", now);
  int w = throttle_wait_s(&t, "a", now);
  CHECK(w == 2, "throttle: after the burst the key waits (Retry-After %d: 2 s to a token)", w);
  CHECK(throttle_wait_s(&t, "a", now + 500) == 2, "throttle: 1.5 s is rounded up");
  CHECK(throttle_wait_s(&t, "b", now) == 0, "throttle: another key does not");
  CHECK(throttle_wait_s(&t, "a", now + 1999) > 0 && throttle_wait_s(&t, "a", now + 2000) == 0,
        "throttle: a token is back after 2 s");
  throttle_fail(&t, "a", now + 2000);
  CHECK(throttle_wait_s(&t, "a", now + 2000) > 0, "throttle: and a failure takes it again");
  CHECK(throttle_wait_s(&t, "a", now + 60000) == 0, "throttle: a minute later the key may try");

  /* A full table: a flood of new keys cannot grow it, and takes the least
   * recently failed slot, not a recent offender's. */
  static struct throttle f = THROTTLE_INIT(1, 0.001);
  throttle_fail(&f, "offender", now + 10);
  for (int i = 0; i < THROTTLE_SLOTS - 1; i++) {
    char key[32];
    snprintf(key, sizeof key, "k%d", i);
    throttle_fail(&f, key, now + 5 - (i == 0)); /* k0 is the least recent */
  }
  CHECK(throttle_wait_s(&f, "offender", now + 20) > 0 && throttle_wait_s(&f, "k0", now + 20) > 0,
        "throttle: %d keys fill the table", THROTTLE_SLOTS);
  throttle_fail(&f, "newcomer", now + 20);
  CHECK(throttle_wait_s(&f, "newcomer", now + 20) > 0 && throttle_wait_s(&f, "offender", now + 20) > 0 &&
            throttle_wait_s(&f, "k0", now + 20) == 0,
        "throttle: a new key in a full table replaces the least recently failed one");
  char longkey[300];
  memset(longkey, 'x', sizeof longkey - 1);
  longkey[sizeof longkey - 1] = '\0';
  throttle_fail(&t, longkey, now);
  throttle_fail(&t, longkey, now);
  throttle_fail(&t, longkey, now);
  CHECK(throttle_wait_s(&t, longkey, now) > 0, "throttle: a key longer than a slot's is cut, still counted");
}

/* The network a client address counts as: IPv4 itself, IPv4-mapped as
 * IPv4, IPv6 its /64 (two hosts of one /64 are one client). */
static void client_networks(void **state)
{
  (void)state;
  struct sockaddr_in v4 = {.sin_family = AF_INET};
  struct sockaddr_in6 a = {.sin6_family = AF_INET6}, b = a, m = a, other = a;
  inet_pton(AF_INET, "192.0.2.7", &v4.sin_addr);
  inet_pton(AF_INET6, "2001:db8:1:2::1", &a.sin6_addr);
  inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", &b.sin6_addr);
  inet_pton(AF_INET6, "2001:db8:1:3::1", &other.sin6_addr);
  inet_pton(AF_INET6, "::ffff:192.0.2.7", &m.sin6_addr);
  unsigned char k4[NET_KEY_LEN], ka[NET_KEY_LEN], kb[NET_KEY_LEN], km[NET_KEY_LEN], ko[NET_KEY_LEN],
      kn[NET_KEY_LEN];
  char text[NET_TEXT_LEN];
  net_key((struct sockaddr *)&v4, k4);
  net_key((struct sockaddr *)&a, ka);
  net_key((struct sockaddr *)&b, kb);
  net_key((struct sockaddr *)&m, km);
  net_key((struct sockaddr *)&other, ko);
  net_key(NULL, kn);
  assert_memory_equal(ka, kb, NET_KEY_LEN);
  assert_memory_not_equal(ka, ko, NET_KEY_LEN);
  assert_memory_equal(k4, km, NET_KEY_LEN);
  net_key_text(k4, text);
  assert_string_equal(text, "192.0.2.7");
  net_key_text(ka, text);
  assert_string_equal(text, "2001:db8:1:2::/64");
  net_key_text(kn, text);
  assert_string_equal(text, "?");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(b64_vectors), UNIT_TEST(b64_round_trips), UNIT_TEST(b64_invalid),
      UNIT_TEST(url_decoding), UNIT_TEST(url_encoding), UNIT_TEST(form_bodies),
      UNIT_TEST(log_escaping), UNIT_TEST(throttles), UNIT_TEST(client_networks),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
