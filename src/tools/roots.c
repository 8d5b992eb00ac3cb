/*
 * roots.c — see roots.h.
 */
#include "tools/roots.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

int roots_load(const char *path, struct cas_addr **out, size_t *n)
{
  CLEANUP_FREE char *buf = NULL;
  size_t len;
  *out = NULL;
  *n = 0;
  int r = read_file(path, (void **)&buf, &len);
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return r;
  size_t cap = len / (2 * CAS_ADDR_LEN) + 1;
  struct cas_addr *a = malloc(cap * sizeof *a);
  if (!a)
    return -ENOMEM;
  size_t k = 0;
  char *save = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (k == cap || cas_addr_from_hex(line, &a[k]) < 0) {
      free(a);
      return -EIO;
    }
    k++;
  }
  *out = a;
  *n = k;
  return 0;
}

static int roots_store(const char *path, const struct cas_addr *a, size_t n)
{
  CLEANUP_FREE char *buf = malloc(n * (2 * CAS_ADDR_LEN + 1) + 1);
  if (!buf)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    cas_addr_to_hex(&a[i], buf + i * (2 * CAS_ADDR_LEN + 1));
    buf[i * (2 * CAS_ADDR_LEN + 1) + 2 * CAS_ADDR_LEN] = '\n';
  }
  return write_file_atomic(path, buf, n * (2 * CAS_ADDR_LEN + 1));
}

int roots_add(const char *path, const struct cas_addr *root)
{
  CLEANUP_FREE struct cas_addr *a = NULL;
  size_t n;
  int r = roots_load(path, &a, &n);
  if (r < 0)
    return r;
  for (size_t i = 0; i < n; i++)
    if (memcmp(&a[i], root, sizeof *root) == 0)
      return 0;
  struct cas_addr *na = realloc(a, (n + 1) * sizeof *na);
  if (!na)
    return -ENOMEM;
  a = na;
  a[n++] = *root;
  return roots_store(path, a, n);
}

int roots_remove(const char *path, const struct cas_addr *root)
{
  CLEANUP_FREE struct cas_addr *a = NULL;
  size_t n, w = 0;
  int r = roots_load(path, &a, &n);
  if (r < 0)
    return r;
  for (size_t i = 0; i < n; i++)
    if (memcmp(&a[i], root, sizeof *root) != 0)
      a[w++] = a[i];
  return w == n ? -ENOENT : roots_store(path, a, w);
}
