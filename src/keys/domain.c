/*
 * domain.c — domain files: one key domain's set, sealed by what wraps it.
 *
 *   offset  size  field
 *   0       8     magic "VMRPKEYD"
 *   8       4     format version (1), little-endian
 *   12      16    domain id
 *   28      2     n = length of the wrapping name
 *   30      n     wrapping name: "master", or the customer key's URL
 *   30+n    2     m = length of the sealed set (124)
 *   32+n    m     the set (enc || addr || wrap) sealed with AES-256-GCM by
 *                 the master key (aead.c) or inside the token (pkcs11.c):
 *                 nonce || ciphertext || tag, AAD = id || wrapping name
 *   32+n+m  4     CRC-32C of everything before
 *
 * The AAD binds a sealed set to its domain and to its wrapping: a file
 * renamed to another id, or a wrapping name edited to point elsewhere, does
 * not open.  The CRC tells damage (-EKEYREJECTED, logged as damage) from a
 * wrong key before any key is tried.  Files are written whole (temp, fsync,
 * rename, fsync of the directory), 0600, by a writer holding the lock;
 * readers need no lock: they see the old file or the new one.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/crc32c.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "keys/internal.h"

#define DOMAIN_MAGIC "VMRPKEYD"
#define DOMAIN_FORMAT 1
#define DOMAIN_FILE_MAX (8 + 4 + KEYS_ID_LEN + 2 + KEYS_WRAPPING_MAX + 2 + KEYS_SEALED_SET_LEN + 4)

int domain_path(const char *dir, const uint8_t id[KEYS_ID_LEN], const char *suffix, char *out)
{
  char hex[2 * KEYS_ID_LEN + 1];
  keys_id_to_hex(id, hex);
  int n = snprintf(out, PATH_MAX, "%s/" KEYS_DOMAINS "/%s%s", dir, hex, suffix);
  return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static void put_le(uint8_t *p, uint32_t v, int bytes)
{
  for (int i = 0; i < bytes; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le(const uint8_t *p, int bytes)
{
  uint32_t v = 0;
  for (int i = 0; i < bytes; i++)
    v |= (uint32_t)p[i] << (8 * i);
  return v;
}

int domain_read(const char *path, struct domain_file *out)
{
  CLEANUP_FREE uint8_t *buf = NULL;
  size_t len = 0;
  int r = read_file(path, (void **)&buf, &len);
  if (r < 0)
    return r;
  size_t n = len >= 30 ? get_le(buf + 28, 2) : 0, m = len >= 32 + n ? get_le(buf + 30 + n, 2) : 0;
  if (len < 30 || memcmp(buf, DOMAIN_MAGIC, 8) || get_le(buf + 8, 4) != DOMAIN_FORMAT || n == 0 ||
      n > KEYS_WRAPPING_MAX || m != KEYS_SEALED_SET_LEN || len != 36 + n + m ||
      crc32c(0, buf, len - 4) != get_le(buf + len - 4, 4) || memchr(buf + 30, '\0', n)) {
    log_error("keys", "domain file %s is damaged (format or CRC); restore it from a backup of the keyring", path);
    return -EKEYREJECTED;
  }
  memcpy(out->id, buf + 12, KEYS_ID_LEN);
  memcpy(out->wrapping, buf + 30, n);
  out->wrapping[n] = '\0';
  memcpy(out->sealed, buf + 32 + n, m);
  return 0;
}

int domain_write(const char *path, const struct domain_file *d)
{
  uint8_t buf[DOMAIN_FILE_MAX];
  size_t n = strlen(d->wrapping), len = 36 + n + KEYS_SEALED_SET_LEN;
  memcpy(buf, DOMAIN_MAGIC, 8);
  put_le(buf + 8, DOMAIN_FORMAT, 4);
  memcpy(buf + 12, d->id, KEYS_ID_LEN);
  put_le(buf + 28, (uint32_t)n, 2);
  memcpy(buf + 30, d->wrapping, n);
  put_le(buf + 30 + n, KEYS_SEALED_SET_LEN, 2);
  memcpy(buf + 32 + n, d->sealed, KEYS_SEALED_SET_LEN);
  put_le(buf + len - 4, crc32c(0, buf, len - 4), 4);
  return write_file_atomic_fp("keys.domain.write", path, buf, len, 0600);
}

size_t domain_aad(const struct domain_file *d, uint8_t aad[KEYS_ID_LEN + KEYS_WRAPPING_MAX])
{
  size_t n = strlen(d->wrapping);
  memcpy(aad, d->id, KEYS_ID_LEN);
  memcpy(aad + KEYS_ID_LEN, d->wrapping, n);
  return KEYS_ID_LEN + n;
}

bool domain_by_master(const struct domain_file *d)
{
  return strcmp(d->wrapping, KEYS_BY_MASTER) == 0;
}

void domain_set_pack(const struct keys_set *set, uint8_t out[KEYS_SET_LEN])
{
  memcpy(out, set->enc, KEYS_KEY_LEN);
  memcpy(out + KEYS_KEY_LEN, set->addr, KEYS_KEY_LEN);
  memcpy(out + 2 * KEYS_KEY_LEN, set->wrap, KEYS_KEY_LEN);
}

void domain_set_unpack(const uint8_t in[KEYS_SET_LEN], const uint8_t id[KEYS_ID_LEN], struct keys_set *out)
{
  memcpy(out->id, id, KEYS_ID_LEN);
  memcpy(out->enc, in, KEYS_KEY_LEN);
  memcpy(out->addr, in + KEYS_KEY_LEN, KEYS_KEY_LEN);
  memcpy(out->wrap, in + 2 * KEYS_KEY_LEN, KEYS_KEY_LEN);
}

int domain_seal_master(const uint8_t master[KEYS_KEY_LEN], const struct keys_set *set, struct domain_file *out)
{
  uint8_t plain[KEYS_SET_LEN], aad[KEYS_ID_LEN + KEYS_WRAPPING_MAX];
  memcpy(out->id, set->id, KEYS_ID_LEN);
  snprintf(out->wrapping, sizeof out->wrapping, "%s", KEYS_BY_MASTER);
  domain_set_pack(set, plain);
  int r = aead_seal(master, aad, domain_aad(out, aad), plain, sizeof plain, out->sealed);
  OPENSSL_cleanse(plain, sizeof plain);
  return r;
}

int domain_open_master(const uint8_t master[KEYS_KEY_LEN], const struct domain_file *d, struct keys_set *out)
{
  uint8_t plain[KEYS_SET_LEN], aad[KEYS_ID_LEN + KEYS_WRAPPING_MAX];
  int r = aead_open(master, aad, domain_aad(d, aad), d->sealed, sizeof d->sealed, plain);
  if (r == 0)
    domain_set_unpack(plain, d->id, out);
  OPENSSL_cleanse(plain, sizeof plain);
  return r;
}

int domain_list(const char *dir, const char *suffix, uint8_t (**ids)[KEYS_ID_LEN], size_t *count)
{
  char path[PATH_MAX];
  int r = keyring_path(dir, KEYS_DOMAINS, path);
  if (r < 0)
    return r;
  DIR *d = opendir(path);
  if (!d)
    return -errno;
  uint8_t(*list)[KEYS_ID_LEN] = NULL;
  size_t n = 0, cap = 0, slen = strlen(suffix);
  struct dirent *e;
  while ((e = readdir(d))) {
    char hex[2 * KEYS_ID_LEN + 1];
    if (strlen(e->d_name) != 2 * KEYS_ID_LEN + slen || strcmp(e->d_name + 2 * KEYS_ID_LEN, suffix))
      continue;
    memcpy(hex, e->d_name, 2 * KEYS_ID_LEN);
    hex[2 * KEYS_ID_LEN] = '\0';
    if (n == cap) {
      cap = cap ? 2 * cap : 8;
      void *grown = realloc(list, cap * sizeof *list);
      if (!grown) {
        r = -ENOMEM;
        break;
      }
      list = grown;
    }
    char back[2 * KEYS_ID_LEN + 1] = "";
    if (keys_id_from_hex(hex, list[n]) == 0)
      keys_id_to_hex(list[n], back);
    n += strcmp(back, hex) == 0; /* names vmrp wrote: lower-case hex */
  }
  closedir(d);
  if (r < 0) {
    free(list);
    return r;
  }
  *ids = list;
  *count = n;
  return 0;
}
