/*
 * access.c — who may open an export: capabilities in the export name.
 *
 * Any local user reaches the unix socket and the loopback listener, and TLS
 * without client certificates proves nothing about the client, so the
 * export name itself is the credential: "<id>.<secret>".  The owner of the
 * server registers (id, SHA-256 of the secret, export, read-only, expiry)
 * with nbd_access_add; a client that names an export any other way — the
 * export's own name, an unknown id, a wrong secret, an expired or revoked
 * grant — gets exactly what a missing export gets (NBD_REP_ERR_UNKNOWN, or
 * the hang-up EXPORT_NAME gives), so a failed guess tells nothing.
 *
 * Only the hash is kept (a memory dump or the metadata store does not give
 * the secrets away), compared in constant time (CRYPTO_memcmp) after the
 * id's lookup, so the time an answer takes says nothing about how much of a
 * secret was right.  The id is not secret: it is what ARM lists and revokes
 * by, and what refusals log (never the secret, and a malformed name only as
 * its length).
 *
 * NBD_OPT_LIST answers an empty list: a client can be shown only what it
 * has proven, and a capability it has it already knows.
 *
 * Revoking (nbd_access_remove) drops every connection opened through the
 * grant; removing an export forgets the grants on it (export.c calls
 * access_forget_export), so a grant never outlives what it opens.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "nbd/internal.h"

struct nbd_access {
  struct nbd_access *next;
  char *id;
  uint8_t hash[NBD_ACCESS_HASH_LEN];
  char *export_name;
  bool readonly;
  int64_t expires; /* unix seconds; 0: never */
};

static struct nbd_access **find(struct nbd_server *s, const char *id, size_t len)
{
  for (struct nbd_access **p = &s->access; *p; p = &(*p)->next)
    if (strlen((*p)->id) == len && memcmp((*p)->id, id, len) == 0)
      return p;
  return NULL;
}

static void access_free(struct nbd_access *a)
{
  if (!a)
    return;
  free(a->id);
  free(a->export_name);
  OPENSSL_cleanse(a->hash, sizeof a->hash);
  free(a);
}

static bool id_ok(const char *id, size_t len)
{
  if (len == 0 || len > NBD_ACCESS_ID_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
          id[i] == '-' || id[i] == '_'))
      return false;
  return true;
}

int nbd_access_add(struct nbd_server *s, const char *id, const uint8_t hash[NBD_ACCESS_HASH_LEN],
                   const char *export_name, bool readonly, int64_t expires)
{
  if (!id || !id_ok(id, strlen(id)) || !export_name || !*export_name || strlen(export_name) > NBD_MAX_STRING)
    return -EINVAL;
  struct nbd_access *a = calloc(1, sizeof *a);
  int r = -ENOMEM;
  if (!a || !(a->id = strdup(id)) || !(a->export_name = strdup(export_name)))
    goto out;
  memcpy(a->hash, hash, sizeof a->hash);
  a->readonly = readonly;
  a->expires = expires;
  {
    LOCK_GUARD(&s->lock);
    if (find(s, id, strlen(id))) {
      r = -EEXIST;
      goto out;
    }
    a->next = s->access;
    s->access = a;
    a = NULL;
  }
  r = 0;
out:
  access_free(a);
  return r;
}

int nbd_access_remove(struct nbd_server *s, const char *id)
{
  LOCK_GUARD(&s->lock);
  struct nbd_access **p = find(s, id, strlen(id));
  if (!p)
    return -ENOENT;
  struct nbd_access *a = *p;
  *p = a->next;
  for (struct nbd_conn *c = s->conns; c; c = c->next)
    if (c->access_id && strcmp(c->access_id, id) == 0)
      conn_abort(c);
  access_free(a);
  return 0;
}

void access_forget_export(struct nbd_server *s, const char *export_name)
{
  for (struct nbd_access **p = &s->access; *p;) {
    struct nbd_access *a = *p;
    if (strcmp(a->export_name, export_name) == 0) {
      *p = a->next;
      access_free(a);
    } else {
      p = &a->next;
    }
  }
}

void access_free_all(struct nbd_server *s)
{
  while (s->access) {
    struct nbd_access *a = s->access;
    s->access = a->next;
    access_free(a);
  }
}

/* Why a name opened nothing, for the log (the secret never appears). */
static void refuse(struct nbd_conn *c, const char *name, size_t len, size_t idlen, const char *why)
{
  if (!ratelog_allow(&c->s->refusals))
    return;
  if (idlen > 0 && id_ok(name, idlen))
    log_warn("nbd", "refused to open an export for %s: grant '%.*s' %s", c->peer, (int)idlen, name, why);
  else
    log_warn("nbd", "refused to open an export for %s: a name of %zu bytes that is no capability", c->peer, len);
}

int access_open(struct nbd_conn *c, const char *name, size_t len, struct access_open *out)
{
  memset(out, 0, sizeof *out);
  const char *dot = memchr(name, '.', len);
  size_t idlen = dot ? (size_t)(dot - name) : 0;
  if (!dot || !id_ok(name, idlen) || len - idlen - 1 == 0) {
    refuse(c, name, len, 0, "");
    return -ENOENT;
  }
  uint8_t h[NBD_ACCESS_HASH_LEN];
  SHA256((const unsigned char *)dot + 1, len - idlen - 1, h);
  const char *why = NULL;
  {
    LOCK_GUARD(&c->s->lock);
    struct nbd_access **p = find(c->s, name, idlen);
    if (!p)
      why = "is unknown (revoked, or its disk deleted)";
    else if (CRYPTO_memcmp((*p)->hash, h, sizeof h) != 0)
      why = "presented with a wrong secret";
    else if ((*p)->expires && (*p)->expires <= (int64_t)time(NULL))
      why = "has expired";
    else if (!(out->access_id = strdup((*p)->id)) || !(out->export_name = strdup((*p)->export_name)))
      why = "cannot be opened (out of memory)";
    else
      out->readonly = (*p)->readonly;
  }
  OPENSSL_cleanse(h, sizeof h);
  if (why) {
    free(out->access_id);
    free(out->export_name);
    memset(out, 0, sizeof *out);
    refuse(c, name, len, idlen, why);
    return -ENOENT;
  }
  out->export = export_get(c->s, out->export_name, strlen(out->export_name));
  if (!out->export) {
    refuse(c, name, len, idlen, "names an export that is gone");
    access_open_clear(out);
    return -ENOENT;
  }
  return 0;
}

void access_open_clear(struct access_open *o)
{
  free(o->access_id);
  free(o->export_name);
  memset(o, 0, sizeof *o);
}
