/*
 * tpl_bench.c — what the template language costs in-process, without HTTP:
 * a template read (tpl_read), checked and planned (tpl_load) and every
 * resource's body evaluated (tpl_body), REPS times; the time of validate
 * minus the front end and the handlers' checks.
 *   tpl_bench TEMPLATE.json REPS  →  "resources N eval_min_ms X eval_median_ms Y"
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "template/template.h"

static double now_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* One read + load + every body; the number of resources, or -1 (printed). */
static int once(const char *text, size_t len, const struct tpl_world *w)
{
  json_t *doc = NULL;
  struct tpl_posmap *pos = NULL;
  struct tpl_template *t = NULL;
  struct tpl_error err = {0};
  int n = -1;
  if (tpl_read(text, len, &doc, &pos, &err) == 0) {
    struct tpl_input in = {.template = doc, .pos = pos, .path = "properties.template", .world = w};
    if (tpl_load(&in, &t, &err) == 0) {
      n = tpl_count(t);
      for (int i = 0; i < n; i++) {
        json_t *body = NULL;
        if (tpl_body(t, i, w, &body, &err) < 0) {
          n = -1;
          break;
        }
        json_decref(body);
      }
    }
  }
  if (n < 0)
    fprintf(stderr, "tpl_bench: %s: %s\n", err.code, err.message);
  tpl_free(t);
  tpl_posmap_free(pos);
  json_decref(doc);
  return n;
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: tpl_bench TEMPLATE.json REPS\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  static char text[1 << 20];
  size_t len = fread(text, 1, sizeof text, f);
  fclose(f);
  int reps = atoi(argv[2]);
  if (reps < 1)
    reps = 1;
  struct tpl_world w = {.scope = TPL_SCOPE_RESOURCE_GROUP,
                        .subscription_id = "00000000-0000-0000-0000-000000000000",
                        .subscription_name = "bench",
                        .tenant_id = "11111111-1111-1111-1111-111111111111",
                        .resource_group = "bench-eval",
                        .rg_location = "eastus",
                        .deployment_name = "eval",
                        .mode = "Incremental"};
  double *ms = calloc((size_t)reps, sizeof *ms);
  int n = 0;
  for (int r = 0; r < reps && ms; r++) {
    double t0 = now_ms();
    if ((n = once(text, len, &w)) < 0)
      return 1;
    ms[r] = now_ms() - t0;
  }
  if (!ms)
    return 1;
  qsort(ms, (size_t)reps, sizeof *ms, by_value);
  printf("resources %d eval_min_ms %.2f eval_median_ms %.2f\n", n, ms[0], ms[reps / 2]);
  free(ms);
  return 0;
}
