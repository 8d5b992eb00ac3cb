/*
 * hold.c — GC holds.  While at least one hold is open (or a GC runs), every
 * put is recorded in cas->rec; GC treats recorded objects and hold roots as
 * live (see gc.c).  The log is cleared when the last hold ends outside GC.
 */
#include <errno.h>
#include <stdlib.h>

#include "cas/cas_int.h"
#include "common/cleanup.h"

int cas_hold_begin(struct cas *cas, struct cas_hold **out)
{
  struct cas_hold *h = calloc(1, sizeof *h);
  if (!h)
    return -ENOMEM;
  LOCK_GUARD(&cas->rec_lock);
  h->next = cas->holds;
  cas->holds = h;
  *out = h;
  return 0;
}

int cas_hold_root(struct cas *cas, struct cas_hold *h, const struct cas_addr *root)
{
  {
    LOCK_GUARD(&cas->rec_lock);
    if (h->n_roots == h->cap_roots) {
      size_t n = h->cap_roots ? 2 * h->cap_roots : 4;
      struct cas_addr *nr = realloc(h->roots, n * sizeof *nr);
      if (!nr)
        return -ENOMEM;
      h->roots = nr;
      h->cap_roots = n;
    }
    h->roots[h->n_roots++] = *root;
  }
  /* Also logged, so a GC that already collected the hold roots sees it. */
  cas_record(cas, root, CAS_NODE);
  return 0;
}

void cas_hold_end(struct cas *cas, struct cas_hold *h)
{
  LOCK_GUARD(&cas->rec_lock);
  for (struct cas_hold **pp = &cas->holds; *pp; pp = &(*pp)->next) {
    if (*pp == h) {
      *pp = h->next;
      break;
    }
  }
  free(h->roots);
  free(h);
  if (!cas->holds && !cas->gc_running)
    cas->n_rec = 0;
}
