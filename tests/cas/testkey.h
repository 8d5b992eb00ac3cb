/*
 * testkey.h — the key the storage tests open their chunk stores with: one
 * random key per process (a forked child keeps it), so every test runs on
 * an encrypted store; a test built with TU_PLAINTEXT gets NULL and runs on
 * the legacy plaintext store instead.
 */
#pragma once
#include <openssl/rand.h>
#include <stdlib.h>

#include "cas/cas.h"

static inline const struct cas_key *tu_cas_key(void)
{
#ifdef TU_PLAINTEXT
  return NULL;
#else
  static struct cas_key k;
  static int made;
  if (!__atomic_load_n(&made, __ATOMIC_ACQUIRE)) {
    if (RAND_bytes((unsigned char *)&k, sizeof k) != 1)
      abort();
    __atomic_store_n(&made, 1, __ATOMIC_RELEASE);
  }
  return &k;
#endif
}

/* Another key domain (another deployment's store). */
static inline void tu_other_key(struct cas_key *k)
{
  if (RAND_bytes((unsigned char *)k, sizeof *k) != 1)
    abort();
}
