/*
 * keys.c — the keyring's life (create, open, close) and its domains.
 *
 * A struct keys holds the platform domain's set, unwrapped once at open
 * (the master key is read, used and cleansed: it stays on disk only), and
 * the PKCS#11 module when one is configured.  Customer domains are
 * unwrapped by their token at every keys_domain_get, so a key destroyed or
 * disabled in the token takes effect at once (crypto-erase).  The set is
 * immutable after open and the token calls are serialised in pkcs11.c, so
 * any number of threads may share a struct keys.
 *
 * keys_create commits with the master key: the platform domain's file is
 * written first, the master key last (a crash between leaves a domain file
 * and no master key; keys_create then refuses the directory rather than
 * guess: an operator who lost a master key must not get a fresh one that
 * silently orphans the old domains).
 */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "keys/internal.h"

static int new_set(struct keys_set *set)
{
  return RAND_bytes((unsigned char *)set, sizeof *set) == 1 ? 0 : -EIO;
}

int keys_create(const struct keys_config *cfg)
{
  char path[PATH_MAX];
  uint8_t master[KEYS_KEY_LEN];
  struct keys_set set;
  struct domain_file d;
  int r, lock = -1;
  uint8_t(*ids)[KEYS_ID_LEN] = NULL;
  size_t n = 0;
  if ((r = mkdir_exist_ok(cfg->dir, 0700)) < 0 || (r = keyring_path(cfg->dir, KEYS_DOMAINS, path)) < 0 ||
      (r = mkdir_exist_ok(path, 0700)) < 0 || (r = lock = keyring_lock(cfg->dir)) < 0)
    goto out;
  struct stat st;
  if ((r = keyring_path(cfg->dir, KEYS_MASTER, path)) < 0)
    goto out;
  if (lstat(path, &st) == 0) {
    r = -EEXIST;
    goto out;
  }
  if ((r = domain_list(cfg->dir, "", &ids, &n)) < 0)
    goto out;
  if (n > 0) {
    log_error("keys", "%s holds %zu domain files but no master key: restore master.key from a backup "
              "(a keyring whose creation was interrupted may be removed)", cfg->dir, n);
    r = -EEXIST;
    goto out;
  }
  if (RAND_bytes(master, sizeof master) != 1 || new_set(&set) < 0) {
    r = -EIO;
    goto out;
  }
  if ((r = domain_seal_master(master, &set, &d)) < 0 || (r = domain_path(cfg->dir, set.id, "", path)) < 0 ||
      (r = domain_write(path, &d)) < 0)
    goto out;
  r = master_write(cfg->dir, KEYS_MASTER, master);
out:
  if (r < 0 && r != -EEXIST)
    log_error("keys", "cannot create the keyring in %s: %s", cfg->dir, strerror(-r));
  free(ids);
  OPENSSL_cleanse(master, sizeof master);
  OPENSSL_cleanse(&set, sizeof set);
  if (lock >= 0)
    close(lock);
  return r;
}

/* Unwraps every master-wrapped domain of dir with the master key: the one
 * found is the platform's.  The caller holds the lock. */
static int open_platform(const char *dir, struct keys_set *platform)
{
  uint8_t master[KEYS_KEY_LEN];
  uint8_t(*ids)[KEYS_ID_LEN] = NULL;
  size_t n = 0, found = 0, damaged = 0;
  char path[PATH_MAX];
  struct domain_file d;
  int r = master_read(dir, KEYS_MASTER, master);
  if (r < 0 || (r = domain_list(dir, "", &ids, &n)) < 0)
    goto out;
  for (size_t i = 0; i < n && r == 0; i++) {
    if ((r = domain_path(dir, ids[i], "", path)) < 0)
      break;
    if ((r = domain_read(path, &d)) == -EKEYREJECTED) {
      damaged++; /* logged; a customer domain's damage is its own (keys_domain_get says so) */
      r = 0;
      continue;
    }
    if (r < 0 || !domain_by_master(&d))
      continue;
    r = domain_open_master(master, &d, platform);
    if (r == -EKEYREJECTED)
      log_error("keys", "the master key in %s does not open the domain %s", dir, path);
    found += r == 0;
  }
  if (r == 0 && found != 1) {
    log_error("keys", "%s has %zu platform domains (domains/ files wrapped by the master key), not one: "
              "restore the keyring from a backup", dir, found);
    r = found ? -EUCLEAN : damaged ? -EKEYREJECTED : -ENOENT;
  }
out:
  if (r < 0)
    OPENSSL_cleanse(platform, sizeof *platform);
  OPENSSL_cleanse(master, sizeof master);
  free(ids);
  return r;
}

int keys_open(const struct keys_config *cfg, struct keys **out)
{
  struct keys *k = calloc(1, sizeof *k);
  int r = -ENOMEM, lock = -1;
  if (!k || !(k->dir = strdup(cfg->dir)))
    goto out;
  if ((r = lock = keyring_lock(cfg->dir)) < 0 || (r = rotate_recover(cfg->dir)) < 0 ||
      (r = open_platform(cfg->dir, &k->platform)) < 0)
    goto out;
  if (cfg->pkcs11_module && cfg->pkcs11_pin_file)
    r = p11_open(cfg->pkcs11_module, cfg->pkcs11_pin_file, &k->p11);
out:
  if (lock >= 0)
    close(lock);
  if (r < 0) {
    keys_close(k);
    k = NULL;
  }
  *out = k;
  return r;
}

void keys_close(struct keys *k)
{
  if (!k)
    return;
  p11_close(k->p11);
  free(k->dir);
  OPENSSL_cleanse(k, sizeof *k);
  free(k);
}

void keys_platform(const struct keys *k, struct keys_set *out)
{
  *out = k->platform;
}

/* ---- customer domains ---- */

static bool is_platform(const struct keys *k, const uint8_t id[KEYS_ID_LEN])
{
  return memcmp(id, k->platform.id, KEYS_ID_LEN) == 0;
}

/* Seals set under the customer key url into d. */
static int seal_cmk(struct keys *k, const char *url, const struct keys_set *set, struct domain_file *d)
{
  struct keys_url u;
  uint8_t plain[KEYS_SET_LEN], aad[KEYS_ID_LEN + KEYS_WRAPPING_MAX];
  int r = keys_url_parse(url, &u);
  if (r < 0)
    return r;
  if (!k->p11)
    return -ENODEV;
  memcpy(d->id, set->id, KEYS_ID_LEN);
  snprintf(d->wrapping, sizeof d->wrapping, "%s", url);
  domain_set_pack(set, plain);
  r = p11_seal(k->p11, &u, aad, domain_aad(d, aad), plain, sizeof plain, d->sealed);
  OPENSSL_cleanse(plain, sizeof plain);
  return r;
}

/* Reads and unwraps a customer domain's file. */
static int open_cmk(struct keys *k, const uint8_t id[KEYS_ID_LEN], struct keys_set *out)
{
  char path[PATH_MAX];
  struct domain_file d;
  struct keys_url u;
  uint8_t plain[KEYS_SET_LEN], aad[KEYS_ID_LEN + KEYS_WRAPPING_MAX];
  int r = domain_path(k->dir, id, "", path);
  if (r < 0 || (r = domain_read(path, &d)) < 0)
    return r;
  if (domain_by_master(&d) || memcmp(d.id, id, KEYS_ID_LEN))
    return -EKEYREJECTED; /* the platform's is in memory; another master-wrapped one is not vmrp's */
  if (keys_url_parse(d.wrapping, &u) < 0)
    return -EKEYREJECTED;
  if (!k->p11)
    return -ENODEV;
  r = p11_open_sealed(k->p11, &u, aad, domain_aad(&d, aad), d.sealed, sizeof d.sealed, plain);
  if (r == 0)
    domain_set_unpack(plain, id, out);
  OPENSSL_cleanse(plain, sizeof plain);
  return r;
}

int keys_cmk_check(struct keys *k, const char *key_url)
{
  struct keys_url u;
  int r = keys_url_parse(key_url, &u);
  if (r < 0)
    return r;
  return k->p11 ? p11_check(k->p11, &u) : -ENODEV;
}

int keys_cmk_set_enabled(struct keys *k, const char *key_url, bool enabled)
{
  struct keys_url u;
  int r = keys_url_parse(key_url, &u);
  if (r < 0)
    return r;
  return k->p11 ? p11_set_enabled(k->p11, &u, enabled) : -ENODEV;
}

int keys_domain_create(struct keys *k, const char *key_url, uint8_t id_out[KEYS_ID_LEN])
{
  struct keys_set set;
  struct domain_file d;
  char path[PATH_MAX];
  int lock = -1, r = new_set(&set);
  if (r < 0 || (r = seal_cmk(k, key_url, &set, &d)) < 0 || (r = domain_path(k->dir, set.id, "", path)) < 0 ||
      (r = lock = keyring_lock(k->dir)) < 0)
    goto out;
  if (access(path, F_OK) == 0)
    r = -EEXIST; /* 128 random bits: never, but never overwrite a domain */
  else if ((r = domain_write(path, &d)) == 0)
    memcpy(id_out, set.id, KEYS_ID_LEN);
out:
  if (lock >= 0)
    close(lock);
  OPENSSL_cleanse(&set, sizeof set);
  return r;
}

int keys_domain_get(struct keys *k, const uint8_t id[KEYS_ID_LEN], struct keys_set *out)
{
  if (is_platform(k, id)) {
    *out = k->platform;
    return 0;
  }
  return open_cmk(k, id, out);
}

int keys_domain_rewrap(struct keys *k, const uint8_t id[KEYS_ID_LEN], const char *new_key_url)
{
  struct keys_set set;
  struct domain_file d;
  char path[PATH_MAX];
  int lock = -1, r = is_platform(k, id) ? -EINVAL : keys_cmk_check(k, new_key_url);
  if (r < 0 || (r = domain_path(k->dir, id, "", path)) < 0 || (r = lock = keyring_lock(k->dir)) < 0 ||
      (r = open_cmk(k, id, &set)) < 0 || (r = seal_cmk(k, new_key_url, &set, &d)) < 0)
    goto out;
  r = domain_write(path, &d);
out:
  if (lock >= 0)
    close(lock);
  OPENSSL_cleanse(&set, sizeof set);
  return r;
}

int keys_domain_wrapping(struct keys *k, const uint8_t id[KEYS_ID_LEN], char **key_url_out)
{
  char path[PATH_MAX];
  struct domain_file d;
  *key_url_out = NULL;
  if (is_platform(k, id))
    return 0;
  int r = domain_path(k->dir, id, "", path);
  if (r < 0 || (r = domain_read(path, &d)) < 0 || domain_by_master(&d))
    return r;
  *key_url_out = strdup(d.wrapping);
  return *key_url_out ? 0 : -ENOMEM;
}

int keys_domain_delete(struct keys *k, const uint8_t id[KEYS_ID_LEN])
{
  char path[PATH_MAX];
  if (is_platform(k, id))
    return -EPERM;
  int r = domain_path(k->dir, id, "", path), lock = -1;
  if (r < 0 || (r = lock = keyring_lock(k->dir)) < 0)
    goto out;
  if ((r = unlink_fp("keys.domain.delete", path)) < 0)
    goto out;
  *strrchr(path, '/') = '\0';
  r = fsync_dir(path);
out:
  if (lock >= 0)
    close(lock);
  return r;
}

int keys_domain_list(struct keys *k, uint8_t (**ids)[KEYS_ID_LEN], size_t *count)
{
  int r = domain_list(k->dir, "", ids, count);
  for (size_t i = 1; r == 0 && i < *count; i++)
    if (is_platform(k, (*ids)[i])) { /* the platform's first */
      memcpy((*ids)[i], (*ids)[0], KEYS_ID_LEN);
      memcpy((*ids)[0], k->platform.id, KEYS_ID_LEN);
    }
  return r;
}
