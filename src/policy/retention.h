/*
 * retention.h — which restore points a retention rule keeps: restic
 * forget's semantics (restic 0.14, internal/restic/snapshot_policy.go,
 * read for its rules, not copied).
 *
 * Items are sorted newest first.  keep-last N keeps the N newest; each of
 * hourly/daily/weekly/monthly/yearly N keeps the newest item of each of the
 * N newest buckets that hold an item (bucket: the local calendar hour, day,
 * ISO week, month, year in the policy's zone); keep-within D keeps every
 * item younger than D measured from the NEWEST item's time (as restic does,
 * not from now).  An item is kept if any rule keeps it.  A rule of -1 keeps
 * every bucket (restic's "unlimited").  Apart from the rules, an item that is
 * pinned (locked, needed by a copy or a restore, or the newest successful)
 * is never removed: it is kept with its pin as the reason and does not use
 * up a bucket — restic has no such items; with none pinned the answer is
 * restic's.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct tz;

struct retention_rules {
  int last, hourly, daily, weekly, monthly, yearly; /* 0: rule off; -1: unlimited */
  int64_t within_s;                                 /* 0: off; keep-within in seconds */
  /* keep-within as written ("P2DT3H"), for reasons; calendar units count as
   * restic counts them (y=365d?) — see retention.c */
  char within[32];
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
  char reasons[160];     /* "last snapshot, daily snapshot" … restic's words, then pins */
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
