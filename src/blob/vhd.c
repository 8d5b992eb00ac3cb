/*
 * vhd.c — see vhd.h.  Layout from the VHD specification (fields
 * big-endian): cookie "conectix", features 2, version 1.0, data offset
 * all ones (fixed), time stamp, creator "win " / 10.0 / "Wi2k", original
 * and current size, CHS geometry (the specification's algorithm), type 2
 * (fixed), checksum (ones' complement of the byte sum), unique id.
 *
 * Creator "win " is Hyper-V's, whose rule readers follow: the current size
 * field is the disk's size (QEMU otherwise takes the CHS geometry, which
 * rounds most sizes down).  The unique id is the first 16 bytes of
 * SHA-256(family) and the time stamp is 0 (2000-01-01), so nothing in the
 * footer changes between restore points of the disk.
 */
#include "blob/vhd.h"

#include <endian.h>
#include <openssl/sha.h>
#include <string.h>

static void be16(uint8_t *p, uint16_t v) { v = htobe16(v), memcpy(p, &v, 2); }
static void be32(uint8_t *p, uint32_t v) { v = htobe32(v), memcpy(p, &v, 4); }
static void be64(uint8_t *p, uint64_t v) { v = htobe64(v), memcpy(p, &v, 8); }

static void geometry(uint64_t size, uint16_t *cyl, uint8_t *heads, uint8_t *spt)
{
  uint64_t total = size / 512, cth;
  unsigned h, s;
  if (total > 65535ull * 16 * 255)
    total = 65535ull * 16 * 255;
  if (total >= 65535ull * 16 * 63) {
    s = 255, h = 16, cth = total / s;
  } else {
    s = 17, cth = total / s;
    h = (unsigned)((cth + 1023) / 1024);
    if (h < 4)
      h = 4;
    if (cth >= h * 1024ull || h > 16)
      s = 31, h = 16, cth = total / s;
    if (cth >= h * 1024ull)
      s = 63, h = 16, cth = total / s;
  }
  *cyl = (uint16_t)(cth / h), *heads = (uint8_t)h, *spt = (uint8_t)s;
}

void vhd_footer(uint8_t f[VHD_FOOTER_LEN], uint64_t disk_size, const char *family)
{
  memset(f, 0, VHD_FOOTER_LEN);
  memcpy(f, "conectix", 8);
  be32(f + 8, 2);
  be32(f + 12, 0x00010000);
  be64(f + 16, UINT64_MAX);
  be32(f + 24, 0);
  memcpy(f + 28, "win ", 4);
  be32(f + 32, 0x000a0000);
  memcpy(f + 36, "Wi2k", 4);
  be64(f + 40, disk_size);
  be64(f + 48, disk_size);
  uint16_t cyl;
  uint8_t heads, spt;
  geometry(disk_size, &cyl, &heads, &spt);
  be16(f + 56, cyl);
  f[58] = heads, f[59] = spt;
  be32(f + 60, 2);
  uint8_t id[SHA256_DIGEST_LENGTH];
  SHA256((const uint8_t *)family, strlen(family), id);
  memcpy(f + 68, id, 16);
  uint32_t sum = 0;
  for (int i = 0; i < VHD_FOOTER_LEN; i++)
    sum += f[i];
  be32(f + 64, ~sum);
}
