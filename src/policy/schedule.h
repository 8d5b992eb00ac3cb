/*
 * schedule.h — when a policy's restore points are due.
 *
 * Two forms, as Azure Backup policies write them (docs/policies.md):
 *   - an ISO 8601 repeating interval, "R/2026-12-07T02:00:00+01:00/PT4H"
 *     or "R5/…" (a repetition count), periods in Y M W D H M S (a month or
 *     year step is calendar arithmetic in the policy's zone);
 *   - daily or weekly run times in the policy's zone:
 *     {"scheduleRunFrequency": "Daily"|"Weekly", "scheduleRunTimes":
 *      ["02:30", "2026-01-01T14:00:00"], "scheduleRunDays": ["Monday", …]}.
 * A schedule is a set of slots (UTC instants, whole seconds); several
 * schedules of one policy are their union.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct tz;
struct sched;

/* Parses one schedule from its JSON text (one element of the policy's
 * "schedules").  0, or -EINVAL with a message for the ARM error in err. */
int sched_parse(const char *json_text, const struct tz *zone, struct sched **out, char *err, size_t errlen);
void sched_free(struct sched *s);

/* The first slot strictly after t (UTC seconds); -1 when there is none (a
 * finished R<n> interval).  Cost independent of how far t is from the
 * schedule's start. */
int64_t sched_next(const struct sched *s, int64_t t);
/* The last slot at or before t; -1 when there is none. */
int64_t sched_prev(const struct sched *s, int64_t t);
/* The shortest gap between two slots (seconds), for the jitter window and
 * the admission check against [restore_points] min_interval. */
int64_t sched_min_period(const struct sched *s);

/* The spread of a VM's slots: a stable offset in [0, window) seconds from a
 * hash of the policy's and the VM's ids (case-insensitive), so 1,000 VMs of
 * one policy do not fence in the same second and a restart keeps each VM's
 * offset. */
int64_t sched_jitter(const char *policy_id, const char *vm_id, int64_t window);
