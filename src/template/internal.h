/*
 * internal.h — what the files of template/ share and nothing outside it
 * sees: filling a struct tpl_error.
 */
#pragma once
#include <stdarg.h>

#include "common/cleanup.h"
#include "template/template.h"

/* Fills err with code and the printf-formatted message (truncated to fit)
 * and clears its position and path; returns -EINVAL, so that an error path
 * reads `return tpl_fail(err, ...)`.  err may be NULL. */
__attribute__((format(printf, 3, 4))) int tpl_fail(struct tpl_error *err, const char *code, const char *fmt, ...);
