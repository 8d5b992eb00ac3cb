/*
 * reads.c — reading a disk restore point's content for a data plane: bytes,
 * its allocation map and its changes against another one.
 *
 * A reader holds the image's tree against GC from open to close (a hold
 * lives for one bounded request, images.c says why), so an image deleted
 * while a download runs is still read whole and consistently; the next GC
 * after the close may take it.  Each reader has its own tree reader (one
 * thread at a time, which the data plane's thread per connection gives).
 * Maps and changes start at an offset and stop when the callback returns
 * non-zero, so a long answer streams in pieces, each resumed at the end of
 * the last, for the cost of one path down the tree (snap/map.c, diff.c).
 */
#include <errno.h>
#include <stdlib.h>

#include "region/internal.h"
#include "snap/tree.h"

struct region_reader {
  struct region *r;
  struct region_hold *hold;
  struct cas_addr root;
  uint64_t size;
  struct tree_reader *tr;
};

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
    rc = tree_reader_open(r->cas, &rd->root, &rd->tr);
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
  if (rd->tr)
    tree_reader_close(rd->tr);
  region_image_unhold(rd->r, rd->hold);
  free(rd);
}

uint64_t region_reader_size(const struct region_reader *rd) { return rd->size; }

int region_reader_read(struct region_reader *rd, void *buf, size_t len, uint64_t off)
{
  return tree_reader_read(rd->tr, buf, len, off);
}

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
  struct extent_fn f = {fn, ctx, rd->size};
  int rc = tree_map_from(rd->r->cas, &rd->root, from, pass_extent, &f);
  return rc > 0 ? 1 : rc;
}

int region_reader_changes(struct region_reader *older, struct region_reader *rd, uint64_t from,
                          int (*fn)(void *ctx, uint64_t off, uint64_t len, bool zero), void *ctx)
{
  struct extent_fn f = {fn, ctx, rd->size};
  int rc = tree_changes(rd->r->cas, &older->root, &rd->root, from, pass_extent, &f, NULL);
  return rc > 0 ? 1 : rc;
}
