/*
 * crypt.h — an encrypted store's keys at work (internal to cas/): keyed
 * object addresses and the AEAD that seals records (format in pack.h,
 * reasons in docs/encryption.md).
 *
 * A struct cas_crypt is made once per cas_open from the caller's cas_key
 * (which it copies) and keeps a pool of OpenSSL contexts, each already
 * keyed with the store's HMAC keys, so a put or get borrows one and
 * allocates nothing.  Thread-safe.  A NULL struct cas_crypt is a plaintext
 * store: crypt_addr is then SHA-256, the legacy address.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cas/cas.h"

#define CRYPT_ID_LEN 16   /* a key domain's id */
#define CRYPT_SALT_LEN 16 /* per record: its key is HMAC-SHA256(enc key, salt) */
#define CRYPT_TAG_LEN 16  /* AES-256-GCM tag */
#define CRYPT_CHECK_LEN 16

struct cas_crypt;
struct crypt_op;

/* NULL on allocation failure. */
struct cas_crypt *crypt_new(const struct cas_key *key);
/* Cleanses the keys; NULL is fine. */
void crypt_free(struct cas_crypt *cc);
const uint8_t *crypt_domain(const struct cas_crypt *cc);

/* HMAC-SHA256(addr key, type || data); SHA-256(type || data) when cc is NULL. */
void crypt_addr(struct cas_crypt *cc, enum cas_type type, const void *data, size_t len, struct cas_addr *out);
/* A value a store's config keeps to recognise its key without revealing it:
 * HMAC-SHA256(addr, "vmrp key check addr") and HMAC-SHA256(enc, "vmrp key
 * check enc"), 8 bytes of each.  0 or -ENOMEM. */
int crypt_key_check(const struct cas_key *key, uint8_t out[CRYPT_CHECK_LEN]);
/* A fresh random salt (aborts when the system has no randomness). */
void crypt_salt(uint8_t salt[CRYPT_SALT_LEN]);

/* One record's AES-256-GCM under HMAC-SHA256(enc key, salt) with a fixed
 * nonce (the key is new for every salt), aad authenticated with it.
 * crypt_begin borrows a context (NULL: out of memory); crypt_update may run
 * in place (in == out); crypt_end writes the tag (seal) or checks it (open:
 * -EIO when it does not match) and returns the context to the pool. */
struct crypt_op *crypt_begin(struct cas_crypt *cc, const uint8_t salt[CRYPT_SALT_LEN], bool seal, const uint8_t *aad,
                             size_t aad_len);
void crypt_update(struct crypt_op *op, const uint8_t *in, uint8_t *out, size_t len);
int crypt_end(struct cas_crypt *cc, struct crypt_op *op, uint8_t tag[CRYPT_TAG_LEN]);
