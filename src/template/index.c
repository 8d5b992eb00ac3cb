/*
 * index.c — names of the plan sorted for lookups: resource names for
 * reference() and dependsOn, ids, "Ns/type/name" forms.  An 800-resource
 * template looks names up thousands of times; a linear scan each time made
 * loading quadratic (20 ms of string compares), a sorted array with binary
 * search keeps it at a few microseconds.  Keys compare case-insensitively
 * (ARM matches names so), entries with equal keys stay in plan order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/plan.h"

int plan_index_add(struct plan_index *x, const char *key, int res)
{
  if (x->n == x->cap) {
    int cap = x->cap ? 2 * x->cap : 64;
    struct plan_key *v = realloc(x->v, (size_t)cap * sizeof *v);
    if (!v)
      return -ENOMEM;
    x->v = v;
    x->cap = cap;
  }
  char *k = strdup(key);
  if (!k)
    return -ENOMEM;
  x->v[x->n++] = (struct plan_key){k, res};
  return 0;
}

static int by_key(const void *a, const void *b)
{
  const struct plan_key *x = a, *y = b;
  int c = strcasecmp(x->key, y->key);
  return c ? c : x->res - y->res;
}

void plan_index_sort(struct plan_index *x)
{
  if (x->n)
    qsort(x->v, (size_t)x->n, sizeof *x->v, by_key);
}

int plan_index_find(const struct plan_index *x, const char *key)
{
  int lo = 0, hi = x->n;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (strcasecmp(x->v[mid].key, key) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < x->n && !strcasecmp(x->v[lo].key, key) ? lo : -1;
}

void plan_index_free(struct plan_index *x)
{
  for (int i = 0; i < x->n; i++)
    free(x->v[i].key);
  free(x->v);
  *x = (struct plan_index){0};
}
