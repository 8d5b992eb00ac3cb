/*
 * addr.c — object addresses: SHA-256 over a type byte and the content
 * (domain separation between chunks and nodes), through OpenSSL's EVP
 * interface so the CPU's SHA extensions are used; hex conversion.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cas/cas.h"
#include "common/random.h"

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_init(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

void cas_hash(enum cas_type type, const void *data, size_t len, struct cas_addr *out)
{
  pthread_once(&sha256_once, sha256_init);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  uint8_t t = (uint8_t)type;
  unsigned n = 0;
  if (!ctx || !sha256_md || !EVP_DigestInit_ex(ctx, sha256_md, NULL) || !EVP_DigestUpdate(ctx, &t, 1) ||
      !EVP_DigestUpdate(ctx, data, len) || !EVP_DigestFinal_ex(ctx, out->b, &n) || n != CAS_ADDR_LEN)
    abort(); /* only on allocation failure inside OpenSSL: no safe way to continue */
  EVP_MD_CTX_free(ctx);
}

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
