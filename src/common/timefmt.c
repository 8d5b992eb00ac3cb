/* timefmt.c — see timefmt.h. */
#include "common/timefmt.h"

#include <stdio.h>

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

int64_t time_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
