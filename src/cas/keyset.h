/*
 * keyset.h — a set of addresses (first 16 bytes), for GC marking and verify
 * (internal to cas/).  Open addressing, linear probing, grows at half load.
 * A 128-bit prefix collision can only make a dead object look live, the safe
 * direction.  Not thread-safe.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "cas/cas.h"

struct keyset {
  unsigned char (*slots)[16];
  size_t cap, n;
};

void keyset_init(struct keyset *ks);
void keyset_free(struct keyset *ks);
/* Returns 1 if added, 0 if already present, -ENOMEM. */
int keyset_add(struct keyset *ks, const struct cas_addr *a);
bool keyset_has(const struct keyset *ks, const struct cas_addr *a);
