/*
 * cleanup.h — scope-bound cleanup for C.
 *
 * __attribute__((cleanup)) runs a function when a variable leaves scope, so an
 * early return can neither leak memory nor keep a lock.  Use CLEANUP_FREE for
 * heap pointers, CLEANUP_CLOSE for file descriptors and LOCK_GUARD(m) for a
 * mutex held until the end of the enclosing block.
 */
#pragma once
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_free_(void *p) { free(*(void **)p); }
static inline void cleanup_close_(int *fd) { if (*fd >= 0) close(*fd); }
static inline void cleanup_unlock_(pthread_mutex_t **m) { if (*m) pthread_mutex_unlock(*m); }

#define CLEANUP_FREE  __attribute__((cleanup(cleanup_free_)))
#define CLEANUP_CLOSE __attribute__((cleanup(cleanup_close_)))

#define LOCK_GUARD_CAT2(a, b) a##b
#define LOCK_GUARD_CAT(a, b) LOCK_GUARD_CAT2(a, b)
/* Holds the mutex until the end of the enclosing block. */
#define LOCK_GUARD(m)                                                              \
  pthread_mutex_t *LOCK_GUARD_CAT(lock_guard_, __LINE__)                           \
      __attribute__((unused, cleanup(cleanup_unlock_))) = (pthread_mutex_lock(m), (m))

/* Steals a pointer from a CLEANUP_FREE variable so it survives the scope. */
#define STEAL_PTR(p) ({ __typeof__(p) stolen_ = (p); (p) = NULL; stolen_; })
