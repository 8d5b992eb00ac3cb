/*
 * crypt.c — keyed addresses and record AEAD (see crypt.h).
 *
 * Why a key per record: AES-256-GCM with random 96-bit nonces under one key
 * is good for 2^32 messages, which a store of 64 KiB chunks that lives for
 * years could approach; a fresh 128-bit salt per record and the key
 * HMAC-SHA256(enc key, salt) make every record's key new, so the nonce can
 * be fixed and nothing bounds the store's life.  The cost is one HMAC over
 * 16 bytes and one AES key schedule per record (about a microsecond; a
 * record is 64 KiB to 1 MiB).
 *
 * Why a pool of contexts: an EVP context costs allocations and, for HMAC,
 * hashing the key; a pooled one is keyed once (EVP_MAC_init with a NULL key
 * restarts it under the same key) and a put or get only borrows it.
 */
#include "cas/crypt.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

struct crypt_op {
  struct crypt_op *next;
  EVP_CIPHER_CTX *aead;
  EVP_MAC_CTX *enc, *addr; /* keyed with the store's enc and addr keys */
  bool seal;
};

struct cas_crypt {
  pthread_mutex_t lock;
  struct crypt_op *idle;
  struct cas_key key;
};

static EVP_MD *sha256;
static EVP_MAC *hmac;
static EVP_CIPHER *gcm;
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;

static void algs_init(void)
{
  sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

/* No way to go on when OpenSSL fails on valid input (out of memory inside it). */
static void must(int ok)
{
  if (!ok)
    abort();
}

struct cas_crypt *crypt_new(const struct cas_key *key)
{
  pthread_once(&algs_once, algs_init);
  if (!sha256 || !hmac || !gcm)
    return NULL;
  struct cas_crypt *cc = calloc(1, sizeof *cc);
  if (!cc)
    return NULL;
  pthread_mutex_init(&cc->lock, NULL);
  cc->key = *key;
  return cc;
}

static void op_free(struct crypt_op *op)
{
  EVP_CIPHER_CTX_free(op->aead);
  EVP_MAC_CTX_free(op->enc);
  EVP_MAC_CTX_free(op->addr);
  free(op);
}

void crypt_free(struct cas_crypt *cc)
{
  if (!cc)
    return;
  for (struct crypt_op *op = cc->idle, *nx; op; op = nx) {
    nx = op->next;
    op_free(op);
  }
  OPENSSL_cleanse(&cc->key, sizeof cc->key);
  pthread_mutex_destroy(&cc->lock);
  free(cc);
}

const uint8_t *crypt_domain(const struct cas_crypt *cc) { return cc->key.id; }

static EVP_MAC_CTX *mac_new(const uint8_t *key, size_t len)
{
  EVP_MAC_CTX *m = EVP_MAC_CTX_new(hmac);
  OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                    OSSL_PARAM_construct_end()};
  if (m && !EVP_MAC_init(m, key, len, p)) {
    EVP_MAC_CTX_free(m);
    m = NULL;
  }
  return m;
}

static struct crypt_op *op_get(struct cas_crypt *cc)
{
  {
    LOCK_GUARD(&cc->lock);
    struct crypt_op *op = cc->idle;
    if (op) {
      cc->idle = op->next;
      return op;
    }
  }
  struct crypt_op *op = calloc(1, sizeof *op);
  if (!op)
    return NULL;
  op->aead = EVP_CIPHER_CTX_new();
  op->enc = mac_new(cc->key.enc, sizeof cc->key.enc);
  op->addr = mac_new(cc->key.addr, sizeof cc->key.addr);
  if (!op->aead || !op->enc || !op->addr || !EVP_CipherInit_ex2(op->aead, gcm, NULL, NULL, 1, NULL)) {
    op_free(op);
    return NULL;
  }
  return op;
}

static void op_put(struct cas_crypt *cc, struct crypt_op *op)
{
  LOCK_GUARD(&cc->lock);
  op->next = cc->idle;
  cc->idle = op;
}

void crypt_addr(struct cas_crypt *cc, enum cas_type type, const void *data, size_t len, struct cas_addr *out)
{
  pthread_once(&algs_once, algs_init);
  uint8_t t = (uint8_t)type;
  if (!cc) {
    unsigned n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    must(ctx && sha256 && EVP_DigestInit_ex(ctx, sha256, NULL) && EVP_DigestUpdate(ctx, &t, 1) &&
         EVP_DigestUpdate(ctx, data, len) && EVP_DigestFinal_ex(ctx, out->b, &n) && n == CAS_ADDR_LEN);
    EVP_MD_CTX_free(ctx);
    return;
  }
  struct crypt_op *op = op_get(cc);
  size_t n = 0;
  must(op && EVP_MAC_init(op->addr, NULL, 0, NULL) && EVP_MAC_update(op->addr, &t, 1) &&
       EVP_MAC_update(op->addr, data, len) && EVP_MAC_final(op->addr, out->b, &n, CAS_ADDR_LEN) &&
       n == CAS_ADDR_LEN);
  op_put(cc, op);
}

static int check_half(const uint8_t *key, const char *what, uint8_t out[CRYPT_CHECK_LEN / 2])
{
  uint8_t mac[32];
  size_t n = 0;
  if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, (const uint8_t *)what, strlen(what), mac, sizeof mac,
                 &n))
    return -ENOMEM;
  memcpy(out, mac, CRYPT_CHECK_LEN / 2);
  return 0;
}

int crypt_key_check(const struct cas_key *key, uint8_t out[CRYPT_CHECK_LEN])
{
  int r = check_half(key->addr, "vmrp key check addr", out);
  return r < 0 ? r : check_half(key->enc, "vmrp key check enc", out + CRYPT_CHECK_LEN / 2);
}

void crypt_salt(uint8_t salt[CRYPT_SALT_LEN]) { must(RAND_bytes(salt, CRYPT_SALT_LEN) == 1); }

struct crypt_op *crypt_begin(struct cas_crypt *cc, const uint8_t salt[CRYPT_SALT_LEN], bool seal, const uint8_t *aad,
                             size_t aad_len)
{
  static const uint8_t nonce[12]; /* fixed: every record has its own key */
  struct crypt_op *op = op_get(cc);
  if (!op)
    return NULL;
  uint8_t key[32];
  size_t n = 0;
  int len = 0;
  must(EVP_MAC_init(op->enc, NULL, 0, NULL) && EVP_MAC_update(op->enc, salt, CRYPT_SALT_LEN) &&
       EVP_MAC_final(op->enc, key, &n, sizeof key) && n == sizeof key);
  must(EVP_CipherInit_ex2(op->aead, NULL, key, nonce, seal, NULL) &&
       EVP_CipherUpdate(op->aead, NULL, &len, aad, (int)aad_len));
  OPENSSL_cleanse(key, sizeof key);
  op->seal = seal;
  return op;
}

void crypt_update(struct crypt_op *op, const uint8_t *in, uint8_t *out, size_t len)
{
  int n = 0;
  must(EVP_CipherUpdate(op->aead, out, &n, in, (int)len) && (size_t)n == len);
}

int crypt_end(struct cas_crypt *cc, struct crypt_op *op, uint8_t tag[CRYPT_TAG_LEN])
{
  uint8_t end[16];
  int n = 0, r = 0;
  if (op->seal) {
    must(EVP_CipherFinal_ex(op->aead, end, &n) &&
         EVP_CIPHER_CTX_ctrl(op->aead, EVP_CTRL_AEAD_GET_TAG, CRYPT_TAG_LEN, tag));
  } else {
    must(EVP_CIPHER_CTX_ctrl(op->aead, EVP_CTRL_AEAD_SET_TAG, CRYPT_TAG_LEN, tag));
    r = EVP_CipherFinal_ex(op->aead, end, &n) == 1 ? 0 : -EIO;
  }
  op_put(cc, op);
  return r;
}
