/*
 * keyset.c — see keyset.h.  The all-zero key marks an empty slot; the zero
 * address is never stored; another address with a zero 128-bit prefix is
 * reported present (live), the safe answer.
 */
#include "cas/keyset.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char empty[16];

void keyset_init(struct keyset *ks) { memset(ks, 0, sizeof *ks); }
void keyset_free(struct keyset *ks) { free(ks->slots); memset(ks, 0, sizeof *ks); }

static size_t slot_of(const struct keyset *ks, const unsigned char *k)
{
  uint64_t h;
  memcpy(&h, k, 8);
  size_t mask = ks->cap - 1;
  size_t i = h & mask;
  while (memcmp(ks->slots[i], empty, 16) != 0 && memcmp(ks->slots[i], k, 16) != 0)
    i = (i + 1) & mask;
  return i;
}

static int grow(struct keyset *ks)
{
  size_t ncap = ks->cap ? 2 * ks->cap : 1024;
  struct keyset n = {.slots = calloc(ncap, 16), .cap = ncap};
  if (!n.slots)
    return -ENOMEM;
  for (size_t i = 0; i < ks->cap; i++)
    if (memcmp(ks->slots[i], empty, 16) != 0)
      memcpy(n.slots[slot_of(&n, ks->slots[i])], ks->slots[i], 16);
  n.n = ks->n;
  free(ks->slots);
  *ks = n;
  return 0;
}

int keyset_add(struct keyset *ks, const struct cas_addr *a)
{
  if (memcmp(a->b, empty, 16) == 0)
    return 0;
  if (2 * (ks->n + 1) > ks->cap && grow(ks) < 0)
    return -ENOMEM;
  size_t i = slot_of(ks, a->b);
  if (memcmp(ks->slots[i], empty, 16) != 0)
    return 0;
  memcpy(ks->slots[i], a->b, 16);
  ks->n++;
  return 1;
}

bool keyset_has(const struct keyset *ks, const struct cas_addr *a)
{
  if (memcmp(a->b, empty, 16) == 0)
    return true; /* cannot be told apart from an empty slot: count as live */
  if (!ks->cap)
    return false;
  return memcmp(ks->slots[slot_of(ks, a->b)], empty, 16) != 0;
}
