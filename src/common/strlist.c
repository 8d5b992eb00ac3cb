/*
 * strlist.c — a growable list of owned strings (strlist.h); doubling, so
 * gathering n ids costs O(n).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/strlist.h"

int strlist_add(struct strlist *l, const char *s)
{
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v)
      return -ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  if (!(l->v[l->n] = strdup(s)))
    return -ENOMEM;
  l->n++;
  return 0;
}

void strlist_free(struct strlist *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}
