/*
 * test_policy_schedule.c — schedules (src/policy/schedule.c): ISO 8601
 * durations, repeating intervals, daily and weekly run times across
 * daylight-saving changes, next/prev consistency, jitter, a zone and a
 * schedule shared by threads, and bad input for every member.  The zones
 * themselves: test_policy_tz.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/schedule.h"
#include "policy/tz.h"
#include "policy_time.h"
#include "unit.h"

/* ---- ISO 8601 durations -------------------------------------------------------- */

static void durations(void **state)
{
  (void)state;
  static const struct {
    const char *s;
    struct iso_duration d;
  } good[] = {
      {"PT1M", {0, 0, 0, 0, 60}},
      {"P7D", {0, 0, 0, 7, 0}},
      {"P1Y2M", {1, 2, 0, 0, 0}},
      {"P2W", {0, 0, 2, 0, 0}},
      {"P1Y2M3W4DT5H6M7S", {1, 2, 3, 4, 5 * 3600 + 6 * 60 + 7}},
      {"PT36H", {0, 0, 0, 0, 36 * 3600}},
      {"PT90M", {0, 0, 0, 0, 5400}},
      {"P0D", {0, 0, 0, 0, 0}},
      {"PT0S", {0, 0, 0, 0, 0}},
      {"P1DT12H", {0, 0, 0, 1, 12 * 3600}},
      {"P10000Y", {10000, 0, 0, 0, 0}},
      {"P0010D", {0, 0, 0, 10, 0}},
  };
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    struct iso_duration d;
    char err[200] = "";
    int rc = iso_duration_parse_msg(good[i].s, &d, err, sizeof err);
    CHECK(rc == 0 && !memcmp(&d, &good[i].d, sizeof d), "%s → %dY %dM %dW %dD %llds (%s)", good[i].s, d.years,
          d.months, d.weeks, d.days, (long long)d.seconds, err);
  }
  static const struct {
    const char *s, *msg;
  } bad[] = {
      {"", "not an ISO 8601 duration"},
      {"1D", "not an ISO 8601 duration"},
      {"P", "at least one number and unit"},
      {"PT", "'T' must be followed"},
      {"P1DT", "'T' must be followed"},
      {"-P1D", "negative"},
      {"P-1D", "negative"},
      {"+P1D", "no sign"},
      {"PT1.5H", "fractions are not allowed"},
      {"P0,5D", "fractions are not allowed"},
      {"P1", "has no unit"},
      {"PT5", "has no unit"},
      {"P1D1Y", "out of order"},
      {"P1M1M", "out of order or repeated"},
      {"PT1S1M", "out of order"},
      {"P1H", "come after 'T'"},
      {"PT1D", "out of order"},
      {"p1d", "not an ISO 8601 duration"},
      {"P1d", "unknown unit 'd'"},
      {"P1DTT1H", "'T' twice"},
      {"P1X", "unknown unit"},
      {"P10001Y", "longer than 10000 years"},
      {"P99999999999999999999D", "longer than 10000 years"},
      {"PT999999999999S", "longer than 10000 years"},
      {"P9999Y9999M", "longer than 10000 years"},
      {" P1D", "not an ISO 8601 duration"},
      {"P1D ", "unexpected ' '"},
      {"PT1H/", "unexpected '/'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct iso_duration d = {1, 1, 1, 1, 1};
    char err[200] = "";
    int rc = iso_duration_parse_msg(bad[i].s, &d, err, sizeof err);
    CHECK(rc == -EINVAL && strstr(err, bad[i].msg) && d.years == 0 && d.seconds == 0, "'%s' refused: %s", bad[i].s,
          err);
  }
  struct iso_duration d;
  CHECK(iso_duration_parse(NULL, &d) == -EINVAL && iso_duration_parse("P1D", &d) == 0 && d.days == 1,
        "iso_duration_parse without a message; NULL refused");
  iso_duration_parse("P1Y1M1W1DT1S", &d);
  CHECK(iso_duration_nominal_s(&d) == (365 + 30 + 7 + 1) * 86400LL + 1, "nominal seconds: 365 + 30 + 7 + 1 days + 1 s");

  /* calendar arithmetic */
  struct tz *be = NULL;
  tz_load("Europe/Berlin", &be);
  iso_duration_parse("P1M", &d);
  int64_t jan31 = utc(2026, 1, 31, 10, 0, 0);
  CHECK(iso_duration_add(NULL, jan31, &d, 1) == utc(2026, 2, 28, 10, 0, 0), "31 Jan 2026 + P1M = 28 Feb");
  CHECK(iso_duration_add(NULL, jan31, &d, 2) == utc(2026, 3, 31, 10, 0, 0), "+ 2 × P1M = 31 Mar (from the start)");
  CHECK(iso_duration_add(NULL, utc(2028, 1, 31, 0, 0, 0), &d, 1) == utc(2028, 2, 29, 0, 0, 0), "2028: 29 Feb");
  CHECK(iso_duration_add(NULL, utc(2026, 3, 31, 0, 0, 0), &d, -1) == utc(2026, 2, 28, 0, 0, 0),
        "31 Mar - P1M = 28 Feb");
  iso_duration_parse("P1Y", &d);
  CHECK(iso_duration_add(NULL, utc(2028, 2, 29, 12, 0, 0), &d, 1) == utc(2029, 2, 28, 12, 0, 0) &&
            iso_duration_add(NULL, utc(2028, 2, 29, 12, 0, 0), &d, 4) == utc(2032, 2, 29, 12, 0, 0),
        "29 Feb 2028 + P1Y = 28 Feb 2029, + 4 × P1Y = 29 Feb 2032");
  iso_duration_parse("P1D", &d);
  CHECK(iso_duration_add(be, utc(2026, 3, 28, 1, 30, 0), &d, 1) == utc(2026, 3, 29, 1, 30, 0),
        "Berlin 28 Mar 02:30 CET + P1D = 29 Mar 02:30, in the gap: 03:30 CEST");
  CHECK(iso_duration_add(be, utc(2026, 3, 28, 11, 0, 0), &d, 1) == utc(2026, 3, 29, 10, 0, 0),
        "Berlin noon + P1D is noon (23 hours that day)");
  iso_duration_parse("PT24H", &d);
  CHECK(iso_duration_add(be, utc(2026, 3, 28, 11, 0, 0), &d, 1) == utc(2026, 3, 29, 11, 0, 0),
        "PT24H is 86,400 s (13:00 CEST)");
  iso_duration_parse("P1DT1H", &d);
  CHECK(iso_duration_add(be, utc(2026, 3, 28, 11, 0, 0), &d, 2) == utc(2026, 3, 30, 12, 0, 0),
        "2 × P1DT1H: two calendar days then two hours");
  iso_duration_parse("P9000Y", &d);
  CHECK(iso_duration_add(be, utc(2026, 1, 1, 0, 0, 0), &d, 1) == INT64_MAX &&
            iso_duration_add(be, utc(2026, 1, 1, 0, 0, 0), &d, -1) == INT64_MIN &&
            iso_duration_add(be, 0, &d, INT64_MAX) == INT64_MAX,
        "past year 9999 or before year 1: saturated");
  tz_free(be);
}

/* ---- schedules ------------------------------------------------------------------ */

static struct sched *parse(const char *json, const struct tz *z)
{
  struct sched *s = NULL;
  char err[300] = "";
  int rc = sched_parse(json, z, &s, err, sizeof err);
  if (rc != 0)
    printf("# %s: %d %s\n", json, rc, err);
  return s;
}

/* The n slots after t (t excluded) into out; the count found. */
static int slots(const struct sched *s, int64_t t, int64_t *out, int n)
{
  int i = 0;
  for (; i < n; i++) {
    t = sched_next(s, t);
    if (t < 0)
      break;
    out[i] = t;
  }
  return i;
}

static bool same_slots(const int64_t *got, int ngot, const int64_t *want, int nwant)
{
  if (ngot != nwant) {
    printf("# %d slots, want %d\n", ngot, nwant);
    return false;
  }
  for (int i = 0; i < ngot; i++)
    if (got[i] != want[i]) {
      printf("# slot %d: %lld, want %lld\n", i, (long long)got[i], (long long)want[i]);
      return false;
    }
  return true;
}

static void intervals(void **state)
{
  (void)state;
  struct tz *be = NULL, *utcz = NULL;
  tz_load("Europe/Berlin", &be);
  tz_load("UTC", &utcz);
  int64_t got[32];
  struct sched *s;

  s = parse("\"R/2026-12-07T02:00:00+01:00/PT4H\"", utcz);
  CHECK(s && sched_next(s, 0) == utc(2026, 12, 7, 1, 0, 0), "PT4H from 02:00+01:00: the first slot is 01:00Z");
  int n = slots(s, utc(2026, 12, 7, 1, 0, 0), got, 3);
  int64_t w1[] = {utc(2026, 12, 7, 5, 0, 0), utc(2026, 12, 7, 9, 0, 0), utc(2026, 12, 7, 13, 0, 0)};
  CHECK(same_slots(got, n, w1, 3), "then every 4 hours");
  CHECK(sched_next(s, utc(2031, 5, 5, 5, 5, 5)) == utc(2031, 5, 5, 9, 0, 0) &&
            sched_prev(s, utc(2031, 5, 5, 5, 5, 5)) == utc(2031, 5, 5, 5, 0, 0) &&
            sched_prev(s, utc(2031, 5, 5, 5, 0, 0)) == utc(2031, 5, 5, 5, 0, 0),
        "years later: arithmetic, prev includes t itself");
  CHECK(sched_prev(s, utc(2026, 12, 7, 0, 59, 59)) == -1, "nothing before the start");
  CHECK(sched_min_period(s) == 4 * 3600, "min period 4 h");
  sched_free(s);

  /* UTC-anchored PT1H in Berlin over both changes: 1 h spacing */
  s = parse("\"R/2026-03-28T22:00:00Z/PT1H\"", be);
  n = slots(s, utc(2026, 3, 28, 23, 30, 0), got, 4);
  int64_t w2[] = {utc(2026, 3, 29, 0, 0, 0), utc(2026, 3, 29, 1, 0, 0), utc(2026, 3, 29, 2, 0, 0),
                  utc(2026, 3, 29, 3, 0, 0)};
  CHECK(same_slots(got, n, w2, 4), "UTC-anchored PT1H across the spring-forward night: every 3,600 s");
  sched_free(s);
  /* local-anchored PT1H: still 3,600 s; wall time 02:xx twice in the fall, never in the spring */
  s = parse("\"R/2026-10-24T23:00:00/PT1H\"", be);
  n = slots(s, utc(2026, 10, 24, 21, 0, 0), got, 5);
  int64_t w3[] = {utc(2026, 10, 24, 22, 0, 0), utc(2026, 10, 24, 23, 0, 0), utc(2026, 10, 25, 0, 0, 0),
                  utc(2026, 10, 25, 1, 0, 0), utc(2026, 10, 25, 2, 0, 0)};
  CHECK(same_slots(got, n, w3, 5), "local-anchored PT1H across fall-back: every 3,600 s (wall 00 01 02 02 03)");
  struct tm l1, l2;
  tz_local(be, got[2], &l1);
  tz_local(be, got[3], &l2);
  CHECK(l1.tm_hour == 2 && l2.tm_hour == 2 && l1.tm_isdst && !l2.tm_isdst, "… 02:00 CEST and 02:00 CET both slots");
  sched_free(s);
  s = parse("\"R/2026-03-28T23:00:00/PT1H\"", be);
  n = slots(s, utc(2026, 3, 28, 22, 0, 0), got, 4);
  int64_t w4[] = {utc(2026, 3, 28, 23, 0, 0), utc(2026, 3, 29, 0, 0, 0), utc(2026, 3, 29, 1, 0, 0),
                  utc(2026, 3, 29, 2, 0, 0)};
  CHECK(same_slots(got, n, w4, 4), "local-anchored PT1H across spring-forward: wall 00 01 03 04");
  sched_free(s);

  /* local P1D keeps wall time; UTC-anchored P1D keeps 86,400 s */
  s = parse("\"R/2026-03-27T02:30:00/P1D\"", be);
  n = slots(s, utc(2026, 3, 27, 12, 0, 0), got, 3);
  int64_t w5[] = {utc(2026, 3, 28, 1, 30, 0), utc(2026, 3, 29, 1, 30, 0), utc(2026, 3, 30, 0, 30, 0)};
  CHECK(same_slots(got, n, w5, 3), "local P1D at 02:30 in Berlin: 02:30 CET, 03:30 CEST (gap), 02:30 CEST");
  CHECK(sched_min_period(s) == 86400 - 3600, "min period of a local P1D: 23 h");
  sched_free(s);
  s = parse("\"R/2026-10-23T02:30:00/P1D\"", be);
  n = slots(s, utc(2026, 10, 23, 12, 0, 0), got, 3);
  int64_t w6[] = {utc(2026, 10, 24, 0, 30, 0), utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 26, 1, 30, 0)};
  CHECK(same_slots(got, n, w6, 3), "… in the fall: 02:30 CEST, 02:30 CEST (first of two), 02:30 CET");
  sched_free(s);
  s = parse("\"R/2026-03-28T01:30:00Z/P1D\"", be);
  n = slots(s, utc(2026, 3, 28, 12, 0, 0), got, 2);
  int64_t w7[] = {utc(2026, 3, 29, 1, 30, 0), utc(2026, 3, 30, 1, 30, 0)};
  CHECK(same_slots(got, n, w7, 2) && sched_min_period(s) == 86400, "UTC-anchored P1D: 86,400 s whatever Berlin does");
  sched_free(s);
  s = parse("\"R/2026-03-29T02:30:00/P1D\"", be);
  CHECK(s && sched_next(s, 0) == utc(2026, 3, 29, 1, 30, 0) &&
            sched_next(s, utc(2026, 3, 29, 1, 30, 0)) == utc(2026, 3, 30, 0, 30, 0),
        "a start in the gap: first at 03:30 CEST, then 02:30 each day");
  sched_free(s);

  /* P1M from the 31st, local, in Berlin */
  s = parse("\"R/2026-01-31T10:00:00/P1M\"", be);
  n = slots(s, 0, got, 6);
  int64_t w8[] = {utc(2026, 1, 31, 9, 0, 0), utc(2026, 2, 28, 9, 0, 0), utc(2026, 3, 31, 8, 0, 0),
                  utc(2026, 4, 30, 8, 0, 0), utc(2026, 5, 31, 8, 0, 0), utc(2026, 6, 30, 8, 0, 0)};
  CHECK(same_slots(got, n, w8, 6), "P1M from 31 January: 31 Jan, 28 Feb, 31 Mar, 30 Apr, 31 May, 30 Jun (10:00)");
  CHECK(sched_next(s, utc(2100, 2, 1, 0, 0, 0)) == utc(2100, 2, 28, 9, 0, 0) &&
            sched_next(s, utc(2096, 2, 1, 0, 0, 0)) == utc(2096, 2, 29, 9, 0, 0) &&
            sched_prev(s, utc(2400, 3, 30, 0, 0, 0)) == utc(2400, 2, 29, 9, 0, 0),
        "centuries later: 28 Feb 2100, 29 Feb 2096, 29 Feb 2400");
  CHECK(sched_min_period(s) == 28 * 86400 - 3600, "min period of P1M: 28 days less an hour");
  sched_free(s);

  /* R3 finishes */
  s = parse("\"R3/2026-01-01T00:00:00Z/P1D\"", utcz);
  n = slots(s, 0, got, 10);
  int64_t w9[] = {utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 2, 0, 0, 0), utc(2026, 1, 3, 0, 0, 0)};
  CHECK(same_slots(got, n, w9, 3), "R3: three slots, then none");
  CHECK(sched_next(s, utc(2026, 1, 3, 0, 0, 0)) == -1 && sched_prev(s, utc(2030, 1, 1, 0, 0, 0)) == w9[2],
        "after the third: next -1, prev the third");
  sched_free(s);
  s = parse("\"R1/2026-06-01T12:00:00+05:30/P1Y\"", be);
  CHECK(s && sched_next(s, 0) == utc(2026, 6, 1, 6, 30, 0) && sched_next(s, utc(2026, 6, 1, 6, 30, 0)) == -1,
        "R1: one slot (+05:30)");
  sched_free(s);

  /* the end of time */
  s = parse("\"R/9999-12-31T23:00:00Z/PT30M\"", utcz);
  CHECK(s && sched_next(s, utc(9999, 12, 31, 23, 0, 0)) == utc(9999, 12, 31, 23, 30, 0) &&
            sched_next(s, utc(9999, 12, 31, 23, 30, 0)) == -1 && sched_next(s, INT64_MAX) == -1 &&
            sched_prev(s, INT64_MAX) == utc(9999, 12, 31, 23, 30, 0),
        "no slot after 9999-12-31T23:59:59Z; INT64_MAX is safe");
  sched_free(s);
  s = parse("\"R/2026-01-31T00:00:00Z/P1Y1M\"", utcz);
  int64_t last = s ? sched_prev(s, INT64_MAX) : -1;
  CHECK(last > utc(9998, 11, 30, 0, 0, 0) && sched_next(s, last) == -1 && sched_next(s, last - 1) == last,
        "P1Y1M: the last slot is within 13 months of year 10000, none after it");
  sched_free(s);
  tz_free(be);
  tz_free(utcz);
}

static void run_times(void **state)
{
  (void)state;
  struct tz *be = NULL, *ny = NULL, *lh = NULL;
  tz_load("Europe/Berlin", &be);
  tz_load("America/New_York", &ny);
  tz_load("Australia/Lord_Howe", &lh);
  int64_t got[40];
  int n;
  struct sched *s;

  s = parse("{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:30\"]}", be);
  n = slots(s, utc(2026, 3, 27, 12, 0, 0), got, 3);
  int64_t w1[] = {utc(2026, 3, 28, 1, 30, 0), utc(2026, 3, 29, 1, 30, 0), utc(2026, 3, 30, 0, 30, 0)};
  CHECK(same_slots(got, n, w1, 3), "daily 02:30 Berlin, spring: 02:30 CET, 03:30 CEST, 02:30 CEST");
  n = slots(s, utc(2026, 10, 23, 12, 0, 0), got, 3);
  int64_t w2[] = {utc(2026, 10, 24, 0, 30, 0), utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 26, 1, 30, 0)};
  CHECK(same_slots(got, n, w2, 3), "… fall: once on the 25th (the first 02:30, CEST), then 02:30 CET");
  CHECK(sched_prev(s, utc(2026, 10, 25, 1, 30, 0)) == utc(2026, 10, 25, 0, 30, 0),
        "prev at the second 02:30 is the first");
  CHECK(sched_min_period(s) == 86400, "one run time a day: 24 h");
  sched_free(s);

  s = parse("{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"14:00\", \"02:30\"]}", ny);
  n = slots(s, utc(2026, 3, 7, 12, 0, 0), got, 4);
  int64_t w3[] = {utc(2026, 3, 7, 19, 0, 0), utc(2026, 3, 8, 7, 30, 0), utc(2026, 3, 8, 18, 0, 0),
                  utc(2026, 3, 9, 6, 30, 0)};
  CHECK(same_slots(got, n, w3, 4), "New York daily 02:30 + 14:00 over 8 March 2026: 02:30 → 03:30 EDT");
  n = slots(s, utc(2026, 10, 31, 12, 0, 0), got, 4);
  int64_t w4[] = {utc(2026, 10, 31, 18, 0, 0), utc(2026, 11, 1, 7, 30, 0), utc(2026, 11, 1, 19, 0, 0),
                  utc(2026, 11, 2, 7, 30, 0)};
  CHECK(same_slots(got, n, w4, 4), "… over 1 November 2026 (01:00-02:00 repeated; 02:30 is EST)");
  CHECK(sched_min_period(s) == 11 * 3600 + 1800, "min period: 11 h 30 min");
  sched_free(s);

  /* a gap reorders run times: 02:30 moves to 03:30, after 03:00 */
  s = parse("{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:30\", \"03:00\"]}", be);
  n = slots(s, utc(2026, 3, 28, 12, 0, 0), got, 3);
  int64_t w5[] = {utc(2026, 3, 29, 1, 0, 0), utc(2026, 3, 29, 1, 30, 0), utc(2026, 3, 30, 0, 30, 0)};
  CHECK(same_slots(got, n, w5, 3), "02:30 + 03:00 on the spring day: 03:00 CEST then 03:30 CEST");
  sched_free(s);

  /* hourly by run times: 23 slots on the spring day, 24 on the fall day (02:00 once) */
  char json[600];
  int len = snprintf(json, sizeof json, "{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [");
  for (int h = 0; h < 24; h++)
    len += snprintf(json + len, sizeof json - (size_t)len, "%s\"%02d:00\"", h ? "," : "", h);
  snprintf(json + len, sizeof json - (size_t)len, "]}");
  s = parse(json, be);
  int count = 0;
  for (int64_t t = sched_next(s, utc(2026, 3, 28, 23, 0, 0) - 1); t < utc(2026, 3, 29, 22, 0, 0); t = sched_next(s, t))
    count++;
  CHECK(count == 23, "24 hourly run times on the spring-forward day: %d slots (02:00 is 03:00)", count);
  count = 0;
  for (int64_t t = sched_next(s, utc(2026, 10, 24, 22, 0, 0) - 1); t < utc(2026, 10, 25, 23, 0, 0); t = sched_next(s, t))
    count++;
  CHECK(count == 24, "… on the fall-back day (25 hours): %d slots (02:00 once)", count);
  CHECK(sched_min_period(s) == 3600, "min period 1 h");
  sched_free(s);

  /* Lord Howe's half-hour change */
  s = parse("{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:15\"]}", lh);
  struct tm l;
  tz_local(lh, sched_next(s, utc(2026, 10, 3, 12, 0, 0)), &l);
  CHECK(l.tm_mday == 4 && l.tm_hour == 2 && l.tm_min == 45, "Lord Howe 02:15 on the spring day: 02:45 (+11)");
  sched_free(s);

  /* weekly, and Azure's date-time run times */
  s = parse("{\"schedulePolicyType\": \"SimpleSchedulePolicy\", \"scheduleRunFrequency\": \"Weekly\", "
            "\"scheduleRunDays\": [\"Thursday\", \"monday\"], \"scheduleRunTimes\": [\"2018-01-24T02:00:00Z\"], "
            "\"scheduleWeeklyFrequency\": 0}",
            ny);
  n = slots(s, utc(2026, 12, 7, 0, 0, 0), got, 4); /* Monday 7 December 2026, 19:00 EST on the 6th */
  int64_t w6[] = {utc(2026, 12, 7, 7, 0, 0), utc(2026, 12, 10, 7, 0, 0), utc(2026, 12, 14, 7, 0, 0),
                  utc(2026, 12, 17, 7, 0, 0)};
  CHECK(same_slots(got, n, w6, 4), "Weekly Monday + Thursday at 2018-01-24T02:00:00Z's time: 02:00 New York");
  CHECK(sched_prev(s, utc(2026, 12, 13, 0, 0, 0)) == utc(2026, 12, 10, 7, 0, 0), "prev on Sunday: Thursday's");
  CHECK(sched_min_period(s) == 3 * 86400, "min period: Monday → Thursday, 3 days");
  sched_free(s);
  s = parse("{\"scheduleRunFrequency\": \"Weekly\", \"scheduleRunDays\": [\"Sunday\"], "
            "\"scheduleRunTimes\": [\"23:59:59\", \"00:00\"]}",
            NULL);
  CHECK(s && sched_next(s, utc(2026, 12, 7, 0, 0, 0)) == utc(2026, 12, 13, 0, 0, 0) &&
            sched_next(s, utc(2026, 12, 13, 0, 0, 0)) == utc(2026, 12, 13, 23, 59, 59) &&
            sched_prev(s, utc(2026, 12, 12, 0, 0, 0)) == utc(2026, 12, 6, 23, 59, 59) && sched_min_period(s) == 86399,
        "weekly Sunday 00:00 and 23:59:59 in UTC (no zone): min period 86,399 s");
  sched_free(s);
  s = parse("{\"scheduleRunFrequency\": \"daily\", \"scheduleRunTimes\": [\"05:00:00.000\"], \"scheduleRunDays\": null}",
            NULL);
  CHECK(s && sched_prev(s, utc(2026, 1, 1, 4, 0, 0)) == utc(2025, 12, 31, 5, 0, 0), "'daily', zero fraction, null days");
  CHECK(sched_prev(s, 3600) == -1, "no slot before 1970");
  sched_free(s);

  /* Azure's SimpleSchedulePolicyV2: hourly windows, nested daily and weekly */
  s = parse("{\"schedulePolicyType\": \"SimpleSchedulePolicyV2\", \"scheduleRunFrequency\": \"Hourly\", "
            "\"hourlySchedule\": {\"interval\": 4, \"scheduleWindowStartTime\": \"2022-09-12T08:00:00Z\", "
            "\"scheduleWindowDuration\": 12}, \"dailySchedule\": null, \"weeklySchedule\": null}",
            be);
  n = slots(s, utc(2026, 3, 28, 12, 0, 0), got, 6);
  int64_t w7[] = {utc(2026, 3, 28, 15, 0, 0), utc(2026, 3, 29, 6, 0, 0), utc(2026, 3, 29, 10, 0, 0),
                  utc(2026, 3, 29, 14, 0, 0), utc(2026, 3, 30, 6, 0, 0), utc(2026, 3, 30, 10, 0, 0)};
  CHECK(same_slots(got, n, w7, 6), "Hourly every 4 h for 12 h from 08:00 Berlin: 08:00 12:00 16:00 wall, each day");
  CHECK(sched_min_period(s) == 4 * 3600, "min period 4 h");
  sched_free(s);
  s = parse("{\"scheduleRunFrequency\": \"Hourly\", \"hourlySchedule\": {\"interval\": 6, "
            "\"scheduleWindowStartTime\": \"20:00\", \"scheduleWindowDuration\": 12}}",
            NULL);
  n = slots(s, utc(2026, 1, 1, 12, 0, 0), got, 3);
  int64_t w8[] = {utc(2026, 1, 1, 20, 0, 0), utc(2026, 1, 2, 2, 0, 0), utc(2026, 1, 2, 20, 0, 0)};
  CHECK(same_slots(got, n, w8, 3), "a window from 20:00 for 12 h every 6 h: 20:00 and 02:00 (past midnight)");
  sched_free(s);
  s = parse("{\"schedulePolicyType\": \"SimpleSchedulePolicyV2\", \"scheduleRunFrequency\": \"Weekly\", "
            "\"weeklySchedule\": {\"scheduleRunDays\": [\"Sunday\"], \"scheduleRunTimes\": [\"10:00\"]}, "
            "\"hourlySchedule\": null}",
            ny);
  CHECK(s && sched_next(s, utc(2026, 12, 7, 0, 0, 0)) == utc(2026, 12, 13, 15, 0, 0),
        "V2 weekly: Sunday 10:00 New York");
  sched_free(s);
  s = parse("{\"schedulePolicyType\": \"SimpleSchedulePolicyV2\", \"scheduleRunFrequency\": \"Daily\", "
            "\"dailySchedule\": {\"scheduleRunTimes\": [\"2022-09-12T02:30:00Z\"]}}",
            be);
  CHECK(s && sched_next(s, utc(2026, 3, 28, 12, 0, 0)) == utc(2026, 3, 29, 1, 30, 0),
        "V2 daily 02:30 Berlin on the spring-forward day: 03:30 CEST");
  sched_free(s);

  tz_free(be);
  tz_free(ny);
  tz_free(lh);
}

static void next_prev_consistent(void **state)
{
  (void)state;
  static const struct {
    const char *zone, *json;
  } cases[] = {
      {"Europe/Berlin", "{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:30\", \"02:00\", \"03:00\"]}"},
      {"America/New_York", "{\"scheduleRunFrequency\": \"Weekly\", \"scheduleRunDays\": [\"Sunday\", \"Saturday\"], "
                           "\"scheduleRunTimes\": [\"01:30\", \"23:45\"]}"},
      {"Australia/Lord_Howe", "{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:10\", \"01:50\"]}"},
      {"America/Sao_Paulo", "{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"00:00\", \"00:30\"]}"},
      {"Europe/Berlin", "\"R/1970-01-31T02:30:00/P1M\""},
      {"Pacific/Chatham", "\"R/1980-02-29T02:45:00/P1Y\""},
      {"Europe/Berlin", "\"R/1975-03-30T02:30:00/P1D\""},
      {"America/New_York", "\"R/1971-01-01T00:00:00/P1W3DT7H\""},
      {"Asia/Kolkata", "\"R/2000-01-01T00:00:00+05:30/PT7M\""},
      {"UTC", "\"R/1970-01-01T00:00:00Z/P1M2D\""},
      {"America/Sao_Paulo", "\"R/1985-10-01T00:30:00/P2D\""},
  };
  srand(3030);
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    struct tz *z = NULL;
    tz_load(cases[c].zone, &z);
    struct sched *s = parse(cases[c].json, z);
    CHECK(s != NULL, "%s in %s parses", cases[c].json, cases[c].zone);
    if (!s) {
      tz_free(z);
      continue;
    }
    int bad = 0;
    for (int i = 0; i < 4000; i++) {
      int64_t t = (int64_t)(((uint64_t)rand() << 20 ^ (uint64_t)rand()) % (uint64_t)utc(2100, 1, 1, 0, 0, 0));
      int64_t nx = sched_next(s, t), pv = sched_prev(s, t);
      bool ok = nx > t && sched_prev(s, nx) == nx && sched_prev(s, nx - 1) == pv && (pv < 0 || pv <= t) &&
                (pv < 0 || sched_next(s, pv) == nx) && (pv < 0 || sched_prev(s, pv) == pv);
      if (!ok && bad++ < 3)
        printf("# t %lld: next %lld prev %lld prev(next) %lld prev(next-1) %lld next(prev) %lld\n", (long long)t,
               (long long)nx, (long long)pv, (long long)sched_prev(s, nx), (long long)sched_prev(s, nx - 1),
               (long long)(pv < 0 ? -1 : sched_next(s, pv)));
    }
    CHECK(bad == 0, "%s in %s: 4,000 random instants 1970..2100: t < next, prev(next) = next, no slot in "
          "(t, next), prev <= t, next(prev) = next", cases[c].json, cases[c].zone);
    sched_free(s);
    tz_free(z);
  }

  /* daily run times walked by next and by prev equal every day's run times
   * converted one by one with tz_utc, sorted, duplicates merged: years
   * holding changes at 02:00, 00:00 (São Paulo) and half-hour ones */
  static const char *zones[] = {"Europe/Berlin", "America/Sao_Paulo", "Australia/Lord_Howe", "America/New_York"};
  static const int32_t runs[] = {0, 1800, 2 * 3600 + 1800, 3 * 3600, 23 * 3600 + 59 * 60};
  for (size_t zi = 0; zi < sizeof zones / sizeof *zones; zi++) {
    struct tz *z = NULL;
    tz_load(zones[zi], &z);
    struct sched *s = parse("{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": "
                            "[\"00:00\", \"00:30\", \"02:30\", \"03:00\", \"23:59\"]}",
                            z);
    static int64_t want[5 * 366 * 3];
    int nwant = 0, bad = 0;
    for (int year = 2017; year <= 2019; year++)
      for (int day = 1; day <= (year % 4 ? 365 : 366); day++)
        for (int r = 0; r < 5; r++) {
          struct tm w = {.tm_year = year - 1900, .tm_mday = day, .tm_sec = runs[r]};
          int64_t u = tz_utc(z, &w);
          int at = nwant;
          while (at > 0 && want[at - 1] > u)
            at--;
          if (at > 0 && want[at - 1] == u)
            continue;
          memmove(want + at + 1, want + at, (size_t)(nwant - at) * sizeof *want);
          want[at] = u;
          nwant++;
        }
    /* the first and last day's neighbours may interleave: compare the middle */
    int from = 10, to = nwant - 10;
    int64_t t = want[from];
    for (int i = from + 1; i < to; i++) {
      t = sched_next(s, t);
      if (t != want[i] && bad++ < 3)
        printf("# %s next #%d: %lld, want %lld\n", zones[zi], i, (long long)t, (long long)want[i]);
      t = want[i];
    }
    for (int i = to - 1; i > from; i--)
      if (sched_prev(s, want[i] - 1) != want[i - 1] && bad++ < 6)
        printf("# %s prev #%d: %lld, want %lld\n", zones[zi], i, (long long)sched_prev(s, want[i] - 1),
               (long long)want[i - 1]);
    CHECK(bad == 0, "%s, 2017..2019, five daily run times: next and prev walk the %d slots of tz_utc day by day",
          zones[zi], to - from);
    sched_free(s);
    tz_free(z);
  }

  /* walking next over a local P1M equals iso_duration_add's k-th step */
  struct tz *be = NULL;
  tz_load("Europe/Berlin", &be);
  struct sched *s = parse("\"R/1970-01-31T02:30:00/P1M\"", be);
  struct iso_duration d;
  iso_duration_parse("P1M", &d);
  int64_t t = -1, start = sched_next(s, -1);
  int bad = 0;
  for (int k = 0; k < 12 * 130; k++) {
    t = sched_next(s, t);
    if (t != iso_duration_add(be, start, &d, k) && bad++ < 3)
      printf("# k %d: %lld vs %lld\n", k, (long long)t, (long long)iso_duration_add(be, start, &d, k));
  }
  CHECK(bad == 0, "1,560 monthly slots walked one by one = start + k × P1M");
  sched_free(s);

  /* cost independent of distance: far instants cost what near ones do */
  s = parse("\"R/1970-01-01T00:00:00/P1M\"", be);
  struct sched *m = parse("\"R/1970-01-01T00:00:00Z/PT1M\"", be);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  int64_t sum = 0;
  for (int i = 0; i < 100000; i++) {
    int64_t u = utc(9000 + i % 900, 1 + i % 12, 1 + i % 28, 0, 0, 0);
    sum += sched_next(s, u) + sched_prev(m, u);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  CHECK(sum != 0 && ms < 5000, "100,000 next/prev in years 9000..9899 of schedules started in 1970: %.0f ms", ms);
  sched_free(s);
  sched_free(m);
  tz_free(be);
}

static void jitter(void **state)
{
  (void)state;
  const char *pol = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Vmrp/protectionPolicies/p1";
  char vm[200], VM[200];
  int buckets[10] = {0};
  bool in_range = true, stable = true;
  for (int i = 0; i < 1000; i++) {
    snprintf(vm, sizeof vm, "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm%d", i);
    snprintf(VM, sizeof VM, "/SUBSCRIPTIONS/S1/resourcegroups/RG/providers/microsoft.compute/virtualmachines/VM%d", i);
    int64_t j = sched_jitter(pol, vm, 600);
    in_range &= j >= 0 && j < 600;
    stable &= j == sched_jitter(pol, vm, 600) && j == sched_jitter(pol, VM, 600);
    if (j >= 0 && j < 600)
      buckets[j / 60]++;
  }
  CHECK(in_range, "1,000 VMs over a 600 s window: every offset in [0, 600)");
  CHECK(stable, "each offset stable across calls and the ids' case");
  int lo = 1000, hi = 0;
  double chi2 = 0;
  for (int i = 0; i < 10; i++) {
    lo = buckets[i] < lo ? buckets[i] : lo;
    hi = buckets[i] > hi ? buckets[i] : hi;
    chi2 += (buckets[i] - 100.0) * (buckets[i] - 100.0) / 100.0;
  }
  /* chi-square with 9 degrees of freedom: 27.9 is the 0.1% tail */
  CHECK(lo >= 65 && hi <= 135 && chi2 < 27.9, "spread: each minute holds %d..%d of 1,000 (χ² %.1f)", lo, hi, chi2);
  CHECK(sched_jitter(pol, "vm-a", 0) == 0 && sched_jitter(pol, "vm-a", -5) == 0 && sched_jitter(pol, "vm-a", 1) == 0,
        "a window of 0, -5 or 1: no offset");
  CHECK(sched_jitter("ab", "c", 1 << 30) != sched_jitter("a", "bc", 1 << 30), "the two ids are not simply joined");
  CHECK(sched_jitter(pol, "x", 600) == sched_jitter(pol, "X", 600), "case-insensitive");
  /* the same hash on every build: a restart keeps each VM's offset */
  CHECK(sched_jitter("p", "v", INT64_MAX) == sched_jitter("P", "V", INT64_MAX), "a full-width window");
}

static void bad_schedules(void **state)
{
  (void)state;
  static const struct {
    const char *json, *msg;
  } bad[] = {
      {"", "not JSON"},
      {"{", "not JSON"},
      {"42", "a schedule is an ISO 8601 repeating interval"},
      {"[\"R/2026-01-01T00:00:00Z/PT1H\"]", "a schedule is"},
      {"null", "a schedule is"},
      {"\"2026-01-01T00:00:00Z/PT1H\"", "repeating interval R[n]/start/period"},
      {"\"R2026-01-01T00:00:00Z/PT1H\"", "expected R or R<n> then '/'"},
      {"\"R0/2026-01-01T00:00:00Z/PT1H\"", "R0 has no slots"},
      {"\"R-1/2026-01-01T00:00:00Z/PT1H\"", "expected R or R<n>"},
      {"\"R99999999999/2026-01-01T00:00:00Z/PT1H\"", "more than 1,000,000,000"},
      {"\"R/2026-01-01T00:00:00Z\"", "expected R[n]/start/period"},
      {"\"R/PT1H/2026-01-01T00:00:00Z\"", "R/period/end is not supported"},
      {"\"R/2026-01-01T00:00:00Z/2026-01-02T00:00:00Z\"", "R/start/end is not supported"},
      {"\"R/2026-13-01T00:00:00Z/PT1H\"", "the start '2026-13-01T00:00:00Z' is not a date-time"},
      {"\"R/2026-02-29T00:00:00Z/PT1H\"", "is not a date-time"},
      {"\"R/2026-01-01T24:00:00Z/PT1H\"", "is not a date-time"},
      {"\"R/2026-01-01T10:60:00Z/PT1H\"", "is not a date-time"},
      {"\"R/2026-01-01T10:00:60Z/PT1H\"", "is not a date-time"},
      {"\"R/2026-01-01T10:00:00.5Z/PT1H\"", "is not a date-time"},
      {"\"R/2026-01-01 10:00:00Z/PT1H\"", "is not a date-time"},
      {"\"R/2026-01-01T10:00:00+1:00/PT1H\"", "is not a date-time"},
      {"\"R/2026-01-01T10:00:00+24:00/PT1H\"", "is not a date-time"},
      {"\"R/2026-01-01T10:00:00z/PT1H\"", "is not a date-time"},
      {"\"R/26-01-01T10:00:00Z/PT1H\"", "is not a date-time"},
      {"\"R/1969-12-31T23:00:00Z/PT1H\"", "before 1970"},
      {"\"R/9999-12-31T23:00:00-05:00/PT1H\"", "after 9999-12-31T23:59:59Z"},
      {"\"R/2026-01-01T00:00:00Z/PT59S\"", "shorter than PT1M"},
      {"\"R/2026-01-01T00:00:00Z/PT0S\"", "shorter than PT1M"},
      {"\"R/2026-01-01T00:00:00Z/P\"", "the period 'P': a duration needs at least one"},
      {"\"R/2026-01-01T00:00:00Z/PT\"", "'T' must be followed"},
      {"\"R/2026-01-01T00:00:00Z/PT0.5H\"", "fractions are not allowed"},
      {"\"R/2026-01-01T00:00:00Z/P99999Y\"", "longer than 10000 years"},
      {"\"R/2026-01-01T00:00:00Z/PT1H/x\"", "unexpected '/'"},
      {"{}", "scheduleRunFrequency: required"},
      {"{\"scheduleRunFrequency\": 1, \"scheduleRunTimes\": [\"02:00\"]}", "scheduleRunFrequency: required"},
      {"{\"scheduleRunFrequency\": \"Monthly\", \"scheduleRunTimes\": [\"02:00\"]}",
       "'Monthly' is not Daily, Weekly or Hourly"},
      {"{\"scheduleRunFrequency\": \"Hourly\", \"scheduleRunTimes\": [\"02:00\"]}",
       "scheduleRunTimes: not for an Hourly schedule"},
      {"{\"scheduleRunFrequency\": \"Hourly\"}", "hourlySchedule: required for an Hourly schedule"},
      {"{\"scheduleRunFrequency\": \"Hourly\", \"hourlySchedule\": {\"interval\": 0, "
       "\"scheduleWindowStartTime\": \"08:00\", \"scheduleWindowDuration\": 12}}",
       "hourlySchedule.interval: required, a whole number of hours from 1 to 24"},
      {"{\"scheduleRunFrequency\": \"Hourly\", \"hourlySchedule\": {\"interval\": \"4\", "
       "\"scheduleWindowStartTime\": \"08:00\", \"scheduleWindowDuration\": 12}}",
       "hourlySchedule.interval: required"},
      {"{\"scheduleRunFrequency\": \"Hourly\", \"hourlySchedule\": {\"interval\": 4, "
       "\"scheduleWindowStartTime\": \"08:00\", \"scheduleWindowDuration\": 25}}",
       "hourlySchedule.scheduleWindowDuration: required, a whole number of hours from 1 to 24"},
      {"{\"scheduleRunFrequency\": \"Hourly\", \"hourlySchedule\": {\"interval\": 4, "
       "\"scheduleWindowDuration\": 12}}",
       "hourlySchedule.scheduleWindowStartTime: required"},
      {"{\"scheduleRunFrequency\": \"Hourly\", \"hourlySchedule\": {\"interval\": 4, "
       "\"scheduleWindowStartTime\": \"8:00\", \"scheduleWindowDuration\": 12}}",
       "hourlySchedule.scheduleWindowStartTime: '8:00' is not a time of day"},
      {"{\"scheduleRunFrequency\": \"Hourly\", \"hourlySchedule\": {\"interval\": 4, \"every\": 1, "
       "\"scheduleWindowStartTime\": \"08:00\", \"scheduleWindowDuration\": 12}}",
       "hourlySchedule: unknown member 'every'"},
      {"{\"schedulePolicyType\": \"SimpleSchedulePolicyV2\", \"scheduleRunFrequency\": \"Daily\", "
       "\"scheduleRunTimes\": [\"02:00\"]}",
       "scheduleRunTimes: with dailySchedule, run times go inside it"},
      {"{\"schedulePolicyType\": \"SimpleSchedulePolicyV2\", \"scheduleRunFrequency\": \"Daily\"}",
       "dailySchedule: required for a Daily schedule of SimpleSchedulePolicyV2"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"weeklySchedule\": {\"scheduleRunTimes\": [\"02:00\"]}}",
       "weeklySchedule: set, but scheduleRunFrequency is Daily"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"dailySchedule\": {\"scheduleRunTimes\": [\"02:00\"], "
       "\"scheduleRunDays\": [\"Monday\"]}}",
       "dailySchedule: unknown member 'scheduleRunDays'"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"dailySchedule\": {\"scheduleRunTimes\": [\"24:00\"]}}",
       "dailySchedule.scheduleRunTimes[0]: '24:00' is not a time of day"},
      {"{\"scheduleRunFrequency\": \"Weekly\", \"weeklySchedule\": {\"scheduleRunTimes\": [\"02:00\"], "
       "\"scheduleRunDays\": [\"Funday\"]}}",
       "weeklySchedule.scheduleRunDays[0]: 'Funday' is not a day of the week"},
      {"{\"scheduleRunFrequency\": \"Weekly\", \"weeklySchedule\": {\"scheduleRunTimes\": [\"02:00\"]}}",
       "weeklySchedule.scheduleRunDays: a Weekly schedule needs"},
      {"{\"scheduleRunFrequency\": \"Daily\"}", "scheduleRunTimes: required"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": []}", "scheduleRunTimes: required"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": \"02:00\"}", "scheduleRunTimes: required"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:00\", \"25:00\"]}",
       "scheduleRunTimes[1]: '25:00' is not a time of day HH:MM[:SS]"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"2:00\"]}", "scheduleRunTimes[0]: '2:00' is not"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:00:60\"]}", "is not a time of day"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:00:00.1\"]}", "is not a time of day"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:00 \"]}", "is not a time of day"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"2018-02-30T02:00:00Z\"]}", "is not a time of day"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [7]}", "scheduleRunTimes[0]: not a string"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:00\", \"2018-01-01T02:00:00Z\"]}",
       "scheduleRunTimes[1]: '2018-01-01T02:00:00Z' repeats an earlier run time"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"00:00\",\"01:00\",\"02:00\",\"03:00\","
       "\"04:00\",\"05:00\",\"06:00\",\"07:00\",\"08:00\",\"09:00\",\"10:00\",\"11:00\",\"12:00\",\"13:00\","
       "\"14:00\",\"15:00\",\"16:00\",\"17:00\",\"18:00\",\"19:00\",\"20:00\",\"21:00\",\"22:00\",\"23:00\","
       "\"23:30\"]}",
       "25 run times, at most 24"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:00\"], \"scheduleRunDays\": [\"Monday\"]}",
       "scheduleRunDays: only a Weekly schedule"},
      {"{\"scheduleRunFrequency\": \"Weekly\", \"scheduleRunTimes\": [\"02:00\"]}", "scheduleRunDays: a Weekly"},
      {"{\"scheduleRunFrequency\": \"Weekly\", \"scheduleRunTimes\": [\"02:00\"], \"scheduleRunDays\": []}",
       "scheduleRunDays: a Weekly"},
      {"{\"scheduleRunFrequency\": \"Weekly\", \"scheduleRunTimes\": [\"02:00\"], \"scheduleRunDays\": [\"Mon\"]}",
       "scheduleRunDays[0]: 'Mon' is not a day of the week"},
      {"{\"scheduleRunFrequency\": \"Weekly\", \"scheduleRunTimes\": [\"02:00\"], \"scheduleRunDays\": [1]}",
       "scheduleRunDays[0]: '(not a string)'"},
      {"{\"scheduleRunFrequency\": \"Weekly\", \"scheduleRunTimes\": [\"02:00\"], "
       "\"scheduleRunDays\": [\"Monday\", \"MONDAY\"]}",
       "scheduleRunDays[1]: Monday is listed twice"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:00\"], \"hourlySchedule\": {}}",
       "hourlySchedule: set, but scheduleRunFrequency is Daily"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:00\"], \"retention\": {}}",
       "unknown member 'retention'"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:00\"], \"scheduleRunFrequency\": \"Daily\"}",
       "not JSON"},
      {"{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:00\"], \"schedulePolicyType\": \"LongTerm\"}",
       "schedulePolicyType: only SimpleSchedulePolicy or SimpleSchedulePolicyV2"},
      {"{\"scheduleRunFrequency\": \"Weekly\", \"scheduleRunTimes\": [\"02:00\"], \"scheduleRunDays\": [\"Monday\"], "
       "\"scheduleWeeklyFrequency\": 2}",
       "scheduleWeeklyFrequency: only 0"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct sched *s = (struct sched *)1;
    char err[300] = "";
    int rc = sched_parse(bad[i].json, NULL, &s, err, sizeof err);
    CHECK(rc == -EINVAL && s == NULL && strstr(err, bad[i].msg), "%.60s refused: %s", bad[i].json, err);
  }
  struct sched *s = NULL;
  char err[300];
  CHECK(sched_parse(NULL, NULL, &s, err, sizeof err) == -EINVAL && !s, "NULL text refused: %s", err);
  CHECK(sched_parse("\"R/x/PT1H\"", NULL, &s, NULL, 0) == -EINVAL && !s, "no message buffer: still refused");
  CHECK(sched_parse("\"R/2026-01-01T00:00:00Z/PT1H\"", NULL, &s, err, 8) == 0 && s && err[0] == '\0',
        "a good schedule leaves err empty");
  sched_free(s);
  sched_free(NULL);
}

/* One zone and one schedule shared by four threads at once give each the
 * answers computed alone: nothing in a loaded zone or a parsed schedule
 * is written after loading (no global TZ, no cache). */
struct shared {
  const struct tz *zone;
  const struct sched *sched;
  const int64_t *want_off, *want_next;
  int n, bad;
};

static void *convert_all(void *arg)
{
  struct shared *sh = arg;
  for (int round = 0; round < 4; round++)
    for (int i = 0; i < sh->n; i++) {
      int64_t t = (int64_t)i * 1234567;
      struct tm l;
      tz_local(sh->zone, t, &l);
      if (l.tm_gmtoff != sh->want_off[i] || sched_next(sh->sched, t) != sh->want_next[i] || tz_utc(sh->zone, &l) > t)
        __atomic_add_fetch(&sh->bad, 1, __ATOMIC_RELAXED);
    }
  return NULL;
}

static void threads_share(void **state)
{
  (void)state;
  struct tz *z = NULL;
  tz_load("America/New_York", &z);
  struct sched *s = parse("{\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": [\"02:30\", \"14:00\"]}", z);
  enum { N = 3000 };
  static int64_t off[N], next[N];
  for (int i = 0; i < N; i++) {
    struct tm l;
    tz_local(z, (int64_t)i * 1234567, &l);
    off[i] = l.tm_gmtoff;
    next[i] = sched_next(s, (int64_t)i * 1234567);
  }
  struct shared sh = {z, s, off, next, N, 0};
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&th[i], NULL, convert_all, &sh);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  CHECK(sh.bad == 0, "four threads sharing one zone and one schedule: %d of 48,000 answers differ from one thread's",
        sh.bad);
  sched_free(s);
  tz_free(z);
}

/* Every truncation and many one-character changes of good schedules: an
 * answer or -EINVAL with a message, never a crash (ASan); what parses
 * still answers consistently. */
static void mangled_schedules(void **state)
{
  (void)state;
  static const char *good[] = {
      "\"R5/2026-12-07T02:00:00+01:00/P1Y2M3W4DT5H6M7S\"",
      "\"R/2026-01-31T10:00:00/P1M\"",
      "{\"scheduleRunFrequency\": \"Weekly\", \"scheduleRunDays\": [\"Monday\", \"Friday\"], "
      "\"scheduleRunTimes\": [\"02:30\", \"2018-01-24T14:00:00.000Z\", \"23:59:59\"]}",
      "{\"schedulePolicyType\": \"SimpleSchedulePolicyV2\", \"scheduleRunFrequency\": \"Hourly\", "
      "\"hourlySchedule\": {\"interval\": 4, \"scheduleWindowStartTime\": \"08:00\", \"scheduleWindowDuration\": 12}}",
  };
  static const char subst[] = {'0', '9', 'P', 'T', 'Z', 'R', '/', ':', '-', '+', '.', '"', ',', ' ', 'M', 'x'};
  struct tz *be = NULL;
  tz_load("Europe/Berlin", &be);
  int parsed = 0, refused = 0, wrong = 0;
  for (size_t g = 0; g < sizeof good / sizeof *good; g++) {
    size_t len = strlen(good[g]);
    char *buf = malloc(len + 1);
    for (size_t i = 0; i <= len; i++)
      for (size_t v = 0; v <= sizeof subst; v++) {
        memcpy(buf, good[g], len + 1);
        if (v == sizeof subst)
          buf[i] = '\0';               /* the truncation at i */
        else if (i < len)
          buf[i] = subst[v];
        else
          continue;
        struct sched *s = NULL;
        char err[300] = "";
        int rc = sched_parse(buf, be, &s, err, sizeof err);
        if (rc == 0) {
          parsed++;
          int64_t t = utc(2027, 5, 5, 5, 5, 5), n = sched_next(s, t), p = sched_prev(s, t);
          wrong += !((n == -1 || n > t) && p <= t && (n == -1 || sched_prev(s, n) == n));
          sched_free(s);
        } else if (rc == -EINVAL && err[0] && !s)
          refused++;
        else
          wrong++;
      }
    free(buf);
  }
  CHECK(wrong == 0 && parsed > 0 && refused > 0, "mangled schedules: %d parse and answer consistently, %d refused "
        "with a message, %d otherwise", parsed, refused, wrong);
  /* every string of up to five of P T 1 Y M W D H S: no crash, and what is
   * accepted starts with P, holds a digit, ends with a designator */
  static const char alpha[] = "PT1YMWDHS";
  char d[6];
  int accepted = 0, odd = 0;
  for (int len = 0; len <= 5; len++) {
    int total = 1;
    for (int i = 0; i < len; i++)
      total *= 9;
    for (int n = 0; n < total; n++) {
      int x = n;
      for (int i = 0; i < len; i++, x /= 9)
        d[i] = alpha[x % 9];
      d[len] = '\0';
      struct iso_duration dur;
      char err[200] = "";
      int rc = iso_duration_parse_msg(d, &dur, err, sizeof err);
      if (rc == 0) {
        accepted++;
        odd += d[0] != 'P' || !strchr(d, '1') || d[len - 1] == 'T' || (d[len - 1] >= '0' && d[len - 1] <= '9');
      } else
        odd += rc != -EINVAL || !err[0];
    }
  }
  CHECK(odd == 0 && accepted > 0, "all 66,430 strings of up to 5 of PT1YMWDHS: %d durations, the rest refused with "
        "a message", accepted);
  tz_free(be);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(durations), UNIT_TEST(intervals),     UNIT_TEST(run_times),         UNIT_TEST(next_prev_consistent),
      UNIT_TEST(jitter),    UNIT_TEST(bad_schedules), UNIT_TEST(mangled_schedules), UNIT_TEST(threads_share),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
