/*
 * test_repl.c — signed requests between regions (src/repl/sign.c): a
 * request is accepted once, fresh, unaltered, from the credential's holder.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "repl/repl.h"
#include "unit.h"

#define CRED "s3cret-shared-by-the-two-regions"
#define START 1700000000000ll /* the receiver's start, Unix ms */
#define BODY "{\"vmId\":\"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v\"}"

static const struct repl_caller alice = {"oid-alice", "app-1", "tenant-1"};

struct sent {
  struct repl_signature sig;
  struct repl_signed_request r;
};

/* A request westus → eastus, signed at ts, as the receiver sees it. */
static void sign_at(struct sent *s, int64_t ts, const struct repl_caller *who)
{
  int rc = repl_sign(CRED, "westus", "eastus", "POST", REPL_PATH "captures?id=%2Fx&b=1", BODY, strlen(BODY), who, ts,
                     &s->sig);
  if (rc != 0) /* one line per failure, none per success: the memory test signs 100,000 */
    CHECK(rc == 0, "signed (%d)", rc);
  s->r = (struct repl_signed_request){.from = "westus", .to = "eastus", .method = "POST",
                                      .target = REPL_PATH "captures?id=%2Fx&b=1", .authorization = s->sig.authorization,
                                      .caller = s->sig.caller[0] ? s->sig.caller : NULL, .body = BODY,
                                      .body_len = strlen(BODY)};
}

static int verify(struct repl_guard *g, const struct sent *s, int64_t now, struct repl_caller *who)
{
  return repl_verify(g, CRED, &s->r, now, who);
}

static void valid_accepted_once(void **state)
{
  (void)state;
  struct repl_guard *g = NULL;
  CHECK(repl_guard_open(START, &g) == 0, "guard opened");
  struct sent s;
  struct repl_caller who;
  sign_at(&s, START + 1000, &alice);
  CHECK(!strstr(s.sig.authorization, CRED) && !strstr(s.sig.caller, CRED), "the credential is not in the headers");
  CHECK(verify(g, &s, START + 1500, &who) == 0, "a valid request is accepted");
  CHECK(!strcmp(who.oid, "oid-alice") && !strcmp(who.appid, "app-1") && !strcmp(who.tid, "tenant-1"),
        "with the caller it asserts");
  CHECK(verify(g, &s, START + 2000, &who) == -EALREADY, "the same request again: refused as a replay");
  CHECK(verify(g, &s, START + 1000 + REPL_WINDOW_MS, &who) == -EALREADY, "still refused at the window's end");
  struct sent self;
  sign_at(&self, START + 3000, NULL);
  CHECK(verify(g, &self, START + 3000, &who) == 0 && who.oid[0] == '\0' && self.r.caller == NULL,
        "a region calling for itself: accepted, no caller");
  struct sent odd;
  struct repl_caller weird = {"a b%c", "x y", ""};
  sign_at(&odd, START + 3000, &weird);
  CHECK(verify(g, &odd, START + 3000, &who) == 0 && !strcmp(who.oid, "a b%c") && !strcmp(who.appid, "x y"),
        "identity fields with spaces and '%%' travel percent-encoded and come back as they were");
  struct repl_caller crlf = {"oid\r\nx-forged: 1", "", ""};
  CHECK(repl_sign(CRED, "westus", "eastus", "GET", "/", NULL, 0, &crlf, START + 3000, &odd.sig) == -EINVAL,
        "an identity with a line break is not signed");
  CHECK(repl_sign(CRED, "westus", "eastus", "GET", "/a\nb", NULL, 0, NULL, START + 3000, &odd.sig) == -EINVAL,
        "nor a target with one (no two requests share a canonical string)");
  repl_guard_close(g);
}

static void tampering_refused(void **state)
{
  (void)state;
  struct repl_guard *g = NULL;
  CHECK(repl_guard_open(START, &g) == 0, "guard opened");
  struct repl_caller who;
  struct sent s;
  sign_at(&s, START + 5000, &alice);

  struct sent t = s;
  t.r.method = "PUT";
  CHECK(verify(g, &t, START + 5000, &who) == -EACCES, "another method: refused");
  t = s;
  t.r.target = REPL_PATH "captures?id=%2Fy&b=1";
  CHECK(verify(g, &t, START + 5000, &who) == -EACCES, "another query: refused");
  t.r.target = REPL_PATH "release?id=%2Fx&b=1";
  CHECK(verify(g, &t, START + 5000, &who) == -EACCES, "another path: refused");
  t = s;
  t.r.body = "{\"vmId\":\"/subscriptions/other\"}";
  t.r.body_len = strlen(t.r.body);
  CHECK(verify(g, &t, START + 5000, &who) == -EACCES, "another body: refused");
  t = s;
  t.r.body_len--;
  CHECK(verify(g, &t, START + 5000, &who) == -EACCES, "a body cut short: refused");
  t = s;
  t.r.caller = "oid-mallory app-1 tenant-1";
  CHECK(verify(g, &t, START + 5000, &who) == -EACCES, "another caller: refused");
  t.r.caller = NULL;
  CHECK(verify(g, &t, START + 5000, &who) == -EACCES, "the caller dropped: refused");
  t = s;
  t.r.from = "northeurope";
  CHECK(verify(g, &t, START + 5000, &who) == -EACCES, "another sender: refused");
  t = s;
  t.r.to = "westus";
  CHECK(verify(g, &t, START + 5000, &who) == -EACCES, "sent back to its sender (another receiver): refused");
  t = s;
  CHECK(repl_verify(g, CRED "x", &t.r, START + 5000, &who) == -EACCES, "checked with another credential: refused");

  char forged[sizeof s.sig.authorization];
  int64_t ts;
  char nonce[33], mac[65];
  CHECK(sscanf(s.sig.authorization, REPL_SIG_SCHEME " t=%ld,n=%32[0-9a-f],s=%64[0-9a-f]", &ts, nonce, mac) == 3,
        "the Authorization value parses as documented");
  snprintf(forged, sizeof forged, REPL_SIG_SCHEME " t=%ld,n=%s,s=%s", (long)ts + 1, nonce, mac);
  t = s;
  t.r.authorization = forged;
  CHECK(verify(g, &t, START + 5000, &who) == -EACCES, "another timestamp: refused");
  nonce[0] = nonce[0] == 'a' ? 'b' : 'a';
  snprintf(forged, sizeof forged, REPL_SIG_SCHEME " t=%ld,n=%s,s=%s", (long)ts, nonce, mac);
  CHECK(verify(g, &t, START + 5000, &who) == -EACCES, "another nonce: refused");
  snprintf(forged, sizeof forged, "VmrpPeer " CRED);
  CHECK(verify(g, &t, START + 5000, &who) == -EBADMSG, "the credential itself (the old scheme): refused");
  t.r.authorization = NULL;
  CHECK(verify(g, &t, START + 5000, &who) == -EBADMSG, "no signature: refused");
  CHECK(verify(g, &s, START + 5000, &who) == 0, "and the untouched request is still accepted (nothing spent it)");
  repl_guard_close(g);
}

static void time_window(void **state)
{
  (void)state;
  struct repl_guard *g = NULL;
  CHECK(repl_guard_open(START, &g) == 0, "guard opened");
  struct repl_caller who;
  struct sent s;
  sign_at(&s, START + 10000, &alice);
  CHECK(verify(g, &s, START + 10000 + REPL_WINDOW_MS + 1, &who) == -ETIME, "older than the window: refused");
  CHECK(verify(g, &s, START + 10000 - REPL_WINDOW_MS - 1, &who) == -ETIME, "further ahead than the window: refused");
  CHECK(verify(g, &s, START + 10000 + REPL_WINDOW_MS, &who) == 0, "at the window's edge: accepted");
  sign_at(&s, START - 1, &alice);
  CHECK(verify(g, &s, START + 1000, &who) == -ETIME,
        "signed before the receiver started (a restart forgot its nonces): refused though within the window");
  /* long after: the generations turned over, and a fresh request is still remembered */
  int64_t later = START + 100 * (int64_t)REPL_WINDOW_MS;
  sign_at(&s, later, &alice);
  CHECK(verify(g, &s, later, &who) == 0, "accepted after the nonce memory turned over");
  CHECK(verify(g, &s, later + REPL_WINDOW_MS, &who) == -EALREADY, "and its replay refused");
  CHECK(verify(g, &s, later + REPL_WINDOW_MS + 1, &who) == -ETIME, "then too old");
  repl_guard_close(g);
}

static void replay_across_turnover(void **state)
{
  (void)state;
  struct repl_guard *g = NULL;
  CHECK(repl_guard_open(START, &g) == 0, "guard opened");
  struct repl_caller who;
  /* accepted just before the current generation ends, replayed after it turned over */
  int64_t t0 = START + 2 * (int64_t)REPL_WINDOW_MS - 1;
  struct sent s, other;
  sign_at(&s, t0 + REPL_WINDOW_MS, &alice); /* as far ahead as allowed */
  CHECK(verify(g, &s, t0, &who) == 0, "a request at the end of a generation: accepted");
  sign_at(&other, t0 + 2, &alice);
  CHECK(verify(g, &other, t0 + 2, &who) == 0, "the memory turns over at the next request");
  CHECK(verify(g, &s, t0 + 2 * REPL_WINDOW_MS, &who) == -EALREADY,
        "the first replayed at the last moment its timestamp allows: still refused");
  repl_guard_close(g);
}

static void full_memory_fails_closed(void **state)
{
  (void)state;
  struct repl_guard *g = NULL;
  CHECK(repl_guard_open(START, &g) == 0, "guard opened");
  struct repl_caller who;
  struct sent s;
  int rc = 0, n = 0;
  for (; n < 200000 && rc == 0; n++) {
    sign_at(&s, START + 1, NULL);
    rc = verify(g, &s, START + 1, &who);
  }
  CHECK(rc == -ENOBUFS && n > 90000, "a full nonce memory refuses (-ENOBUFS) after %d requests in one window", n - 1);
  CHECK(verify(g, &s, START + 4 * (int64_t)REPL_WINDOW_MS + 2, &who) == -ETIME, "its last request is stale later");
  sign_at(&s, START + 4 * (int64_t)REPL_WINDOW_MS + 2, NULL);
  CHECK(verify(g, &s, START + 4 * (int64_t)REPL_WINDOW_MS + 2, &who) == 0, "and two windows later it accepts again");
  repl_guard_close(g);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(valid_accepted_once), UNIT_TEST(tampering_refused), UNIT_TEST(time_window),
      UNIT_TEST(replay_across_turnover), UNIT_TEST(full_memory_fails_closed),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
