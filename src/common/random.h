/*
 * random.h — cryptographically strong randomness (getrandom(2)) and the
 * identifiers made from it.  Thread-safe.
 */
#pragma once
#include <stddef.h>

#define UUID_STR_LEN 37

/* Fills buf with len random bytes; returns 0 or -errno. */
int random_bytes(void *buf, size_t len);
/* A random (version 4) UUID in lower-case canonical form. */
void random_uuid(char out[UUID_STR_LEN]);
/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void hex_encode(const void *in, size_t len, char *out);
/* The len bytes whose hex (either case) is exactly hex; -EINVAL otherwise. */
int hex_decode(const char *hex, void *out, size_t len);
