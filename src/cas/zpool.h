/*
 * zpool.h — a pool of zstd compression contexts (internal to cas/).
 *
 * A ZSTD_CCtx costs hundreds of KiB to create, so puts borrow one from the
 * pool and return it.  Thread-safe; the pool grows to the number of threads
 * that compress at once.
 */
#pragma once
#include <zstd.h>

struct zctx_pool;

struct zctx_pool *zpool_new(int level);
void zpool_free(struct zctx_pool *zp);
/* Returns a context (NULL on allocation failure). */
ZSTD_CCtx *zpool_get(struct zctx_pool *zp);
void zpool_put(struct zctx_pool *zp, ZSTD_CCtx *c);
