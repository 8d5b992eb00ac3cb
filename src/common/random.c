/* random.c — see random.h.  getrandom(2) never returns short for ≤256 bytes
 * once the pool is initialised; the loop covers larger requests and EINTR. */
#include "common/random.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int random_bytes(void *buf, size_t len)
{
  unsigned char *p = buf;
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

void random_uuid(char out[UUID_STR_LEN])
{
  unsigned char b[16];
  if (random_bytes(b, sizeof b) < 0)
    abort(); /* no entropy source: nothing safe can be generated */
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, UUID_STR_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
           b[14], b[15]);
}

void hex_encode(const void *in, size_t len, char *out)
{
  static const char digits[] = "0123456789abcdef";
  const unsigned char *p = in;
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * len] = '\0';
}

static int hex_digit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int hex_decode(const char *hex, void *out, size_t len)
{
  unsigned char *p = out;
  if (strlen(hex) != 2 * len)
    return -EINVAL;
  for (size_t i = 0; i < len; i++) {
    int h = hex_digit(hex[2 * i]), l = hex_digit(hex[2 * i + 1]);
    if (h < 0 || l < 0)
      return -EINVAL;
    p[i] = (unsigned char)(h << 4 | l);
  }
  return 0;
}
