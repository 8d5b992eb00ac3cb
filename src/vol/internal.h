/*
 * internal.h — the volume structure shared by vol.c (I/O), cbt.c (dirty
 * bitmap) and fence.c (fence, capture, copy-before-write).
 */
#pragma once
#include <pthread.h>
#include <stdatomic.h>

#include "vol/vol.h"

struct cbt {
  _Atomic uint64_t *words; /* bit i: chunk i written since the last committed capture */
  uint64_t nchunks;
  bool trusted;
};

struct volume {
  int fd;
  char *path;
  char *cbt_path;
  bool readonly;
  uint32_t chunk_size;
  _Atomic uint64_t size;

  /* write gate (fence.c): writers enter unless fenced */
  pthread_mutex_t gate;
  pthread_cond_t gate_cv;
  unsigned in_flight;
  unsigned closers;     /* fences (or grows) holding the gate closed */

  struct cbt cbt;               /* guarded by the gate for swaps, atomic bits otherwise */
  struct vol_capture *capture;  /* armed copy-before-write, or NULL; set/cleared with no writer in flight */
};

/* cbt.c */
int cbt_init(struct cbt *c, uint64_t nchunks, const char *path, bool trusted);
void cbt_free(struct cbt *c);
void cbt_mark(struct cbt *c, uint64_t first, uint64_t last);
bool cbt_test(const struct cbt *c, uint64_t idx);
int cbt_save(const struct cbt *c, const char *path);
int cbt_resize(struct cbt *c, uint64_t nchunks);

/* fence.c: the write gate, and copy-before-write for a write's range. */
void gate_enter(struct volume *v);
void gate_exit(struct volume *v);
int cbw_before_write(struct volume *v, uint64_t off, uint64_t len);
/* Blocks writers and waits until none is in flight / lets them go again. */
void gate_close(struct volume *v);
void gate_open(struct volume *v);
