/*
 * encryption.c — the `encryption` property of disks and disk restore points,
 * from what is true at rest (region_volume_encryption,
 * region_image_encryption), never from what a stored document or a request
 * said: a row written by an older vmrp that claimed a platform key loses the
 * claim here.  Azure has no name for "not encrypted", so the property is then
 * left out rather than invented.
 */
#include "arm/internal.h"

void arm_set_encryption(json_t *props, const struct region_encryption *enc)
{
  json_object_del(props, "encryption");
  const char *type = region_enc_name(enc->type);
  if (type)
    json_object_set_new(props, "encryption", json_pack("{s:s}", "type", type));
}
