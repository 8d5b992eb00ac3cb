/*
 * pool.h — run a function over items 0..n-1 on a fixed number of threads
 * (tree builds and restores; pool_threads also sizes hydration's fillers).
 * Each thread claims the next item from an atomic counter and owns a private
 * state created by init; the first error stops the others after their
 * current item.  Memory is bounded by the per-thread states: nothing is
 * queued.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct pool_ops {
  void *(*init)(void *ctx);                           /* per-thread state, NULL = ENOMEM */
  int (*run)(void *ctx, void *state, uint64_t item);  /* 0 or -errno */
  void (*fini)(void *ctx, void *state);
};

unsigned pool_threads(unsigned wanted);
int pool_run(unsigned threads, uint64_t n, const struct pool_ops *ops, void *ctx);
