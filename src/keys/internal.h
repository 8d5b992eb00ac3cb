/*
 * internal.h — what the files of keys/ share: the keyring's layout, the
 * AES-256-GCM seal both wrappings use, the domain file format and the
 * PKCS#11 token interface.
 *
 * A keyring directory holds:
 *   lock              flock'ed (LOCK_EX) by every writer and by keys_open
 *   master.key        the master key, 32 bytes, 0600
 *   master.key.new    only during a master-key rotation (rotate.c)
 *   domains/<hex id>  one file per key domain (domain.c)
 *   domains/<hex id>.new  only during a master-key rotation
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys/keys.h"

#define KEYS_LOCK "lock"
#define KEYS_MASTER "master.key"
#define KEYS_MASTER_NEW "master.key.new"
#define KEYS_DOMAINS "domains"
#define KEYS_BY_MASTER "master" /* the wrapping name of a master-wrapped domain */

#define KEYS_NONCE_LEN 12
#define KEYS_TAG_LEN 16
#define KEYS_SET_LEN (3 * KEYS_KEY_LEN) /* enc || addr || wrap */
#define KEYS_SEALED_SET_LEN (KEYS_NONCE_LEN + KEYS_SET_LEN + KEYS_TAG_LEN)
#define KEYS_WRAPPING_MAX 512 /* "master" or a key URL */

struct p11;

struct keys {
  char *dir;
  struct keys_set platform; /* unwrapped at open; the master key is not kept */
  struct p11 *p11;          /* NULL: no PKCS#11 module configured (-ENODEV) */
};

/* ---- aead.c: AES-256-GCM, out = nonce || ciphertext || tag ---- */
int aead_seal(const uint8_t key[KEYS_KEY_LEN], const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
              uint8_t *out);
/* out receives in_len - KEYS_NONCE_LEN - KEYS_TAG_LEN bytes; -EKEYREJECTED
 * when the tag does not verify, -EINVAL when in_len is too short. */
int aead_open(const uint8_t key[KEYS_KEY_LEN], const uint8_t *aad, size_t aad_len, const uint8_t *in,
              size_t in_len, uint8_t *out);

/* ---- master.c ---- */
/* Takes the keyring's writer lock (blocking); returns the fd to close, or
 * -errno (-ENOKEY when the directory does not exist). */
int keyring_lock(const char *dir);
/* "dir/name" into out (PATH_MAX); -ENAMETOOLONG. */
int keyring_path(const char *dir, const char *name, char *out);
/* Reads a master key file: -ENOKEY absent, -EPERM open to other users,
 * -EKEYREJECTED not a key (wrong size). */
int master_read(const char *dir, const char *name, uint8_t key[KEYS_KEY_LEN]);
/* Writes a master key file whole (0600). */
int master_write(const char *dir, const char *name, const uint8_t key[KEYS_KEY_LEN]);

/* ---- domain.c: domain files ---- */
struct domain_file {
  uint8_t id[KEYS_ID_LEN];
  char wrapping[KEYS_WRAPPING_MAX + 1]; /* KEYS_BY_MASTER or a key URL */
  uint8_t sealed[KEYS_SEALED_SET_LEN];  /* the set, sealed with AAD = id || wrapping */
};
/* dir/domains/<hex id><suffix> into out (PATH_MAX). */
int domain_path(const char *dir, const uint8_t id[KEYS_ID_LEN], const char *suffix, char *out);
/* -ENOENT absent, -EKEYREJECTED damaged (CRC, format). */
int domain_read(const char *path, struct domain_file *out);
/* Writes a domain file whole (temp, fsync, rename, fsync dir; 0600). */
int domain_write(const char *path, const struct domain_file *d);
/* The AAD of a domain's wrapping: id || wrapping; returns its length. */
size_t domain_aad(const struct domain_file *d, uint8_t aad[KEYS_ID_LEN + KEYS_WRAPPING_MAX]);
bool domain_by_master(const struct domain_file *d);
/* Seals / opens a set with a master key (the wrapping is KEYS_BY_MASTER). */
int domain_seal_master(const uint8_t master[KEYS_KEY_LEN], const struct keys_set *set, struct domain_file *out);
int domain_open_master(const uint8_t master[KEYS_KEY_LEN], const struct domain_file *d, struct keys_set *out);
/* The ids of every domain file in dir (names of 32 hex digits, with suffix
 * appended: "" or ".new"); caller frees *ids. */
int domain_list(const char *dir, const char *suffix, uint8_t (**ids)[KEYS_ID_LEN], size_t *count);
/* The set's secret part in the order it is sealed, and back. */
void domain_set_pack(const struct keys_set *set, uint8_t out[KEYS_SET_LEN]);
void domain_set_unpack(const uint8_t in[KEYS_SET_LEN], const uint8_t id[KEYS_ID_LEN], struct keys_set *out);

/* ---- rotate.c ---- */
/* Finishes (committed) or undoes (not committed) a master-key rotation a
 * crash interrupted; the caller holds the lock.  -EKEYREJECTED when the
 * master key would not open the result (nothing is changed then). */
int rotate_recover(const char *dir);

/* ---- pkcs11.c: customer keys in a token ---- */
/* Loads the module and reads the PIN (-EPERM: the pin file is open to
 * others); -ENODEV when the module cannot be loaded. */
int p11_open(const char *module, const char *pin_file, struct p11 **out);
void p11_close(struct p11 *p);
/* Seals / opens with the customer key u names (AES-256-GCM in the token),
 * in the same layout as aead_seal. */
int p11_seal(struct p11 *p, const struct keys_url *u, const uint8_t *aad, size_t aad_len, const uint8_t *in,
             size_t len, uint8_t *out);
int p11_open_sealed(struct p11 *p, const struct keys_url *u, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                    size_t in_len, uint8_t *out);
/* 0 when the key exists and may encrypt and decrypt. */
int p11_check(struct p11 *p, const struct keys_url *u);
/* Sets CKA_ENCRYPT and CKA_DECRYPT of the key (disable: both false). */
int p11_set_enabled(struct p11 *p, const struct keys_url *u, bool enabled);
