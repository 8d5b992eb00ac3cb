/* failpoint.c — see failpoint.h.  A fixed small table filled once at start-up
 * and read-only afterwards, so lookups need no lock. */
#include "common/failpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAILPOINT_MAX 16

static struct {
  char name[64];
  int64_t value;
} points[FAILPOINT_MAX];
static int npoints;

void failpoint_init(void)
{
  const char *env = getenv("VMRP_FAILPOINTS");
  npoints = 0;
  if (!env)
    return;
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", env);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok && npoints < FAILPOINT_MAX;
       tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq)
      continue;
    *eq = '\0';
    snprintf(points[npoints].name, sizeof points[npoints].name, "%s", tok);
    points[npoints].value = strtoll(eq + 1, NULL, 10);
    npoints++;
  }
}

int64_t failpoint_value(const char *name, int64_t def)
{
  for (int i = 0; i < npoints; i++)
    if (strcmp(points[i].name, name) == 0)
      return points[i].value;
  return def;
}
