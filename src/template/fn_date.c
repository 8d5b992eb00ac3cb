/*
 * fn_date.c — the date functions (docs: template-functions-date.md):
 * utcNow, dateTimeAdd, dateTimeFromEpoch, dateTimeToEpoch.
 *
 * A time is whole seconds since the epoch (UTC) plus 100 ns ticks, as .NET
 * keeps it.  Formats are .NET's, in the invariant culture: the standard
 * one-letter ones (d, g, G, o, s, t, T, u, r) and the custom patterns (yyyy,
 * MM, dd, HH, hh, mm, ss, f…, tt, K, quoted literals); utcNow() defaults to
 * yyyyMMddTHHmmssZ and dateTimeAdd() to ARM's "M/d/yyyy h:mm:ss tt" (the
 * documented example's output).  utcNow() is only allowed where the caller
 * says so (parameter defaults: TPL_ALLOW_NOW).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/timefmt.h"
#include "template/internal.h"

struct when {
  int64_t sec;  /* since the epoch, UTC */
  int32_t tick; /* 100 ns, 0..9999999 */
};

#define MAX_SEC 253402300799ll /* 9999-12-31T23:59:59Z */

static const char *const month_names[] = {"January", "February", "March",     "April",   "May",      "June",
                                          "July",    "August",   "September", "October", "November", "December"};
static const char *const day_names[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

static size_t run_of(const char *p, char c)
{
  size_t n = 0;
  while (p[n] == c)
    n++;
  return n;
}

/* The custom pattern f applied to w, into b. */
static void custom(struct tpl_buf *b, const char *f, struct when w)
{
  time_t t = (time_t)w.sec;
  struct tm tm;
  gmtime_r(&t, &tm);
  char num[32];
  while (*f) {
    size_t n = run_of(f, *f);
    int hour12 = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
    switch (*f) {
    case 'y':
      if (n <= 2)
        snprintf(num, sizeof num, n == 1 ? "%d" : "%02d", (tm.tm_year + 1900) % 100);
      else
        snprintf(num, sizeof num, "%0*d", (int)n, tm.tm_year + 1900);
      tpl_buf_str(b, num);
      break;
    case 'M':
      if (n >= 3) {
        tpl_buf_add(b, month_names[tm.tm_mon], n == 3 ? 3 : strlen(month_names[tm.tm_mon]));
      } else {
        snprintf(num, sizeof num, n == 1 ? "%d" : "%02d", tm.tm_mon + 1);
        tpl_buf_str(b, num);
      }
      break;
    case 'd':
      if (n >= 3) {
        tpl_buf_add(b, day_names[tm.tm_wday], n == 3 ? 3 : strlen(day_names[tm.tm_wday]));
      } else {
        snprintf(num, sizeof num, n == 1 ? "%d" : "%02d", tm.tm_mday);
        tpl_buf_str(b, num);
      }
      break;
    case 'H':
    case 'h':
    case 'm':
    case 's':
      n = n > 2 ? 2 : n;
      snprintf(num, sizeof num, n == 1 ? "%d" : "%02d",
               *f == 'H' ? tm.tm_hour : *f == 'h' ? hour12 : *f == 'm' ? tm.tm_min : tm.tm_sec);
      tpl_buf_str(b, num);
      break;
    case 'f':
    case 'F':
      n = n > 7 ? 7 : n;
      snprintf(num, sizeof num, "%07d", (int)w.tick);
      num[n] = '\0';
      if (*f == 'F') /* F: trailing zeros (and an all-zero fraction) dropped */
        for (size_t k = n; k > 0 && num[k - 1] == '0'; k--)
          num[k - 1] = '\0';
      tpl_buf_str(b, num);
      break;
    case 't':
      tpl_buf_add(b, tm.tm_hour < 12 ? "AM" : "PM", n == 1 ? 1 : 2);
      break;
    case 'K':
    case 'Z':
      tpl_buf_str(b, "Z");
      n = 1;
      break;
    case '\'':
    case '"': {
      const char *end = strchr(f + 1, *f);
      size_t len = end ? (size_t)(end - f - 1) : strlen(f + 1);
      tpl_buf_add(b, f + 1, len);
      n = len + (end ? 2 : 1);
      break;
    }
    case '\\':
      tpl_buf_add(b, f + 1, f[1] ? 1 : 0);
      n = f[1] ? 2 : 1;
      break;
    case '%':
      n = 1;
      break;
    default:
      tpl_buf_add(b, f, 1);
      n = 1;
      break;
    }
    f += n;
  }
}

/* w in .NET format f (a standard letter or a custom pattern). */
static json_t *format_when(const char *f, struct when w)
{
  static const struct {
    char letter;
    const char *pattern;
  } standard[] = {
      {'d', "MM/dd/yyyy"},          {'D', "dddd, dd MMMM yyyy"},
      {'g', "MM/dd/yyyy HH:mm"},    {'G', "MM/dd/yyyy HH:mm:ss"},
      {'o', "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK"}, {'O', "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK"},
      {'r', "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'"},       {'R', "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'"},
      {'s', "yyyy'-'MM'-'dd'T'HH':'mm':'ss"},             {'t', "HH:mm"},
      {'T', "HH:mm:ss"},            {'u', "yyyy'-'MM'-'dd HH':'mm':'ss'Z'"},
  };
  if (f[0] && !f[1])
    for (size_t i = 0; i < sizeof standard / sizeof *standard; i++)
      if (standard[i].letter == f[0]) {
        f = standard[i].pattern;
        break;
      }
  struct tpl_buf b = {0};
  custom(&b, f, w);
  return tpl_buf_json(&b);
}

static bool digits(const char **p, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if ((*p)[i] < '0' || (*p)[i] > '9')
      return false;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return true;
}

/* ISO 8601: yyyy-MM-dd[(T| )HH:mm[:ss[.f…]]][Z|±HH:mm], or the basic form
 * yyyyMMddTHHmmss[Z] that utcNow() writes. */
static bool parse_when(const char *s, struct when *w)
{
  struct tm tm = {0};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  const char *p = s;
  bool basic = strlen(s) >= 8 && s[4] != '-';
  if (!digits(&p, 4, &y) || (!basic && *p++ != '-') || !digits(&p, 2, &mo) || (!basic && *p++ != '-') ||
      !digits(&p, 2, &d))
    return false;
  int32_t tick = 0;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    if (!digits(&p, 2, &h) || (!basic && *p++ != ':') || !digits(&p, 2, &mi))
      return false;
    if (*p == ':' || (basic && *p >= '0' && *p <= '9')) {
      if (!basic)
        p++;
      if (!digits(&p, 2, &sec))
        return false;
      if (*p == '.') {
        p++;
        int scale = 1000000;
        if (*p < '0' || *p > '9')
          return false;
        for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
          tick += scale ? (*p - '0') * scale : 0;
      }
    }
  }
  int64_t offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    int sign = *p++ == '-' ? -1 : 1;
    if (!digits(&p, 2, &oh))
      return false;
    if (*p == ':')
      p++;
    if (!digits(&p, 2, &om))
      return false;
    offset = sign * (oh * 3600 + om * 60);
  }
  if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
    return false;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  if (tm.tm_mday != d) /* 31 April */
    return false;
  *w = (struct when){(int64_t)t - offset, tick};
  return true;
}

static int days_in_month(int year, int mon)
{
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return mon == 1 && leap ? 29 : days[mon];
}

/* w + an ISO 8601 duration ([-]PnYnMnWnDTnHnMn.nS); false when malformed. */
static bool add_duration(struct when *w, const char *s)
{
  int sign = 1;
  if (*s == '-') {
    sign = -1;
    s++;
  }
  if (*s++ != 'P' || !*s)
    return false;
  int64_t years = 0, months = 0, secs = 0, ticks = 0;
  bool time = false, any = false;
  while (*s) {
    if (*s == 'T') {
      if (time || !s[1])
        return false;
      time = true;
      s++;
      continue;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || v > 1e7 || !*end)
      return false;
    bool whole = v == (double)(int64_t)v;
    char unit = *end;
    s = end + 1;
    any = true;
    if (!time && unit == 'Y' && whole)
      years += (int64_t)v;
    else if (!time && unit == 'M' && whole)
      months += (int64_t)v;
    else if (!time && (unit == 'W' || unit == 'D'))
      ticks += (int64_t)(v * (unit == 'W' ? 7 : 1) * 86400 * 1e7);
    else if (time && (unit == 'H' || unit == 'M' || unit == 'S'))
      ticks += (int64_t)(v * (unit == 'H' ? 3600 : unit == 'M' ? 60 : 1) * 1e7);
    else
      return false;
  }
  if (!any)
    return false;
  if (years || months) { /* calendar months; the day clamped to the month's end, as .NET's AddMonths */
    time_t t = (time_t)w->sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    int64_t m = (int64_t)tm.tm_year * 12 + tm.tm_mon + sign * (years * 12 + months);
    int64_t mon = (m % 12 + 12) % 12;
    tm.tm_year = (int)((m - mon) / 12);
    tm.tm_mon = (int)mon;
    int last = days_in_month(tm.tm_year + 1900, tm.tm_mon);
    if (tm.tm_mday > last)
      tm.tm_mday = last;
    w->sec = (int64_t)timegm(&tm);
  }
  int64_t total = (int64_t)w->tick + sign * ticks;
  secs = total / 10000000;
  total %= 10000000;
  if (total < 0) {
    total += 10000000;
    secs--;
  }
  w->sec += secs;
  w->tick = (int32_t)total;
  return w->sec >= -62135596800ll && w->sec <= MAX_SEC;
}

static int fn_utc_now(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *f = "yyyyMMddTHHmmssZ";
  int rc;
  if (!(c->ev->allow & TPL_ALLOW_NOW))
    return tpl_fail(c->err, "InvalidTemplate",
                    "The template function 'utcNow' is not expected at this location. The function can only be used "
                    "with parameter default value. Please see https://aka.ms/arm-template-expressions for usage "
                    "details.");
  if (n > 0 && (rc = tpl_arg_string(c, args, 0, &f)) < 0)
    return rc;
  int64_t us = time_now_us();
  return tpl_done(c, format_when(f, (struct when){us / 1000000, (int32_t)(us % 1000000 * 10)}), out);
}

static int fn_date_time_add(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *base, *duration, *f = "M/d/yyyy h:mm:ss tt";
  int rc;
  struct when w;
  if ((rc = tpl_arg_string(c, args, 0, &base)) < 0 || (rc = tpl_arg_string(c, args, 1, &duration)) < 0 ||
      (n > 2 && (rc = tpl_arg_string(c, args, 2, &f)) < 0))
    return rc;
  if (!parse_when(base, &w))
    return tpl_call_fail(c, "The template language function 'dateTimeAdd' expects its first parameter to be a date "
                            "and time in ISO 8601 format. The provided value is '%s'.",
                         base);
  if (!add_duration(&w, duration))
    return tpl_call_fail(c, "The template language function 'dateTimeAdd' expects its second parameter to be a "
                            "duration in ISO 8601 format (such as 'P1D' or '-PT3H') within the calendar. The provided "
                            "value is '%s'.",
                         duration);
  return tpl_done(c, format_when(f, w), out);
}

static int fn_date_time_from_epoch(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int64_t sec;
  int rc = tpl_arg_int(c, args, 0, &sec);
  if (rc < 0)
    return rc;
  if (sec < 0 || sec > MAX_SEC)
    return tpl_call_fail(c, "The template language function 'dateTimeFromEpoch' expects its parameter to be a "
                            "non-negative number of seconds up to the year 9999. The provided value is '%lld'.",
                         (long long)sec);
  return tpl_done(c, format_when("yyyy'-'MM'-'dd'T'HH':'mm':'ssK", (struct when){sec, 0}), out);
}

static int fn_date_time_to_epoch(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s;
  struct when w;
  int rc = tpl_arg_string(c, args, 0, &s);
  if (rc < 0)
    return rc;
  if (!parse_when(s, &w))
    return tpl_call_fail(c, "The template language function 'dateTimeToEpoch' expects its parameter to be a date and "
                            "time in ISO 8601 format. The provided value is '%s'.",
                         s);
  return tpl_done(c, json_integer(w.sec), out);
}

const struct tpl_function tpl_fn_date[] = {
    {"dateTimeAdd", fn_date_time_add, 2, 3, 0},
    {"dateTimeFromEpoch", fn_date_time_from_epoch, 1, 1, 0},
    {"dateTimeToEpoch", fn_date_time_to_epoch, 1, 1, 0},
    {"utcNow", fn_utc_now, 0, 1, 0},
    {NULL, NULL, 0, 0, 0},
};
