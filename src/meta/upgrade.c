/*
 * upgrade.c — the rows the upgrade to encryption at rest reads and moves
 * (region/upgrade.c): images whose tree is still in the legacy plaintext
 * store (images.domain NULL, migration 11), the capture bases and copy rows
 * that name the same roots, and how far the volumes' conversion got.
 *
 * An image moves to the platform store in one transaction with every row
 * that names its old root, so no reader ever finds a root in a store that
 * does not hold it: the image (only if it still names that root in the
 * legacy store — a row deleted meanwhile moves nothing), the capture bases
 * built on that tree, its copy row.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/internal.h"

/* a row whose tree is in the legacy store */
#define LEGACY "coalesce(domain, '') = ''"

static int count_row(struct meta_stmt *st, void *ctx)
{
  uint64_t *n = ctx;
  for (int i = 0; i < meta_col_count(st); i++)
    n[i] = (uint64_t)meta_col_int64(st, i);
  return 0;
}

int meta_upgrade_counts(struct meta *m, struct meta_upgrade_counts *out)
{
  memset(out, 0, sizeof *out);
  uint64_t n[3] = {0};
  struct meta_stmt *st = meta_prepare(m, "SELECT count(*), coalesce(sum(CASE WHEN " LEGACY " THEN 1 ELSE 0 END), 0),"
                                         " (SELECT count(*) FROM capture_bases WHERE " LEGACY ")"
                                         " FROM images WHERE state <> 2");
  int rc = st ? meta_each_row(st, count_row, n) : -EIO;
  if (rc == 0) {
    out->images_total = n[0];
    out->images_legacy = n[1];
    out->bases_legacy = n[2];
    st = meta_prepare(m, "SELECT count(*), coalesce(sum(CASE WHEN crypt_state = 0 THEN 1 ELSE 0 END), 0),"
                         " coalesce(sum(CASE WHEN crypt_state = 1 THEN 1 ELSE 0 END), 0)"
                         " FROM volumes WHERE state = 1");
    rc = st ? meta_each_row(st, count_row, n) : -EIO;
  }
  if (rc == 0) {
    out->volumes_total = n[0];
    out->volumes_plain = n[1];
    out->volumes_converting = n[2];
  }
  return rc;
}

static void read_next(struct meta_stmt *st, void *out)
{
  struct meta_upgrade_image *im = out;
  memset(im, 0, sizeof *im);
  im->id = meta_col_str(st, 0);
  const char *t = meta_col_text(st, 1);
  snprintf(im->root, sizeof im->root, "%s", t ? t : "");
  im->size = (uint64_t)meta_col_int64(st, 2);
}

int meta_upgrade_next_image(struct meta *m, struct meta_upgrade_image *out)
{
  /* the trees the next captures build on first: until its base moves, a
   * disk's next restore point is a full one */
  struct meta_stmt *st = meta_prepare(m, "SELECT id, root, size FROM images WHERE " LEGACY " AND state = 1"
                                         " ORDER BY id NOT IN (SELECT image_id FROM capture_bases), id LIMIT 1");
  return st ? meta_one_row(st, read_next, out) : -EIO;
}

int meta_upgrade_next_base(struct meta *m, struct meta_upgrade_image *out)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT image_id, root, size FROM capture_bases WHERE " LEGACY
                                         " ORDER BY volume_id LIMIT 1");
  return st ? meta_one_row(st, read_next, out) : -EIO;
}

static void read_id(struct meta_stmt *st, void *out)
{
  snprintf(out, 40, "%s", meta_col_text(st, 0));
}

int meta_upgrade_next_volume(struct meta *m, char vol_id[40])
{
  struct meta_stmt *st =
      meta_prepare(m, "SELECT id FROM volumes WHERE state = 1 AND crypt_state = 1 ORDER BY id LIMIT 1");
  return st ? meta_one_row(st, read_id, vol_id) : -EIO;
}

struct volume_walk {
  int (*cb)(void *ctx, const char *vol_id);
  void *ctx;
};

static int volume_row(struct meta_stmt *st, void *ctx)
{
  struct volume_walk *w = ctx;
  return w->cb(w->ctx, meta_col_text(st, 0));
}

int meta_upgrade_volumes(struct meta *m, int (*cb)(void *ctx, const char *vol_id), void *ctx)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT id FROM volumes WHERE state = 1 AND crypt_state > 0 ORDER BY id");
  return st ? meta_each_row(st, volume_row, &(struct volume_walk){cb, ctx}) : -EIO;
}

void meta_upgrade_image_clear(struct meta_upgrade_image *im)
{
  free(im->id);
  memset(im, 0, sizeof *im);
}

/* sql with ?1..?n bound to the strings v[0..n) */
/* Runs sql with ?1… = v: the rows it changed, -errno. */
static int exec_count_strs(struct meta *m, const char *sql, const char *const *v, int n)
{
  struct meta_stmt *st = meta_prepare(m, sql);
  if (!st)
    return -EIO;
  for (int i = 0; i < n; i++)
    meta_bind_text(st, i + 1, v[i]);
  return meta_exec_count(st);
}

static int exec_strs(struct meta *m, const char *sql, const char *const *v, int n)
{
  int r = exec_count_strs(m, sql, v, n);
  return r < 0 ? r : 0;
}

int meta_upgrade_image_move(struct meta *m, const char *image_id, const char *old_root, const char *new_root,
                            const char *domain)
{
  const char *v[] = {image_id, old_root, new_root, domain};
  int rc = meta_begin(m);
  if (rc < 0)
    return rc;
  rc = exec_count_strs(m, "UPDATE images SET root = ?3, domain = ?4 WHERE id = ?1 AND root = ?2 AND " LEGACY
                          " AND state = 1", v, 4);
  if (rc >= 0)
    rc = rc == 1 ? 0 : -ESTALE;
  if (rc == 0)
    rc = exec_strs(m, "UPDATE capture_bases SET root = ?3, domain = ?4 WHERE root = ?2 AND " LEGACY, v, 4);
  if (rc == 0)
    rc = exec_strs(m, "UPDATE image_copies SET root = ?3 WHERE image_id = ?1 AND root = ?2", v, 3);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  return rc;
}

int meta_upgrade_base_move(struct meta *m, const char *old_root, const char *new_root, const char *domain)
{
  const char *v[] = {old_root, new_root, domain};
  return exec_strs(m, "UPDATE capture_bases SET root = ?2, domain = ?3 WHERE root = ?1 AND " LEGACY, v, 3);
}

int meta_upgrade_volume_encrypted(struct meta *m, const char *vol_id)
{
  const char *v[] = {vol_id};
  return exec_strs(m, "UPDATE volumes SET crypt_state = 2 WHERE id = ?1 AND crypt_state = 1", v, 1);
}
