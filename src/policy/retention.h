/*
 * retention.h — which restore points a retention rule keeps: restic
 * forget's semantics (restic 0.14, internal/restic/snapshot_policy.go,
 * read for its rules, not copied; tests/policy/ checks the answers against
 * the real restic).
 *
 * Items are sorted newest first.  keep-last N keeps the N newest; each of
 * hourly/daily/weekly/monthly/yearly N keeps the newest item of each of the
 * N newest buckets that hold an item (bucket: the local calendar hour, day,
 * ISO week, month, year in the policy's zone); keep-within D keeps every
 * item younger than D measured from the NEWEST item's time (as restic does,
 * not from now).  An item is kept if any rule keeps it.  A rule of -1 keeps
 * every bucket (restic's "unlimited").
 *
 * Pins: an item that is pinned (locked, needed by a copy or a restore, or
 * the newest successful) is never removed.  The rules still see every item
 * exactly as restic would, so the items they keep, and why, are restic's
 * answer for the same timeline whatever is pinned; a pin only adds: a pinned
 * item no rule chose is kept with its pin as the only reason and takes no
 * bucket from anything (a locked restore point does not push the daily rule
 * off a day, and the newest successful one pinned does not make keep-last 3
 * keep four).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;

struct retention_rules {
  int last, hourly, daily, weekly, monthly, yearly; /* 0: rule off; -1: unlimited */
  /* keep-within, as restic's --keep-within 1y2m3d4h counts it: from the
   * newest item's local time in the policy's zone, years, months and days
   * back by the calendar (Go's AddDate: Mar 31 - 1 month is Mar 3, the
   * day after Feb 31), then within_s exact seconds back (the T part: hours,
   * minutes, seconds).  All four 0: rule off.  Weeks are 7 days. */
  int within_years, within_months, within_days;
  int64_t within_s;
  char within[32]; /* keep-within as written ("P2DT3H"), for the reason */
};

enum retention_pin {
  RETAIN_PIN_NONE = 0,
  RETAIN_PIN_LOCKED = 1,      /* a retention lock or an ARM lock holds it */
  RETAIN_PIN_IN_USE = 2,      /* a copy or a restore still reads it */
  RETAIN_PIN_NEWEST_OK = 4,   /* the newest successful one: never removed */
};

struct retention_item {
  int64_t time;          /* UTC seconds: the restore point's timeCreated */
  unsigned pins;         /* enum retention_pin bits */
  /* out: */
  bool keep;
  char reasons[192];     /* "within P2D, daily snapshot, locked" … restic's words in restic's
                            order, then the pins' ("locked", "in use", "newest successful") */
};

/* Parses the policy's "retention" object text: keepLast, keepHourly,
 * keepDaily, keepWeekly, keepMonthly, keepYearly (integers ≥ 1 or -1),
 * keepWithin (ISO 8601 duration).  At least one rule.  0 or -EINVAL with
 * the ARM error message in err. */
int retention_parse(const char *json_text, struct retention_rules *out, char *err, size_t errlen);

/* Decides keep for each of items[0..n) (any order on input; sorted newest
 * first on return, ties by input order).  Cost O(n log n), memory O(1)
 * beyond the array. */
void retention_apply(const struct retention_rules *rules, const struct tz *zone, struct retention_item *items,
                     size_t n);
