/*
 * spec.h — a protection policy's document (Microsoft.Vmrp/protectionPolicies
 * properties, docs/policies.md), read and checked into C values.
 *
 * policy_spec_parse is the one reader: the ARM handler calls it on a PUT
 * (its message becomes the 400's), the scheduler on every policy it runs.
 * It checks everything it can without the world (formats, ranges, names,
 * that each id is a VM id in the policy's subscription); the ARM handler
 * checks the rest (the VMs' regions, the copy regions being peers).
 *
 * Document (every member optional unless marked):
 *   virtualMachines   [VM ids]            ─┐ at least one of the two
 *   vmTagSelector     {tag: value, …}     ─┘ (all must match)
 *   schedules *       [schedule, …]        schedule.h's two forms
 *   timeZone          IANA name, "UTC"     zone of schedules and buckets
 *   consistencyMode   "CrashConsistent" (default) | "ApplicationConsistent"
 *   excludeDisks      [disk ids]           never captured
 *   retention *       retention.h's rules  in this region
 *   copies            [{region *, retention *}]  each another region
 *   retentionLock     {duration * ISO 8601, mode "Governance"|"Compliance"}
 *   spreadWindow      ISO 8601 duration    jitter window; default
 *                     min(shortest period / 4, PT10M)
 *   rpoTarget         ISO 8601 duration    default 2 × shortest period
 *   notifications     {webhooks * [https URLs], secret * (write-only,
 *                     ≥ 32 chars, never returned)}
 * The parser accepts notifications without a secret: the stored document
 * never holds it (meta_secret_put), and a PUT that keeps the stored one
 * need not send it again; the ARM handler requires one when none is
 * stored.  Member names are matched in this spelling (the ARM handler has
 * normalised a client's, as Azure's deserializer reads them).
 */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "policy/retention.h"

struct sched;
struct tz;

#define POLICY_TYPE "Microsoft.Vmrp/protectionPolicies"
#define POLICY_API_VERSION "2026-12-01"
#define POLICY_MAX_VMS 4096
#define POLICY_MAX_SCHEDULES 8
#define POLICY_MAX_COPIES 4
#define POLICY_MAX_WEBHOOKS 4
#define POLICY_MAX_EXCLUDE_DISKS 256

struct policy_tag {
  char *name, *value;
};

struct policy_copy {
  char *region;                 /* a peer region's name, as configured */
  struct retention_rules retention;
};

struct policy_spec {
  char **vm_ids;                /* as written */
  int nvm_ids;
  struct policy_tag *tags;      /* vmTagSelector */
  int ntags;
  struct sched *schedules[POLICY_MAX_SCHEDULES];
  int nschedules;
  struct tz *zone;              /* never NULL after a parse: UTC by default */
  bool application_consistent;
  char **exclude_disks;
  int nexclude_disks;
  struct retention_rules retention;
  struct policy_copy copies[POLICY_MAX_COPIES];
  int ncopies;
  int64_t lock_s;               /* 0: no retention lock */
  bool lock_compliance;         /* mode Compliance (else Governance) */
  int64_t spread_s;
  int64_t rpo_target_s;
  char *webhooks[POLICY_MAX_WEBHOOKS];
  int nwebhooks;
  char *secret;                 /* only when the document carried one (a PUT) */
};

/* Reads properties (the resource's "properties" object) of a policy in
 * subscription sub.  0, -EINVAL with the ARM error message in err (the
 * member's path first: "properties.schedules[1]: …"), -ENOMEM. */
int policy_spec_parse(const json_t *properties, const char *sub, struct policy_spec *out, char *err,
                      size_t errlen);
void policy_spec_clear(struct policy_spec *s);

/* The policy's next slot strictly after t over all its schedules (-1: none). */
int64_t policy_spec_next_slot(const struct policy_spec *s, int64_t t);
/* The newest slot at or before t (-1: none). */
int64_t policy_spec_prev_slot(const struct policy_spec *s, int64_t t);
