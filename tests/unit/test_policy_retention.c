/*
 * test_policy_retention.c — src/policy/retention.c: each of restic's keep
 * rules alone and combined (which items, and restic's reason words in
 * restic's order), the quirks that make the answer restic's and not merely
 * plausible (a rule compares with the bucket of the last item IT kept; ISO
 * weeks across a year end; keep-within from the newest item, by the calendar,
 * strictly after), buckets in a zone with a daylight-saving change, pins
 * (kept, never moving a rule's choice), ties, empty input and unlimited
 * rules; and the reader's refusals, each with its message.  The answers were
 * worked out by hand from restic 0.14's rules; tests/policy/ compares whole
 * timelines with the real restic.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "policy/retention.h"
#include "policy/tz.h"
#include "unit.h"

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
  return (int64_t)timegm(&tm);
}

static struct tz *zone(const char *name)
{
  struct tz *z = NULL;
  int rc = tz_load(name, &z);
  CHECK(rc == 0 && z, "tz_load(%s) = %d", name, rc);
  return z;
}

/* Applies rules to times[0..n) (given in any order) and returns the kept
 * ones as a string of their input positions, newest first: "0 3 5". */
static const char *run(const struct retention_rules *r, const struct tz *z, const int64_t *times, size_t n,
                       struct retention_item *items)
{
  static char out[512];
  for (size_t i = 0; i < n; i++)
    items[i] = (struct retention_item){.time = times[i]};
  retention_apply(r, z, items, n);
  out[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    if (!items[i].keep)
      continue;
    size_t pos = 0;
    while (times[pos] != items[i].time)
      pos++;
    size_t used = strlen(out);
    snprintf(out + used, sizeof out - used, "%s%zu", used ? " " : "", pos);
  }
  return out;
}

/* An hourly timeline: times[i] = start - i hours (newest first). */
static void hours_back(int64_t *t, size_t n, int64_t start)
{
  for (size_t i = 0; i < n; i++)
    t[i] = start - (int64_t)i * 3600;
}

static void keep_last(void **state)
{
  (void)state;
  struct tz *z = zone("UTC");
  int64_t t[6];
  struct retention_item it[6];
  /* input shuffled: the rule is about time order, not input order */
  int64_t base = utc(2026, 5, 1, 12, 0, 0);
  int64_t shuffled[6] = {base - 300, base, base - 100, base - 500, base - 200, base - 400};
  memcpy(t, shuffled, sizeof t);
  const char *k = run(&(struct retention_rules){.last = 3}, z, t, 6, it);
  CHECK(strcmp(k, "1 2 4") == 0, "keepLast 3 keeps the three newest (%s)", k);
  CHECK(it[0].time == base && it[5].time == base - 500, "items come back sorted newest first");
  CHECK(strcmp(it[0].reasons, "last snapshot") == 0 && it[3].reasons[0] == '\0',
        "reason \"last snapshot\" (%s), none on a removed item", it[0].reasons);
  k = run(&(struct retention_rules){.last = -1}, z, t, 6, it);
  CHECK(strcmp(k, "1 2 4 0 5 3") == 0, "keepLast -1 keeps every item (%s)", k);
  k = run(&(struct retention_rules){.last = 10}, z, t, 6, it);
  CHECK(strcmp(k, "1 2 4 0 5 3") == 0, "keepLast above the count keeps every item (%s)", k);
  tz_free(z);
}

static void keep_hourly_daily(void **state)
{
  (void)state;
  struct tz *z = zone("UTC");
  struct retention_item it[8];
  /* 10:30, 10:10, 09:50, 09:40, 08:05, 07:59: restic keeps the first item of
   * each hour it meets, counting down */
  int64_t h0 = utc(2026, 5, 1, 0, 0, 0);
  int64_t t[6] = {h0 + 10 * 3600 + 1800, h0 + 10 * 3600 + 600, h0 + 9 * 3600 + 3000,
                  h0 + 9 * 3600 + 2400,  h0 + 8 * 3600 + 300,  h0 + 7 * 3600 + 3540};
  const char *k = run(&(struct retention_rules){.hourly = 2}, z, t, 6, it);
  CHECK(strcmp(k, "0 2") == 0, "keepHourly 2: the newest of the two newest hours (%s)", k);
  CHECK(strcmp(it[0].reasons, "hourly snapshot") == 0, "reason \"hourly snapshot\" (%s)", it[0].reasons);
  k = run(&(struct retention_rules){.hourly = -1}, z, t, 6, it);
  CHECK(strcmp(k, "0 2 4 5") == 0, "keepHourly -1: the newest of every hour (%s)", k);

  /* days: 3 on May 3, 1 on May 2, none on May 1, 2 on Apr 30 (month end) */
  int64_t d[6] = {utc(2026, 5, 3, 23, 59, 59), utc(2026, 5, 3, 12, 0, 0), utc(2026, 5, 3, 0, 0, 0),
                  utc(2026, 5, 2, 6, 0, 0),    utc(2026, 4, 30, 23, 0, 0), utc(2026, 4, 30, 1, 0, 0)};
  k = run(&(struct retention_rules){.daily = 3}, z, d, 6, it);
  CHECK(strcmp(k, "0 3 4") == 0, "keepDaily 3 counts days that hold an item, not calendar days (%s)", k);
  k = run(&(struct retention_rules){.daily = 1}, z, d, 6, it);
  CHECK(strcmp(k, "0") == 0, "keepDaily 1: only the newest (%s)", k);
  tz_free(z);
}

static void keep_weekly_iso(void **state)
{
  (void)state;
  struct tz *z = zone("UTC");
  struct retention_item it[8];
  /* 2025-01-01 (Wed) and 2024-12-30 (Mon) are ISO week 2025-W01; 2024-12-29
   * (Sun) is 2024-W52.  2027-01-01 (Fri) is 2026-W53, as is 2026-12-28. */
  int64_t t[5] = {utc(2025, 1, 1, 8, 0, 0), utc(2024, 12, 30, 8, 0, 0), utc(2024, 12, 29, 8, 0, 0),
                  utc(2024, 12, 23, 0, 0, 0), utc(2024, 12, 22, 23, 0, 0)};
  const char *k = run(&(struct retention_rules){.weekly = 10}, z, t, 5, it);
  CHECK(strcmp(k, "0 2 4") == 0, "keepWeekly: ISO weeks across a year end, Monday first (%s)", k);
  CHECK(strcmp(it[0].reasons, "weekly snapshot") == 0, "reason \"weekly snapshot\" (%s)", it[0].reasons);
  int64_t u[4] = {utc(2027, 1, 4, 0, 0, 0), utc(2027, 1, 1, 8, 0, 0), utc(2026, 12, 28, 8, 0, 0),
                  utc(2026, 12, 27, 8, 0, 0)};
  k = run(&(struct retention_rules){.weekly = -1}, z, u, 4, it);
  CHECK(strcmp(k, "0 1 3") == 0, "2027-01-01 shares 2026-W53 with 2026-12-28; 2027-01-04 is 2027-W01 (%s)", k);
  tz_free(z);
}

static void keep_monthly_yearly(void **state)
{
  (void)state;
  struct tz *z = zone("UTC");
  struct retention_item it[8];
  int64_t t[7] = {utc(2027, 2, 1, 0, 0, 0),   utc(2027, 1, 31, 0, 0, 0), utc(2027, 1, 1, 0, 0, 0),
                  utc(2026, 12, 31, 23, 0, 0), utc(2026, 12, 1, 0, 0, 0), utc(2026, 6, 1, 0, 0, 0),
                  utc(2025, 1, 1, 0, 0, 0)};
  const char *k = run(&(struct retention_rules){.monthly = 4}, z, t, 7, it);
  CHECK(strcmp(k, "0 1 3 5") == 0, "keepMonthly 4 (%s)", k);
  k = run(&(struct retention_rules){.yearly = 5}, z, t, 7, it);
  CHECK(strcmp(k, "0 3 6") == 0, "keepYearly 5: the newest of each year (%s)", k);
  CHECK(strcmp(it[3].reasons, "yearly snapshot") == 0, "reason \"yearly snapshot\" (%s)", it[3].reasons);
  k = run(&(struct retention_rules){.monthly = 1}, z, t, 7, it);
  CHECK(strcmp(k, "0") == 0, "keepMonthly 1 (%s)", k);
  tz_free(z);
}

static void keep_within(void **state)
{
  (void)state;
  struct tz *z = zone("UTC");
  struct retention_item it[8];
  int64_t n = utc(2026, 3, 31, 12, 0, 0);
  /* P1M from Mar 31 is "Feb 31" = Mar 3 (Go's AddDate); strictly after */
  int64_t t[4] = {n, utc(2026, 3, 3, 12, 0, 1), utc(2026, 3, 3, 12, 0, 0), utc(2026, 2, 28, 12, 0, 0)};
  struct retention_rules r = {.within_months = 1};
  strcpy(r.within, "P1M");
  const char *k = run(&r, z, t, 4, it);
  CHECK(strcmp(k, "0 1") == 0, "keepWithin P1M from Mar 31 reaches back to Mar 3 (Feb 31), exclusive (%s)", k);
  CHECK(strcmp(it[0].reasons, "within P1M") == 0, "reason \"within P1M\" (%s)", it[0].reasons);

  /* measured from the newest item, not from now: an old timeline keeps its
   * newest day whole */
  int64_t old[3] = {utc(2001, 1, 2, 0, 0, 0), utc(2001, 1, 1, 0, 0, 1), utc(2001, 1, 1, 0, 0, 0)};
  r = (struct retention_rules){.within_days = 1};
  strcpy(r.within, "P1D");
  k = run(&r, z, old, 3, it);
  CHECK(strcmp(k, "0 1") == 0, "keepWithin P1D counts from the newest item (%s)", k);

  /* P1Y2M3DT4H as restic's 1y2m3d4h: AddDate(-1,-2,-3) then 4 hours */
  r = (struct retention_rules){.within_years = 1, .within_months = 2, .within_days = 3, .within_s = 4 * 3600};
  strcpy(r.within, "P1Y2M3DT4H");
  int64_t cut = utc(2025, 3, 12, 8, 0, 0); /* 2026-05-15 12:00 - 1y2m3d = 2025-03-12 12:00, - 4h */
  int64_t c[3] = {utc(2026, 5, 15, 12, 0, 0), cut + 1, cut};
  k = run(&r, z, c, 3, it);
  CHECK(strcmp(k, "0 1") == 0, "keepWithin P1Y2M3DT4H = AddDate(-1,-2,-3) - 4h (%s)", k);
  /* leap day: 2024-02-29 - P1Y is "2023-02-29" = 2023-03-01 */
  r = (struct retention_rules){.within_years = 1};
  strcpy(r.within, "P1Y");
  int64_t l[3] = {utc(2024, 2, 29, 0, 0, 0), utc(2023, 3, 1, 0, 0, 1), utc(2023, 3, 1, 0, 0, 0)};
  k = run(&r, z, l, 3, it);
  CHECK(strcmp(k, "0 1") == 0, "keepWithin P1Y from Feb 29 reaches Mar 1 (%s)", k);
  tz_free(z);
}

static void combined(void **state)
{
  (void)state;
  struct tz *z = zone("UTC");
  int64_t t[72];
  struct retention_item it[72];
  hours_back(t, 72, utc(2026, 1, 3, 23, 0, 0)); /* Jan 3 23:00 back to Jan 1 00:00 */
  struct retention_rules r = {.last = 2, .hourly = 3, .daily = 5, .within_s = 90 * 60};
  strcpy(r.within, "PT90M");
  const char *k = run(&r, z, t, 72, it);
  CHECK(strcmp(k, "0 1 2 24 48") == 0, "last 2 + hourly 3 + daily 5 + within PT90M (%s)", k);
  CHECK(strcmp(it[0].reasons, "within PT90M, last snapshot, hourly snapshot, daily snapshot") == 0,
        "reasons in restic's order (%s)", it[0].reasons);
  CHECK(strcmp(it[1].reasons, "within PT90M, last snapshot, hourly snapshot") == 0, "second item (%s)",
        it[1].reasons);
  CHECK(strcmp(it[2].reasons, "hourly snapshot") == 0, "third item: PT90M is strictly before (%s)", it[2].reasons);
  CHECK(strcmp(it[24].reasons, "daily snapshot") == 0 && !it[3].keep, "Jan 2's newest by the daily rule (%s)",
        it[24].reasons);
  struct retention_rules all = {.last = 1, .hourly = 1, .daily = 1, .weekly = 1, .monthly = 1, .yearly = 1};
  all.within_days = 1;
  strcpy(all.within, "P1D");
  k = run(&all, z, t, 72, it);
  CHECK(strcmp(it[0].reasons, "within P1D, last snapshot, hourly snapshot, daily snapshot, weekly snapshot, "
                              "monthly snapshot, yearly snapshot") == 0,
        "every reason at once (%s)", it[0].reasons);
  tz_free(z);
}

static void pins(void **state)
{
  (void)state;
  struct tz *z = zone("UTC");
  struct retention_item it[10];
  int64_t t[10];
  hours_back(t, 10, utc(2026, 6, 1, 9, 0, 0));
  for (int i = 0; i < 10; i++)
    it[i] = (struct retention_item){.time = t[i]};
  it[0].pins = RETAIN_PIN_NEWEST_OK;
  it[7].pins = RETAIN_PIN_LOCKED;
  it[8].pins = RETAIN_PIN_IN_USE | RETAIN_PIN_LOCKED;
  retention_apply(&(struct retention_rules){.last = 3}, z, it, 10);
  int kept = 0;
  for (int i = 0; i < 10; i++)
    kept += it[i].keep;
  CHECK(kept == 5 && it[0].keep && it[1].keep && it[2].keep && !it[3].keep && it[7].keep && it[8].keep,
        "keepLast 3 with the newest pinned keeps three, plus the two pinned old ones (%d kept)", kept);
  CHECK(strcmp(it[0].reasons, "last snapshot, newest successful") == 0, "a pin adds its word (%s)",
        it[0].reasons);
  CHECK(strcmp(it[7].reasons, "locked") == 0 && strcmp(it[8].reasons, "locked, in use") == 0,
        "pinned items no rule chose carry only their pins (%s; %s)", it[7].reasons, it[8].reasons);

  /* a locked item that is the newest of its day keeps the day (restic would
   * too); one that is not takes no bucket from the day's newest */
  int64_t d[4] = {utc(2026, 6, 2, 10, 0, 0), utc(2026, 6, 1, 10, 0, 0), utc(2026, 6, 1, 9, 0, 0),
                  utc(2026, 5, 31, 9, 0, 0)};
  for (int i = 0; i < 4; i++)
    it[i] = (struct retention_item){.time = d[i]};
  it[2].pins = RETAIN_PIN_LOCKED;
  retention_apply(&(struct retention_rules){.daily = 2}, z, it, 4);
  CHECK(it[0].keep && it[1].keep && it[2].keep && !it[3].keep,
        "keepDaily 2: the two days' newest as restic, the locked one besides, May 31 goes");
  tz_free(z);
}

static void ties_and_edges(void **state)
{
  (void)state;
  struct tz *z = zone("UTC");
  struct retention_item it[4];
  int64_t t0 = utc(2026, 7, 1, 0, 0, 0);
  for (int i = 0; i < 4; i++)
    it[i] = (struct retention_item){.time = t0, .pins = (unsigned)i == 2 ? RETAIN_PIN_IN_USE : 0};
  it[3].time = t0 + 60;
  retention_apply(&(struct retention_rules){.last = 2}, z, it, 4);
  CHECK(it[0].time == t0 + 60 && it[1].pins == 0 && it[2].pins == 0 && it[3].pins == RETAIN_PIN_IN_USE,
        "equal times keep their input order (stable)");
  CHECK(it[0].keep && it[1].keep && !it[2].keep && it[3].keep, "keepLast 2 takes the first of the tied items");

  retention_apply(&(struct retention_rules){.daily = 3}, z, it, 0);
  CHECK(1, "no items: nothing to do, nothing touched");

  struct retention_item one = {.time = t0};
  retention_apply(&(struct retention_rules){.yearly = 1}, z, &one, 1);
  CHECK(one.keep && strcmp(one.reasons, "yearly snapshot") == 0, "a single item (%s)", one.reasons);

  struct retention_item e[2] = {{.time = t0}, {.time = t0 - 1}};
  retention_apply(&(struct retention_rules){0}, z, e, 2);
  CHECK(e[0].keep && e[1].keep && strcmp(e[1].reasons, "policy is empty") == 0,
        "no rule keeps everything, as restic (%s)", e[1].reasons);

  /* buckets before 1970 and in 2100 (no leap day) */
  int64_t w[3] = {utc(2100, 3, 1, 0, 0, 0), utc(2100, 2, 28, 0, 0, 0), utc(1969, 12, 31, 0, 0, 0)};
  struct retention_item wi[3];
  const char *k = run(&(struct retention_rules){.daily = -1, .weekly = -1}, z, w, 3, wi);
  CHECK(strcmp(k, "0 1 2") == 0, "2100 (no leap day) and 1969 (%s)", k);
  tz_free(z);
}

static void zone_buckets(void **state)
{
  (void)state;
  struct tz *z = zone("Europe/Berlin");
  struct retention_item it[8];
  /* 2026-10-25 03:00 CEST -> 02:00 CET: 00:30Z and 01:30Z are both the
   * local hour 02 — one hourly bucket, as restic's ymdh */
  int64_t t[4] = {utc(2026, 10, 25, 1, 30, 0), utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 24, 23, 30, 0),
                  utc(2026, 10, 24, 22, 30, 0)};
  const char *k = run(&(struct retention_rules){.hourly = 10}, z, t, 4, it);
  CHECK(strcmp(k, "0 2 3") == 0, "fall-back: two UTC hours share the local hour 02 (%s)", k);
  /* 22:30Z on Dec 31 is already Jan 1 in Berlin: a new day, month, year */
  int64_t y[3] = {utc(2026, 12, 31, 23, 30, 0), utc(2026, 12, 31, 22, 30, 0), utc(2026, 12, 31, 22, 0, 0)};
  k = run(&(struct retention_rules){.yearly = 5}, z, y, 3, it);
  CHECK(strcmp(k, "0 1") == 0, "the year turns at local midnight (%s)", k);
  k = run(&(struct retention_rules){.daily = 5}, z, y, 3, it);
  CHECK(strcmp(k, "0 1") == 0, "the day turns at local midnight (%s)", k);

  /* keep-within P1D across spring-forward: from 2026-03-29 12:00 CEST back
   * one calendar day is 2026-03-28 12:00 CET — 23 hours */
  struct retention_rules r = {.within_days = 1};
  strcpy(r.within, "P1D");
  int64_t w[3] = {utc(2026, 3, 29, 10, 0, 0), utc(2026, 3, 28, 11, 0, 1), utc(2026, 3, 28, 11, 0, 0)};
  k = run(&r, z, w, 3, it);
  CHECK(strcmp(k, "0 1") == 0, "keepWithin P1D over spring-forward is 23 h (%s)", k);
  /* back onto a repeated wall time: 2026-10-26 02:30 CET - P1D is
   * 2026-10-25 02:30, which happens twice; Go's Date takes the later
   * (CET, 01:30Z) */
  int64_t f[3] = {utc(2026, 10, 26, 1, 30, 0), utc(2026, 10, 25, 1, 30, 1), utc(2026, 10, 25, 1, 30, 0)};
  k = run(&r, z, f, 3, it);
  CHECK(strcmp(k, "0 1") == 0, "keepWithin onto a repeated wall time takes its later occurrence (%s)", k);
  /* onto a skipped one: 2026-03-30 02:30 CEST - P1D is 2026-03-29 02:30,
   * which does not exist; Go's Date makes it 03:30 CEST (01:30Z) */
  int64_t s[3] = {utc(2026, 3, 30, 0, 30, 0), utc(2026, 3, 29, 1, 30, 1), utc(2026, 3, 29, 1, 30, 0)};
  k = run(&r, z, s, 3, it);
  CHECK(strcmp(k, "0 1") == 0, "keepWithin onto a skipped wall time moves forward by the gap (%s)", k);
  tz_free(z);
}

static void parse_good(void **state)
{
  (void)state;
  struct retention_rules r;
  char err[256] = "";
  int rc = retention_parse("{\"keepLast\": 3, \"keepHourly\": 24, \"keepDaily\": -1, \"keepWeekly\": 4, "
                           "\"keepMonthly\": 12, \"keepYearly\": 100000, \"keepWithin\": \"P1Y2M3DT4H5M6S\"}",
                           &r, err, sizeof err);
  CHECK(rc == 0, "every rule parses (%s)", err);
  CHECK(r.last == 3 && r.hourly == 24 && r.daily == -1 && r.weekly == 4 && r.monthly == 12 && r.yearly == 100000,
        "counts as written");
  CHECK(r.within_years == 1 && r.within_months == 2 && r.within_days == 3 && r.within_s == 4 * 3600 + 5 * 60 + 6 &&
            strcmp(r.within, "P1Y2M3DT4H5M6S") == 0,
        "keepWithin in calendar and exact parts");
  rc = retention_parse("{\"keepWithin\": \"P2W\"}", &r, err, sizeof err);
  CHECK(rc == 0 && r.within_days == 14 && r.last == 0, "weeks are 7 days, one rule is enough (%s)", err);
}

static void parse_bad(void **state)
{
  (void)state;
  static const struct {
    const char *text, *want;
  } bad[] = {
      {"{}", "at least one rule"},
      {"{\"keepDaily\": 0}", "keepDaily must be an integer from 1 to 100000, or -1"},
      {"{\"keepDaily\": 1.5}", "keepDaily must be an integer"},
      {"{\"keepDaily\": 7.0}", "keepDaily must be an integer"},
      {"{\"keepDaily\": \"7\"}", "keepDaily must be an integer"},
      {"{\"keepLast\": 100001}", "keepLast must be an integer from 1 to 100000"},
      {"{\"keepLast\": -2}", "keepLast must be an integer"},
      {"{\"keepLast\": 4294967297}", "keepLast must be an integer"},
      {"{\"keepLast\": true}", "keepLast must be an integer"},
      {"{\"keepLast\": null}", "keepLast must be an integer"},
      {"{\"keepDayly\": 7}", "unknown retention rule 'keepDayly'"},
      {"{\"keepDaily\": 7, \"keepdaily\": 7}", "unknown retention rule 'keepdaily'"},
      {"{\"keepDaily\": 7, \"keepDaily\": 8}", "duplicate"},
      {"[]", "retention must be an object"},
      {"7", "retention must be an object"},
      {"{\"keepDaily\": 7", "retention must be an object"},
      {"", "retention must be an object"},
      {"{\"keepWithin\": \"7d\"}", "keepWithin: '7d': not an ISO 8601 duration"},
      {"{\"keepWithin\": \"P\"}", "keepWithin: 'P'"},
      {"{\"keepWithin\": \"PT\"}", "keepWithin: 'PT'"},
      {"{\"keepWithin\": \"P1.5D\"}", "keepWithin: 'P1.5D'"},
      {"{\"keepWithin\": \"-P1D\"}", "keepWithin: '-P1D'"},
      {"{\"keepWithin\": \"\"}", "keepWithin: '': not an ISO 8601 duration"},
      {"{\"keepWithin\": 7}", "keepWithin must be an ISO 8601 duration string"},
      {"{\"keepWithin\": \"P0D\"}", "keepWithin 'P0D' must be longer than zero"},
      {"{\"keepWithin\": \"P1Y2M3DT00000000000000000000000004H\"}", "is longer than 31 characters"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct retention_rules r = {.last = 42};
    char err[256] = "";
    int rc = retention_parse(bad[i].text, &r, err, sizeof err);
    CHECK(rc == -EINVAL && strstr(err, bad[i].want) && r.last == 42, "%s refused: %s", bad[i].text, err);
  }
  struct retention_rules r;
  char small[16];
  CHECK(retention_parse("{\"keepDayly\": 7}", &r, small, sizeof small) == -EINVAL && strlen(small) == 15,
        "a short message buffer is cut, NUL-terminated");
  CHECK(retention_parse(NULL, &r, small, sizeof small) == -EINVAL, "no text refused");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(keep_last),   UNIT_TEST(keep_hourly_daily), UNIT_TEST(keep_weekly_iso), UNIT_TEST(keep_monthly_yearly),
      UNIT_TEST(keep_within), UNIT_TEST(combined),          UNIT_TEST(pins),            UNIT_TEST(ties_and_edges),
      UNIT_TEST(zone_buckets), UNIT_TEST(parse_good),       UNIT_TEST(parse_bad),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
