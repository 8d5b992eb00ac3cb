/*
 * throttle.c — see throttle.h.  A linear scan of 1024 slots is a few
 * microseconds, nothing beside the PBKDF2 check of a client secret that it
 * guards, and needs no hashing a client could aim collisions at.
 */
#include "common/throttle.h"

#include <stdio.h>
#include <string.h>

/* tokens of a slot at now, refilled up to burst */
static double level(const struct throttle *t, const struct throttle_slot *s, int64_t now_ms)
{
  double v = s->tokens + (double)(now_ms - s->at_ms) / 1000.0 * t->per_s;
  return v > t->burst ? t->burst : v;
}

static struct throttle_slot *find(struct throttle *t, const char *key)
{
  for (int i = 0; i < THROTTLE_SLOTS; i++)
    if (t->slot[i].key[0] && strncmp(t->slot[i].key, key, THROTTLE_KEY - 1) == 0)
      return &t->slot[i];
  return NULL;
}

int throttle_wait_s(struct throttle *t, const char *key, int64_t now_ms)
{
  int wait = 0;
  pthread_mutex_lock(&t->lock);
  const struct throttle_slot *s = find(t, key);
  if (s) {
    double v = level(t, s, now_ms);
    double need = v < 1.0 ? (1.0 - v) / t->per_s : 0; /* seconds */
    wait = (int)need;
    if (wait < need) /* rounded up: a client that waits it finds a token */
      wait++;
  }
  pthread_mutex_unlock(&t->lock);
  return wait;
}

void throttle_fail(struct throttle *t, const char *key, int64_t now_ms)
{
  pthread_mutex_lock(&t->lock);
  struct throttle_slot *s = find(t, key);
  if (!s) { /* a free or fully refilled slot, else the least recently failed */
    for (int i = 0; i < THROTTLE_SLOTS && !s; i++)
      if (!t->slot[i].key[0] || level(t, &t->slot[i], now_ms) >= t->burst)
        s = &t->slot[i];
    if (!s) {
      s = &t->slot[0];
      for (int i = 1; i < THROTTLE_SLOTS; i++)
        if (t->slot[i].at_ms < s->at_ms)
          s = &t->slot[i];
    }
    snprintf(s->key, sizeof s->key, "%s", key);
    s->tokens = t->burst;
    s->at_ms = now_ms;
  }
  s->tokens = level(t, s, now_ms) - 1.0;
  s->at_ms = now_ms;
  pthread_mutex_unlock(&t->lock);
}
