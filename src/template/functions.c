/*
 * functions.c — the function library's index (internal.h): every family's
 * table (fn_*.c) merged once into one array sorted by lower-cased name, so
 * that the parser resolves a name with a binary search.  Built on first use
 * under pthread_once; read-only after that, so any thread may look up.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/internal.h"

static const struct tpl_function *const families[] = {
    tpl_fn_string, tpl_fn_array,    tpl_fn_object,   tpl_fn_compare,    tpl_fn_logic,
    tpl_fn_numeric, tpl_fn_date,    tpl_fn_resource, tpl_fn_deployment, tpl_fn_scope,
    tpl_fn_unsupported,
};

#define MAX_FUNCTIONS 256
static const struct tpl_function *sorted[MAX_FUNCTIONS];
static size_t nsorted;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int by_name(const void *a, const void *b)
{
  return strcasecmp((*(const struct tpl_function *const *)a)->name, (*(const struct tpl_function *const *)b)->name);
}

static void build(void)
{
  for (size_t f = 0; f < sizeof families / sizeof *families; f++)
    for (const struct tpl_function *fn = families[f]; fn->name; fn++) {
      assert(nsorted < MAX_FUNCTIONS);
      sorted[nsorted++] = fn;
    }
  qsort(sorted, nsorted, sizeof *sorted, by_name);
  for (size_t i = 1; i < nsorted; i++)
    assert(by_name(&sorted[i - 1], &sorted[i]) < 0); /* no name in two families */
}

/* strcasecmp of name (len bytes, not terminated) against a function's name. */
static int compare(const char *name, size_t len, const char *fn)
{
  int d = strncasecmp(name, fn, len);
  return d ? d : -(unsigned char)fn[len];
}

const struct tpl_function *tpl_function_find(const char *name, size_t len)
{
  pthread_once(&once, build);
  size_t lo = 0, hi = nsorted;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int d = compare(name, len, sorted[mid]->name);
    if (d == 0)
      return sorted[mid];
    if (d < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}
