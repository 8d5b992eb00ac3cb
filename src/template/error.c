/*
 * error.c — filling a struct tpl_error (internal.h).  One helper, so every
 * file of the language writes ARM's code and message the same way and a
 * message too long for the struct is cut, never overflowed, and never in
 * the middle of a UTF-8 character (the message becomes a JSON string).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "template/internal.h"

void tpl_utf8_cut(char *s)
{
  size_t n = strlen(s), lead = n;
  while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
    lead--;
  if (lead == 0)
    return;
  unsigned char c = (unsigned char)s[lead - 1];
  size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
  if (n - (lead - 1) < need)
    s[lead - 1] = '\0';
}

int tpl_fail(struct tpl_error *err, const char *code, const char *fmt, ...)
{
  if (err) {
    snprintf(err->code, sizeof err->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    tpl_utf8_cut(err->message);
    err->line = err->col = 0;
    err->path[0] = '\0';
  }
  return -EINVAL;
}
