/*
 * throttle.h — token buckets of failures, keyed by a string (a client id, an
 * address), for refusing a client that keeps failing.
 *
 * Each key holds up to `burst` tokens, refilled at `per_s` a second; a
 * failure takes one, and while a key has less than one the caller should
 * refuse it without doing the work (429 + Retry-After).  A key that never
 * fails costs nothing.  The table has a fixed number of slots: when it is
 * full a new key takes the slot of a fully refilled key, else of the least
 * recently failed one, so memory stays bounded whatever keys a client
 * invents (at the price of forgetting the oldest offender first).
 * Thread-safe.
 */
#pragma once
#include <pthread.h>
#include <stdint.h>

#define THROTTLE_SLOTS 1024
#define THROTTLE_KEY 128 /* longer keys are cut: they still collide only with themselves in practice */

struct throttle {
  pthread_mutex_t lock;
  double burst;
  double per_s;
  struct throttle_slot {
    char key[THROTTLE_KEY];
    double tokens;  /* at at_ms */
    int64_t at_ms;
  } slot[THROTTLE_SLOTS];
};

/* A static table: static struct throttle t = THROTTLE_INIT(10, 0.2); */
#define THROTTLE_INIT(burst_, per_s_) {.lock = PTHREAD_MUTEX_INITIALIZER, .burst = (burst_), .per_s = (per_s_)}

/* Seconds (rounded up) until key has a whole token again; 0: it may try now. */
int throttle_wait_s(struct throttle *t, const char *key, int64_t now_ms);
/* Takes a token from key (a failure). */
void throttle_fail(struct throttle *t, const char *key, int64_t now_ms);
