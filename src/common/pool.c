/*
 * pool.c — see pool.h.  Threads are created per call: builds and restores
 * run for seconds, so creation cost does not matter and no pool outlives
 * its caller.
 */
#include "common/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct pool_run {
  const struct pool_ops *ops;
  void *ctx;
  uint64_t n;
  atomic_uint_fast64_t next;
  atomic_int err;
};

static void *worker(void *arg)
{
  struct pool_run *pr = arg;
  void *st = pr->ops->init ? pr->ops->init(pr->ctx) : NULL;
  if (pr->ops->init && !st) {
    int zero = 0;
    atomic_compare_exchange_strong(&pr->err, &zero, -ENOMEM);
    return NULL;
  }
  while (atomic_load(&pr->err) == 0) {
    uint64_t i = atomic_fetch_add(&pr->next, 1);
    if (i >= pr->n)
      break;
    int r = pr->ops->run(pr->ctx, st, i);
    if (r < 0) {
      int zero = 0;
      atomic_compare_exchange_strong(&pr->err, &zero, r);
    }
  }
  if (pr->ops->fini)
    pr->ops->fini(pr->ctx, st);
  return NULL;
}

/* Default: two threads per CPU, so that a thread waiting for a read (source
 * image or pack not in the page cache) leaves its CPU to one that hashes,
 * compresses or checks. */
unsigned pool_threads(unsigned wanted)
{
  if (wanted)
    return wanted;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? 2 * (unsigned)n : 2;
}

int pool_run(unsigned threads, uint64_t n, const struct pool_ops *ops, void *ctx)
{
  struct pool_run pr = {.ops = ops, .ctx = ctx, .n = n};
  atomic_init(&pr.next, 0);
  atomic_init(&pr.err, 0);
  if (threads > n)
    threads = n ? (unsigned)n : 1;
  pthread_t *t = calloc(threads, sizeof *t);
  if (!t)
    return -ENOMEM;
  unsigned started = 0;
  for (; started + 1 < threads; started++)
    if (pthread_create(&t[started], NULL, worker, &pr) != 0)
      break;
  worker(&pr); /* the caller works too */
  for (unsigned i = 0; i < started; i++)
    pthread_join(t[i], NULL);
  free(t);
  return atomic_load(&pr.err);
}
