/*
 * spec.c — a protection policy's document in C values (spec.h): clearing it
 * and its slots over all its schedules.  The reader, policy_spec_parse,
 * lives in spec_parse.c.
 */
#include <stdlib.h>

#include "policy/schedule.h"
#include "policy/spec.h"
#include "policy/tz.h"

static void free_strings(char **v, int n)
{
  for (int i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

void policy_spec_clear(struct policy_spec *s)
{
  free_strings(s->vm_ids, s->nvm_ids);
  for (int i = 0; i < s->ntags; i++) {
    free(s->tags[i].name);
    free(s->tags[i].value);
  }
  free(s->tags);
  for (int i = 0; i < s->nschedules; i++)
    sched_free(s->schedules[i]);
  tz_free(s->zone);
  free_strings(s->exclude_disks, s->nexclude_disks);
  for (int i = 0; i < s->ncopies; i++)
    free(s->copies[i].region);
  for (int i = 0; i < s->nwebhooks; i++)
    free(s->webhooks[i]);
  free(s->secret);
  *s = (struct policy_spec){0};
}

int64_t policy_spec_next_slot(const struct policy_spec *s, int64_t t)
{
  int64_t best = -1;
  for (int i = 0; i < s->nschedules; i++) {
    int64_t n = sched_next(s->schedules[i], t);
    if (n >= 0 && (best < 0 || n < best))
      best = n;
  }
  return best;
}

int64_t policy_spec_prev_slot(const struct policy_spec *s, int64_t t)
{
  int64_t best = -1;
  for (int i = 0; i < s->nschedules; i++) {
    int64_t p = sched_prev(s->schedules[i], t);
    if (p > best)
      best = p;
  }
  return best;
}
