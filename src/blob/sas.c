/*
 * sas.c — from a SAS URL to an open disk restore point or disk.
 *
 * The region verifies the signature and the grant (region_grant_verify:
 * unknown, expired, revoked and tampered URLs all fail alike); this file
 * checks the shape first — three path segments md-{grant}/{grant}/{name},
 * sr=b — and answers every failure as Azure does, 403 AuthenticationFailed,
 * without saying which part was wrong.  The blob's name (abcd in the URLs
 * handed out) is not signed, as in Azure; any name reads the same blob.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob/internal.h"
#include "common/timefmt.h"
#include "common/urlcode.h"
#include "meta/meta.h"

static void auth_failed(struct blob_call *c)
{
  blob_error(c, 403, "AuthenticationFailed",
             "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
             "correctly including the signature.");
}

void blob_close(struct blob *b)
{
  if (!b)
    return;
  region_reader_close(b->rd);
  free(b);
}

int blob_open(struct blob_call *c, const struct blob_sas *sas, struct blob **out)
{
  *out = NULL;
  struct region_sas rs = {.account = sas->account, .container = sas->container, .si = sas->si, .sp = sas->sp,
                          .sig = sas->sig};
  struct region_grant_info g = {0};
  int rc = sas->name && *sas->name ? region_grant_verify(c->plane->region, &rs, &g) : -EACCES;
  if (rc == -EACCES) {
    auth_failed(c);
    return -1;
  }
  if (rc < 0) {
    blob_error(c, 500, "InternalError", "The server encountered an internal error. Please retry the request.");
    return -1;
  }
  struct meta_image im = {0};
  struct meta_resource res = {0};
  struct blob *b = calloc(1, sizeof *b);
  rc = b ? meta_resource_get(c->plane->meta, g.resource_id, &res) : -ENOMEM;
  if (rc == 0) {
    b->disk = strcasecmp(res.type, "Microsoft.Compute/disks") == 0;
    b->writable = g.access == REGION_WRITE;
  }
  if (rc == 0 && !b->disk)
    rc = region_image_get(c->plane->region, g.resource_id, &im);
  if (rc == 0)
    rc = b->disk ? region_reader_open_disk(c->plane->region, g.resource_id, &b->rd)
                 : region_reader_open(c->plane->region, g.resource_id, &b->rd);
  if (rc == 0) {
    b->disk_size = region_reader_size(b->rd);
    b->encrypted = region_reader_encrypted(b->rd);
    b->size = b->disk_size + VHD_FOOTER_LEN;
    vhd_footer(b->footer, b->disk_size, b->disk ? res.id : im.disk_id);
    /* An image's content is named by its root; a disk's by its grant (a
     * disk under a Write grant changes, but its ETag does not: uploads set
     * no conditions). */
    if (b->disk)
      snprintf(b->etag, sizeof b->etag, "\"0x%llX\"", (unsigned long long)g.created_us);
    else
      snprintf(b->etag, sizeof b->etag, "\"0x%.16s\"", im.root);
    time_rfc1123(b->disk ? g.created_us : res.created_us, b->last_modified);
    time_rfc1123(res.created_us, b->created);
    *out = b;
  } else if (rc == -ENOENT) { /* deleted since the grant was checked: the grant went with it */
    auth_failed(c);
  } else if (rc == -ENOKEY || rc == -EKEYREVOKED || rc == -EKEYREJECTED || rc == -ENODEV || rc == -EACCES) {
    blob_error(c, 403, "KeyVaultEncryptionKeyNotFound",
               "The customer key this blob is encrypted with cannot be used (destroyed or disabled in its token): "
               "its data is unreadable.");
  } else {
    blob_error(c, 500, "InternalError", "The blob could not be opened; see the region's log.");
  }
  if (rc < 0)
    blob_close(b);
  meta_image_clear(&im);
  meta_resource_clear(&res);
  region_grant_info_clear(&g);
  return rc < 0 ? -1 : 0;
}

/* The value of query parameter name in q ("a=1&b=2"), decoded into a
 * malloc'd string, or NULL. */
static char *query_value(const char *q, const char *name)
{
  size_t n = strlen(name);
  for (const char *p = q; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len > n && p[n] == '=' && strncasecmp(p, name, n) == 0)
      return url_decode(p + n + 1, len - n - 1, 0);
    p = amp ? amp + 1 : NULL;
  }
  return NULL;
}

char *blob_sas_split_path(const char *raw, struct blob_sas *sas)
{
  if (!raw || raw[0] != '/')
    return NULL;
  char *buf = strdup(raw + 1);
  if (!buf)
    return NULL;
  char *s1 = strchr(buf, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
  if (!s1 || !s2 || strchr(s2 + 1, '/')) {
    free(buf);
    return NULL;
  }
  *s1 = *s2 = '\0';
  sas->account = buf, sas->container = s1 + 1, sas->name = s2 + 1;
  return buf;
}

bool blob_sas_parse_url(const char *url, struct blob_url *out)
{
  memset(out, 0, sizeof *out);
  const char *p = strstr(url, "://");
  p = p ? strchr(p + 3, '/') : NULL;
  const char *q = p ? strchr(p, '?') : NULL;
  char *path = q ? strndup(p, (size_t)(q - p)) : NULL;
  if (path) {
    out->path = blob_sas_split_path(path, &out->sas);
    out->si = query_value(q + 1, "si"), out->sp = query_value(q + 1, "sp"), out->sig = query_value(q + 1, "sig");
    out->sas.si = out->si, out->sas.sp = out->sp, out->sas.sig = out->sig;
  }
  free(path);
  if (out->path && out->si && out->sp && out->sig)
    return true;
  blob_url_free(out);
  return false;
}

void blob_url_free(struct blob_url *u)
{
  free(u->path);
  free(u->si);
  free(u->sp);
  free(u->sig);
  memset(u, 0, sizeof *u);
}
