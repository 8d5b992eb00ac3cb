/* urlcode.c — see urlcode.h. */
#include "common/urlcode.h"

#include <stdlib.h>
#include <string.h>

char *url_encode(const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  char *out = malloc(3 * n + 1), *o = out;
  if (!out)
    return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
      *o++ = (char)*p;
    } else {
      *o++ = '%';
      *o++ = hex[*p >> 4];
      *o++ = hex[*p & 15];
    }
  }
  *o = '\0';
  return out;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char *url_decode(const char *s, size_t len, int form)
{
  char *out = malloc(len + 1), *o = out;
  if (!out)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    if (s[i] != '%') {
      *o++ = form && s[i] == '+' ? ' ' : s[i];
      continue;
    }
    int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
    int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      free(out);
      return NULL;
    }
    *o++ = (char)(hi << 4 | lo);
    i += 2;
  }
  *o = '\0';
  return out;
}

char *form_get(const char *body, const char *name)
{
  if (!body)
    return NULL;
  size_t nlen = strlen(name);
  const char *p = body;
  while (*p) {
    const char *end = strchr(p, '&');
    size_t flen = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', flen);
    if (eq && (size_t)(eq - p) == nlen && strncmp(p, name, nlen) == 0)
      return url_decode(eq + 1, flen - nlen - 1, 1);
    p += flen;
    if (*p == '&')
      p++;
  }
  return NULL;
}
