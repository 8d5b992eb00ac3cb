/*
 * read.c — Get Blob Properties (HEAD) and Get Blob (GET, whole or a range).
 *
 * The body streams: the connection's thread reads the tree as the socket
 * drains (http_response_stream), a block at a time, so memory is one block
 * per download whatever its size, and a slow client slows only itself (a
 * thread per connection).  Zero chunks and holes are filled without a
 * store read (the tree names them by the zero address).  Bytes past the
 * disk are the footer.  x-ms-range wins over Range, as in Azure; an
 * unsatisfiable range is 416 InvalidRange, a malformed x-ms-range 400, a
 * malformed Range is ignored (HTTP's rule: the whole blob).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/internal.h"
#include "common/log.h"

int blob_range(const char *v, uint64_t total, uint64_t *start, uint64_t *end)
{
  if (!v)
    return 0;
  if (strncmp(v, "bytes=", 6) != 0)
    return -1;
  const char *p = v + 6, *dash = strchr(p, '-');
  if (!dash || strchr(dash + 1, '-') || strchr(p, ','))
    return -1;
  char *e;
  if (dash == p) { /* suffix: the last N bytes */
    if (dash[1] < '0' || dash[1] > '9')
      return -1;
    uint64_t n = strtoull(dash + 1, &e, 10);
    if (*e || n == 0)
      return n == 0 && !*e ? -2 : -1;
    *start = n >= total ? 0 : total - n;
    *end = total - 1;
    return total ? 1 : -2;
  }
  if (*p < '0' || *p > '9')
    return -1;
  uint64_t s = strtoull(p, &e, 10);
  if (e != dash)
    return -1;
  uint64_t last = UINT64_MAX;
  if (dash[1]) {
    if (dash[1] < '0' || dash[1] > '9')
      return -1;
    last = strtoull(dash + 1, &e, 10);
    if (*e || last < s)
      return -1;
  }
  if (s >= total)
    return -2;
  *start = s;
  *end = last >= total ? total - 1 : last;
  return 1;
}

struct body {
  struct blob *b;
  uint64_t start;
};

static ssize_t body_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
  struct body *s = ctx;
  struct blob *b = s->b;
  uint64_t off = s->start + pos;
  size_t done = 0;
  if (off < b->disk_size) {
    size_t n = b->disk_size - off < max ? (size_t)(b->disk_size - off) : max;
    int rc = region_reader_read(b->rd, buf, n, off);
    if (rc < 0) {
      log_error("blob", "read of %zu bytes at %" PRIu64 " failed: %s", n, off, strerror(-rc));
      return -1;
    }
    done = n, off += n;
  }
  if (done < max && off >= b->disk_size && off < b->size) {
    size_t n = (size_t)(b->size - off) < max - done ? (size_t)(b->size - off) : max - done;
    memcpy(buf + done, b->footer + (off - b->disk_size), n);
    done += n;
  }
  return done ? (ssize_t)done : -1;
}

static void body_free(void *ctx)
{
  struct body *s = ctx;
  blob_close(s->b);
  free(s);
}

void blob_get(struct blob_call *c, struct blob *b, bool head)
{
  uint64_t start = 0, end = b->size - 1;
  const char *xr = http_header(c->req, "x-ms-range");
  int rr = head ? 0 : blob_range(xr ? xr : http_header(c->req, "Range"), b->size, &start, &end);
  if (rr == -1 && !xr)
    rr = 0, start = 0, end = b->size - 1;
  if (rr == -1) {
    blob_error(c, 400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.");
    blob_close(b);
    return;
  }
  if (rr == -2) {
    blob_error(c, 416, "InvalidRange", "The range specified is invalid for the current size of the resource.");
    http_response_header(c->resp, "Content-Range", "bytes */%" PRIu64, b->size);
    blob_close(b);
    return;
  }
  blob_headers(c, b);
  if (rr == 1)
    http_response_header(c->resp, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, end, b->size);
  struct body *s = malloc(sizeof *s);
  if (!s) {
    blob_close(b);
    http_response_body(c->resp, 503, NULL, NULL, 0);
    return;
  }
  *s = (struct body){b, start};
  http_response_stream(c->resp, rr == 1 ? 206 : 200, "application/octet-stream", end - start + 1, body_read, s,
                       body_free);
}
