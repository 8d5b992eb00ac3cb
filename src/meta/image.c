/*
 * image.c — the region's typed records of its disk restore points (images)
 * and of each volume's capture base.
 *
 * These were fields in the ARM rows' `extra` JSON, which only the front end
 * could read; the region below ARM (capture, restore, GC roots, exports) and
 * the data planes above it need them without JSON.  An image is written in
 * the same transaction as its disk restore point row (region/capture.c), and
 * deleted with that row by the images_gone trigger; a capture base goes with
 * its volume's row (capture_bases_gone).  Rows are written with upserts
 * (INSERT … ON CONFLICT DO UPDATE), which update a row in place and fire no
 * delete trigger, so rewriting a resource or volume row keeps its image or
 * base.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/internal.h"

#define IMAGE_COLS \
  "id, rp_id, disk_id, volume_id, previous_id, state, root, size, percent, chunks_read, bytes_stored, domain"
#define BASE_COLS "volume_id, root, size, image_id, domain"

const char *meta_image_state_to_string(enum meta_image_state s)
{
  switch (s) {
  case IMAGE_CAPTURING: return "Capturing";
  case IMAGE_READY: return "Succeeded";
  case IMAGE_FAILED: return "Failed";
  case IMAGE_COPYING: return "Copying";
  }
  return "?";
}

void meta_image_clear(struct meta_image *im)
{
  free(im->id);
  free(im->rp_id);
  free(im->disk_id);
  free(im->previous_id);
  memset(im, 0, sizeof *im);
}

static void copy_col(struct meta_stmt *st, int col, char *out, size_t cap)
{
  const char *t = meta_col_text(st, col);
  snprintf(out, cap, "%s", t ? t : "");
}

int meta_image_put(struct meta *m, const struct meta_image *im)
{
  struct meta_stmt *st = meta_prepare(
      m, "INSERT INTO images(" IMAGE_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"
         " ON CONFLICT(id) DO UPDATE SET rp_id = excluded.rp_id, disk_id = excluded.disk_id,"
         " volume_id = excluded.volume_id, previous_id = excluded.previous_id, state = excluded.state,"
         " root = excluded.root, size = excluded.size, percent = excluded.percent,"
         " chunks_read = excluded.chunks_read, bytes_stored = excluded.bytes_stored, domain = excluded.domain");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, im->id);
  meta_bind_text(st, 2, im->rp_id);
  meta_bind_text(st, 3, im->disk_id);
  meta_bind_text(st, 4, im->volume_id);
  meta_bind_str(st, 5, im->previous_id);
  meta_bind_int64(st, 6, im->state);
  meta_bind_str(st, 7, im->root[0] ? im->root : NULL);
  meta_bind_int64(st, 8, (int64_t)im->size);
  meta_bind_int64(st, 9, im->percent);
  meta_bind_int64(st, 10, (int64_t)im->chunks_read);
  meta_bind_int64(st, 11, (int64_t)im->bytes_stored);
  meta_bind_str(st, 12, im->domain[0] ? im->domain : NULL);
  return meta_exec_stmt(st);
}

static void read_image(struct meta_stmt *st, void *out)
{
  struct meta_image *im = out;
  memset(im, 0, sizeof *im);
  im->id = meta_col_str(st, 0);
  im->rp_id = meta_col_str(st, 1);
  im->disk_id = meta_col_str(st, 2);
  copy_col(st, 3, im->volume_id, sizeof im->volume_id);
  im->previous_id = meta_col_str(st, 4);
  im->state = (enum meta_image_state)meta_col_int(st, 5);
  copy_col(st, 6, im->root, sizeof im->root);
  im->size = (uint64_t)meta_col_int64(st, 7);
  im->percent = meta_col_int(st, 8);
  im->chunks_read = (uint64_t)meta_col_int64(st, 9);
  im->bytes_stored = (uint64_t)meta_col_int64(st, 10);
  copy_col(st, 11, im->domain, sizeof im->domain);
}

int meta_image_get(struct meta *m, const char *id, struct meta_image *out)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " IMAGE_COLS " FROM images WHERE id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  return meta_one_row(st, read_image, out);
}

struct image_walk {
  meta_image_cb cb;
  void *ctx;
};

static int image_row(struct meta_stmt *st, void *ctx)
{
  struct image_walk *w = ctx;
  struct meta_image im;
  read_image(st, &im);
  int r = w->cb(w->ctx, &im);
  meta_image_clear(&im);
  return r;
}

int meta_image_list(struct meta *m, const char *rp_id, meta_image_cb cb, void *ctx)
{
  struct meta_stmt *st =
      meta_prepare(m, "SELECT " IMAGE_COLS " FROM images WHERE ?1 IS NULL OR rp_id = ?1 ORDER BY id");
  if (!st)
    return -EIO;
  meta_bind_str(st, 1, rp_id);
  struct image_walk w = {cb, ctx};
  return meta_each_row(st, image_row, &w);
}

void meta_capture_base_clear(struct meta_capture_base *b)
{
  free(b->image_id);
  memset(b, 0, sizeof *b);
}

int meta_capture_base_put(struct meta *m, const struct meta_capture_base *b)
{
  struct meta_stmt *st = meta_prepare(m, "INSERT INTO capture_bases(" BASE_COLS ") VALUES(?1,?2,?3,?4,?5)"
                                         " ON CONFLICT(volume_id) DO UPDATE SET root = excluded.root,"
                                         " size = excluded.size, image_id = excluded.image_id, domain = excluded.domain");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, b->volume_id);
  meta_bind_text(st, 2, b->root);
  meta_bind_int64(st, 3, (int64_t)b->size);
  meta_bind_text(st, 4, b->image_id);
  meta_bind_str(st, 5, b->domain[0] ? b->domain : NULL);
  return meta_exec_stmt(st);
}

static void read_base(struct meta_stmt *st, void *out)
{
  struct meta_capture_base *b = out;
  memset(b, 0, sizeof *b);
  copy_col(st, 0, b->volume_id, sizeof b->volume_id);
  copy_col(st, 1, b->root, sizeof b->root);
  b->size = (uint64_t)meta_col_int64(st, 2);
  b->image_id = meta_col_str(st, 3);
  copy_col(st, 4, b->domain, sizeof b->domain);
}

int meta_capture_base_get(struct meta *m, const char *volume_id, struct meta_capture_base *out)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " BASE_COLS " FROM capture_bases WHERE volume_id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, volume_id);
  return meta_one_row(st, read_base, out);
}

struct base_walk {
  meta_capture_base_cb cb;
  void *ctx;
};

static int base_row(struct meta_stmt *st, void *ctx)
{
  struct base_walk *w = ctx;
  struct meta_capture_base b;
  read_base(st, &b);
  int r = w->cb(w->ctx, &b);
  meta_capture_base_clear(&b);
  return r;
}

int meta_capture_base_list(struct meta *m, meta_capture_base_cb cb, void *ctx)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " BASE_COLS " FROM capture_bases ORDER BY volume_id");
  if (!st)
    return -EIO;
  struct base_walk w = {cb, ctx};
  return meta_each_row(st, base_row, &w);
}
