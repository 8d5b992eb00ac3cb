/*
 * policy_run.h — what the protection policies' scheduler files share
 * (policy_sched.c: the thread, membership and the slot state machine;
 * policy_retain.c: retention; policy_view.c: the instance view, RPO and
 * the events).  Not an interface for the rest of arm/: that is internal.h's
 * arm_policy_* section.
 */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "arm/internal.h"
#include "policy/spec.h"

#define POLICY_TAG "vmrp-policy" /* the collections' tag naming their policy */
#define US ((int64_t)1000000)

/* One VM's work in one pass: the policy as loaded, its actor, the VM's row. */
struct policy_run {
  struct arm *arm;
  const char *policy_id;
  const struct policy_spec *spec;
  const struct auth_identity *actor;
  struct meta_policy_vm *v;
  int64_t now_us;
};

/* An ARM call made as the policy's actor through arm_dispatch, its answer
 * read: status (0 when the call could not be made), the body, the error's
 * code and message (empty when none). */
struct policy_reply {
  int status;
  json_t *body;
  char code[96];
  char message[512];
};
/* method on path?api-version=<compute>[&extra] with body (borrowed). */
void policy_call(struct policy_run *r, const char *method, const char *path, const char *extra, json_t *body,
                 struct policy_reply *out);
void policy_reply_clear(struct policy_reply *p);

/* The collection the policy keeps the VM's restore points in (region NULL),
 * or their copies in region: pp-{policy}-{vm}[-{region}] in the VM's
 * resource group, 80 characters at most (a hash of the whole when longer). */
void policy_collection_id(const char *policy_id, const char *vm_id, const char *region, char *out, size_t cap);
/* A slot's restore point name, YYYYMMDDTHHMMSSZ, and back (-1: not one). */
void policy_slot_name(int64_t slot_s, char out[20]);
int64_t policy_slot_of_name(const char *name);
/* RFC 3339 (as ARM writes timeCreated) to microseconds; -1 when malformed. */
int64_t policy_parse_time(const char *s);
const char *policy_last_segment(const char *id);
/* The VM row's record per region (its JSON text, v->regions): read (an
 * empty object when there is none or it does not parse), one region's entry
 * (made when missing), written back. */
json_t *policy_regions_load(const struct meta_policy_vm *v);
json_t *policy_region_entry(json_t *regions, const char *region);
void policy_regions_store(struct policy_run *r, const json_t *regions);

/* policy_retain.c: applies the rules to the collection coll_id (region:
 * where it lives, for the reports): deletes what they remove, skips and
 * reports what a lock or a reader keeps.  Never fails the slot. */
void policy_retain(struct policy_run *r, const char *coll_id, const char *region, const struct retention_rules *rules);

/* policy_view.c: an event of type (RestorePointFailed, CopyFailed,
 * RpoExceeded, RetentionConflict) to the policy's webhooks; key makes its id
 * stable across a restart (the same failure reported twice shares it). */
void policy_event(struct policy_run *r, const char *type, const char *region, const char *rp_id, const char *code,
                  const char *message, int64_t rpo_s, const char *key);
/* Records code/message as the VM's lastError (now). */
void policy_set_error(struct policy_run *r, const char *code, const char *message);
/* The RPO per region (the source's: the newest restore point; each copy
 * region's: the newest complete copy's source time; with none yet, from
 * when the scheduler first looked), an RpoExceeded event once per breach;
 * returns the earliest time a new breach can start (0: none). */
int64_t policy_rpo_check(struct policy_run *r);
