/*
 * policy_time.h — the calendar helpers the policy unit tests share: a wall
 * time as a struct tm, and the UTC instant of a UTC wall time (timegm).
 */
#pragma once
#include <stdint.h>
#include <time.h>

static inline struct tm wall(int y, int mon, int d, int h, int mi, int s)
{
  return (struct tm){.tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
}

static inline int64_t utc(int y, int mon, int d, int h, int mi, int s)
{
  struct tm tm = wall(y, mon, d, h, mi, s);
  return (int64_t)timegm(&tm);
}
