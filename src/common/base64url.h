/*
 * base64url.h — unpadded base64url (RFC 4648 §5), as JWTs and JWKs use it.
 */
#pragma once
#include <stddef.h>

/* Encodes len bytes; returns a malloc'd NUL-terminated string or NULL. */
char *base64url_encode(const void *in, size_t len);
/* Decodes; returns a malloc'd buffer (NUL-terminated for convenience) and its
 * length in *out_len, or NULL on invalid input. */
unsigned char *base64url_decode(const char *in, size_t in_len, size_t *out_len);
