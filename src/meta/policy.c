/*
 * policy.c — the protection policies' scheduler's rows (meta.h, migration
 * 12): policy_vms, one per VM a policy protects (when it is next due, what
 * it last achieved), and policy_slots, one per slot taken until its restore
 * point and copies are final.
 *
 * Why tables and not resources: the scheduler's state is neither served nor
 * listed, and its one hot query — what is due now — must be an index range
 * (policy_vms_due), so the scheduler's cost follows the work due, not the
 * number of VMs, slots or restore points kept.  Slot rows stay few for the
 * same reason: a slot that ends deletes the VM's older final ones.
 *
 * Durability invariants kept here (the scheduler builds on them, see
 * src/arm/policy_sched.c):
 *  (1) a slot is taken in the transaction that advances the VM's
 *      next_slot_us — both or neither survive a crash
 *      (tests/unit/test_meta_policy.c take_is_atomic);
 *  (2) a slot is taken at most once: a take inserts its row, never
 *      replaces it (PRIMARY KEY(policy_id, vm_id, slot_us): -EEXIST, nothing
 *      written), and the scheduler takes only slots at or after
 *      next_slot_us, which the take moved past it — so a slot whose row was
 *      pruned is not taken again either (test_meta_policy.c take_is_atomic);
 *  (3) the due query is ordered and bounded, so the earliest work is never
 *      starved by later rows (test_meta_policy.c due_order).
 * JSON columns are opaque text here, as everywhere in meta/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/internal.h"

#define VM_COLS                                                                                             \
  "policy_id, vm_id, next_slot_us, due_us, attempts, last_slot_us, last_rp_id, last_rp_us, last_error, missed, " \
  "regions"
#define SLOT_COLS "policy_id, vm_id, slot_us, rp_id, state, attempts, due_us, copies, error, created_us, changed_us"
#define FINAL "('Done','Failed')"
#define SLOT_INSERT "INSERT INTO policy_slots(" SLOT_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"

void meta_policy_vm_clear(struct meta_policy_vm *v)
{
  free(v->policy_id);
  free(v->vm_id);
  free(v->last_rp_id);
  free(v->last_error);
  free(v->regions);
  memset(v, 0, sizeof *v);
}

void meta_policy_slot_clear(struct meta_policy_slot *s)
{
  free(s->policy_id);
  free(s->vm_id);
  free(s->rp_id);
  free(s->state);
  free(s->copies);
  free(s->error);
  memset(s, 0, sizeof *s);
}

static void read_vm(struct meta_stmt *st, void *out)
{
  struct meta_policy_vm *v = out;
  memset(v, 0, sizeof *v);
  v->policy_id = meta_col_str(st, 0);
  v->vm_id = meta_col_str(st, 1);
  v->next_slot_us = meta_col_int64(st, 2);
  v->due_us = meta_col_int64(st, 3);
  v->attempts = meta_col_int(st, 4);
  v->last_slot_us = meta_col_int64(st, 5);
  v->last_rp_id = meta_col_str(st, 6);
  v->last_rp_us = meta_col_int64(st, 7);
  v->last_error = meta_col_str(st, 8);
  v->missed = meta_col_int64(st, 9);
  v->regions = meta_col_str(st, 10);
}

static void read_slot(struct meta_stmt *st, void *out)
{
  struct meta_policy_slot *s = out;
  memset(s, 0, sizeof *s);
  s->policy_id = meta_col_str(st, 0);
  s->vm_id = meta_col_str(st, 1);
  s->slot_us = meta_col_int64(st, 2);
  s->rp_id = meta_col_str(st, 3);
  s->state = meta_col_str(st, 4);
  s->attempts = meta_col_int(st, 5);
  s->due_us = meta_col_int64(st, 6);
  s->copies = meta_col_str(st, 7);
  s->error = meta_col_str(st, 8);
  s->created_us = meta_col_int64(st, 9);
  s->changed_us = meta_col_int64(st, 10);
}

int meta_policy_vm_get(struct meta *m, const char *policy_id, const char *vm_id, struct meta_policy_vm *out)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " VM_COLS " FROM policy_vms WHERE policy_id = ?1 AND vm_id = ?2");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, policy_id);
  meta_bind_text(st, 2, vm_id);
  return meta_one_row(st, read_vm, out);
}

struct vm_walk {
  meta_policy_vm_cb cb;
  void *ctx;
};

static int vm_row(struct meta_stmt *st, void *ctx)
{
  struct vm_walk *w = ctx;
  struct meta_policy_vm v;
  read_vm(st, &v);
  int r = v.policy_id && v.vm_id ? w->cb(w->ctx, &v) : -ENOMEM;
  meta_policy_vm_clear(&v);
  return r;
}

int meta_policy_vm_list(struct meta *m, const char *policy_id, meta_policy_vm_cb cb, void *ctx)
{
  struct meta_stmt *st =
      meta_prepare(m, policy_id ? "SELECT " VM_COLS " FROM policy_vms WHERE policy_id = ?1 ORDER BY vm_id"
                                : "SELECT " VM_COLS " FROM policy_vms ORDER BY policy_id, vm_id");
  if (!st)
    return -EIO;
  if (policy_id)
    meta_bind_text(st, 1, policy_id);
  struct vm_walk w = {cb, ctx};
  return meta_each_row(st, vm_row, &w);
}

int meta_policy_vm_due(struct meta *m, int64_t now_us, int limit, meta_policy_vm_cb cb, void *ctx)
{
  struct meta_stmt *st =
      meta_prepare(m, "SELECT " VM_COLS " FROM policy_vms WHERE due_us <= ?1 ORDER BY due_us LIMIT ?2");
  if (!st)
    return -EIO;
  meta_bind_int64(st, 1, now_us);
  meta_bind_int64(st, 2, limit);
  struct vm_walk w = {cb, ctx};
  return meta_each_row(st, vm_row, &w);
}

static void read_min(struct meta_stmt *st, void *out)
{
  *(int64_t *)out = meta_col_null(st, 0) ? -1 : meta_col_int64(st, 0);
}

int meta_policy_vm_next_due(struct meta *m, int64_t *due_us)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT min(due_us) FROM policy_vms");
  if (!st)
    return -EIO;
  int r = meta_one_row(st, read_min, due_us);
  return r == 0 && *due_us < 0 ? -ENOENT : r;
}

static int delete_rows(struct meta *m, const char *table, const char *policy_id, const char *vm_id)
{
  char sql[160];
  snprintf(sql, sizeof sql, "DELETE FROM %s WHERE policy_id = ?1%s", table, vm_id ? " AND vm_id = ?2" : "");
  struct meta_stmt *st = meta_prepare(m, sql);
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, policy_id);
  if (vm_id)
    meta_bind_text(st, 2, vm_id);
  return meta_exec_stmt(st);
}

int meta_policy_vm_delete(struct meta *m, const char *policy_id, const char *vm_id)
{
  bool own = !meta_in_txn(m);
  int r = own ? meta_begin(m) : 0;
  if (r == 0)
    r = delete_rows(m, "policy_slots", policy_id, vm_id);
  if (r == 0)
    r = delete_rows(m, "policy_vms", policy_id, vm_id);
  if (own && r == 0)
    r = meta_commit(m);
  else if (own)
    meta_rollback(m);
  return r;
}

static int put_vm(struct meta *m, const struct meta_policy_vm *v)
{
  struct meta_stmt *st = meta_prepare(
      m, "INSERT INTO policy_vms(" VM_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
         " ON CONFLICT(policy_id, vm_id) DO UPDATE SET next_slot_us = excluded.next_slot_us, due_us = excluded.due_us,"
         " attempts = excluded.attempts, last_slot_us = excluded.last_slot_us, last_rp_id = excluded.last_rp_id,"
         " last_rp_us = excluded.last_rp_us, last_error = excluded.last_error, missed = excluded.missed,"
         " regions = excluded.regions");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, v->policy_id);
  meta_bind_text(st, 2, v->vm_id);
  meta_bind_int64(st, 3, v->next_slot_us);
  meta_bind_int64(st, 4, v->due_us);
  meta_bind_int64(st, 5, v->attempts);
  meta_bind_int64(st, 6, v->last_slot_us);
  meta_bind_str(st, 7, v->last_rp_id);
  meta_bind_int64(st, 8, v->last_rp_us);
  meta_bind_str(st, 9, v->last_error);
  meta_bind_int64(st, 10, v->missed);
  meta_bind_str(st, 11, v->regions);
  return meta_exec_stmt(st);
}

static int put_slot(struct meta *m, const struct meta_policy_slot *s, bool new_slot)
{
  struct meta_stmt *st = meta_prepare(
      m, new_slot ? SLOT_INSERT
                  : SLOT_INSERT " ON CONFLICT(policy_id, vm_id, slot_us) DO UPDATE SET rp_id = excluded.rp_id,"
                                " state = excluded.state, attempts = excluded.attempts, due_us = excluded.due_us,"
                                " copies = excluded.copies, error = excluded.error, created_us = excluded.created_us,"
                                " changed_us = excluded.changed_us");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, s->policy_id);
  meta_bind_text(st, 2, s->vm_id);
  meta_bind_int64(st, 3, s->slot_us);
  meta_bind_text(st, 4, s->rp_id);
  meta_bind_text(st, 5, s->state);
  meta_bind_int64(st, 6, s->attempts);
  meta_bind_int64(st, 7, s->due_us);
  meta_bind_str(st, 8, s->copies);
  meta_bind_str(st, 9, s->error);
  meta_bind_int64(st, 10, s->created_us);
  meta_bind_int64(st, 11, s->changed_us);
  int r = meta_exec_stmt(st);
  if (r < 0 || !(!strcmp(s->state, "Done") || !strcmp(s->state, "Failed")))
    return r;
  st = meta_prepare(m, "DELETE FROM policy_slots WHERE policy_id = ?1 AND vm_id = ?2 AND slot_us < ?3 AND state IN " FINAL);
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, s->policy_id);
  meta_bind_text(st, 2, s->vm_id);
  meta_bind_int64(st, 3, s->slot_us);
  return meta_exec_stmt(st);
}

int meta_policy_save(struct meta *m, const struct meta_policy_vm *v, const struct meta_policy_slot *s, bool new_slot)
{
  if (!v->policy_id || !v->vm_id || (s && (!s->policy_id || !s->vm_id || !s->rp_id || !s->state)))
    return -EINVAL;
  bool own = !meta_in_txn(m);
  int r = own ? meta_begin(m) : 0;
  if (r == 0 && s)
    r = put_slot(m, s, new_slot);
  if (r == 0)
    r = put_vm(m, v);
  if (own && r == 0)
    r = meta_commit(m);
  else if (own)
    meta_rollback(m);
  return r;
}

struct slot_walk {
  meta_policy_slot_cb cb;
  void *ctx;
};

static int slot_row(struct meta_stmt *st, void *ctx)
{
  struct slot_walk *w = ctx;
  struct meta_policy_slot s;
  read_slot(st, &s);
  int r = s.policy_id && s.vm_id && s.rp_id && s.state ? w->cb(w->ctx, &s) : -ENOMEM;
  meta_policy_slot_clear(&s);
  return r;
}

int meta_policy_slot_list(struct meta *m, const char *policy_id, const char *vm_id, bool open_only,
                          meta_policy_slot_cb cb, void *ctx)
{
  struct meta_stmt *st = meta_prepare(m, open_only ? "SELECT " SLOT_COLS " FROM policy_slots WHERE policy_id = ?1 AND "
                                                     "vm_id = ?2 AND state NOT IN " FINAL " ORDER BY slot_us"
                                                   : "SELECT " SLOT_COLS " FROM policy_slots WHERE policy_id = ?1 AND "
                                                     "vm_id = ?2 ORDER BY slot_us");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, policy_id);
  meta_bind_text(st, 2, vm_id);
  struct slot_walk w = {cb, ctx};
  return meta_each_row(st, slot_row, &w);
}
