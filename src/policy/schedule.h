/*
 * schedule.h — when a policy's restore points are due.
 *
 * Two forms, as Azure Backup policies write them (docs/policies.md):
 *   - an ISO 8601 repeating interval, "R/2026-12-07T02:00:00+01:00/PT4H"
 *     or "R5/…" (a repetition count), periods in Y M W D H M S (Y M W D
 *     are calendar steps: in the policy's zone for a start written without
 *     an offset, on the start's own fixed offset when it has one; H M S are
 *     exact seconds — schedule.c's head comment);
 *   - daily or weekly run times in the policy's zone:
 *     {"scheduleRunFrequency": "Daily"|"Weekly", "scheduleRunTimes":
 *      ["02:30", "2026-01-01T14:00:00"], "scheduleRunDays": ["Monday", …]},
 *     or Azure's SimpleSchedulePolicyV2 (dailySchedule, weeklySchedule, and
 *     "Hourly" with hourlySchedule {interval, scheduleWindowStartTime,
 *     scheduleWindowDuration}: run times every interval hours in the
 *     window).
 * A schedule is a set of slots (UTC instants, whole seconds); several
 * schedules of one policy are their union.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;
struct sched;

/* An ISO 8601 duration, PnYnMnWnDTnHnMnS: the calendar parts apart (a
 * month is not a number of seconds), the time parts in seconds. */
struct iso_duration {
  int years, months, weeks, days;
  int64_t seconds;                  /* H, M and S together */
};

/* Reads an ISO 8601 duration, strictly: upper-case designators in order,
 * whole non-negative numbers, at least one part ("P" and "PT" alone are
 * not durations), at most 10,000 years in all.  0 or -EINVAL.  The _msg
 * form also writes why into err ("'PT1.5H': fractions are not allowed; use
 * a smaller unit"), for an ARM error's message. */
int iso_duration_parse(const char *s, struct iso_duration *out);
int iso_duration_parse_msg(const char *s, struct iso_duration *out, char *err, size_t errlen);
/* Its length in seconds counting a year as 365 days, a month as 30, a
 * week as 7 (for windows and targets that need one number). */
int64_t iso_duration_nominal_s(const struct iso_duration *d);
/* The instant times × d after t (before it when times < 0), stepped in
 * zone z's calendar (NULL: UTC): years and months first, a day of month
 * past the target month's end clamped to its last day (31 January + P1M
 * is 28 or 29 February), then weeks and days as calendar days (wall time
 * kept across a DST change, tz_utc's rule in a gap or fold), then the
 * time parts as exact seconds.  Saturates at INT64_MIN/INT64_MAX outside
 * years 1..9999. */
int64_t iso_duration_add(const struct tz *z, int64_t t, const struct iso_duration *d, int64_t times);

/* Parses one schedule from its JSON text (one element of the policy's
 * "schedules": a JSON string for an interval, an object for daily/weekly).
 * zone (NULL: UTC) must outlive the schedule.  0, -ENOMEM, or -EINVAL with
 * a message for the ARM error in err, naming the member
 * ("scheduleRunTimes[1]: '25:00' is not a time of day HH:MM[:SS]").
 * Limits: at most SCHED_MAX_RUN_TIMES run times, a period of at least
 * PT1M, a start in years 1970..9999; no slot after 9999-12-31T23:59:59Z. */
#define SCHED_MAX_RUN_TIMES 24
#define SCHED_MIN_PERIOD_S 60
int sched_parse(const char *json_text, const struct tz *zone, struct sched **out, char *err, size_t errlen);
void sched_free(struct sched *s);

/* The first slot strictly after t (UTC seconds); -1 when there is none (a
 * finished R<n> interval).  Cost independent of how far t is from the
 * schedule's start. */
int64_t sched_next(const struct sched *s, int64_t t);
/* The last slot at or before t; -1 when there is none. */
int64_t sched_prev(const struct sched *s, int64_t t);
/* The shortest gap between two slots (seconds), for the jitter window and
 * the admission check against [restore_points] min_interval.  Nominal:
 * for run times the gap between their wall times (on a DST change day two
 * run times within an hour of the change can come closer, or meet); a
 * calendar step counts a month as 28 days and, in local time, an hour
 * short for a change. */
int64_t sched_min_period(const struct sched *s);

/* The spread of a VM's slots: a stable offset in [0, window) seconds from a
 * hash of the policy's and the VM's ids (case-insensitive), so 1,000 VMs of
 * one policy do not fence in the same second and a restart keeps each VM's
 * offset. */
int64_t sched_jitter(const char *policy_id, const char *vm_id, int64_t window);
