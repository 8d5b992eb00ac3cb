/*
 * reads.c — reading a disk restore point's or a disk's content for a data
 * plane: bytes, its allocation map and a restore point's changes against
 * another one; and writing an Upload disk.
 *
 * A reader holds the image's tree against GC from open to close (a hold
 * lives for one bounded request, images.c says why), so an image deleted
 * while a download runs is still read whole and consistently; the next GC
 * after the close may take it.  Each reader has its own tree reader (one
 * thread at a time, which the data plane's thread per connection gives).
 * Maps and changes start at an offset and stop when the callback returns
 * non-zero, so a long answer streams in pieces, each resumed at the end of
 * the last, for the cost of one path down the tree (snap/map.c, diff.c).
 *
 * A disk's reader (or writer) reads its live volume, marked in use so the
 * volume is not destroyed under it (region_volume_use); its map comes from
 * the volume's extents (holes read as zeros).  Writes of an upload are FUA:
 * the data plane acknowledges a page only once it is durable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "region/internal.h"
#include "snap/tree.h"
#include "vol/vol.h"

struct region_reader {
  struct region *r;
  struct region_hold *hold;   /* an image's */
  struct cas_addr root;
  uint64_t size;
  struct tree_reader *tr;
  struct volume *vol;         /* a disk's, in use until close */
  char vol_id[40];
};

int region_reader_open_disk(struct region *r, const char *disk_id, struct region_reader **out)
{
  struct meta_volume mv;
  int rc = meta_volume_by_resource(r->meta, disk_id, &mv);
  if (rc == 0 && (rc = region_domain_error(r, mv.domain)) < 0) /* crypto-erased */
    meta_volume_clear(&mv);
  if (rc < 0)
    return rc;
  struct region_reader *rd = calloc(1, sizeof *rd);
  if (!rd) {
    meta_volume_clear(&mv);
    return -ENOMEM;
  }
  rd->r = r;
  snprintf(rd->vol_id, sizeof rd->vol_id, "%s", mv.id);
  meta_volume_clear(&mv);
  rd->vol = region_volume_use(r, rd->vol_id);
  if (!rd->vol) {
    free(rd);
    return -ENOENT;
  }
  rd->size = vol_size(rd->vol);
  *out = rd;
  return 0;
}

int region_reader_open(struct region *r, const char *image_id, struct region_reader **out)
{
  struct region_reader *rd = calloc(1, sizeof *rd);
  if (!rd)
    return -ENOMEM;
  rd->r = r;
  char hex[65];
  int rc = region_image_hold(r, image_id, hex, &rd->size, &rd->hold);
  if (rc == 0)
    rc = cas_addr_from_hex(hex, &rd->root);
  if (rc == 0)
    rc = tree_reader_open(region_hold_store(rd->hold), &rd->root, &rd->tr);
  if (rc < 0) {
    region_reader_close(rd);
    return rc;
  }
  *out = rd;
  return 0;
}

void region_reader_close(struct region_reader *rd)
{
  if (!rd)
    return;
  if (rd->vol)
    region_volume_unuse(rd->r, rd->vol_id);
  if (rd->tr)
    tree_reader_close(rd->tr);
  region_image_unhold(rd->r, rd->hold);
  free(rd);
}

uint64_t region_reader_size(const struct region_reader *rd) { return rd->size; }

int region_reader_read(struct region_reader *rd, void *buf, size_t len, uint64_t off)
{
  return rd->vol ? vol_pread(rd->vol, buf, len, off) : tree_reader_read(rd->tr, buf, len, off);
}

int region_reader_write(struct region_reader *rd, const void *buf, size_t len, uint64_t off)
{
  return rd->vol ? vol_pwrite(rd->vol, buf, len, off, VOL_FUA) : -EROFS;
}

int region_reader_zero(struct region_reader *rd, uint64_t off, uint64_t len)
{
  return rd->vol ? vol_zero(rd->vol, off, len, VOL_FUA) : -EROFS;
}

int region_reader_flush(struct region_reader *rd) { return rd->vol ? vol_flush(rd->vol) : 0; }

bool region_reader_is_disk(const struct region_reader *rd) { return rd->vol != NULL; }

struct extent_fn {
  int (*fn)(void *ctx, uint64_t off, uint64_t len, bool zero);
  void *ctx;
  uint64_t end;
};

static int pass_extent(void *ctx, const struct tree_extent *e)
{
  struct extent_fn *f = ctx;
  if (e->off >= f->end)
    return 1;
  uint64_t len = e->len > f->end - e->off ? f->end - e->off : e->len;
  return f->fn(f->ctx, e->off, len, e->zero);
}

int region_reader_map(struct region_reader *rd, uint64_t from, int (*fn)(void *ctx, uint64_t off, uint64_t len, bool zero),
                      void *ctx)
{
  if (rd->vol) { /* vol_extents returns what stopped it: fn's value */
    int rc = from < rd->size ? vol_extents(rd->vol, from, rd->size - from, fn, ctx) : 0;
    return rc > 0 ? 1 : rc;
  }
  struct extent_fn f = {fn, ctx, rd->size};
  int rc = tree_map_from(region_hold_store(rd->hold), &rd->root, from, pass_extent, &f);
  return rc > 0 ? 1 : rc;
}

int region_reader_changes(struct region_reader *older, struct region_reader *rd, uint64_t from,
                          int (*fn)(void *ctx, uint64_t off, uint64_t len, bool zero), void *ctx)
{
  if (rd->vol || older->vol)
    return -EINVAL; /* a live disk has no tree to diff */
  struct cas *cas = region_hold_store(rd->hold);
  if (region_hold_store(older->hold) != cas) /* trees of two stores share no address: all of rd changed */
    return region_reader_map(rd, from, fn, ctx);
  struct extent_fn f = {fn, ctx, rd->size};
  int rc = tree_changes(cas, &older->root, &rd->root, from, pass_extent, &f, NULL);
  return rc > 0 ? 1 : rc;
}

bool region_reader_encrypted(const struct region_reader *rd)
{
  return rd->vol ? vol_encrypted(rd->vol) : cas_encrypted(region_hold_store(rd->hold));
}
