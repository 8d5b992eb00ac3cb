/*
 * bytes.h — tests on byte ranges.
 *
 * bytes_zero compares the range with itself shifted by one byte: memcmp is
 * vectorized and stops at the first difference, so data that is not zero
 * (the common case) costs a few bytes, and a zero range runs at memory speed.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Whether the len bytes at p are all zero (true for len 0). */
static inline bool bytes_zero(const void *p, size_t len)
{
  const unsigned char *b = p;
  return len == 0 || (b[0] == 0 && memcmp(b, b + 1, len - 1) == 0);
}
