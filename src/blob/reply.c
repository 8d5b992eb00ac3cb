/*
 * reply.c — Blob answers: the error document and the headers every answer
 * about a blob carries.
 *
 * Errors are Azure Storage's: status, x-ms-error-code, and
 *   <?xml version="1.0" encoding="utf-8"?><Error><Code>…</Code><Message>…
 *   RequestId:…\nTime:…</Message></Error>
 * (a HEAD answer has no body; clients read the header).  Every answer
 * carries x-ms-request-id and x-ms-version, so clients can report both.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/internal.h"
#include "common/timefmt.h"

static void common(struct blob_call *c)
{
  http_response_header(c->resp, "x-ms-request-id", "%s", c->req->request_id);
  http_response_header(c->resp, "x-ms-version", "%s", c->version);
  http_response_header(c->resp, "Server", "vmrp-blob");
}

/* Text for XML: the five entities escaped. */
static void xml_text(FILE *f, const char *s)
{
  for (; *s; s++) {
    switch (*s) {
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '&': fputs("&amp;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&apos;", f); break;
    default: fputc(*s, f);
    }
  }
}

void blob_error(struct blob_call *c, int status, const char *code, const char *fmt, ...)
{
  char msg[512], now[TIME_ISO_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  time_iso8601(time_now_us(), now);
  char *body = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&body, &len);
  if (f) {
    fputs("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>", f);
    xml_text(f, code);
    fputs("</Code><Message>", f);
    xml_text(f, msg);
    fprintf(f, "\nRequestId:%s\nTime:%s</Message></Error>", c->req->request_id, now);
    fclose(f);
  }
  common(c);
  http_response_header(c->resp, "x-ms-error-code", "%s", code);
  http_response_body(c->resp, status, "application/xml", body, body ? len : 0);
}

void blob_headers(struct blob_call *c, const struct blob *b)
{
  common(c);
  http_response_header(c->resp, "ETag", "%s", b->etag);
  http_response_header(c->resp, "Last-Modified", "%s", b->last_modified);
  http_response_header(c->resp, "x-ms-creation-time", "%s", b->created);
  http_response_header(c->resp, "x-ms-blob-type", "PageBlob");
  http_response_header(c->resp, "x-ms-blob-sequence-number", "0");
  http_response_header(c->resp, "x-ms-lease-status", "unlocked");
  http_response_header(c->resp, "x-ms-lease-state", "available");
  /* The truth, as for the ARM `encryption` property (region/crypt.c). */
  http_response_header(c->resp, "x-ms-server-encrypted", b->encrypted ? "true" : "false");
  http_response_header(c->resp, "Accept-Ranges", "bytes");
}
