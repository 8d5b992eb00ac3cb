/*
 * error.c — filling a struct tpl_error (internal.h).  One helper, so every
 * file of the language writes ARM's code and message the same way and a
 * message too long for the struct is cut, never overflowed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "template/internal.h"

int tpl_fail(struct tpl_error *err, const char *code, const char *fmt, ...)
{
  if (err) {
    snprintf(err->code, sizeof err->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->line = err->col = 0;
    err->path[0] = '\0';
  }
  return -EINVAL;
}
