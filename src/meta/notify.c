/*
 * notify.c — the webhook outbox (migration 13): protection policies' events
 * waiting for their receivers, one row per event and URL.
 *
 * The outbox is what makes a webhook survive a restart: notify/ queues a row
 * before anything touches the network and deletes it only once its receiver
 * answered 2xx (or it was given up), so an event is delivered at least once
 * whatever dies in between.  Rows of one (policy, URL) pair form a queue
 * delivered in seq order, which the index (policy_id, url, seq) serves: a
 * queue's head is one index seek, whatever the outbox holds.
 *
 * A policy keeps at most `keep` rows (notify_config.max_per_policy): a
 * receiver dead for a day behind a policy that fails every minute must not
 * grow the store without bound.  The oldest go first — the newest events
 * say most about the fleet's state now.  The cap is applied in the
 * transaction that inserts, so it holds at every commit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meta/internal.h"

#define ROW_COLS "seq, policy_id, url, event_id, body, created_us, attempts, last_error"

void meta_notify_row_clear(struct meta_notify_row *r)
{
  free(r->policy_id);
  free(r->url);
  free(r->event_id);
  free(r->body);
  free(r->last_error);
  memset(r, 0, sizeof *r);
}

static int insert(struct meta *m, const char *policy_id, const char *event_id, const char *url, const char *body,
                  int64_t now_us)
{
  struct meta_stmt *st = meta_prepare(m, "INSERT INTO notify_outbox(policy_id, url, event_id, body, created_us)"
                                         " VALUES(?1,?2,?3,?4,?5)");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, policy_id);
  meta_bind_text(st, 2, url);
  meta_bind_text(st, 3, event_id);
  meta_bind_text(st, 4, body);
  meta_bind_int64(st, 5, now_us);
  return meta_exec_stmt(st);
}

static int trim(struct meta *m, const char *policy_id, int keep, int *dropped)
{
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM notify_outbox WHERE seq IN (SELECT seq FROM notify_outbox"
                                         " WHERE policy_id = ?1 ORDER BY seq DESC LIMIT 9223372036854775807 OFFSET ?2)");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, policy_id);
  meta_bind_int64(st, 2, keep);
  int r = meta_exec_count(st);
  if (r >= 0 && dropped)
    *dropped = r;
  return r < 0 ? r : 0;
}

int meta_notify_put(struct meta *m, const char *policy_id, const char *event_id, const char *const *urls,
                    int nurls, const char *body, int64_t now_us, int keep, int *dropped)
{
  if (dropped)
    *dropped = 0;
  bool own = !meta_in_txn(m);
  int r = own ? meta_begin(m) : 0;
  for (int i = 0; r == 0 && i < nurls; i++)
    r = insert(m, policy_id, event_id, urls[i], body, now_us);
  if (r == 0)
    r = trim(m, policy_id, keep, dropped);
  if (own && r == 0)
    r = meta_commit(m);
  else if (own)
    meta_rollback(m);
  return r;
}

struct each_queue {
  meta_notify_queue_cb cb;
  void *ctx;
};

static int each_queue(struct meta_stmt *st, void *ctx)
{
  struct each_queue *e = ctx;
  const char *policy = meta_col_text(st, 0), *url = meta_col_text(st, 1);
  return policy && url ? e->cb(e->ctx, policy, url) : -ENOMEM;
}

int meta_notify_queues(struct meta *m, meta_notify_queue_cb cb, void *ctx)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT DISTINCT policy_id, url FROM notify_outbox");
  if (!st)
    return -EIO;
  struct each_queue e = {cb, ctx};
  return meta_each_row(st, each_queue, &e);
}

static void read_row(struct meta_stmt *st, void *out)
{
  struct meta_notify_row *r = out;
  r->seq = meta_col_int64(st, 0);
  r->policy_id = meta_col_str(st, 1);
  r->url = meta_col_str(st, 2);
  r->event_id = meta_col_str(st, 3);
  r->body = meta_col_str(st, 4);
  r->created_us = meta_col_int64(st, 5);
  r->attempts = meta_col_int(st, 6);
  r->last_error = meta_col_str(st, 7);
}

int meta_notify_head(struct meta *m, const char *policy_id, const char *url, struct meta_notify_row *out)
{
  memset(out, 0, sizeof *out);
  struct meta_stmt *st = meta_prepare(m, "SELECT " ROW_COLS " FROM notify_outbox WHERE policy_id = ?1 AND url = ?2"
                                         " ORDER BY seq LIMIT 1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, policy_id);
  meta_bind_text(st, 2, url);
  int r = meta_one_row(st, read_row, out);
  if (r == 0 && (!out->policy_id || !out->url || !out->event_id || !out->body))
    r = -ENOMEM;
  if (r < 0)
    meta_notify_row_clear(out);
  return r;
}

int meta_notify_failed(struct meta *m, int64_t seq, const char *error)
{
  struct meta_stmt *st = meta_prepare(m, "UPDATE notify_outbox SET attempts = attempts + 1, last_error = ?2"
                                         " WHERE seq = ?1");
  if (!st)
    return -EIO;
  meta_bind_int64(st, 1, seq);
  meta_bind_str(st, 2, error);
  return meta_exec_stmt(st);
}

int meta_notify_delete(struct meta *m, int64_t seq)
{
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM notify_outbox WHERE seq = ?1");
  if (!st)
    return -EIO;
  meta_bind_int64(st, 1, seq);
  return meta_exec_stmt(st);
}

int meta_notify_expire(struct meta *m, const char *policy_id, const char *url, int64_t before_us, int *n)
{
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM notify_outbox WHERE policy_id = ?1 AND url = ?2"
                                         " AND created_us <= ?3");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, policy_id);
  meta_bind_text(st, 2, url);
  meta_bind_int64(st, 3, before_us);
  int r = meta_exec_count(st);
  if (r >= 0 && n)
    *n = r;
  return r < 0 ? r : 0;
}

int meta_notify_forget(struct meta *m, const char *policy_id, int *n)
{
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM notify_outbox WHERE policy_id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, policy_id);
  int r = meta_exec_count(st);
  if (r >= 0 && n)
    *n = r;
  return r < 0 ? r : 0;
}

static void read_int(struct meta_stmt *st, void *out) { *(int *)out = meta_col_int(st, 0); }

int meta_notify_count(struct meta *m, const char *policy_id, int *n)
{
  struct meta_stmt *st = meta_prepare(m, policy_id ? "SELECT count(*) FROM notify_outbox WHERE policy_id = ?1"
                                                   : "SELECT count(*) FROM notify_outbox");
  if (!st)
    return -EIO;
  if (policy_id)
    meta_bind_text(st, 1, policy_id);
  return meta_one_row(st, read_int, n);
}
