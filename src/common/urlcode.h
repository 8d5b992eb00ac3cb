/*
 * urlcode.h — percent-encoding (RFC 3986) and application/x-www-form-urlencoded
 * bodies.  All results are malloc'd and NUL-terminated; NULL on bad input or
 * out of memory.
 */
#pragma once
#include <stddef.h>

/* Encodes everything but unreserved characters (A-Z a-z 0-9 - . _ ~). */
char *url_encode(const char *s);
/* Decodes %XX (and '+' as space when form is non-zero). */
char *url_decode(const char *s, size_t len, int form);
/* The decoded value of field `name` in a form body, or NULL when absent. */
char *form_get(const char *body, const char *name);
