/*
 * nbd_access.c — NBD grants: capabilities that open one disk or disk
 * restore point over NBD (the NBD server checks them: src/nbd/access.c).
 *
 * A grant is made here: a random id (128 bits, hex; what ARM lists and
 * revokes by) and a random secret (256 bits, hex), so the export name a
 * client uses, "<id>.<secret>", is 97 URI-safe characters that work
 * unchanged in nbd+unix:///…, nbd://host:port/… and qemu's export=.  The
 * secret leaves the region once, in the answer to the grant; the metadata
 * store and the NBD server keep only its SHA-256, and nothing logs it.
 *
 * The row (meta/nbd_grant.c) is the authority: it is written first (in a
 * transaction that finds the resource's row, so a grant never outlives a
 * deleted resource: the trigger of migration 9 takes it along) and then
 * registered with the NBD server; revoking deletes the row and then
 * unregisters, which drops the connections it opened.  At open every row
 * is registered again (region_nbd_access_load).  An export removed with
 * its disk or restore point takes its grants out of the NBD server.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"
#include "nbd/nbd.h"
#include "region/internal.h"

#define SECRET_LEN 32

static int register_grant(struct region *r, const struct meta_nbd_grant *g)
{
  /* The NBD server counts in seconds; round up so a grant never ends early. */
  int64_t expires = g->expires_us ? (g->expires_us + 999999) / 1000000 : 0;
  return nbd_access_add(r->cfg.nbd, g->id, g->secret_sha256, g->export_name, g->readonly, expires);
}

static int load_one(void *ctx, const struct meta_nbd_grant *g)
{
  struct region *r = ctx;
  int rc = register_grant(r, g);
  if (rc < 0)
    log_error("region", "cannot register NBD grant %s of %s: %s", g->id, g->resource_id, strerror(-rc));
  return 0;
}

int region_nbd_access_load(struct region *r)
{
  if (!r->cfg.nbd)
    return 0;
  int rc = meta_nbd_grant_purge(r->meta, time_now_us());
  return rc < 0 ? rc : meta_nbd_grant_list(r->meta, NULL, load_one, r);
}

int region_nbd_grant(struct region *r, const struct region_nbd_grant_request *req, struct region_nbd_grant *out)
{
  memset(out, 0, sizeof *out);
  unsigned char secret[SECRET_LEN], idbytes[16];
  char secret_hex[2 * SECRET_LEN + 1] = "";
  struct meta_nbd_grant g = {.resource_id = (char *)req->resource_id, .export_name = (char *)req->export_name,
                             .readonly = req->readonly, .created_us = time_now_us()};
  bool in_txn = false;
  int rc = -ENOTSUP;
  if (!r->cfg.nbd)
    goto out;
  rc = -ENOENT;
  if (!nbd_export_handle(r->cfg.nbd, req->export_name))
    goto out;
  if ((rc = random_bytes(secret, sizeof secret)) < 0 || (rc = random_bytes(idbytes, sizeof idbytes)) < 0)
    goto out;
  hex_encode(idbytes, sizeof idbytes, g.id);
  hex_encode(secret, sizeof secret, secret_hex);
  SHA256((const unsigned char *)secret_hex, strlen(secret_hex), g.secret_sha256);
  g.expires_us = req->duration_s > 0 ? g.created_us + req->duration_s * 1000000 : 0;
  if ((rc = meta_begin(r->meta)) < 0)
    goto out;
  in_txn = true;
  struct meta_resource res;
  int n = 0;
  if ((rc = meta_nbd_grant_purge(r->meta, g.created_us)) < 0 ||
      (rc = meta_resource_get(r->meta, req->resource_id, &res)) < 0)
    goto out;
  meta_resource_clear(&res);
  if ((rc = meta_nbd_grant_count(r->meta, req->resource_id, &n)) < 0)
    goto out;
  rc = -EDQUOT;
  if (n >= REGION_NBD_MAX_GRANTS)
    goto out;
  if ((rc = meta_nbd_grant_put(r->meta, &g)) < 0 || (rc = meta_commit(r->meta)) < 0)
    goto out;
  in_txn = false;
  if ((rc = register_grant(r, &g)) < 0) { /* the row is kept: the next start registers it */
    log_error("region", "cannot register NBD grant %s of %s: %s", g.id, req->resource_id, strerror(-rc));
    goto out;
  }
  snprintf(out->id, sizeof out->id, "%s", g.id);
  out->expires_us = g.expires_us;
  rc = asprintf(&out->export_name, "%s.%s", g.id, secret_hex) < 0 ? -ENOMEM : 0;
  if (rc < 0)
    out->export_name = NULL;
out:
  if (in_txn)
    meta_rollback(r->meta);
  OPENSSL_cleanse(secret, sizeof secret);
  OPENSSL_cleanse(secret_hex, sizeof secret_hex);
  return rc;
}

void region_nbd_grant_clear(struct region_nbd_grant *g)
{
  if (g->export_name)
    OPENSSL_cleanse(g->export_name, strlen(g->export_name));
  free(g->export_name);
  memset(g, 0, sizeof *g);
}

int region_nbd_revoke(struct region *r, const char *resource_id, const char *id)
{
  int rc = meta_nbd_grant_delete(r->meta, resource_id, id);
  if (rc == 0 && r->cfg.nbd && nbd_access_remove(r->cfg.nbd, id) < 0)
    log_info("region", "NBD grant %s was no longer registered (its export was gone)", id);
  return rc;
}

int region_nbd_grants(struct region *r, const char *resource_id, meta_nbd_grant_cb cb, void *ctx)
{
  return meta_nbd_grant_list(r->meta, resource_id, cb, ctx);
}

static int drop_one(void *ctx, const struct meta_nbd_grant *g)
{
  struct region *r = ctx;
  nbd_access_remove(r->cfg.nbd, g->id); /* -ENOENT: not registered (expired, or dropped already) */
  return 0;
}

int region_nbd_access_drop(struct region *r, const char *resource_id)
{
  return r->cfg.nbd ? meta_nbd_grant_list(r->meta, resource_id, drop_one, r) : 0;
}

int region_nbd_access_reload(struct region *r, const char *resource_id)
{
  return r->cfg.nbd ? meta_nbd_grant_list(r->meta, resource_id, load_one, r) : 0;
}
