/*
 * retention.c — restic forget's keep rules over a policy's restore points
 * (retention.h), and the reader of a policy's "retention" object.
 *
 * Why restic's rules, to the letter: the issue promises "restic forget
 * --dry-run's answer", operators already know what --keep-daily 7 keeps, and
 * tests/policy/ holds us to it against the real binary on the same timeline.
 * So the algorithm is restic 0.14's one pass, with its quirks kept:
 *   - items newest first (stable: equal times keep their input order);
 *   - each rule remembers the bucket of the last item IT kept; an item is
 *     kept by the rule when its bucket differs from that one and the rule
 *     has count left (-1: always has).  "last" buckets by position, so it
 *     keeps the N newest.  restic 0.16 later also keeps the oldest item
 *     while counts are left; 0.14 — the restic we are measured against —
 *     does not, and neither do we;
 *   - buckets are the local calendar hour, day, ISO week (Go's ISOWeek:
 *     the week of the Thursday, so Dec 29 can be week 1 of the next year and
 *     Jan 1 week 53 of the last), month and year, in the policy's zone —
 *     restic uses its process's zone; the comparison runs it with TZ set to
 *     ours.  In a fall-back hour two UTC hours share one local hour bucket,
 *     as they do in restic;
 *   - keep-within counts back from the newest item (not from now; restic
 *     also skips snapshots dated in the future when it picks the newest,
 *     restore points never are), years/months/days by the calendar in the
 *     zone as Go's AddDate does (normalising Feb 31 to Mar 3, and resolving
 *     a wall time that a DST change skips or repeats as Go's time.Date
 *     does), then the exact hours/minutes/seconds; kept when strictly after
 *     that instant.
 * Pins never change what the rules decide (retention.h); they only keep.
 *
 * The zone conversion (tz_local) is done once per item and every bucket key
 * derived from it, so one pass over n items costs n conversions after the
 * sort: cheap enough to run on every slot of every VM (bench/policy).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/calendar.h"
#include "policy/retention.h"
#include "policy/schedule.h"
#include "policy/tz.h"

#define RETENTION_MAX_COUNT 100000

/* ---- calendar arithmetic (proleptic Gregorian, as Go's time package) ---- */

static int days_in_year(int64_t y)
{
  return is_leap(y) ? 366 : 365;
}

/* Go's ISOWeek as year*100 + week: the week (Monday first) belongs to the
 * year of its Thursday. */
static int64_t iso_week_key(const struct tm *tm)
{
  int64_t year = tm->tm_year + 1900LL;
  int monday0 = (tm->tm_wday + 6) % 7;
  int thursday = tm->tm_yday - monday0 + 3;
  if (thursday < 0) {
    year--;
    thursday += days_in_year(year);
  } else if (thursday >= days_in_year(year)) {
    thursday -= days_in_year(year);
    year++;
  }
  return year * 100 + thursday / 7 + 1;
}

static int64_t gmtoff_at(const struct tz *zone, int64_t t)
{
  struct tm tm;
  tz_local(zone, t, &tm);
  return tm.tm_gmtoff;
}

/* The instant restic's keep-within compares against: Go's
 * newest.AddDate(-y, -m, -d).Add(-exact) with newest in the zone. */
static int64_t within_cutoff(const struct retention_rules *r, const struct tz *zone, int64_t newest)
{
  struct tm tm;
  tz_local(zone, newest, &tm);
  /* tz_wall_seconds carries months past the year and days past the month
   * (Feb 31 is Mar 3) as Go's Date normalises them */
  tm.tm_year -= r->within_years;
  tm.tm_mon -= r->within_months;
  tm.tm_mday -= r->within_days;
  int64_t wall = tz_wall_seconds(&tm);
  /* time.Date's resolution of a wall time: the offset in force at the wall
   * time read as UTC, unless the instant that gives lies outside that
   * offset's period — then the offset in force at that instant.  A skipped
   * time moves forward by the gap, a repeated one is its later occurrence. */
  int64_t off = gmtoff_at(zone, wall);
  int64_t off2 = gmtoff_at(zone, wall - off);
  if (off2 != off)
    off = off2;
  return wall - off - r->within_s;
}

/* ---- the pass ---------------------------------------------------------- */

static void add_reason(struct retention_item *it, const char *what)
{
  size_t used = strlen(it->reasons);
  snprintf(it->reasons + used, sizeof it->reasons - used, "%s%s", used ? ", " : "", what);
}

/* Input order for ties, kept in the item's own reasons[] while sorting (the
 * field is output only): no allocation beyond the array. */
static size_t input_index(const struct retention_item *it)
{
  size_t i;
  memcpy(&i, it->reasons, sizeof i);
  return i;
}

static int newest_first(const void *a, const void *b)
{
  const struct retention_item *x = a, *y = b;
  if (x->time != y->time)
    return x->time > y->time ? -1 : 1;
  size_t i = input_index(x), j = input_index(y);
  return (i > j) - (i < j);
}

static bool rules_empty(const struct retention_rules *r)
{
  return !r->last && !r->hourly && !r->daily && !r->weekly && !r->monthly && !r->yearly && !r->within_years &&
         !r->within_months && !r->within_days && !r->within_s;
}

void retention_apply(const struct retention_rules *rules, const struct tz *zone, struct retention_item *items,
                     size_t n)
{
  for (size_t i = 0; i < n; i++)
    memcpy(items[i].reasons, &i, sizeof i);
  if (n > 1)
    qsort(items, n, sizeof *items, newest_first);
  for (size_t i = 0; i < n; i++) {
    items[i].keep = false;
    items[i].reasons[0] = '\0';
  }
  if (n == 0)
    return;

  bool empty = rules_empty(rules);
  bool within = !empty && (rules->within_years || rules->within_months || rules->within_days || rules->within_s);
  int64_t cutoff = within ? within_cutoff(rules, zone, items[0].time) : 0;
  char within_reason[sizeof rules->within + 8];
  snprintf(within_reason, sizeof within_reason, "within %s", rules->within);

  struct {
    int count;
    int64_t last; /* bucket of the last item this rule kept; -1: none yet */
    const char *reason;
  } b[6] = {
      {rules->last, -1, "last snapshot"},       {rules->hourly, -1, "hourly snapshot"},
      {rules->daily, -1, "daily snapshot"},     {rules->weekly, -1, "weekly snapshot"},
      {rules->monthly, -1, "monthly snapshot"}, {rules->yearly, -1, "yearly snapshot"},
  };
  bool calendar = rules->hourly || rules->daily || rules->weekly || rules->monthly || rules->yearly;

  for (size_t nr = 0; nr < n; nr++) {
    struct retention_item *it = &items[nr];
    if (empty) {
      /* restic keeps everything under an empty policy; retention_parse
       * never makes one, a zeroed struct is the only way here. */
      it->keep = true;
      add_reason(it, "policy is empty");
    }
    if (within && it->time > cutoff) {
      it->keep = true;
      add_reason(it, within_reason);
    }
    int64_t key[6] = {(int64_t)nr, 0, 0, 0, 0, 0};
    if (calendar) {
      struct tm tm;
      tz_local(zone, it->time, &tm);
      int64_t y = tm.tm_year + 1900LL;
      key[1] = ((y * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday) * 100 + tm.tm_hour;
      key[2] = (y * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday;
      key[3] = iso_week_key(&tm);
      key[4] = y * 100 + tm.tm_mon + 1;
      key[5] = y;
    }
    for (int k = 0; k < 6; k++) {
      if (b[k].count == 0 || key[k] == b[k].last)
        continue;
      it->keep = true;
      b[k].last = key[k];
      if (b[k].count > 0)
        b[k].count--;
      add_reason(it, b[k].reason);
    }
    if (it->pins & RETAIN_PIN_LOCKED)
      add_reason(it, "locked");
    if (it->pins & RETAIN_PIN_IN_USE)
      add_reason(it, "in use");
    if (it->pins & RETAIN_PIN_NEWEST_OK)
      add_reason(it, "newest successful");
    if (it->pins)
      it->keep = true;
  }
}

/* ---- the policy's "retention" object ----------------------------------- */

static const struct {
  const char *name;
  size_t off;
} counts[] = {
    {"keepLast", offsetof(struct retention_rules, last)},
    {"keepHourly", offsetof(struct retention_rules, hourly)},
    {"keepDaily", offsetof(struct retention_rules, daily)},
    {"keepWeekly", offsetof(struct retention_rules, weekly)},
    {"keepMonthly", offsetof(struct retention_rules, monthly)},
    {"keepYearly", offsetof(struct retention_rules, yearly)},
};

static int parse_within(json_t *v, struct retention_rules *r, char *err, size_t errlen)
{
  const char *s = json_string_value(v);
  struct iso_duration d;
  char why[160];
  if (!s) {
    snprintf(err, errlen, "keepWithin must be an ISO 8601 duration string, such as \"P7D\" or \"P1Y2M3DT4H\"");
    return -EINVAL;
  }
  if (iso_duration_parse_msg(s, &d, why, sizeof why) != 0) {
    snprintf(err, errlen, "keepWithin: %s", why);
    return -EINVAL;
  }
  if (strlen(s) >= sizeof r->within) {
    snprintf(err, errlen, "keepWithin '%.64s' is longer than %zu characters", s, sizeof r->within - 1);
    return -EINVAL;
  }
  if (iso_duration_nominal_s(&d) == 0) {
    snprintf(err, errlen, "keepWithin '%s' must be longer than zero", s);
    return -EINVAL;
  }
  r->within_years = d.years;
  r->within_months = d.months;
  r->within_days = d.weeks * 7 + d.days;
  r->within_s = d.seconds;
  snprintf(r->within, sizeof r->within, "%s", s);
  return 0;
}

int retention_parse(const char *json_text, struct retention_rules *out, char *err, size_t errlen)
{
  struct retention_rules r = {0};
  json_error_t jerr;
  json_t *o = json_loads(json_text ? json_text : "", JSON_REJECT_DUPLICATES, &jerr);
  int rc = -EINVAL;
  if (!json_is_object(o)) {
    snprintf(err, errlen, "retention must be an object of keep rules (keepLast, keepHourly, keepDaily, keepWeekly, "
                          "keepMonthly, keepYearly, keepWithin)%s%s",
             o ? "" : ": ", o ? "" : jerr.text);
    goto out;
  }
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    size_t i = 0;
    while (i < sizeof counts / sizeof counts[0] && strcmp(counts[i].name, key) != 0)
      i++;
    if (i < sizeof counts / sizeof counts[0]) {
      json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
      if (!json_is_integer(v) || !(n == -1 || (n >= 1 && n <= RETENTION_MAX_COUNT))) {
        snprintf(err, errlen, "%s must be an integer from 1 to %d, or -1 for unlimited", key, RETENTION_MAX_COUNT);
        goto out;
      }
      *(int *)((char *)&r + counts[i].off) = (int)n;
    } else if (strcmp(key, "keepWithin") == 0) {
      if (parse_within(v, &r, err, errlen) != 0)
        goto out;
    } else {
      snprintf(err, errlen, "unknown retention rule '%.64s': the rules are keepLast, keepHourly, keepDaily, "
                            "keepWeekly, keepMonthly, keepYearly and keepWithin", key);
      goto out;
    }
  }
  if (rules_empty(&r)) {
    snprintf(err, errlen, "retention needs at least one rule (keepLast, keepHourly, keepDaily, keepWeekly, "
                          "keepMonthly, keepYearly or keepWithin)");
    goto out;
  }
  *out = r;
  rc = 0;
out:
  json_decref(o);
  return rc;
}
