/*
 * test_policy_tz.c — time zones (src/policy/tz.c) against glibc's own
 * conversion of the same tzdata files (every installed zone), POSIX TZ
 * rules against glibc's reading of the same strings, the DST edges, bad
 * names and damaged TZif files.
 *
 * glibc converts only in the process-wide TZ; this test is single-threaded,
 * so it may set TZ to ask glibc for the expected answer.
 */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/tz.h"
#include "policy_time.h"
#include "unit.h"

/* ---- helpers ---------------------------------------------------------------- */

static void glibc_local(const char *tzenv, int64_t t, struct tm *out)
{
  static char current[128];
  if (strcmp(current, tzenv) != 0) {
    setenv("TZ", tzenv, 1);
    tzset();
    snprintf(current, sizeof current, "%s", tzenv);
  }
  time_t tt = (time_t)t;
  localtime_r(&tt, out);
}

static bool same_tm(const struct tm *a, const struct tm *b)
{
  return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon && a->tm_mday == b->tm_mday &&
         a->tm_hour == b->tm_hour && a->tm_min == b->tm_min && a->tm_sec == b->tm_sec && a->tm_wday == b->tm_wday &&
         a->tm_yday == b->tm_yday && a->tm_isdst == b->tm_isdst && a->tm_gmtoff == b->tm_gmtoff &&
         a->tm_zone && b->tm_zone && !strcmp(a->tm_zone, b->tm_zone);
}

static const char *fmt_tm(const struct tm *t, char *buf, size_t len)
{
  snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d wday %d yday %d dst %d off %ld %s", t->tm_year + 1900,
           t->tm_mon + 1, t->tm_mday, t->tm_hour, t->tm_min, t->tm_sec, t->tm_wday, t->tm_yday, t->tm_isdst,
           t->tm_gmtoff, t->tm_zone ? t->tm_zone : "(null)");
  return buf;
}


/* Compares tz_local with glibc over [from, to) every step seconds and, at
 * each change of offset between two samples, at the exact change (found by
 * bisection against glibc) and the seconds around it.  Returns the number
 * of mismatches (the first few printed) and counts the instants and
 * changes compared. */
static int compare_zone(const struct tz *z, const char *tzenv, int64_t from, int64_t to, int64_t step, long *n,
                        long *changes)
{
  int bad = 0;
  struct tm a, b, prev;
  char s1[96], s2[96];
  glibc_local(tzenv, from, &prev);
  for (int64_t t = from; t < to; t += step) {
    glibc_local(tzenv, t, &b);
    if (b.tm_gmtoff != prev.tm_gmtoff || b.tm_isdst != prev.tm_isdst) {
      int64_t lo = t - step, hi = t; /* glibc's change is in (lo, hi] */
      while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        struct tm m;
        glibc_local(tzenv, mid, &m);
        if (m.tm_gmtoff == prev.tm_gmtoff && m.tm_isdst == prev.tm_isdst)
          lo = mid;
        else
          hi = mid;
      }
      (*changes)++;
      for (int64_t u = hi - 2; u <= hi + 1; u++) {
        tz_local(z, u, &a);
        glibc_local(tzenv, u, &b);
        (*n)++;
        if (!same_tm(&a, &b) && bad++ < 5)
          printf("# %s at %lld (change): ours %s, glibc %s\n", tz_name(z), (long long)u, fmt_tm(&a, s1, sizeof s1),
                 fmt_tm(&b, s2, sizeof s2));
      }
      glibc_local(tzenv, t, &b);
    }
    prev = b;
    tz_local(z, t, &a);
    (*n)++;
    if (!same_tm(&a, &b) && bad++ < 5)
      printf("# %s at %lld: ours %s, glibc %s\n", tz_name(z), (long long)t, fmt_tm(&a, s1, sizeof s1),
             fmt_tm(&b, s2, sizeof s2));
    /* and back: the wall time maps to t, or to its first occurrence */
    int64_t u = tz_utc(z, &a);
    struct tm c;
    tz_local(z, u, &c);
    if ((u > t || t - u > 3 * 3600 || c.tm_hour != a.tm_hour || c.tm_min != a.tm_min || c.tm_mday != a.tm_mday) &&
        bad++ < 5)
      printf("# %s: tz_utc(tz_local(%lld)) = %lld\n", tz_name(z), (long long)t, (long long)u);
  }
  return bad;
}

/* ---- time zones -------------------------------------------------------------- */

static void tz_matches_glibc(void **state)
{
  (void)state;
  static const char *zones[] = {"Europe/Berlin",     "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
                                "Pacific/Chatham",   "America/Sao_Paulo", "UTC",               "Etc/UTC",
                                "America/Nuuk",      "Africa/Casablanca", "Europe/Dublin",     "Pacific/Kiritimati"};
  for (size_t i = 0; i < sizeof zones / sizeof *zones; i++) {
    struct tz *z = NULL;
    int rc = tz_load(zones[i], &z);
    CHECK(rc == 0 && z && !strcmp(tz_name(z), zones[i]), "%s loads (%d)", zones[i], rc);
    if (rc != 0)
      continue;
    long n = 0, changes = 0;
    char env[80];
    snprintf(env, sizeof env, ":%s", zones[i]);
    /* 1970..2100 every 7,919 s (a prime: every hour of the day and day of
     * the week come round), each change to the second */
    int bad = compare_zone(z, env, 0, utc(2100, 1, 1, 0, 0, 0), 7919, &n, &changes);
    CHECK(bad == 0, "%s: tz_local equals glibc's localtime_r at %ld instants 1970..2100 (%ld changes, each "
          "to the second), tz_utc inverts it", zones[i], n, changes);
    tz_free(z);
  }
}

/* Every zone of the installed tzdata loads and equals glibc at 1,500
 * instants 1970..2100 (slim or fat files, v2 to v4, whatever the package
 * ships). */
static int zone_count, zone_bad, zone_refused;
static long zone_instants;

static int each_zone(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  static const char root[] = "/usr/share/zoneinfo/";
  if (flag != FTW_F || strncmp(path, root, sizeof root - 1) != 0)
    return 0;
  const char *name = path + sizeof root - 1;
  if (!strncmp(name, "right/", 6) || !strncmp(name, "posix/", 6) || strchr(name, '.') ||
      !strcmp(name, "localtime") || !strcmp(name, "posixrules") || !strcmp(name, "leapseconds"))
    return 0;
  struct tz *z = NULL;
  int rc = tz_load(name, &z);
  if (rc != 0) {
    if (zone_refused++ < 5)
      printf("# %s: %d\n", name, rc);
    return 0;
  }
  zone_count++;
  char env[128];
  snprintf(env, sizeof env, ":%s", name);
  long changes = 0;
  zone_bad += compare_zone(z, env, 0, utc(2100, 1, 1, 0, 0, 0), 2735963, &zone_instants, &changes) != 0;
  tz_free(z);
  return 0;
}

static void tz_every_zone(void **state)
{
  (void)state;
  nftw("/usr/share/zoneinfo", each_zone, 16, FTW_PHYS);
  CHECK(zone_count > 300 && zone_bad == 0 && zone_refused == 0,
        "every zone of tzdata (%d) loads and equals glibc at %ld instants 1970..2100 and its changes (%d differ, "
        "%d refused)", zone_count, zone_instants, zone_bad, zone_refused);
}

static void tz_dst_edges(void **state)
{
  (void)state;
  struct tz *be = NULL, *ny = NULL, *lh = NULL;
  CHECK(tz_load("Europe/Berlin", &be) == 0 && tz_load("America/New_York", &ny) == 0 &&
            tz_load("Australia/Lord_Howe", &lh) == 0,
        "Berlin, New York, Lord Howe load");
  struct tm w;
  /* Berlin 2026: 29 March 02:00 CET → 03:00 CEST; 25 October 03:00 CEST → 02:00 CET */
  w = wall(2026, 3, 29, 2, 30, 0);
  CHECK(tz_utc(be, &w) == utc(2026, 3, 29, 1, 30, 0), "Berlin 02:30 on the spring-forward night is 03:30 CEST");
  w = wall(2026, 3, 29, 2, 0, 0);
  CHECK(tz_utc(be, &w) == utc(2026, 3, 29, 1, 0, 0), "02:00 itself is 03:00 CEST");
  w = wall(2026, 3, 29, 1, 59, 59);
  CHECK(tz_utc(be, &w) == utc(2026, 3, 29, 0, 59, 59), "01:59:59 is still CET");
  w = wall(2026, 3, 29, 3, 0, 0);
  CHECK(tz_utc(be, &w) == utc(2026, 3, 29, 1, 0, 0), "03:00 CEST is the change itself");
  w = wall(2026, 10, 25, 2, 30, 0);
  CHECK(tz_utc(be, &w) == utc(2026, 10, 25, 0, 30, 0), "Berlin 02:30 on the fall-back night: the first (CEST)");
  w = wall(2026, 10, 25, 3, 0, 0);
  CHECK(tz_utc(be, &w) == utc(2026, 10, 25, 2, 0, 0), "03:00 that night is CET");
  /* New York 2026: 8 March 02:00 EST → 03:00 EDT; 1 November 02:00 EDT → 01:00 EST */
  w = wall(2026, 3, 8, 2, 15, 0);
  CHECK(tz_utc(ny, &w) == utc(2026, 3, 8, 7, 15, 0), "New York 02:15 on 8 March 2026 is 03:15 EDT");
  w = wall(2026, 11, 1, 1, 30, 0);
  CHECK(tz_utc(ny, &w) == utc(2026, 11, 1, 5, 30, 0), "New York 01:30 on 1 November 2026: EDT, the first");
  /* Lord Howe: a 30-minute change, 02:00 → 02:30 on 4 October 2026, 02:00 → 01:30 on 5 April 2026 */
  w = wall(2026, 10, 4, 2, 10, 0);
  struct tm l;
  tz_local(lh, tz_utc(lh, &w), &l);
  CHECK(l.tm_hour == 2 && l.tm_min == 40 && l.tm_gmtoff == 11 * 3600, "Lord Howe 02:10 in the half-hour gap is 02:40 +11");
  w = wall(2026, 4, 5, 1, 45, 0);
  tz_local(lh, tz_utc(lh, &w), &l);
  CHECK(l.tm_hour == 1 && l.tm_min == 45 && l.tm_gmtoff == 11 * 3600, "Lord Howe 01:45 repeated: the first, +11");
  /* carries: month 13, day 0, 25 hours */
  w = (struct tm){.tm_year = 2026 - 1900, .tm_mon = 12, .tm_mday = 0, .tm_hour = 25};
  CHECK(tz_utc(be, &w) == utc(2027, 1, 1, 0, 0, 0), "month 12 day 0 hour 25 of 2026 is 1 January 2027 01:00 CET");
  w = (struct tm){.tm_year = 2026 - 1900, .tm_mon = -1, .tm_mday = 1};
  CHECK(tz_utc(be, &w) == utc(2025, 11, 30, 23, 0, 0), "month -1 of 2026 is December 2025");
  tz_local(be, utc(2026, 7, 1, 12, 0, 0), &l);
  CHECK(!strcmp(l.tm_zone, "CEST") && l.tm_isdst == 1 && l.tm_wday == 3 && l.tm_yday == 181,
        "1 July 2026 in Berlin: CEST, a Wednesday, day 181");
  /* far past the tables: the rule */
  tz_local(be, utc(2399, 3, 28, 1, 0, 0), &l);
  CHECK(l.tm_hour == 3 && l.tm_isdst == 1, "Berlin 2399's last Sunday of March (28th): 03:00 CEST at 01:00 UTC");
  tz_local(be, utc(2399, 3, 28, 0, 59, 59), &l);
  CHECK(l.tm_hour == 1 && l.tm_isdst == 0, "… and 01:59:59 CET a second before");
  tz_local(be, INT64_MAX, &l);
  CHECK(l.tm_year > 30000000, "INT64_MAX is clamped, not overflowed (year %d)", l.tm_year + 1900);
  tz_local(be, INT64_MIN, &l);
  CHECK(l.tm_year < -30000000, "INT64_MIN too");
  tz_free(be);
  tz_free(ny);
  tz_free(lh);

  struct tz *f = NULL;
  CHECK(tz_fixed(5 * 3600 + 1800, &f) == 0 && !strcmp(tz_name(f), "+05:30"), "a fixed +05:30 zone");
  tz_local(f, 0, &l);
  CHECK(l.tm_hour == 5 && l.tm_min == 30 && l.tm_gmtoff == 19800 && !strcmp(l.tm_zone, "+05:30"),
        "1970-01-01T05:30 there");
  tz_free(f);
  CHECK(tz_fixed(-26 * 3600, &f) == -EINVAL && !f, "a 26-hour offset is refused");
}

/* A TZif v2 file with no transitions, one type and the footer rule: the rule
 * alone decides, so it can be compared with glibc's reading of the same
 * POSIX TZ string. */
static size_t rule_file(const char *rule, int32_t off0, uint8_t *buf, size_t cap)
{
  size_t n = 0;
  for (int part = 0; part < 2; part++) {
    memset(buf + n, 0, 44);
    memcpy(buf + n, "TZif2", 5);
    buf[n + 39] = 1;                /* typecnt */
    buf[n + 43] = 4;                /* charcnt */
    n += 44;
    uint32_t o = (uint32_t)off0;
    buf[n++] = (uint8_t)(o >> 24);
    buf[n++] = (uint8_t)(o >> 16);
    buf[n++] = (uint8_t)(o >> 8);
    buf[n++] = (uint8_t)o;
    buf[n++] = 0;
    buf[n++] = 0;
    memcpy(buf + n, "XXX", 4);
    n += 4;
  }
  n += (size_t)snprintf((char *)buf + n, cap - n, "\n%s\n", rule);
  return n;
}

static void tz_rules_match_glibc(void **state)
{
  (void)state;
  static const char *rules[] = {
      "CET-1CEST,M3.5.0,M10.5.0/3",
      "EST5EDT,M3.2.0,M11.1.0",
      "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
      "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
      "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",           /* America/Nuuk: negative change times */
      "IST-1GMT0,M10.5.0,M3.5.0/1",                 /* Europe/Dublin: negative DST in winter */
      "<-03>3<-02>,J60/0,J300/1",                   /* Julian days without Feb 29 */
      "<-03>3<-02>,59/0,300/1",                     /* zero-based days with it */
      "AAA3BBB,M3.2.0/-10,M11.1.0/30",              /* times outside 0..24 */
      "<+0330>-3:30<+0430>,J79/24,J263/24",         /* Iran's old rule: 24:00 */
      "EST5EDT4,M3.2.0/2:00:00,M11.1.0/2:00:00",    /* hh:mm:ss times, an explicit DST offset */
      "<-04>4<-03>,M9.1.6/24,M4.1.6/24",            /* Chile: 24:00 on a Saturday */
      "XXX-14",                                     /* no DST */
  };
  uint8_t buf[512];
  for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
    size_t len = rule_file(rules[i], 0, buf, sizeof buf);
    struct tz *z = NULL;
    int rc = tz_parse(rules[i], buf, len, &z);
    CHECK(rc == 0, "rule %s is read (%d)", rules[i], rc);
    if (rc != 0)
      continue;
    long n = 0, changes = 0;
    int bad = compare_zone(z, rules[i], utc(1971, 1, 1, 0, 0, 0), utc(2100, 1, 1, 0, 0, 0), 20011, &n, &changes);
    CHECK(bad == 0, "rule %s: equals glibc at %ld instants, %ld changes", rules[i], n, changes);
    tz_free(z);
  }
}

static void tz_bad_names(void **state)
{
  (void)state;
  static const char *bad[] = {"",
                              "/etc/passwd",
                              "../../etc/passwd",
                              "Europe/../../../etc/passwd",
                              "Europe/./Berlin",
                              "Europe//Berlin",
                              "Europe/",
                              "Europe/Ber lin",
                              "Europe\\Berlin",
                              "Europe/Berlin%00",
                              "localtime",
                              "posixrules",
                              "zone.tab",
                              "Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/B"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct tz *z = (struct tz *)1;
    int rc = tz_load(bad[i], &z);
    CHECK(rc == -EINVAL && z == NULL, "'%s' is not a zone name (%d)", bad[i], rc);
  }
  struct tz *z = NULL;
  CHECK(tz_load("Europe/Berlin\n", &z) == -EINVAL && !z, "a name with a newline is refused");
  CHECK(tz_load(NULL, &z) == -EINVAL, "NULL is not a name");
  CHECK(tz_load("Nowhere/Special", &z) == -ENOENT && !z, "Nowhere/Special: no such zone");
  CHECK(tz_load("Europe", &z) == -ENOENT && !z, "Europe is a directory, not a zone");
  CHECK(tz_load("Europe/Berlin/x", &z) == -ENOENT && !z, "a path through a zone file: no such zone");
  CHECK(tz_load("leapseconds", &z) == -EBADMSG && !z, "leapseconds is no TZif file");
  CHECK(tz_load("right/Europe/Berlin", &z) == -EBADMSG && !z, "a leap-second zone is refused");
  CHECK(tz_load("posix/Europe/Berlin", &z) == 0 && z, "posix/Europe/Berlin is a zone");
  tz_free(z);
  CHECK(tz_load("Etc/GMT+5", &z) == 0 && z, "Etc/GMT+5 (a '+') is a zone");
  struct tm l;
  tz_local(z, 0, &l);
  CHECK(l.tm_gmtoff == -5 * 3600, "… five hours west, as POSIX signs it");
  tz_free(z);
}

static void tz_damaged_files(void **state)
{
  (void)state;
  FILE *f = fopen("/usr/share/zoneinfo/America/New_York", "rb");
  uint8_t file[8192];
  size_t len = f ? fread(file, 1, sizeof file, f) : 0;
  if (f)
    fclose(f);
  CHECK(len > 100, "America/New_York read (%zu bytes)", len);
  struct tz *z = NULL;
  CHECK(tz_parse("ny", file, len, &z) == 0, "… and parsed from memory");
  tz_free(z);
  /* every truncation is refused, none read out of bounds (ASan) */
  int refused = 0;
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *copy = malloc(cut ? cut : 1);
    memcpy(copy, file, cut);
    int rc = tz_parse("ny", copy, cut, &z);
    refused += rc == -EBADMSG;
    tz_free(z);
    free(copy);
  }
  CHECK(refused == (int)len, "each of the %zu truncations is -EBADMSG (%d were)", len, refused);
  /* every byte flipped to a few values: an answer or -EBADMSG, never a crash;
   * what loads still converts */
  srand(30);
  int loaded = 0, other = 0;
  for (size_t i = 0; i < len; i++) {
    static const uint8_t vals[] = {0x00, 0xff, 0x80, 0x7f, '\n', ','};
    for (size_t v = 0; v < sizeof vals; v++) {
      uint8_t saved = file[i];
      file[i] = vals[v];
      int rc = tz_parse("ny", file, len, &z);
      if (rc == 0) {
        loaded++;
        struct tm l;
        for (int k = 0; k < 8; k++) {
          int64_t t = (int64_t)rand() * 1000 - 1000000000LL;
          tz_local(z, t, &l);
          tz_utc(z, &l);
        }
      } else if (rc != -EBADMSG)
        other++;
      tz_free(z);
      file[i] = saved;
    }
  }
  CHECK(other == 0, "damaged bytes: %d loaded, the rest -EBADMSG, no other answer", loaded);
  static const char *bad_rules[] = {"", "CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.6.0,M10.5.0",
                                    "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,J0,J365", "CET-1CEST,366,1",
                                    "CET-1CEST,M3.5.0/168,M10.5.0", "CET-25", "C-1", "<C>-1", "CET-1:60",
                                    "CET-1CEST,M3.5.0,M10.5.0x", "CET-1CEST,M3.5.0,M10.5.0/3:"};
  uint8_t buf[512];
  for (size_t i = 0; i < sizeof bad_rules / sizeof *bad_rules; i++) {
    size_t n = rule_file(bad_rules[i], 0, buf, sizeof buf);
    int rc = tz_parse("bad", buf, n, &z);
    bool want_ok = bad_rules[i][0] == '\0';  /* an empty footer is allowed: type 0 rules */
    CHECK(want_ok ? rc == 0 : rc == -EBADMSG, "footer '%s': %s (%d)", bad_rules[i], want_ok ? "no rule" : "refused",
          rc);
    tz_free(z);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(tz_matches_glibc), UNIT_TEST(tz_every_zone),    UNIT_TEST(tz_dst_edges),
      UNIT_TEST(tz_rules_match_glibc), UNIT_TEST(tz_bad_names), UNIT_TEST(tz_damaged_files),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
