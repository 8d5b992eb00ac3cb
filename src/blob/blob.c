/*
 * blob.c — blob_handle(): from a Blob REST request on a SAS URL to its
 * answer.
 *
 * Order, as Azure Storage applies it: x-ms-version well-formed (400) → the
 * SAS (403 AuthenticationFailed) → the operation allowed by the grant's
 * permission (403 AuthorizationPermissionMismatch) → preconditions (412 /
 * 304) → the operation.  Query parameters other than the SAS's and the
 * operation's are ignored, as Azure does; an unknown comp is 400.  A Write
 * grant (an Upload disk) adds PUT: Put Blob, Put Page, Set Blob Properties
 * (write.c); DELETE is refused with every grant.  The blob
 * a read grant names is immutable, so its ETag (the tree root) and
 * Last-Modified (its creation) never move and azcopy's If-Unmodified-Since
 * always holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob/internal.h"
#include "common/timefmt.h"

static bool version_ok(const char *v)
{
  if (strlen(v) != 10)
    return false;
  for (int i = 0; i < 10; i++)
    if (i == 4 || i == 7 ? v[i] != '-' : v[i] < '0' || v[i] > '9')
      return false;
  return true;
}

/* 0 when the request's preconditions hold, else the answer was given. */
static int preconditions(struct blob_call *c, const struct blob *b)
{
  const char *im = http_header(c->req, "If-Match"), *inm = http_header(c->req, "If-None-Match");
  const char *ius = http_header(c->req, "If-Unmodified-Since"), *ims = http_header(c->req, "If-Modified-Since");
  int64_t modified = time_parse_rfc1123(b->last_modified);
  bool failed = (im && strcmp(im, "*") && strcmp(im, b->etag)) ||
                (ius && time_parse_rfc1123(ius) >= 0 && modified > time_parse_rfc1123(ius));
  if (failed) {
    blob_error(c, 412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.");
    return -1;
  }
  bool not_modified = (inm && (!strcmp(inm, "*") || !strcmp(inm, b->etag))) ||
                      (ims && time_parse_rfc1123(ims) >= 0 && modified <= time_parse_rfc1123(ims));
  if (not_modified) {
    blob_headers(c, b);
    http_response_body(c->resp, 304, NULL, NULL, 0);
    return -1;
  }
  return 0;
}

void blob_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
  struct blob_call c = {.plane = ctx, .req = req, .resp = resp, .version = "2018-03-28"};
  const char *v = http_header(req, "x-ms-version");
  if (v && !version_ok(v)) {
    blob_error(&c, 400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format: "
               "x-ms-version.");
    return;
  }
  if (v)
    c.version = v;
  struct blob_sas sas = {.si = http_query(req, "si"), .sp = http_query(req, "sp"), .sig = http_query(req, "sig")};
  const char *sr = http_query(req, "sr");
  char *path = blob_sas_split_path(req->raw_path, &sas);
  struct blob *b = NULL;
  if (!path || !sr || strcmp(sr, "b")) {
    blob_error(&c, 403, "AuthenticationFailed",
               "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
               "correctly including the signature.");
    free(path);
    return;
  }
  int rc = blob_open(&c, &sas, &b);
  free(path);
  if (rc < 0)
    return;
  const char *comp = http_query(req, "comp");
  bool head = !strcmp(req->method, "HEAD"), get = !strcmp(req->method, "GET");
  bool put = !strcmp(req->method, "PUT");
  if (put && b->writable) {
    blob_put(&c, b, comp);
    return;
  }
  if (!head && !get) { /* DELETE too (azcopy's clean-up after a failed upload): the disk stays */
    blob_error(&c, 403, "AuthorizationPermissionMismatch",
               "This request is not authorized to perform this operation using this permission.");
  } else if (comp && strcmp(comp, "pagelist")) {
    blob_error(&c, 400, "InvalidQueryParameterValue",
               "Value for one of the query parameters specified in the request URI is invalid: comp.");
  } else if (preconditions(&c, b) == 0) {
    if (comp)
      blob_page_ranges(&c, b);
    else
      blob_get(&c, b, head);
    return; /* b is theirs */
  }
  blob_close(b);
}
