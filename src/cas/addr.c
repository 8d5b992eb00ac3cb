/*
 * addr.c — object addresses: the store's address function (crypt.c: keyed
 * HMAC-SHA256 in an encrypted store, SHA-256 in a plaintext one, both over
 * a type byte and the content, which separates chunks from nodes); hex
 * conversion.
 */
#include <errno.h>
#include <string.h>

#include "cas/cas_int.h"
#include "cas/crypt.h"
#include "common/random.h"

void cas_addr_of(const struct cas *cas, enum cas_type type, const void *data, size_t len, struct cas_addr *out)
{
  crypt_addr(cas->crypt, type, data, len, out);
}

bool cas_encrypted(const struct cas *cas) { return cas->crypt != NULL; }

void cas_addr_to_hex(const struct cas_addr *a, char out[2 * CAS_ADDR_LEN + 1])
{
  static const char hx[] = "0123456789abcdef";
  for (int i = 0; i < CAS_ADDR_LEN; i++) {
    out[2 * i] = hx[a->b[i] >> 4];
    out[2 * i + 1] = hx[a->b[i] & 15];
  }
  out[2 * CAS_ADDR_LEN] = 0;
}

int cas_addr_from_hex(const char *hex, struct cas_addr *out)
{
  return hex_decode(hex, out->b, CAS_ADDR_LEN);
}
