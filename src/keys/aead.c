/*
 * aead.c — AES-256-GCM with a random 96-bit nonce, the one cipher of the key
 * hierarchy (master-wrapped domain sets and per-disk volume keys).  Random
 * nonces are safe here: a key seals a handful of small values over its life
 * (a domain set per rotation, a volume key per disk), far below the 2^32
 * messages after which random 96-bit nonces risk a collision.
 */
#include "keys/internal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

int aead_seal(const uint8_t key[KEYS_KEY_LEN], const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
              uint8_t *out)
{
  int r = -EIO, n = 0;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (!c)
    return -ENOMEM;
  if (len > INT32_MAX || aad_len > INT32_MAX || RAND_bytes(out, KEYS_NONCE_LEN) != 1)
    goto out;
  if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, out) != 1 ||
      (aad_len && EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1) ||
      EVP_EncryptUpdate(c, out + KEYS_NONCE_LEN, &n, in, (int)len) != 1 ||
      EVP_EncryptFinal_ex(c, out + KEYS_NONCE_LEN + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KEYS_TAG_LEN, out + KEYS_NONCE_LEN + len) != 1)
    goto out;
  r = 0;
out:
  EVP_CIPHER_CTX_free(c);
  return r;
}

int aead_open(const uint8_t key[KEYS_KEY_LEN], const uint8_t *aad, size_t aad_len, const uint8_t *in,
              size_t in_len, uint8_t *out)
{
  if (in_len < KEYS_NONCE_LEN + KEYS_TAG_LEN || in_len > INT32_MAX || aad_len > INT32_MAX)
    return -EINVAL;
  size_t len = in_len - KEYS_NONCE_LEN - KEYS_TAG_LEN;
  int r = -EIO, n = 0;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (!c)
    return -ENOMEM;
  if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) != 1 ||
      (aad_len && EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1) ||
      EVP_DecryptUpdate(c, out, &n, in + KEYS_NONCE_LEN, (int)len) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KEYS_TAG_LEN, (void *)(in + KEYS_NONCE_LEN + len)) != 1)
    goto out;
  r = EVP_DecryptFinal_ex(c, out + n, &n) == 1 ? 0 : -EKEYREJECTED;
  if (r < 0)
    OPENSSL_cleanse(out, len); /* nothing unauthenticated is handed out */
out:
  EVP_CIPHER_CTX_free(c);
  return r;
}
