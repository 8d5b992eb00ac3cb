/*
 * fuzz_volstate.c — the state files src/vol reads when a volume opens: the
 * changed-block bitmap (cbt.c), the hydration bitmap of a lazy volume
 * (hydrate.c) and the conversion state of a volume being encrypted in place
 * (crypt.c: two watermark slots and a journal).  A crash, a full disk or a
 * flipped bit can leave any bytes there; the volume must then refuse the
 * file or recover from it, never read or write outside the volume.
 *
 * Input: byte 0 holds flags, the rest is cut at FUZZ_SEP into the state
 * file and the volume file's first bytes (what the disk held).
 * flags: bits 0-1 which file (0 CBT, 1 hydration, 2 encryption state),
 * bit 2 its checksums fixed up (so the checks behind the CRC32C are
 * reached), bit 3 the hydration source half the volume, bits 4-7 the
 * volume's size in 64 KiB units less one (chunks of 4 KiB).
 * After the open: every chunk's CBT bit, the whole volume read, a write,
 * then hydration or conversion steps until done, another read, the close.
 */
#include <endian.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "support.h"
#include "vol/vol.h"

#define CHUNK 4096u
#define MAX_SIZE (16u << 16)
#define HY_HDR 32u        /* hydrate.c struct hy_hdr: crc at 12 */
#define SLOT_LEN 32u      /* crypt.c struct slot: crc at 24; slots at 0 and 512 */
#define JOURNAL_AT 4096u  /* crypt.c struct jhdr (lo 8, hi 16, crc 24), its data at +4096 */

static const char *scratch;
static char vol_path[4200], state_path[4200];
static uint8_t key[VOL_KEY_LEN];
static uint8_t *buf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc, (void)argv;
  fuzz_quiet();
  for (size_t i = 0; i < sizeof key; i++)
    key[i] = (uint8_t)(i * 37 + 11);
  scratch = fuzz_tempdir("volstate");
  snprintf(vol_path, sizeof vol_path, "%s/vol", scratch);
  snprintf(state_path, sizeof state_path, "%s/state", scratch);
  buf = malloc(MAX_SIZE);
  return buf ? 0 : -1;
}

/* The source a lazy volume fills from: chunk i reads as bytes of i, every
 * third chunk zeros. */
static int src_read(void *ctx, uint64_t idx, void *out, size_t len)
{
  (void)ctx;
  for (size_t i = 0; i < len; i++)
    ((uint8_t *)out)[i] = (uint8_t)(idx + i / CHUNK) * ((idx + i / CHUNK) % 3 != 0);
  return 0;
}

static int src_zero(void *ctx, uint64_t idx)
{
  (void)ctx;
  return idx % 3 == 0;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint64_t get64(const uint8_t *p)
{
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Each CRC32C of the file made right, as the writer computes it. */
static void fix(uint8_t *p, size_t len, unsigned which)
{
  if (which == 1 && len >= HY_HDR) {
    put32(p + 12, 0);
    put32(p + 12, crc32c(0, p, len));
  }
  for (size_t at = 0; which == 2 && at <= 512; at += 512)
    if (len >= at + SLOT_LEN) {
      put32(p + at + 24, 0);
      put32(p + at + 24, crc32c(0, p + at, SLOT_LEN));
    }
  if (which == 2 && len >= JOURNAL_AT + 32) {
    uint8_t *h = p + JOURNAL_AT;
    uint64_t lo = get64(h + 8), hi = get64(h + 16);
    size_t n = hi > lo && hi - lo <= len ? (size_t)(hi - lo) : 0;
    size_t have = len > JOURNAL_AT + 4096 ? len - JOURNAL_AT - 4096 : 0;
    put32(h + 24, 0);
    if (n && n <= have)
      put32(h + 24, crc32c(crc32c(0, h, 32), p + JOURNAL_AT + 4096, n));
  }
}

static void exercise(struct volume *v, uint64_t size, unsigned which)
{
  for (uint64_t i = 0; i < size / CHUNK; i++)
    vol_cbt_dirty(v, i);
  vol_pread(v, buf, size, 0);
  static const char w[] = "written after the open";
  vol_pwrite(v, w, sizeof w, size / 3, 0);
  for (int i = 0; i < 8; i++) {
    int r = which == 1 ? vol_hydrate_step(v, 128u << 10) : which == 2 ? vol_crypt_step(v, 128u << 10) : 1;
    if (r != 0)
      break;
  }
  vol_pread(v, buf, size, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  if (len < 1)
    return 0;
  uint8_t flags = data[0];
  unsigned which = flags & 3;
  uint64_t size = (uint64_t)((flags >> 4) + 1) << 16;
  if (which == 3)
    return 0;
  struct fuzz_part parts[2];
  size_t n = fuzz_split(data + 1, len - 1, parts, 2);
  unlink(vol_path);
  unlink(state_path);
  if (vol_create(vol_path, size) < 0)
    abort();
  if (n > 1 && parts[1].len) {
    int fd = open(vol_path, O_WRONLY | O_CLOEXEC);
    size_t k = parts[1].len < size ? parts[1].len : (size_t)size;
    if (fd < 0 || pwrite(fd, parts[1].p, k, 0) != (ssize_t)k || close(fd) < 0)
      abort();
  }
  uint8_t *st = malloc(parts[0].len + 1);
  if (!st)
    abort();
  memcpy(st, parts[0].p, parts[0].len);
  if (flags & 4)
    fix(st, parts[0].len, which);
  fuzz_write_file(scratch, "state", st, parts[0].len);
  free(st);

  struct volume *v;
  if (vol_open(vol_path, which == 0 ? state_path : NULL, CHUNK, which == 0, false, &v) < 0)
    abort(); /* the volume itself is fine */
  int r = 0;
  if (which == 1) {
    struct vol_source src = {src_read, src_zero, NULL, flags & 8 ? size / 2 : size};
    r = vol_hydrate_attach(v, &src, state_path, false);
  } else if (which == 2) {
    r = vol_crypt_attach(v, key, state_path, true);
  }
  if (r == 0)
    exercise(v, size, which);
  vol_close(v);
  return 0;
}
