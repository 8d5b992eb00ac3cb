/*
 * export.c — the export registry: name → (backend ops, handle).
 *
 * A singly linked list under server->lock; exports are few (one per exported
 * disk or restore point) and looked up once per connection, so a list is
 * enough.  Each export counts references: `refs` for every holder (a
 * handshake answering INFO/GO/META, a connection in transmission) and
 * `conns` for connections in transmission only.
 *
 * States of an export: REGISTERED (found by name) → REMOVED (unlinked, no
 * new references, existing holders finish) → gone (refs == 0, freed by
 * whoever dropped the last reference or by nbd_export_remove).  Invariant
 * (1) of internal.h: after nbd_export_remove returns 0 no thread will call
 * the backend for that export again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "nbd/internal.h"

static struct nbd_export **find(struct nbd_server *s, const char *name, size_t len)
{
  for (struct nbd_export **p = &s->exports; *p; p = &(*p)->next)
    if (strlen((*p)->name) == len && memcmp((*p)->name, name, len) == 0)
      return p;
  return NULL;
}

int nbd_export_add(struct nbd_server *s, const char *name, const struct nbd_backend_ops *ops, void *handle)
{
  if (!name || !*name || strlen(name) > NBD_MAX_STRING || !ops || !ops->size || !ops->readonly ||
      !ops->pread || ops->n_meta + 1 > NBD_MAX_META)
    return -EINVAL;
  if (!ops->readonly(handle) && !ops->pwrite)
    return -EINVAL;
  struct nbd_export *e = calloc(1, sizeof *e);
  if (!e || !(e->name = strdup(name))) {
    free(e);
    return -ENOMEM;
  }
  e->ops = ops;
  e->handle = handle;
  LOCK_GUARD(&s->lock);
  if (find(s, name, strlen(name))) {
    free(e->name);
    free(e);
    return -EEXIST;
  }
  e->next = s->exports;
  s->exports = e;
  return 0;
}

struct nbd_export *export_get(struct nbd_server *s, const char *name, size_t len)
{
  LOCK_GUARD(&s->lock);
  struct nbd_export **p = find(s, name, len);
  if (!p || s->stopping)
    return NULL;
  (*p)->refs++;
  return *p;
}

static void export_free(struct nbd_export *e)
{
  free(e->name);
  free(e);
}

void export_put(struct nbd_server *s, struct nbd_export *e)
{
  /* A removed export with no holders left is freed by nbd_export_remove,
   * which is waiting for exactly this broadcast. */
  LOCK_GUARD(&s->lock);
  e->refs--;
  pthread_cond_broadcast(&s->cond);
}

void export_set_transmission(struct nbd_server *s, struct nbd_export *e, int delta)
{
  LOCK_GUARD(&s->lock);
  e->conns = (unsigned)((int)e->conns + delta);
}

/* Disconnects every connection in transmission on e (server->lock held). */
static void kick(struct nbd_server *s, struct nbd_export *e)
{
  for (struct nbd_conn *c = s->conns; c; c = c->next)
    if (c->exp == e)
      conn_abort(c);
}

int nbd_export_remove(struct nbd_server *s, const char *name, unsigned flags)
{
  LOCK_GUARD(&s->lock);
  struct nbd_export **p = find(s, name, strlen(name));
  if (!p)
    return -ENOENT;
  struct nbd_export *e = *p;
  if (e->refs > 0 && !(flags & (NBD_REMOVE_WAIT | NBD_REMOVE_DISCONNECT)))
    return -EBUSY;
  *p = e->next;
  e->removed = true;
  access_forget_export(s, e->name);
  if (flags & NBD_REMOVE_DISCONNECT)
    kick(s, e);
  while (e->refs > 0)
    pthread_cond_wait(&s->cond, &s->lock);
  export_free(e);
  return 0;
}

bool nbd_export_in_use(struct nbd_server *s, const char *name)
{
  LOCK_GUARD(&s->lock);
  struct nbd_export **p = find(s, name, strlen(name));
  return p && (*p)->refs > 0;
}

void *nbd_export_handle(struct nbd_server *s, const char *name)
{
  LOCK_GUARD(&s->lock);
  struct nbd_export **p = find(s, name, strlen(name));
  return p ? (*p)->handle : NULL;
}

unsigned nbd_export_connections(struct nbd_server *s, const char *name)
{
  LOCK_GUARD(&s->lock);
  struct nbd_export **p = find(s, name, strlen(name));
  return p ? (*p)->conns : 0;
}
