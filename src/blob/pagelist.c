/*
 * pagelist.c — Get Page Ranges, and its diff against an earlier disk restore
 * point (Get Page Ranges Diff, as the managed-disk SAS answers it).
 *
 * The answer is generated while it is sent: each time the socket wants
 * more, the next batch of ranges is taken from the tree (region_reader_map,
 * or region_reader_changes against the previous image) starting at the end
 * of the last batch, so a long list is never built whole in memory and a
 * batch costs one path down the tree plus the ranges it yields.  Ranges
 * are at the store's chunk granularity (coarser than 512-byte pages, never
 * missing a written byte: a chunk that holds data is listed).  The footer
 * is one more page at the end of the plain list; in a diff it is the same
 * for every restore point of one disk and so never listed.  Two images of
 * different sizes diff as "the whole newer blob": every extent listed as
 * written or cleared, and the footer (the older footer's bytes are disk
 * data in the newer blob).
 *
 * Paging: maxresults (1..100000) caps the ranges of one answer; the
 * NextMarker is the byte offset where the next range starts (opaque to
 * clients), and marker resumes there.  Ranges are clipped to the request's
 * x-ms-range / Range.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/internal.h"
#include "common/log.h"

#define BATCH 2048        /* ranges taken from the tree per refill */
#define MAX_RESULTS 100000

struct pagelist {
  struct blob *b, *prev;   /* prev: the diff's base, or NULL */
  bool whole;              /* a diff between different sizes: list every extent */
  uint64_t from, end;      /* next byte to look at; end of the asked range (exclusive) */
  uint64_t max_results, emitted;
  bool started, tree_done, finished;
  /* a range not yet written: merged with the next when adjacent and alike */
  bool have;
  uint64_t p_off, p_len;
  bool p_zero;
  char *buf;               /* generated and not yet sent */
  size_t len, cap, sent;
  int taken;               /* ranges taken in the current refill */
  uint64_t next_marker;    /* set when max_results stopped the list */
  int err;
};

static int put(struct pagelist *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(struct pagelist *pl, const char *fmt, ...)
{
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = vsnprintf(pl->buf ? pl->buf + pl->len : NULL, pl->cap - pl->len, fmt, ap); /* none yet: measures */
    va_end(ap);
    if (n < 0)
      return -EIO;
    if ((size_t)n < pl->cap - pl->len) {
      pl->len += (size_t)n;
      return 0;
    }
    size_t cap = pl->cap ? pl->cap * 2 : 64 * 1024;
    char *nb = realloc(pl->buf, cap);
    if (!nb)
      return -ENOMEM;
    pl->buf = nb, pl->cap = cap;
  }
}

static int write_range(struct pagelist *pl)
{
  if (!pl->have)
    return 0;
  pl->have = false;
  const char *tag = pl->p_zero ? "ClearRange" : "PageRange";
  return put(pl, "<%s><Start>%" PRIu64 "</Start><End>%" PRIu64 "</End></%s>", tag, pl->p_off,
             pl->p_off + pl->p_len - 1, tag);
}

/* A range for the list (already clipped); 1 stops the walk. */
static int add(struct pagelist *pl, uint64_t off, uint64_t len, bool zero)
{
  if (pl->have && pl->p_off + pl->p_len == off && pl->p_zero == zero) {
    pl->p_len += len;
    return 0;
  }
  if (pl->emitted == pl->max_results) { /* one more than fits: where the next page starts */
    pl->next_marker = off;
    return 1;
  }
  int rc = write_range(pl);
  if (rc < 0)
    return rc;
  pl->have = true, pl->p_off = off, pl->p_len = len, pl->p_zero = zero;
  pl->emitted++;
  return 0;
}

static int on_extent(void *ctx, uint64_t off, uint64_t len, bool zero)
{
  struct pagelist *pl = ctx;
  if (off >= pl->end)
    return 1;
  if (len > pl->end - off)
    len = pl->end - off;
  pl->from = off + len;
  if (zero && !pl->prev && !pl->whole)
    return 0; /* a plain list names only what holds data */
  int rc = add(pl, off, len, zero);
  if (rc != 0)
    return rc;
  return ++pl->taken >= BATCH ? 1 : 0;
}

/* Fills pl->buf with the next part of the document. */
static int refill(struct pagelist *pl)
{
  int rc = 0;
  if (!pl->started) {
    pl->started = true;
    return put(pl, "<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>");
  }
  if (!pl->tree_done && pl->from < pl->end && pl->from < pl->b->disk_size) {
    pl->taken = 0;
    rc = pl->prev && !pl->whole ? region_reader_changes(pl->prev->rd, pl->b->rd, pl->from, on_extent, pl)
                                : region_reader_map(pl->b->rd, pl->from, on_extent, pl);
    if (rc < 0)
      return rc;
    if (rc == 0 || pl->next_marker || pl->from >= pl->end)
      pl->tree_done = true;
    if (rc == 1 && !pl->tree_done && pl->taken < BATCH)
      pl->tree_done = true; /* stopped at the end of the range */
    return 0;
  }
  pl->tree_done = true;
  /* the footer: a page of data in a plain list and in a whole-blob diff */
  uint64_t foot = pl->b->disk_size;
  if ((!pl->prev || pl->whole) && !pl->next_marker && pl->from <= foot && foot < pl->end) {
    pl->from = pl->b->size;
    uint64_t len = pl->end - foot < VHD_FOOTER_LEN ? pl->end - foot : VHD_FOOTER_LEN;
    if (add(pl, foot, len, false) < 0)
      return -ENOMEM;
  }
  if ((rc = write_range(pl)) < 0)
    return rc;
  if (pl->next_marker)
    rc = put(pl, "<NextMarker>%" PRIu64 "</NextMarker></PageList>", pl->next_marker);
  else
    rc = put(pl, "</PageList>");
  pl->finished = true;
  return rc;
}

static ssize_t pagelist_read(void *ctx, uint64_t pos, char *out, size_t max)
{
  struct pagelist *pl = ctx;
  (void)pos;
  while (pl->sent == pl->len) {
    if (pl->finished)
      return 0;
    pl->len = pl->sent = 0;
    int rc = refill(pl);
    if (rc < 0) {
      log_error("blob", "page list stopped: %s", strerror(-rc));
      return -1;
    }
  }
  size_t n = pl->len - pl->sent < max ? pl->len - pl->sent : max;
  memcpy(out, pl->buf + pl->sent, n);
  pl->sent += n;
  return (ssize_t)n;
}

static void pagelist_free(void *ctx)
{
  struct pagelist *pl = ctx;
  blob_close(pl->b);
  blob_close(pl->prev);
  free(pl->buf);
  free(pl);
}

/* The diff's base from x-ms-previous-snapshot-url (or prevsnapshot in the
 * query, which listPageRangesDiff sends even given a URL): NULL and 0 when
 * there is none, -1 when an answer was given. */
static int open_previous(struct blob_call *c, struct blob **out)
{
  *out = NULL;
  const char *url = http_header(c->req, "x-ms-previous-snapshot-url");
  if (!url)
    url = http_query(c->req, "prevsnapshot");
  if (!url)
    return 0;
  struct blob_url prev;
  if (!blob_sas_parse_url(url, &prev)) {
    blob_error(c, 400, "InvalidHeaderValue",
               "The previous snapshot URL is not a SAS URL of a disk restore point of this region.");
    return -1;
  }
  int rc = blob_open(c, &prev.sas, out);
  blob_url_free(&prev);
  return rc;
}

static bool parse_u64(const char *s, uint64_t *out)
{
  if (!s || *s < '0' || *s > '9')
    return false;
  char *e;
  errno = 0;
  unsigned long long v = strtoull(s, &e, 10);
  if (*e || errno)
    return false;
  *out = v;
  return true;
}

void blob_page_ranges(struct blob_call *c, struct blob *b)
{
  struct pagelist *pl = calloc(1, sizeof *pl);
  if (!pl) {
    blob_close(b);
    http_response_body(c->resp, 503, NULL, NULL, 0);
    return;
  }
  pl->b = b;
  pl->max_results = UINT64_MAX;
  const char *mr = http_query(c->req, "maxresults"), *marker = http_query(c->req, "marker");
  uint64_t start = 0, last = b->size - 1;
  const char *xr = http_header(c->req, "x-ms-range");
  int rr = blob_range(xr ? xr : http_header(c->req, "Range"), b->size, &start, &last);
  if (mr && (!parse_u64(mr, &pl->max_results) || pl->max_results < 1 || pl->max_results > MAX_RESULTS)) {
    blob_error(c, 400, "OutOfRangeQueryParameterValue",
               "One of the query parameters specified in the request URI is outside the permissible range: "
               "maxresults must be 1 to %d.", MAX_RESULTS);
  } else if (marker && !parse_u64(marker, &pl->from)) {
    blob_error(c, 400, "InvalidQueryParameterValue",
               "Value for one of the query parameters specified in the request URI is invalid: marker.");
  } else if (rr == -1 || (rr == 1 && (start % 512 || (last + 1) % 512))) {
    blob_error(c, 400, "InvalidPageRange", "The page range specified is invalid: it must be 512-byte aligned.");
  } else if (rr == -2) {
    blob_error(c, 416, "InvalidRange", "The range specified is invalid for the current size of the resource.");
  } else if (open_previous(c, &pl->prev) < 0) {
    /* answered */
  } else if (pl->prev && (pl->prev->disk || b->disk)) {
    blob_error(c, 400, "InvalidHeaderValue", "A page range diff compares two disk restore points; a disk's SAS URL "
               "cannot take part.");
  } else {
    if (pl->from < start)
      pl->from = start;
    pl->end = last + 1;
    pl->whole = pl->prev && pl->prev->disk_size != b->disk_size;
    blob_headers(c, b);
    http_response_header(c->resp, "x-ms-blob-content-length", "%" PRIu64, b->size);
    http_response_stream(c->resp, 200, "application/xml", HTTP_SIZE_UNKNOWN, pagelist_read, pl, pagelist_free);
    return;
  }
  pagelist_free(pl);
}
