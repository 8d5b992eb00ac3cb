/*
 * zpool.c — see zpool.h.  A mutex-protected stack of idle contexts, each
 * already set to the store's compression level and to add a content
 * checksum (XXH64) to every frame.
 */
#include "cas/zpool.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/cleanup.h"

struct zctx_pool {
  pthread_mutex_t lock;
  int level;
  ZSTD_CCtx **idle;
  size_t n, cap;
};

struct zctx_pool *zpool_new(int level)
{
  struct zctx_pool *zp = calloc(1, sizeof *zp);
  if (!zp)
    return NULL;
  pthread_mutex_init(&zp->lock, NULL);
  zp->level = level;
  return zp;
}

void zpool_free(struct zctx_pool *zp)
{
  if (!zp)
    return;
  for (size_t i = 0; i < zp->n; i++)
    ZSTD_freeCCtx(zp->idle[i]);
  free(zp->idle);
  pthread_mutex_destroy(&zp->lock);
  free(zp);
}

ZSTD_CCtx *zpool_get(struct zctx_pool *zp)
{
  {
    LOCK_GUARD(&zp->lock);
    if (zp->n > 0)
      return zp->idle[--zp->n];
  }
  ZSTD_CCtx *c = ZSTD_createCCtx();
  if (c && (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, zp->level)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)))) {
    ZSTD_freeCCtx(c);
    return NULL;
  }
  return c;
}

void zpool_put(struct zctx_pool *zp, ZSTD_CCtx *c)
{
  LOCK_GUARD(&zp->lock);
  if (zp->n == zp->cap) {
    size_t cap = zp->cap ? 2 * zp->cap : 8;
    ZSTD_CCtx **ni = realloc(zp->idle, cap * sizeof *ni);
    if (!ni) {
      ZSTD_freeCCtx(c);
      return;
    }
    zp->idle = ni;
    zp->cap = cap;
  }
  zp->idle[zp->n++] = c;
}
