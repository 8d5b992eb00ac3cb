/*
 * wrap.c — keys wrapped under a domain's wrap key (the per-disk volume keys
 * region/ keeps in the metadata), and the hex form of domain ids.  The AAD is
 * the domain id, so a key wrapped under one domain never unwraps under
 * another, even if their wrap keys were equal.
 */
#include <errno.h>

#include "common/random.h"
#include "keys/internal.h"

_Static_assert(KEYS_WRAP_OVERHEAD == KEYS_NONCE_LEN + KEYS_TAG_LEN, "keys.h promises nonce + tag");

int keys_wrap(const struct keys_set *set, const uint8_t *key, size_t len, uint8_t *out)
{
  return aead_seal(set->wrap, set->id, KEYS_ID_LEN, key, len, out);
}

int keys_unwrap(const struct keys_set *set, const uint8_t *wrapped, size_t wrapped_len, uint8_t *out)
{
  return aead_open(set->wrap, set->id, KEYS_ID_LEN, wrapped, wrapped_len, out);
}

void keys_id_to_hex(const uint8_t id[KEYS_ID_LEN], char out[2 * KEYS_ID_LEN + 1])
{
  hex_encode(id, KEYS_ID_LEN, out);
}

int keys_id_from_hex(const char *hex, uint8_t id[KEYS_ID_LEN])
{
  return hex_decode(hex, id, KEYS_ID_LEN);
}
