/*
 * crc32c.c — see crc32c.h.  The hardware path processes 8 bytes per
 * instruction; the table is built once (pthread_once) for the fallback.
 */
#include "common/crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

static uint32_t crc_table[256];
static bool crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[i] = c;
  }
#if defined(__x86_64__)
  __builtin_cpu_init();
  crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t c, const unsigned char *p, size_t len)
{
  while (len--)
    c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw_run(uint32_t c, const unsigned char *p, size_t len)
{
  uint64_t c64 = c;
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c64 = __builtin_ia32_crc32di(c64, v);
    p += 8;
    len -= 8;
  }
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
