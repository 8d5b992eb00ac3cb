/*
 * agent.c — what the metadata knows of guest agents: where a VM's agent
 * listens, and which guests a freeze may have left frozen.
 *
 * The socket is the front end's VM extension document; migration 7 computes
 * it as a column, so the region reads it without JSON and nothing is kept in
 * step.  agent_freezes is the region's write-ahead record of a freeze: the
 * row is committed (synchronous=FULL) before the freeze is sent and deleted
 * after the thaw succeeded, so after a crash every guest that may still be
 * frozen has a row, and a row without a frozen guest costs one idle thaw.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "meta/internal.h"

static void read_socket(struct meta_stmt *st, void *out) { *(char **)out = meta_col_str(st, 0); }

int meta_vm_agent_socket(struct meta *m, const char *vm_id, char **socket)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT agent_socket FROM resources WHERE parent_id = ?1"
                                         " AND type = 'Microsoft.Compute/virtualMachines/extensions'"
                                         " AND agent_socket IS NOT NULL"
                                         " ORDER BY CASE WHEN provisioning_state = 'Succeeded' THEN 0 ELSE 1 END, created_us LIMIT 1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, vm_id);
  *socket = NULL;
  int rc = meta_one_row(st, read_socket, socket);
  if (rc == 0 && !*socket)
    rc = -ENOMEM;
  return rc;
}

int meta_agent_freeze_put(struct meta *m, const char *vm_id, const char *socket, int64_t since_us)
{
  struct meta_stmt *st = meta_prepare(m, "INSERT INTO agent_freezes(vm_id, socket, since_us) VALUES(?1,?2,?3)"
                                         " ON CONFLICT(vm_id) DO UPDATE SET socket = excluded.socket,"
                                         " since_us = excluded.since_us");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, vm_id);
  meta_bind_text(st, 2, socket);
  meta_bind_int64(st, 3, since_us);
  return meta_exec_stmt(st);
}

int meta_agent_freeze_delete(struct meta *m, const char *vm_id, int64_t since_us)
{
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM agent_freezes WHERE vm_id = ?1 AND since_us = ?2");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, vm_id);
  meta_bind_int64(st, 2, since_us);
  return meta_exec_stmt(st);
}

struct freeze_walk {
  meta_agent_freeze_cb cb;
  void *ctx;
};

static int freeze_row(struct meta_stmt *st, void *ctx)
{
  struct freeze_walk *w = ctx;
  struct meta_agent_freeze f = {.vm_id = meta_col_str(st, 0), .socket = meta_col_str(st, 1),
                                .since_us = meta_col_int64(st, 2)};
  int r = f.vm_id && f.socket ? w->cb(w->ctx, &f) : -ENOMEM;
  free(f.vm_id);
  free(f.socket);
  return r;
}

int meta_agent_freeze_list(struct meta *m, meta_agent_freeze_cb cb, void *ctx)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT vm_id, socket, since_us FROM agent_freezes ORDER BY since_us");
  if (!st)
    return -EIO;
  struct freeze_walk w = {cb, ctx};
  return meta_each_row(st, freeze_row, &w);
}
