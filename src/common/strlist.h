/*
 * strlist.h — a growable list of owned strings: ids gathered from a
 * metadata walk before anything is done to them, so that no row changes
 * while its table is being walked.
 */
#pragma once
#include <stddef.h>

struct strlist {
  char **v;
  size_t n, cap;
};

/* Appends a copy of s: 0 or -ENOMEM. */
int strlist_add(struct strlist *l, const char *s);
/* Frees the strings and the list; it is empty again. */
void strlist_free(struct strlist *l);
