/*
 * keys.h — the key hierarchy of a vmrp deployment: a master key, customer
 * keys in PKCS#11 tokens, and the key sets of key domains wrapped by them.
 *
 *   master key        32 random bytes in a file (0600), one per deployment,
 *                     shared by its regions; never logged, never returned
 *   customer key      an AES-256 key in a PKCS#11 token (SoftHSM2 in tests
 *                     and by default, an HSM in production), named by a
 *                     Key-Vault-style URL (keys_url_parse); never leaves it
 *       │ each wraps (AES-256-GCM, AAD = domain id || wrapping name)
 *       ▼
 *   key domain        { id, enc, addr, wrap }: the platform domain (wrapped
 *                     by the master key) and one per disk encryption set
 *                     (wrapped by its customer key):
 *                       enc  — encrypts chunk-store records (cas_key.enc)
 *                       addr — keys chunk-store addresses (cas_key.addr)
 *                       wrap — wraps per-disk volume keys (keys_wrap)
 *
 * Rotating the master key or a customer key re-wraps the few domain files,
 * never data: seconds whatever the store size, while I/O goes on with the
 * unwrapped sets already in memory.  Destroying (or disabling) a customer
 * key makes its domain unreadable: crypto-erase.
 *
 * The keyring is a directory (keys_config.dir), shared by the regions of a
 * deployment on one machine and copied with the master key to a region on
 * another.  Files are named by generated ids, never by request names.
 * Writers take an flock on the directory's lock file; every file is written
 * whole (temp, fsync, rename, fsync dir), so a crash leaves the old or the
 * new version, never a mix.
 *
 * Errors (0 or -errno): -ENOKEY a key is missing (no master key file, no
 * customer key object in the token), -EKEYREJECTED a key does not open what
 * it should (wrong master key, damaged wrapping), -EKEYREVOKED the customer
 * key exists but is disabled (may neither encrypt nor decrypt), -ENODEV no
 * PKCS#11 module configured or the token is absent, -EINVAL malformed input,
 * -ENOENT no such domain.  Nothing here destroys a key or a domain file on
 * an error.
 *
 * Thread safety: a struct keys may be used from any number of threads.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYS_ID_LEN 16
#define KEYS_KEY_LEN 32
/* What keys_wrap adds to the wrapped key: nonce (12) and tag (16). */
#define KEYS_WRAP_OVERHEAD 28

struct keys_set {
  uint8_t id[KEYS_ID_LEN];   /* the domain's id (random, 128 bits) */
  uint8_t enc[KEYS_KEY_LEN];
  uint8_t addr[KEYS_KEY_LEN];
  uint8_t wrap[KEYS_KEY_LEN];
};

struct keys_config {
  const char *dir;             /* the keyring directory */
  const char *pkcs11_module;   /* a PKCS#11 module's path; NULL: no customer keys */
  const char *pkcs11_pin_file; /* the tokens' user PIN, in a file only its owner reads */
};

struct keys;

/* Makes a new keyring in cfg->dir (created 0700 if missing): a master key
 * and the platform domain.  -EEXIST when the directory already holds a
 * master key (nothing is touched). */
int keys_create(const struct keys_config *cfg);
/* Opens a keyring: reads the master key and unwraps the platform domain
 * with it.  -ENOKEY: no master key; -EKEYREJECTED: it does not open the
 * platform domain (a key of another deployment).  Finishes a master-key
 * rotation a crash interrupted. */
int keys_open(const struct keys_config *cfg, struct keys **out);
/* Forgets (cleanses) every key in memory. */
void keys_close(struct keys *k);

/* The platform domain's key set. */
void keys_platform(const struct keys *k, struct keys_set *out);

/* Replaces the master key: a new one is made, every domain it wraps is
 * re-wrapped, then the new key replaces the old (crash-safe at every step;
 * keys_open finishes or undoes an interrupted rotation).  Running daemons
 * keep working: they hold the unwrapped sets.  Works on a closed keyring
 * (the command line) or through an open one. */
int keys_rotate_master(const struct keys_config *cfg);

/* ---- customer keys (PKCS#11) ----
 * A key URL names a key in a token the way Azure Key Vault names a key
 * version:  https://<token label>.<any host>/keys/<key label>/<version>
 * — the object with CKA_LABEL <key label> and CKA_ID = the bytes of the hex
 * string <version> in the token labelled <token label>. */
struct keys_url {
  char token[33], label[128], version[65];
};
int keys_url_parse(const char *url, struct keys_url *out);
/* Whether the key a URL names can wrap and unwrap now: 0, -ENOKEY,
 * -EKEYREVOKED, -ENODEV, -EINVAL. */
int keys_cmk_check(struct keys *k, const char *key_url);
/* Disables (enabled false: CKA_ENCRYPT and CKA_DECRYPT set false in the
 * token, so every domain it wraps answers -EKEYREVOKED) or enables again
 * the key a URL names — what `vmrpd keys disable-key` does for an
 * operator whose token has no tool of its own for it. */
int keys_cmk_set_enabled(struct keys *k, const char *key_url, bool enabled);
/* A new domain wrapped by the customer key key_url; its id in id_out. */
int keys_domain_create(struct keys *k, const char *key_url, uint8_t id_out[KEYS_ID_LEN]);
/* The key set of a domain (the platform's or a customer one), unwrapped by
 * its key now (a customer domain asks the token every call: a destroyed or
 * disabled key answers -ENOKEY / -EKEYREVOKED at once).  -ENOENT: unknown. */
int keys_domain_get(struct keys *k, const uint8_t id[KEYS_ID_LEN], struct keys_set *out);
/* Customer-key rotation: re-wraps the domain under new_key_url (which must
 * be usable); the old key is no longer needed afterwards.  The data and
 * the domain's set do not change. */
int keys_domain_rewrap(struct keys *k, const uint8_t id[KEYS_ID_LEN], const char *new_key_url);
/* The URL of the key that wraps a domain now (NULL: the master key);
 * caller frees.  -ENOENT. */
int keys_domain_wrapping(struct keys *k, const uint8_t id[KEYS_ID_LEN], char **key_url_out);
/* Removes a domain's file (its data is then unreadable for good); -EPERM
 * for the platform domain. */
int keys_domain_delete(struct keys *k, const uint8_t id[KEYS_ID_LEN]);
/* The ids of every domain, the platform's first; caller frees *ids. */
int keys_domain_list(struct keys *k, uint8_t (**ids)[KEYS_ID_LEN], size_t *count);

/* ---- wrapping keys under a domain (per-disk volume keys) ---- */
/* out receives len + KEYS_WRAP_OVERHEAD bytes (AES-256-GCM under set->wrap,
 * a random nonce, AAD = the domain id). */
int keys_wrap(const struct keys_set *set, const uint8_t *key, size_t len, uint8_t *out);
/* -EKEYREJECTED when the tag does not verify (another domain, damage). */
int keys_unwrap(const struct keys_set *set, const uint8_t *wrapped, size_t wrapped_len, uint8_t *out);

/* Hex of a domain id (32 digits + NUL) and back (-EINVAL). */
void keys_id_to_hex(const uint8_t id[KEYS_ID_LEN], char out[2 * KEYS_ID_LEN + 1]);
int keys_id_from_hex(const char *hex, uint8_t id[KEYS_ID_LEN]);
