/*
 * crypt.c — what is true of a disk's or an image's encryption at rest.
 *
 * Nothing vmrp says about encryption may be more than what the bytes are:
 * a disk is encrypted when its volume is (vol_encrypted: a key attached and
 * no plaintext sector left — not a volume being converted, nor one written
 * plain because [encryption] volumes = off), an image when the store that
 * holds its tree encrypts (cas_encrypted; the legacy store does not).  The
 * key is the platform's when the domain is the platform domain, else a
 * customer's (a disk encryption set).  For anything else the answer is
 * REGION_ENC_NONE: the front ends then leave Azure's `encryption` property
 * out and answer x-ms-server-encrypted: false.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "region/internal.h"
#include "vol/vol.h"

const char *region_enc_name(enum region_enc type)
{
  switch (type) {
  case REGION_ENC_PLATFORM:
    return "EncryptionAtRestWithPlatformKey";
  case REGION_ENC_CUSTOMER:
    return "EncryptionAtRestWithCustomerKey";
  default:
    return NULL;
  }
}

static void claim(struct region *r, const char *domain, struct region_encryption *out)
{
  out->type = !strcmp(domain, r->platform) ? REGION_ENC_PLATFORM : REGION_ENC_CUSTOMER;
  snprintf(out->domain, sizeof out->domain, "%s", domain);
}

int region_volume_encryption(struct region *r, const char *vol_id, struct region_encryption *out)
{
  memset(out, 0, sizeof *out);
  struct volume *v = region_volume_find(r, vol_id);
  if (!v)
    return -ENOENT;
  struct meta_volume mv;
  int rc = vol_encrypted(v) ? meta_volume_get(r->meta, vol_id, &mv) : 1;
  if (rc == 0) {
    if (mv.domain[0])
      claim(r, mv.domain, out);
    meta_volume_clear(&mv);
  }
  return rc < 0 ? rc : 0;
}

int region_image_encryption(struct region *r, const char *image_id, struct region_encryption *out)
{
  memset(out, 0, sizeof *out);
  struct meta_image im;
  int rc = meta_image_get(r->meta, image_id, &im);
  if (rc < 0)
    return rc;
  struct cas *cas = im.domain[0] ? region_store_for(r, im.domain) : NULL;
  if (cas && cas_encrypted(cas))
    claim(r, im.domain, out);
  meta_image_clear(&im);
  return 0;
}
