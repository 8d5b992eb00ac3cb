/*
 * crc32c.c — see crc32c.h.
 *
 * The crc32 instruction handles 8 bytes, but each depends on the previous
 * result (3 cycles of latency, one issue per cycle), so one stream runs at a
 * third of what the unit can do.  Long buffers are therefore cut into three
 * lanes that are summed independently and interleaved, then joined: the
 * register after A||B equals shift(reg after A, |B|) ^ (B's register from 0),
 * where shift appends |B| zero bytes.  shift is linear over GF(2), so for the
 * two fixed lane lengths it is tabulated once (4 × 256 entries each) from the
 * images of the 32 single-bit registers.  The byte table is the fallback
 * without SSE4.2.  Everything is built once (pthread_once).
 */
#include "common/crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define LANE_LONG 8192 /* bytes per lane: 24 KiB per round */
#define LANE_SHORT 256

static uint32_t crc_table[256];
static uint32_t shift_long[4][256], shift_short[4][256];
static bool crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static uint32_t crc_sw(uint32_t c, const unsigned char *p, size_t len)
{
  while (len--)
    c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

/* Tabulates "append len zero bytes" to a raw register. */
static void shift_init(uint32_t t[4][256], size_t len)
{
  uint32_t bit[32];
  for (int j = 0; j < 32; j++) {
    uint32_t c = 1u << j;
    for (size_t i = 0; i < len; i++)
      c = crc_table[c & 0xff] ^ (c >> 8);
    bit[j] = c;
  }
  for (int k = 0; k < 4; k++)
    for (unsigned b = 0; b < 256; b++) {
      uint32_t v = 0;
      for (int j = 0; j < 8; j++)
        if (b & (1u << j))
          v ^= bit[8 * k + j];
      t[k][b] = v;
    }
}

static uint32_t shift(const uint32_t t[4][256], uint32_t c)
{
  return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

static void crc_init(void)
{
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[i] = c;
  }
  shift_init(shift_long, LANE_LONG);
  shift_init(shift_short, LANE_SHORT);
#if defined(__x86_64__)
  __builtin_cpu_init();
  crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
static inline uint64_t load64(const unsigned char *p)
{
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Three lanes of lane bytes each from p; returns the joined register. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw_3way(uint32_t c, const unsigned char *p, size_t lane,
                                                              const uint32_t t[4][256])
{
  uint64_t c0 = c, c1 = 0, c2 = 0;
  for (size_t i = 0; i < lane; i += 8) {
    c0 = __builtin_ia32_crc32di(c0, load64(p + i));
    c1 = __builtin_ia32_crc32di(c1, load64(p + lane + i));
    c2 = __builtin_ia32_crc32di(c2, load64(p + 2 * lane + i));
  }
  uint32_t r = shift(t, (uint32_t)c0) ^ (uint32_t)c1;
  return shift(t, r) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw_run(uint32_t c, const unsigned char *p, size_t len)
{
  for (; len >= 3 * LANE_LONG; p += 3 * LANE_LONG, len -= 3 * LANE_LONG)
    c = crc_hw_3way(c, p, LANE_LONG, shift_long);
  for (; len >= 3 * LANE_SHORT; p += 3 * LANE_SHORT, len -= 3 * LANE_SHORT)
    c = crc_hw_3way(c, p, LANE_SHORT, shift_short);
  uint64_t c64 = c;
  for (; len >= 8; p += 8, len -= 8)
    c64 = __builtin_ia32_crc32di(c64, load64(p));
  c = (uint32_t)c64;
  while (len--)
    c = __builtin_ia32_crc32qi(c, *p++);
  return c;
}
#endif

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
  pthread_once(&crc_once, crc_init);
  uint32_t c = ~crc;
#if defined(__x86_64__)
  if (crc_hw)
    return ~crc_hw_run(c, data, len);
#endif
  return ~crc_sw(c, data, len);
}
