/*
 * secret.c — client secrets.
 *
 * Stored as PBKDF2-HMAC-SHA256(secret, 16-byte salt, 10,000 iterations): a
 * leaked database does not give working credentials, and the token endpoint
 * (called once an hour per client) can afford ~3 ms.  Comparison is
 * CRYPTO_memcmp, constant time.  New secrets carry 256 random bits.
 */
#include <stdio.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "auth/auth.h"
#include "common/base64url.h"
#include "common/random.h"

int auth_secret_hash(const char *secret, const unsigned char salt[16], unsigned char hash[32])
{
  return PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt, 16, AUTH_SECRET_ITERATIONS, EVP_sha256(), 32, hash)
             ? 0
             : -EINVAL;
}

bool auth_secret_matches(const char *secret, const unsigned char salt[16], const unsigned char hash[32])
{
  unsigned char got[32];
  if (!secret || auth_secret_hash(secret, salt, got) < 0)
    return false;
  return CRYPTO_memcmp(got, hash, 32) == 0;
}

/* A secret is typed on command lines (az login -p SECRET): one starting with
 * '-' or '_' would be taken for an option there (az then fails with
 * "expected one argument"), so its first character is drawn again until it
 * is a letter or a digit.  The 6 bits of that character lose 0.05 bit. */
char *auth_secret_new(void)
{
  unsigned char raw[32];
  if (random_bytes(raw, sizeof raw) < 0)
    return NULL;
  while ((raw[0] >> 2) >= 62) /* base64url's '-' and '_' */
    if (random_bytes(raw, 1) < 0)
      return NULL;
  return base64url_encode(raw, sizeof raw);
}
