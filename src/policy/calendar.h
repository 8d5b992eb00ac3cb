/*
 * calendar.h — the proleptic Gregorian arithmetic tz.c, schedule.c and
 * retention.c share.  Internal to policy/.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

/* a / b rounded towards negative infinity (b != 0). */
static inline int64_t floor_div(int64_t a, int64_t b)
{
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static inline bool is_leap(int64_t y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The days of month mon0 (0 January .. 11) of year y. */
static inline int month_days(int64_t y, int mon0)
{
  static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return mon0 == 1 && is_leap(y) ? 29 : len[mon0];
}
