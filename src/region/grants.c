/*
 * grants.c — SAS grants: who may read (or upload) a disk or disk restore
 * point through the data plane, until when, and the URLs that say so.
 *
 * A URL is
 *     {sas_url}/md-{grant}/{grant}/abcd?sv=2018-03-28&sr=b&si={grant}&sp={r|rw}&sig={sig}
 * with sig = base64url(HMAC-SHA256(key, "vmrp-sas-1\n" grant "\n" resource
 * "\n" sp "\n" created_us)), the resource id lower-cased (ARM ids compare
 * case-insensitively).  Like Azure's managed-disk SAS (`si`: a stored
 * access policy), the URL carries no expiry: the grant's row holds it, so
 * that extending an active grant returns the same URL with a later expiry,
 * and deleting the row revokes every copy of it at once.  The signature
 * binds the URL to the grant's incarnation (its creation time) as well as
 * to its resource and permission, so neither can be changed in the URL.
 *
 * The key (32 random bytes, meta secret "sas-key-1") is made on first use
 * and survives restarts with the grants; rotating it revokes every grant
 * (their URLs could not verify any more).  The key is read from the
 * metadata at each use, so `vmrpd sas rotate-key` (which works on the
 * metadata alone) takes effect in a running daemon at once.  Verification compares in
 * constant time (CRYPTO_memcmp) and answers every failure alike (-EACCES),
 * so a caller learns nothing about which part was wrong.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64url.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"
#include "region/internal.h"

#define KEY_NAME "sas-key-1"
#define KEY_LEN 32

static int load_key(struct region *r, unsigned char key[KEY_LEN])
{
  size_t len = 0;
  int rc = meta_secret_get(r->meta, KEY_NAME, key, KEY_LEN, &len);
  if (rc == 0 && len == KEY_LEN)
    return 0;
  if (rc != -ENOENT)
    return rc < 0 ? rc : -EIO;
  rc = random_bytes(key, KEY_LEN);
  if (rc == 0)
    rc = meta_secret_put(r->meta, KEY_NAME, key, KEY_LEN, time_now_us());
  return rc;
}

static const char *perm_of(int access) { return access == META_ACCESS_WRITE ? "rw" : "r"; }

/* base64url of the signature, in out[44]. */
static int sign(struct region *r, const struct meta_grant *g, char out[48])
{
  unsigned char key[KEY_LEN], mac[EVP_MAX_MD_SIZE];
  unsigned maclen = 0;
  int rc = load_key(r, key);
  if (rc < 0)
    return rc;
  char *msg = NULL;
  int n = asprintf(&msg, "vmrp-sas-1\n%s\n%s\n%s\n%lld", g->id, g->resource_id, perm_of(g->access),
                   (long long)g->created_us);
  if (n < 0)
    return -ENOMEM;
  for (char *p = msg; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  bool ok = HMAC(EVP_sha256(), key, KEY_LEN, (unsigned char *)msg, (size_t)n, mac, &maclen) != NULL;
  OPENSSL_cleanse(key, sizeof key);
  free(msg);
  char *b = ok ? base64url_encode(mac, maclen) : NULL;
  if (!b)
    return -EIO;
  snprintf(out, 48, "%s", b);
  free(b);
  return 0;
}

static int url_of(struct region *r, const struct meta_grant *g, char **url)
{
  char sig[48];
  int rc = sign(r, g, sig);
  if (rc < 0)
    return rc;
  *url = NULL;
  if (asprintf(url, "%s/md-%s/%s/abcd?sv=2018-03-28&sr=b&si=%s&sp=%s&sig=%s", r->cfg.sas_url,
               g->id, g->id, g->id, perm_of(g->access), sig) < 0)
    return -ENOMEM;
  return 0;
}

int region_grant_begin(struct region *r, const struct region_grant_request *req, struct region_grant *out)
{
  memset(out, 0, sizeof *out);
  if (!r->cfg.sas_url)
    return -ENOTSUP;
  int64_t now = time_now_us();
  int max = r->cfg.sas_max_grants > 0 ? r->cfg.sas_max_grants : 5;
  struct meta_grant g = {0};
  bool own_txn = !req->in_caller_txn;
  int rc = own_txn ? meta_begin(r->meta) : 0;
  if (rc < 0)
    return rc;
  rc = meta_grant_purge(r->meta, now);
  if (rc == 0)
    rc = meta_grant_of(r->meta, req->resource_id, now, &g);
  if (rc == 0) { /* extend the active grant: same URL, later expiry */
    if (g.access != (int)req->access)
      rc = -EEXIST;
    else if (g.expires_us < now + req->duration_s * 1000000) {
      g.expires_us = now + req->duration_s * 1000000;
      rc = meta_grant_put(r->meta, &g);
    }
    out->extended = true;
  } else if (rc == -ENOENT) {
    int active = 0;
    rc = meta_grant_count_family(r->meta, req->family, now, &active);
    if (rc == 0 && active >= max)
      rc = -EDQUOT;
    if (rc == 0) {
      char uuid[40];
      random_uuid(uuid);
      int k = 0;
      for (const char *p = uuid; *p; p++) /* the 32 hex digits: a DNS-label-safe account name */
        if (*p != '-')
          g.id[k++] = *p;
      g.id[k] = '\0';
      g.resource_id = strdup(req->resource_id);
      g.family = strdup(req->family);
      g.access = (int)req->access;
      g.created_us = now;
      g.expires_us = now + req->duration_s * 1000000;
      rc = g.resource_id && g.family ? meta_grant_put(r->meta, &g) : -ENOMEM;
    }
  }
  if (rc == 0)
    rc = url_of(r, &g, &out->url);
  if (own_txn && rc == 0)
    rc = meta_commit(r->meta);
  else if (own_txn)
    meta_rollback(r->meta);
  if (rc == 0) {
    snprintf(out->id, sizeof out->id, "%s", g.id);
    out->expires_us = g.expires_us;
  } else {
    free(out->url);
    out->url = NULL;
  }
  meta_grant_clear(&g);
  return rc;
}

void region_grant_clear(struct region_grant *g)
{
  free(g->url);
  memset(g, 0, sizeof *g);
}

int region_grant_end(struct region *r, const char *resource_id)
{
  return meta_grant_delete_of(r->meta, resource_id);
}

int region_grant_active(struct region *r, const char *resource_id, enum region_access *access)
{
  struct meta_grant g;
  int rc = meta_grant_of(r->meta, resource_id, time_now_us(), &g);
  if (rc == 0) {
    if (access)
      *access = (enum region_access)g.access;
    meta_grant_clear(&g);
  }
  return rc;
}

int region_grant_verify(struct region *r, const struct region_sas *sas, struct region_grant_info *out)
{
  memset(out, 0, sizeof *out);
  if (!sas->si || !sas->sig || !sas->sp || !sas->container || !sas->account)
    return -EACCES;
  struct meta_grant g;
  int rc = meta_grant_get(r->meta, sas->si, time_now_us(), &g);
  if (rc == -ENOENT)
    return -EACCES;
  if (rc < 0)
    return rc;
  char want[48], account[48];
  rc = sign(r, &g, want);
  snprintf(account, sizeof account, "md-%s", g.id);
  if (rc == 0) {
    size_t n = strlen(want);
    bool ok = strlen(sas->sig) == n && CRYPTO_memcmp(want, sas->sig, n) == 0;
    ok = ok && strcmp(sas->sp, perm_of(g.access)) == 0 && strcmp(sas->container, g.id) == 0 &&
         strcmp(sas->account, account) == 0;
    rc = ok ? 0 : -EACCES;
  }
  if (rc == 0) {
    out->resource_id = g.resource_id;
    out->access = (enum region_access)g.access;
    out->created_us = g.created_us;
    out->expires_us = g.expires_us;
    g.resource_id = NULL;
  }
  meta_grant_clear(&g);
  return rc;
}

void region_grant_info_clear(struct region_grant_info *g)
{
  free(g->resource_id);
  memset(g, 0, sizeof *g);
}

int region_sas_rotate_key(struct meta *m)
{
  unsigned char key[KEY_LEN];
  int rc = random_bytes(key, sizeof key);
  if (rc == 0)
    rc = meta_begin(m);
  if (rc == 0) {
    rc = meta_secret_put(m, KEY_NAME, key, sizeof key, time_now_us());
    if (rc == 0)
      rc = meta_grant_delete_of(m, NULL);
    if (rc == 0)
      rc = meta_commit(m);
    else
      meta_rollback(m);
  }
  OPENSSL_cleanse(key, sizeof key);
  if (rc == 0)
    log_info("region", "the SAS signing key was rotated: every grant is revoked");
  return rc;
}
