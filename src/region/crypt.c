/*
 * crypt.c — what is true of a disk's or an image's encryption at rest.
 *
 * Nothing vmrp says about encryption may be more than what the bytes are:
 * until the chunk store and the volumes encrypt, every answer is
 * REGION_ENC_NONE, and the front ends leave Azure's `encryption` property
 * out and answer x-ms-server-encrypted: false.
 */
#include <errno.h>
#include <string.h>

#include "region/internal.h"

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

int region_volume_encryption(struct region *r, const char *vol_id, struct region_encryption *out)
{
  memset(out, 0, sizeof *out);
  return region_volume_info(r, vol_id, &(struct region_volume_info){0});
}

int region_image_encryption(struct region *r, const char *image_id, struct region_encryption *out)
{
  memset(out, 0, sizeof *out);
  struct meta_image im;
  int rc = meta_image_get(r->meta, image_id, &im);
  if (rc == 0)
    meta_image_clear(&im);
  return rc;
}

bool region_reader_encrypted(const struct region_reader *rd) { return false; }
