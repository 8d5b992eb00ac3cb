/* timefmt.c — see timefmt.h. */
#include "common/timefmt.h"

#include <stdio.h>
#include <string.h>

int64_t time_now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void time_iso8601(int64_t us, char out[TIME_ISO_LEN])
{
  time_t sec = (time_t)(us / 1000000);
  long frac = (long)((us % 1000000 + 1000000) % 1000000) * 10;
  struct tm tm;
  gmtime_r(&sec, &tm);
  snprintf(out, TIME_ISO_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%07ld+00:00", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac % 10000000);
}

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void time_rfc1123(int64_t us, char out[TIME_ISO_LEN])
{
  time_t sec = (time_t)(us / 1000000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  snprintf(out, TIME_ISO_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday], tm.tm_mday,
           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int64_t time_parse_rfc1123(const char *s)
{
  char wd[4], mon[4];
  struct tm tm = {0};
  int n = 0;
  if (sscanf(s, "%3s %d %3s %d %d:%d:%d GMT%n", wd, &tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour, &tm.tm_min,
             &tm.tm_sec, &n) != 7 || n == 0 || s[n] != '\0')
    return -1;
  tm.tm_mon = -1;
  for (int i = 0; i < 12; i++)
    if (!strcmp(mon, months[i]))
      tm.tm_mon = i;
  if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return -1;
  tm.tm_year -= 1900;
  time_t t = timegm(&tm);
  return t < 0 ? -1 : (int64_t)t * 1000000;
}

int64_t time_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
