/*
 * schedule.c — a policy's slots: ISO 8601 durations, repeating intervals and
 * Azure Backup's daily/weekly run times (schedule.h), and the jitter that
 * spreads one slot over a policy's VMs.
 *
 * A repeating interval "R[n]/start/period" is the slots F(k) = start + k ×
 * period, k = 0 .. n-1 (unbounded without n).  k × period is computed from
 * the start each time, never by adding to the previous slot, so a month
 * step clamps and unclamps (31 January, 28 February, 31 March, 30 April)
 * instead of drifting to the 28th.  Which calendar the steps use is the
 * start's: written with an offset ("Z", "+01:00") the interval lives on
 * that fixed offset's timeline (P1D is always 86,400 s later, the wall
 * clock of a DST zone drifts by the change); written without one it is
 * wall time in the policy's zone (P1D keeps 02:30 across a DST change, a
 * skipped 02:30 runs at 03:30, a repeated one once).  Time parts (H M S)
 * are exact seconds in both: PT1H is 3,600 s apart even across a change, so
 * a local-anchored hourly interval has two slots in the repeated hour of a
 * fall-back night and none in the skipped hour of a spring-forward night.
 *
 * Cost independent of the distance from the start: a period without
 * months, years (and, local-anchored, days and weeks) is a fixed number of
 * seconds and k is a division; otherwise k is estimated from the period's
 * average length (a month of 30.436875 days) and corrected by stepping
 * while F overshoots or F(k+1) still fits — the Gregorian calendar's months
 * never stray more than a few days from that average and a DST change by
 * hours, so that is one or two evaluations of F for periods of days or
 * longer.
 *
 * Daily/weekly run times are wall times of day in the policy's zone on each
 * day (weekly: on the listed days); Azure's V2 form nests them in
 * dailySchedule/weeklySchedule, and its Hourly form is the run times
 * window start + k × interval inside the window, modulo the day.  The slot
 * of a day is tz_utc of that day's wall time, so a run time skipped by a
 * spring-forward change happens when the clock jumps past it (02:30 →
 * 03:30), and one repeated by a fall-back change runs once, at its first
 * occurrence.  A run time written as a full date-time
 * ("2018-01-24T02:00:00Z", as Azure Backup writes them) contributes only
 * its time of day, read as wall time in the policy's zone: its date and
 * offset are ignored, as Azure Backup ignores them in favour of the
 * policy's timeZone.  next/prev look at the days around t (the day before
 * covers a late run time moved past midnight by a gap; eight days cover a
 * week), stopping a day after the first day with a hit.  A day whose
 * possible instants all share one UT offset (most days: a change is at
 * least a day away) is its run times shifted by that offset, without a
 * tz_utc per run time.
 *
 * Jitter: FNV-1a 64 of the lower-cased ids, finished with splitmix64's
 * mixer (FNV's low bits alone follow the last bytes too closely for a
 * modulus), modulo the window: stable across restarts and builds, no
 * dependency beyond common/.
 */
#include "policy/schedule.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "policy/calendar.h"
#include "policy/tz.h"

#define SCHED_MAX_T ((int64_t)253402300799)       /* 9999-12-31T23:59:59Z */
#define DUR_MAX_YEARS 10000
#define DUR_MAX_S ((int64_t)DUR_MAX_YEARS * 366 * 86400)
#define AVG_MONTH_S ((int64_t)2629746)              /* 365.2425 days / 12 */
#define SCHED_MAX_OFFSET ((int64_t)27 * 3600)       /* beyond any zone's UT offset (tz.c: < 26 h) */

enum sched_kind { SCHED_INTERVAL, SCHED_DAILY, SCHED_WEEKLY };

struct sched {
  enum sched_kind kind;
  const struct tz *zone;          /* the policy's (borrowed) */
  struct tz *own_zone;            /* UTC when the caller gave no zone */
  /* interval */
  struct tz *own_cal;             /* the fixed offset of a start written with one */
  const struct tz *cal;           /* the calendar of the steps: zone or own_cal */
  struct tm wall;                 /* the start as written, in cal */
  int64_t start;                  /* F(0) */
  struct iso_duration period;
  int64_t count;                  /* n of R<n>; 0: unbounded */
  int64_t fixed_s;                /* the period in seconds when it is fixed, else 0 */
  int64_t avg_s;                  /* its average length */
  /* daily / weekly */
  int ntimes;
  int32_t times[SCHED_MAX_RUN_TIMES]; /* seconds of the day, ascending */
  unsigned days;                  /* bit wday (0 Sunday) */
};

static void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ---- ISO 8601 durations ---- */

int iso_duration_parse_msg(const char *s, struct iso_duration *out, char *err, size_t errlen)
{
  static const char order[] = "YMWDHMS";  /* designators in order; the second M is minutes */
  *out = (struct iso_duration){0};
  if (!s || s[0] != 'P') {
    if (s && (s[0] == '-' || s[0] == '+') && s[1] == 'P')
      say(err, errlen, "'%.64s': a duration has no sign (negative durations are not allowed)", s);
    else
      say(err, errlen, "'%.64s': not an ISO 8601 duration PnYnMnWnDTnHnMnS (e.g. PT1H, P7D, P1Y2M)", s ? s : "");
    return -EINVAL;
  }
  const char *p = s + 1;
  int next = 0;                  /* index into order of the next allowed designator */
  bool in_time = false, any = false;
  int64_t hms[3] = {0, 0, 0};
  while (*p) {
    if (*p == 'T') {
      if (in_time) {
        say(err, errlen, "'%.64s': 'T' twice", s);
        return -EINVAL;
      }
      in_time = true;
      next = 4;
      p++;
      if (!*p) {
        say(err, errlen, "'%.64s': 'T' must be followed by hours, minutes or seconds (nH, nM, nS)", s);
        return -EINVAL;
      }
      continue;
    }
    if (*p == '-') {
      say(err, errlen, "'%.64s': negative durations are not allowed", s);
      return -EINVAL;
    }
    if (*p < '0' || *p > '9') {
      say(err, errlen, "'%.64s': unexpected '%c': expected a number then one of %s", s, *p,
          in_time ? "H M S" : "Y M W D (or T before hours, minutes, seconds)");
      return -EINVAL;
    }
    int64_t v = 0;
    while (*p >= '0' && *p <= '9') {
      if (v > DUR_MAX_S) {
        say(err, errlen, "'%.64s': longer than %d years", s, DUR_MAX_YEARS);
        return -EINVAL;
      }
      v = v * 10 + (*p++ - '0');
    }
    if (*p == '.' || *p == ',') {
      say(err, errlen, "'%.64s': fractions are not allowed; use a smaller unit (PT90M, not PT1.5H)", s);
      return -EINVAL;
    }
    if (!*p) {
      say(err, errlen, "'%.64s': the number %lld has no unit (%s)", s, (long long)v, in_time ? "H M S" : "Y M W D");
      return -EINVAL;
    }
    const char *d = strchr(order + next, *p);
    if (!d || (!in_time && d - order >= 4) || (in_time && d - order < 4)) {
      if (strchr("HS", *p) && !in_time)
        say(err, errlen, "'%.64s': hours and seconds come after 'T' (PT%lld%c)", s, (long long)v, *p);
      else if (strchr(order, *p))
        say(err, errlen, "'%.64s': '%c' out of order or repeated (P nY nM nW nD T nH nM nS)", s, *p);
      else
        say(err, errlen, "'%.64s': unknown unit '%c' (designators are upper-case Y M W D T H M S)", s, *p);
      return -EINVAL;
    }
    int i = (int)(d - order);
    static const int64_t cap[7] = {DUR_MAX_YEARS, DUR_MAX_YEARS * 12, DUR_MAX_YEARS * 53, DUR_MAX_YEARS * 366,
                                   DUR_MAX_S / 3600, DUR_MAX_S / 60, DUR_MAX_S};
    if (v > cap[i]) {
      say(err, errlen, "'%.64s': longer than %d years", s, DUR_MAX_YEARS);
      return -EINVAL;
    }
    switch (i) {
    case 0: out->years = (int)v; break;
    case 1: out->months = (int)v; break;
    case 2: out->weeks = (int)v; break;
    case 3: out->days = (int)v; break;
    default: hms[i - 4] = v; break;
    }
    any = true;
    next = i + 1;
    p++;
  }
  if (!any) {
    say(err, errlen, "'%.64s': a duration needs at least one number and unit (e.g. PT1H, P7D)", s);
    return -EINVAL;
  }
  out->seconds = hms[0] * 3600 + hms[1] * 60 + hms[2];
  if (iso_duration_nominal_s(out) > DUR_MAX_S) {
    *out = (struct iso_duration){0};
    say(err, errlen, "'%.64s': longer than %d years", s, DUR_MAX_YEARS);
    return -EINVAL;
  }
  return 0;
}

int iso_duration_parse(const char *s, struct iso_duration *out)
{
  return iso_duration_parse_msg(s, out, NULL, 0);
}

int64_t iso_duration_nominal_s(const struct iso_duration *d)
{
  return ((int64_t)d->years * 365 + (int64_t)d->months * 30 + (int64_t)d->weeks * 7 + d->days) * 86400 +
         d->seconds;
}

/* The instant of wall + times × d in calendar z (see iso_duration_add). */
static int64_t calendar_add(const struct tz *z, const struct tm *wall, const struct iso_duration *d, int64_t times)
{
  int64_t months, days, secs;
  int64_t sat = times < 0 ? INT64_MIN : INT64_MAX;
  if (__builtin_mul_overflow((int64_t)d->years * 12 + d->months, times, &months) ||
      __builtin_mul_overflow((int64_t)d->weeks * 7 + d->days, times, &days) ||
      __builtin_mul_overflow(d->seconds, times, &secs))
    return sat;
  /* 10,000 years in months or days keeps every sum below int's range */
  if (months > 12 * DUR_MAX_YEARS || months < -12 * DUR_MAX_YEARS || days > 366 * DUR_MAX_YEARS ||
      days < -366 * DUR_MAX_YEARS || secs > DUR_MAX_S || secs < -DUR_MAX_S)
    return sat;
  int64_t m0 = wall->tm_mon + months, y = wall->tm_year + 1900 + floor_div(m0, 12);
  int mon = (int)(m0 - floor_div(m0, 12) * 12);
  if (y < 1 || y > 9999)
    return y < 1 ? INT64_MIN : INT64_MAX;
  int mday = wall->tm_mday;
  if (mday > month_days(y, mon))
    mday = month_days(y, mon);
  struct tm tm = {.tm_year = (int)(y - 1900), .tm_mon = mon, .tm_mday = mday + (int)days,
                  .tm_hour = wall->tm_hour, .tm_min = wall->tm_min, .tm_sec = wall->tm_sec};
  int64_t u = tz_utc(z, &tm);
  if (u + secs > SCHED_MAX_T || u + secs < -62135596800LL) /* 0001-01-01T00:00:00Z */
    return u + secs > 0 ? INT64_MAX : INT64_MIN;
  return u + secs;
}

int64_t iso_duration_add(const struct tz *z, int64_t t, const struct iso_duration *d, int64_t times)
{
  struct tz *utc = NULL;
  if (!z) {
    if (tz_fixed(0, &utc) < 0)
      return times < 0 ? INT64_MIN : INT64_MAX;
    z = utc;
  }
  struct tm wall;
  tz_local(z, t, &wall);
  int64_t r = calendar_add(z, &wall, d, times);
  tz_free(utc);
  return r;
}

/* ---- slots ---- */

static int64_t interval_at(const struct sched *s, int64_t k)
{
  if (s->fixed_s) {
    int64_t off;
    if (__builtin_mul_overflow(k, s->fixed_s, &off) || off > SCHED_MAX_T - s->start)
      return INT64_MAX;
    return s->start + off;
  }
  return calendar_add(s->cal, &s->wall, &s->period, k);
}

/* The largest k with F(k) <= t, for t >= start. */
static int64_t interval_index(const struct sched *s, int64_t t)
{
  if (s->fixed_s)
    return (t - s->start) / s->fixed_s;
  int64_t k = (t - s->start) / s->avg_s;
  while (k > 0 && interval_at(s, k) > t)
    k--;
  while (interval_at(s, k + 1) <= t)
    k++;
  return k;
}

static int64_t interval_prev(const struct sched *s, int64_t t)
{
  if (t < s->start)
    return -1;
  int64_t k = interval_index(s, t);
  if (s->count && k >= s->count)
    k = s->count - 1;
  return interval_at(s, k);
}

static int64_t interval_next(const struct sched *s, int64_t t)
{
  if (t < s->start)
    return s->start;
  int64_t k = interval_index(s, t) + 1;
  if (s->count && k >= s->count)
    return -1;
  int64_t u = interval_at(s, k);
  return u > SCHED_MAX_T ? -1 : u;
}

/* The slots of the day `off` days from the local date of base: the
 * earliest after t (after) or the latest at or before it into *best when
 * better; whether the day had such a slot. */
static bool day_slots(const struct sched *s, const struct tm *base, int off, int64_t t, bool after, int64_t *best)
{
  int wday = ((base->tm_wday + off) % 7 + 7) % 7;
  if (s->kind == SCHED_WEEKLY && !(s->days & 1u << wday))
    return false;
  struct tm day = {.tm_year = base->tm_year, .tm_mon = base->tm_mon, .tm_mday = base->tm_mday + off};
  /* A day far from any change (every instant its wall times could map to
   * has one offset) is a constant shift of its run times: no tz_utc. */
  int64_t w0 = tz_wall_seconds(&day);
  int32_t o;
  bool shift = tz_offset_constant(s->zone, w0 - SCHED_MAX_OFFSET, w0 + 86400 + SCHED_MAX_OFFSET, &o);
  bool hit = false;
  for (int i = 0; i < s->ntimes; i++) {
    int64_t u;
    if (shift)
      u = w0 + s->times[i] - o;
    else {
      struct tm tm = day;
      tm.tm_sec = s->times[i];
      u = tz_utc(s->zone, &tm);
    }
    if (after ? (u > t && u < *best) : (u <= t && u > *best)) {
      *best = u;
      hit = true;
    }
  }
  return hit;
}

static int64_t runtimes_next(const struct sched *s, int64_t t)
{
  struct tm base;
  tz_local(s->zone, t, &base);
  int64_t best = INT64_MAX;
  bool hit = false;
  for (int off = -1, last = 8; off <= last; off++)
    if (day_slots(s, &base, off, t, true, &best) && !hit) {
      hit = true;
      last = off + 1;
    }
  return best > SCHED_MAX_T ? -1 : best;
}

static int64_t runtimes_prev(const struct sched *s, int64_t t)
{
  struct tm base;
  tz_local(s->zone, t, &base);
  int64_t best = INT64_MIN;
  bool hit = false;
  for (int off = 1, last = -8; off >= last; off--)
    if (day_slots(s, &base, off, t, false, &best) && !hit) {
      hit = true;
      last = off - 1;
    }
  return best < 0 ? -1 : best;
}

int64_t sched_next(const struct sched *s, int64_t t)
{
  if (t >= SCHED_MAX_T)
    return -1;
  return s->kind == SCHED_INTERVAL ? interval_next(s, t) : runtimes_next(s, t);
}

int64_t sched_prev(const struct sched *s, int64_t t)
{
  if (t > SCHED_MAX_T)
    t = SCHED_MAX_T;
  if (t < 0)
    return -1;
  return s->kind == SCHED_INTERVAL ? interval_prev(s, t) : runtimes_prev(s, t);
}

int64_t sched_min_period(const struct sched *s)
{
  if (s->kind == SCHED_INTERVAL) {
    if (s->fixed_s)
      return s->fixed_s;
    /* the shortest month is 28 days; local wall-time steps may lose an hour to DST */
    const struct iso_duration *d = &s->period;
    int64_t p = ((int64_t)(d->years * 12 + d->months) * 28 + (int64_t)d->weeks * 7 + d->days) * 86400 + d->seconds;
    return s->cal == s->zone ? p - 3600 : p;
  }
  int64_t best = INT64_MAX, first = -1, prev = -1;
  for (int day = 0; day < (s->kind == SCHED_WEEKLY ? 7 : 1); day++) {
    if (s->kind == SCHED_WEEKLY && !(s->days & 1u << day))
      continue;
    for (int i = 0; i < s->ntimes; i++) {
      int64_t at = (int64_t)day * 86400 + s->times[i];
      if (prev >= 0 && at - prev < best)
        best = at - prev;
      if (first < 0)
        first = at;
      prev = at;
    }
  }
  int64_t wrap = (s->kind == SCHED_WEEKLY ? 7 : 1) * 86400 - prev + first;
  return wrap < best ? wrap : best;
}

/* ---- parsing ---- */

static int digits(const char *p, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return -1;
    v = v * 10 + (p[i] - '0');
  }
  *out = v;
  return 0;
}

/* "HH:MM[:SS[.0…]]" at p: the seconds of the day; the rest after it in *end. */
static int parse_clock(const char *p, int32_t *secs, const char **end)
{
  int h, m, sec = 0;
  if (digits(p, 2, &h) < 0 || p[2] != ':' || digits(p + 3, 2, &m) < 0 || h > 23 || m > 59)
    return -EINVAL;
  p += 5;
  if (*p == ':') {
    if (digits(p + 1, 2, &sec) < 0 || sec > 59)
      return -EINVAL;
    p += 3;
    if (*p == '.') {                /* slots are whole seconds: a fraction of zeros only */
      p++;
      if (*p != '0')
        return -EINVAL;
      while (*p == '0')
        p++;
    }
  }
  *secs = h * 3600 + m * 60 + sec;
  *end = p;
  return 0;
}

/* "YYYY-MM-DDT" then a clock then "" | "Z" | "±hh:mm": the wall time, and
 * whether an offset was written. */
static int parse_datetime(const char *p, struct tm *wall, bool *has_off, int32_t *off)
{
  int y, mo, d, oh, om;
  int32_t secs;
  if (digits(p, 4, &y) < 0 || p[4] != '-' || digits(p + 5, 2, &mo) < 0 || p[7] != '-' ||
      digits(p + 8, 2, &d) < 0 || p[10] != 'T' || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo - 1))
    return -EINVAL;
  const char *e;
  if (parse_clock(p + 11, &secs, &e) < 0)
    return -EINVAL;
  *has_off = false;
  *off = 0;
  if (*e == 'Z') {
    *has_off = true;
    e++;
  } else if (*e == '+' || *e == '-') {
    if (digits(e + 1, 2, &oh) < 0 || e[3] != ':' || digits(e + 4, 2, &om) < 0 || oh > 23 || om > 59)
      return -EINVAL;
    *has_off = true;
    *off = (*e == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    e += 6;
  }
  if (*e)
    return -EINVAL;
  *wall = (struct tm){.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = secs / 3600,
                      .tm_min = secs / 60 % 60, .tm_sec = secs % 60};
  return 0;
}

static int parse_interval(struct sched *s, const char *text, char *err, size_t errlen)
{
  const char *p = text;
  if (*p != 'R') {
    say(err, errlen, "'%.80s': a schedule string is an ISO 8601 repeating interval R[n]/start/period "
        "(e.g. \"R/2026-12-07T02:00:00Z/PT4H\")", text);
    return -EINVAL;
  }
  p++;
  int64_t n = 0;
  bool has_n = false;
  while (*p >= '0' && *p <= '9') {
    n = n * 10 + (*p++ - '0');
    has_n = true;
    if (n > 1000000000) {
      say(err, errlen, "'%.80s': more than 1,000,000,000 repetitions", text);
      return -EINVAL;
    }
  }
  if (*p != '/') {
    say(err, errlen, "'%.80s': expected R or R<n> then '/' (R/start/period)", text);
    return -EINVAL;
  }
  if (has_n && n == 0) {
    say(err, errlen, "'%.80s': R0 has no slots; write R for no end or R<n> with n ≥ 1", text);
    return -EINVAL;
  }
  s->count = n;
  const char *start = ++p, *slash = strchr(p, '/');
  if (!slash) {
    say(err, errlen, "'%.80s': expected R[n]/start/period", text);
    return -EINVAL;
  }
  char buf[64];
  size_t len = (size_t)(slash - start);
  if (len >= sizeof buf) {
    say(err, errlen, "'%.80s': the start is not a date-time YYYY-MM-DDTHH:MM[:SS][Z|±hh:mm]", text);
    return -EINVAL;
  }
  memcpy(buf, start, len);
  buf[len] = '\0';
  if (buf[0] == 'P') {
    say(err, errlen, "'%.80s': the form R/period/end is not supported; write R[n]/start/period", text);
    return -EINVAL;
  }
  bool has_off;
  int32_t off;
  if (parse_datetime(buf, &s->wall, &has_off, &off) < 0) {
    say(err, errlen, "'%.80s': the start '%s' is not a date-time YYYY-MM-DDTHH:MM[:SS][Z|±hh:mm]", text, buf);
    return -EINVAL;
  }
  if (s->wall.tm_year + 1900 < 1970) {
    say(err, errlen, "'%.80s': the start's year is before 1970", text);
    return -EINVAL;
  }
  char derr[160];
  if (slash[1] != 'P') {
    say(err, errlen, "'%.80s': the form R/start/end is not supported; write R[n]/start/period", text);
    return -EINVAL;
  }
  if (iso_duration_parse_msg(slash + 1, &s->period, derr, sizeof derr) < 0) {
    say(err, errlen, "'%.80s': the period %s", text, derr);
    return -EINVAL;
  }
  const struct iso_duration *d = &s->period;
  bool calendar = d->years || d->months || d->weeks || d->days;
  if (!calendar && d->seconds < SCHED_MIN_PERIOD_S) {
    say(err, errlen, "'%.80s': the period is shorter than PT1M (the shortest a policy takes restore points at)", text);
    return -EINVAL;
  }
  if (has_off) {
    int rc = tz_fixed(off, &s->own_cal);
    if (rc < 0)
      return rc;
    s->cal = s->own_cal;
  } else
    s->cal = s->zone;
  s->start = tz_utc(s->cal, &s->wall);
  if (s->start > SCHED_MAX_T) {
    say(err, errlen, "'%.80s': the start is after 9999-12-31T23:59:59Z", text);
    return -EINVAL;
  }
  /* fixed seconds: no month or year, and day steps on a fixed offset */
  if (!d->years && !d->months && (has_off || (!d->weeks && !d->days)))
    s->fixed_s = ((int64_t)d->weeks * 7 + d->days) * 86400 + d->seconds;
  s->avg_s = ((int64_t)d->years * 12 + d->months) * AVG_MONTH_S + ((int64_t)d->weeks * 7 + d->days) * 86400 +
             d->seconds;
  s->kind = SCHED_INTERVAL;
  return 0;
}

static const char *const day_names[7] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

/* One run time: "HH:MM[:SS]" or a date-time whose time of day is used. */
static int parse_run_time(const char *t, int32_t *secs)
{
  const char *e;
  struct tm wall;
  bool has_off;
  int32_t off;
  if (parse_clock(t, secs, &e) == 0 && *e == '\0')
    return 0;
  if (strlen(t) < 48 && parse_datetime(t, &wall, &has_off, &off) == 0) {
    *secs = wall.tm_hour * 3600 + wall.tm_min * 60 + wall.tm_sec;
    return 0;
  }
  return -EINVAL;
}

static int add_run_time(struct sched *s, int32_t secs, const char *path, size_t i, const char *t, char *err,
                        size_t errlen)
{
  for (int j = 0; j < s->ntimes; j++)
    if (s->times[j] == secs) {
      say(err, errlen, "%s[%zu]: '%.48s' repeats an earlier run time", path, i, t);
      return -EINVAL;
    }
  s->times[s->ntimes++] = secs;
  return 0;
}

/* path: "scheduleRunTimes" or "dailySchedule.scheduleRunTimes", for messages. */
static int parse_times(struct sched *s, const json_t *times, const char *path, char *err, size_t errlen)
{
  if (!json_is_array(times) || json_array_size(times) == 0) {
    say(err, errlen, "%s: required, an array of 1 to %d times of day (\"02:30\")", path, SCHED_MAX_RUN_TIMES);
    return -EINVAL;
  }
  if (json_array_size(times) > SCHED_MAX_RUN_TIMES) {
    say(err, errlen, "%s: %zu run times, at most %d", path, json_array_size(times), SCHED_MAX_RUN_TIMES);
    return -EINVAL;
  }
  size_t i;
  json_t *v;
  json_array_foreach(times, i, v) {
    const char *t = json_string_value(v);
    int32_t secs;
    if (!t) {
      say(err, errlen, "%s[%zu]: not a string; a time of day \"HH:MM[:SS]\"", path, i);
      return -EINVAL;
    }
    if (parse_run_time(t, &secs) < 0) {
      say(err, errlen, "%s[%zu]: '%.48s' is not a time of day HH:MM[:SS] (or a date-time whose time of day is used)",
          path, i, t);
      return -EINVAL;
    }
    int rc = add_run_time(s, secs, path, i, t, err, errlen);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int parse_days(struct sched *s, const json_t *days, const char *path, char *err, size_t errlen)
{
  if (!json_is_array(days) || json_array_size(days) == 0 || json_array_size(days) > 7) {
    say(err, errlen, "%s: a Weekly schedule needs an array of 1 to 7 days (\"Monday\" …)", path);
    return -EINVAL;
  }
  size_t i;
  json_t *v;
  json_array_foreach(days, i, v) {
    const char *name = json_string_value(v);
    int wday = -1;
    for (int k = 0; name && k < 7; k++)
      if (!strcasecmp(name, day_names[k]))
        wday = k;
    if (wday < 0) {
      say(err, errlen, "%s[%zu]: '%.32s' is not a day of the week (Sunday … Saturday)", path, i,
          name ? name : "(not a string)");
      return -EINVAL;
    }
    if (s->days & 1u << wday) {
      say(err, errlen, "%s[%zu]: %s is listed twice", path, i, day_names[wday]);
      return -EINVAL;
    }
    s->days |= 1u << wday;
  }
  return 0;
}

/* An integer member of o in [lo, hi] hours. */
static int hours_member(const json_t *o, const char *key, int lo, int hi, int *out, char *err, size_t errlen)
{
  const json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
    say(err, errlen, "hourlySchedule.%s: required, a whole number of hours from %d to %d", key, lo, hi);
    return -EINVAL;
  }
  *out = (int)json_integer_value(v);
  return 0;
}

/* Azure's hourly form: every interval hours from the window's start for as
 * long as the window lasts (start + k × interval < start + duration), the
 * same wall times each day; a window past midnight wraps into the day's
 * early hours. */
static int parse_hourly(struct sched *s, const json_t *h, char *err, size_t errlen)
{
  if (!json_is_object(h)) {
    say(err, errlen, "hourlySchedule: required for an Hourly schedule, {\"interval\": 4, "
        "\"scheduleWindowStartTime\": \"08:00\", \"scheduleWindowDuration\": 12}");
    return -EINVAL;
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)h, key, v) {
    if (strcmp(key, "interval") && strcmp(key, "scheduleWindowStartTime") && strcmp(key, "scheduleWindowDuration")) {
      say(err, errlen, "hourlySchedule: unknown member '%.64s' (interval, scheduleWindowStartTime, "
          "scheduleWindowDuration)", key);
      return -EINVAL;
    }
  }
  int interval, duration;
  int rc = hours_member(h, "interval", 1, 24, &interval, err, errlen);
  if (rc == 0)
    rc = hours_member(h, "scheduleWindowDuration", 1, 24, &duration, err, errlen);
  if (rc < 0)
    return rc;
  const char *t = json_string_value(json_object_get(h, "scheduleWindowStartTime"));
  int32_t start;
  if (!t || parse_run_time(t, &start) < 0) {
    say(err, errlen, "hourlySchedule.scheduleWindowStartTime: %s%.48s%s is not a time of day HH:MM[:SS] (or a "
        "date-time whose time of day is used)", t ? "'" : "", t ? t : "required; (missing)", t ? "'" : "");
    return -EINVAL;
  }
  for (int k = 0; k * interval < duration; k++)
    s->times[s->ntimes++] = (start + k * interval * 3600) % 86400;
  s->kind = SCHED_DAILY;
  return 0;
}

static bool is_absent(const json_t *v)
{
  return !v || json_is_null(v);
}

/* Azure Backup's SimpleSchedulePolicy (run times and days at the top) and
 * SimpleSchedulePolicyV2 (hourlySchedule, dailySchedule, weeklySchedule). */
static int parse_runtimes(struct sched *s, json_t *o, char *err, size_t errlen)
{
  static const char *const known[] = {"scheduleRunFrequency", "scheduleRunTimes", "scheduleRunDays",
                                      "schedulePolicyType",   "scheduleWeeklyFrequency", "hourlySchedule",
                                      "dailySchedule",        "weeklySchedule"};
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    size_t k = 0;
    while (k < sizeof known / sizeof *known && strcmp(key, known[k]))
      k++;
    if (k == sizeof known / sizeof *known) {
      say(err, errlen, "unknown member '%.64s' (a daily, weekly or hourly schedule has scheduleRunFrequency, "
          "scheduleRunTimes, scheduleRunDays, or Azure's V2 hourlySchedule, dailySchedule, weeklySchedule)", key);
      return -EINVAL;
    }
  }
  const json_t *type = json_object_get(o, "schedulePolicyType");
  bool v2 = false;
  if (type && !json_is_null(type)) {
    const char *tn = json_string_value(type);
    if (tn && !strcasecmp(tn, "SimpleSchedulePolicyV2"))
      v2 = true;
    else if (!tn || strcasecmp(tn, "SimpleSchedulePolicy")) {
      say(err, errlen, "schedulePolicyType: only SimpleSchedulePolicy or SimpleSchedulePolicyV2 (or none) is "
          "understood");
      return -EINVAL;
    }
  }
  json_t *wf = json_object_get(o, "scheduleWeeklyFrequency");
  if (wf && !json_is_null(wf) && !(json_is_integer(wf) && json_integer_value(wf) == 0)) {
    say(err, errlen, "scheduleWeeklyFrequency: only 0 (every week) is supported");
    return -EINVAL;
  }
  const char *f = json_string_value(json_object_get(o, "scheduleRunFrequency"));
  if (!f) {
    say(err, errlen, "scheduleRunFrequency: required, \"Daily\", \"Weekly\" or \"Hourly\"");
    return -EINVAL;
  }
  const char *own;                  /* the one V2 member this frequency reads */
  if (!strcasecmp(f, "Daily")) {
    s->kind = SCHED_DAILY;
    own = "dailySchedule";
  } else if (!strcasecmp(f, "Weekly")) {
    s->kind = SCHED_WEEKLY;
    own = "weeklySchedule";
  } else if (!strcasecmp(f, "Hourly")) {
    own = "hourlySchedule";
  } else {
    say(err, errlen, "scheduleRunFrequency: '%.40s' is not Daily, Weekly or Hourly", f);
    return -EINVAL;
  }
  /* Azure sends the members of the other frequencies as null: allowed; a
   * value in one is a contradiction. */
  static const char *const sub[] = {"hourlySchedule", "dailySchedule", "weeklySchedule"};
  for (size_t k = 0; k < 3; k++)
    if (strcmp(sub[k], own) && !is_absent(json_object_get(o, sub[k]))) {
      say(err, errlen, "%s: set, but scheduleRunFrequency is %s", sub[k], f);
      return -EINVAL;
    }
  json_t *times = json_object_get(o, "scheduleRunTimes"), *days = json_object_get(o, "scheduleRunDays");
  bool top_days = !is_absent(days) && !(json_is_array(days) && json_array_size(days) == 0);
  json_t *nested = json_object_get(o, own);
  int rc;
  if (!strcmp(own, "hourlySchedule")) {
    if (!is_absent(times) || top_days) {
      say(err, errlen, "%s: not for an Hourly schedule (hourlySchedule says when)",
          !is_absent(times) ? "scheduleRunTimes" : "scheduleRunDays");
      return -EINVAL;
    }
    rc = parse_hourly(s, nested, err, errlen);
  } else if (v2 || !is_absent(nested)) {
    /* V2: dailySchedule {scheduleRunTimes}, weeklySchedule {scheduleRunDays, scheduleRunTimes} */
    if (!is_absent(times) || top_days) {
      say(err, errlen, "%s: with %s, run %s go inside it", !is_absent(times) ? "scheduleRunTimes" : "scheduleRunDays",
          own, !is_absent(times) ? "times" : "days");
      return -EINVAL;
    }
    if (!json_is_object(nested)) {
      say(err, errlen, "%s: required for a %s schedule of SimpleSchedulePolicyV2", own, f);
      return -EINVAL;
    }
    json_object_foreach(nested, key, v) {
      if (strcmp(key, "scheduleRunTimes") && (s->kind == SCHED_DAILY || strcmp(key, "scheduleRunDays"))) {
        say(err, errlen, "%s: unknown member '%.64s'", own, key);
        return -EINVAL;
      }
    }
    char path[48];
    snprintf(path, sizeof path, "%s.scheduleRunTimes", own);
    rc = parse_times(s, json_object_get(nested, "scheduleRunTimes"), path, err, errlen);
    if (rc == 0 && s->kind == SCHED_WEEKLY) {
      snprintf(path, sizeof path, "%s.scheduleRunDays", own);
      rc = parse_days(s, json_object_get(nested, "scheduleRunDays"), path, err, errlen);
    }
  } else {
    rc = parse_times(s, times, "scheduleRunTimes", err, errlen);
    if (rc == 0 && s->kind == SCHED_DAILY && top_days) {
      say(err, errlen, "scheduleRunDays: only a Weekly schedule has run days");
      rc = -EINVAL;
    }
    if (rc == 0 && s->kind == SCHED_WEEKLY)
      rc = parse_days(s, days, "scheduleRunDays", err, errlen);
  }
  if (rc < 0)
    return rc;
  for (int a = 1; a < s->ntimes; a++)  /* insertion sort: at most 24 */
    for (int b = a; b > 0 && s->times[b - 1] > s->times[b]; b--) {
      int32_t x = s->times[b];
      s->times[b] = s->times[b - 1];
      s->times[b - 1] = x;
    }
  return 0;
}

int sched_parse(const char *json_text, const struct tz *zone, struct sched **out, char *err, size_t errlen)
{
  *out = NULL;
  say(err, errlen, "%s", "");
  struct sched *s = calloc(1, sizeof *s);
  json_t *v = NULL;
  int rc = -ENOMEM;
  if (!s)
    goto out;
  if (!zone) {
    if ((rc = tz_fixed(0, &s->own_zone)) < 0)
      goto out;
    zone = s->own_zone;
  }
  s->zone = zone;
  json_error_t jerr;
  v = json_text ? json_loads(json_text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr) : NULL;
  if (!v) {
    say(err, errlen, "not JSON: %s", json_text ? jerr.text : "(none)");
    rc = -EINVAL;
  } else if (json_is_string(v))
    rc = parse_interval(s, json_string_value(v), err, errlen);
  else if (json_is_object(v))
    rc = parse_runtimes(s, v, err, errlen);
  else {
    say(err, errlen, "a schedule is an ISO 8601 repeating interval (\"R/2026-12-07T02:00:00Z/PT4H\") or an object "
        "with scheduleRunFrequency and scheduleRunTimes");
    rc = -EINVAL;
  }
out:
  json_decref(v);
  if (rc < 0)
    sched_free(s);
  else
    *out = s;
  return rc;
}

void sched_free(struct sched *s)
{
  if (!s)
    return;
  tz_free(s->own_zone);
  tz_free(s->own_cal);
  free(s);
}

/* ---- jitter ---- */

/* ASCII lower case by hand: tolower follows the locale, the hash must not. */
static uint64_t fnv1a_lower(uint64_t h, const char *s)
{
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    h ^= c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

int64_t sched_jitter(const char *policy_id, const char *vm_id, int64_t window)
{
  if (window <= 0)
    return 0;
  uint64_t h = fnv1a_lower(0xcbf29ce484222325ULL, policy_id);
  h ^= '\n';                        /* no id holds a newline: "ab"+"c" is not "a"+"bc" */
  h *= 0x100000001b3ULL;
  h = fnv1a_lower(h, vm_id);
  h ^= h >> 30;                     /* splitmix64's finaliser */
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return (int64_t)(h % (uint64_t)window);
}
