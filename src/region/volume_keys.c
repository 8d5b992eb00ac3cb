/*
 * volume_keys.c — each volume's XTS key: made at random, wrapped by its key
 * domain's wrap key (keys_wrap) and committed in its row (meta_volume
 * key_wrapped, domain, crypt_state) before the file holds a byte under it;
 * unwrapped and attached right after vol_open, before any I/O.
 *
 *   VOLUME_PLAIN       no key: [encryption] volumes = off when it was made,
 *                      or a volume of a vmrp from before encryption, which
 *                      gets its key at open (region_volume_key_upgrade)
 *   VOLUME_CONVERTING  attached for an in-place conversion (the upgrade job
 *                      steps it; its journal is <id>.xts)
 *   VOLUME_ENCRYPTED   every sector is encrypted
 *
 * The unwrapped key lives in the volume (vol copies it) and on this stack
 * for the call only (cleansed).
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/random.h"
#include "keys/keys.h"
#include "region/internal.h"
#include "vol/vol.h"

int region_volume_key_new(struct region *r, struct meta_volume *mv, enum meta_crypt_state state)
{
  uint8_t key[VOL_KEY_LEN];
  struct keys_set set;
  if (!mv->domain[0])
    snprintf(mv->domain, sizeof mv->domain, "%s", r->platform);
  int rc = region_domain_set(r, mv->domain, &set);
  if (rc == 0)
    rc = random_bytes(key, sizeof key);
  if (rc == 0)
    rc = keys_wrap(&set, key, sizeof key, mv->key_wrapped);
  if (rc == 0) {
    mv->key_wrapped_len = sizeof key + KEYS_WRAP_OVERHEAD;
    mv->crypt_state = state;
  }
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(&set, sizeof set);
  return rc;
}

int region_volume_key_upgrade(struct region *r, struct meta_volume *mv)
{
  if (mv->crypt_state != VOLUME_PLAIN || r->cfg.volumes_plain || !r->cfg.keys || !r->platform[0])
    return 0;
  int rc = region_volume_key_new(r, mv, VOLUME_CONVERTING);
  if (rc == 0)
    rc = meta_volume_put(r->meta, mv); /* the key is committed before a sector is encrypted */
  if (rc == 0)
    log_info("region", "upgrade: volume %s of %s is encrypted in place from now on", mv->id, mv->resource_id);
  else
    log_error("region", "upgrade: no key for volume %s of %s: %s", mv->id, mv->resource_id, strerror(-rc));
  return rc;
}

int region_volume_key_attach(struct region *r, const struct meta_volume *mv, struct volume *v)
{
  if (mv->crypt_state == VOLUME_PLAIN)
    return 0;
  uint8_t key[VOL_KEY_LEN];
  struct keys_set set;
  char journal[4096];
  region_volume_crypt_path(r, mv->id, journal, sizeof journal);
  int rc = mv->key_wrapped_len == sizeof key + KEYS_WRAP_OVERHEAD ? region_domain_set(r, mv->domain, &set)
                                                                   : -EKEYREJECTED;
  if (rc == 0)
    rc = keys_unwrap(&set, mv->key_wrapped, mv->key_wrapped_len, key);
  if (rc == 0)
    rc = vol_crypt_attach(v, key, mv->crypt_state == VOLUME_CONVERTING ? journal : NULL,
                          mv->crypt_state == VOLUME_CONVERTING);
  if (rc < 0)
    log_error("region", "cannot attach the key of volume %s of %s: %s", mv->id, mv->resource_id, strerror(-rc));
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(&set, sizeof set);
  return rc;
}
