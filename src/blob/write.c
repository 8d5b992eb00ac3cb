/*
 * write.c — an upload through a Write grant: the generic page-blob sequence
 * azcopy sends to a host it does not know as Azure's.
 *
 *   PUT (Put Blob)            x-ms-blob-type: PageBlob, x-ms-blob-content-length
 *                             = the VHD's size (uploadSizeBytes): 201, no data
 *   PUT comp=page             x-ms-page-write: update (the body, ≤ 4 MiB) or
 *                             clear, x-ms-range 512-aligned: 201
 *   PUT comp=properties       200 (content type and MD5 are not kept)
 *
 * A page is acknowledged once it is durable (region_reader_write is FUA),
 * so a crash loses no page the client was told is written.  Bytes of the
 * VHD's footer are accepted and dropped: vmrp computes the footer.  The
 * blob's size cannot change (the disk's size was fixed at creation).
 *
 * A Put Page range is Azure's: exactly bytes=S-E, S a multiple of 512, E+1
 * one, E inside the blob; anything else is 416 InvalidPageRange and nothing
 * is written or cleared.  It is parsed here, not with blob_range (which
 * clips a read's end to the blob, as a Get Blob range is): a clipped page
 * range would write or clear what the client did not name.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob/internal.h"
#include "common/failpoint.h"
#include "common/log.h"

#define MAX_PAGE_WRITE (4u << 20)

static void written(struct blob_call *c, struct blob *b, int status)
{
  blob_headers(c, b);
  http_response_header(c->resp, "x-ms-request-server-encrypted", b->encrypted ? "true" : "false");
  http_response_body(c->resp, status, NULL, NULL, 0);
}

static void put_blob(struct blob_call *c, struct blob *b)
{
  const char *type = http_header(c->req, "x-ms-blob-type"), *len = http_header(c->req, "x-ms-blob-content-length");
  if (!type || strcmp(type, "PageBlob")) {
    blob_error(c, 400, "InvalidBlobType", "The blob of a managed disk is a page blob (x-ms-blob-type: PageBlob).");
  } else if (!len || strtoull(len, NULL, 10) != b->size || c->req->body_len) {
    blob_error(c, 400, "InvalidHeaderValue",
               "x-ms-blob-content-length must be the disk's upload size, %" PRIu64 " bytes, with no body.", b->size);
  } else {
    written(c, b, 201);
  }
}

/* A decimal number of v (digits only, no sign, no overflow) up to *end. */
static bool number_at(const char *v, char **end, uint64_t *out)
{
  if (*v < '0' || *v > '9')
    return false;
  errno = 0;
  *out = strtoull(v, end, 10);
  return errno == 0;
}

/* "bytes=S-E" with S <= E, both given: true and [*start, *last]. */
static bool page_range(const char *v, uint64_t *start, uint64_t *last)
{
  char *e;
  return v && !strncmp(v, "bytes=", 6) && number_at(v + 6, &e, start) && *e == '-' && number_at(e + 1, &e, last) &&
         !*e && *start <= *last;
}

static void put_page(struct blob_call *c, struct blob *b)
{
  const char *how = http_header(c->req, "x-ms-page-write"), *xr = http_header(c->req, "x-ms-range");
  uint64_t start = 0, last = 0;
  bool parsed = page_range(xr ? xr : http_header(c->req, "Range"), &start, &last);
  bool update = how && !strcmp(how, "update"), clear = how && !strcmp(how, "clear");
  if (!update && !clear) {
    blob_error(c, 400, "InvalidHeaderValue", "x-ms-page-write must be update or clear.");
    return;
  }
  if (!parsed || start % 512 || last % 512 != 511) {
    blob_error(c, 416, "InvalidPageRange",
               "The page range specified is invalid: it must be bytes=start-end, 512-byte aligned.");
    return;
  }
  if (last >= b->size) {
    blob_error(c, 416, "InvalidPageRange", "The page range specified is beyond the blob's size.");
    return;
  }
  uint64_t n = last - start + 1;
  if (update && (c->req->body_too_large || n > MAX_PAGE_WRITE)) {
    blob_error(c, 413, "RequestBodyTooLarge", "The request body is too large: at most 4 MiB per Put Page.");
    return;
  }
  if (update && c->req->body_len != n) {
    blob_error(c, 400, "InvalidHeaderValue", "The body's length does not match the page range.");
    return;
  }
  uint64_t disk_n = start >= b->disk_size ? 0 : (last < b->disk_size ? n : b->disk_size - start);
  int rc = failpoint_err("blob.page.write");
  if (rc == 0 && disk_n)
    rc = update ? region_reader_write(b->rd, c->req->body, (size_t)disk_n, start)
                : region_reader_zero(b->rd, start, disk_n);
  if (rc == -ENOSPC) { /* thin disks on a full file system: nothing written, nothing acknowledged */
    log_warn("blob", "page write of %" PRIu64 " bytes at %" PRIu64 ": the data file system is full", disk_n, start);
    blob_error(c, 500, "InternalError",
               "The pages were not written: the region's data file system is full. Retry when space is freed.");
    return;
  }
  if (rc < 0) {
    log_error("blob", "page write of %" PRIu64 " bytes at %" PRIu64 " failed: %s", disk_n, start, strerror(-rc));
    blob_error(c, 500, "InternalError", "The pages could not be written; see the region's log.");
    return;
  }
  written(c, b, 201);
}

void blob_put(struct blob_call *c, struct blob *b, const char *comp)
{
  if (!comp)
    put_blob(c, b);
  else if (!strcmp(comp, "page"))
    put_page(c, b);
  else if (!strcmp(comp, "properties"))
    written(c, b, 200);
  else
    blob_error(c, 400, "InvalidQueryParameterValue",
               "Value for one of the query parameters specified in the request URI is invalid: comp.");
  blob_close(b);
}
