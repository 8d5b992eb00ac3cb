/*
 * template_plan.h — what the planner's unit tests share: the worlds a
 * template is planned in, loading a template with its parameters, Microsoft's
 * seed templates from tests/templates/seed, and checks of a plan's bodies,
 * dependencies and errors.  Functions are static inline: each test program
 * uses some of them.
 */
#pragma once
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/template.h"
#include "unit.h"
#define SUB "00000000-0000-0000-0000-0000000000aa"
#define RG "/subscriptions/" SUB "/resourceGroups/rg1"
#define SCHEMA "\"$schema\": \"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#\""
#define SUB_SCHEMA \
  "\"$schema\": \"https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#\""

static const struct tpl_world rg_world = {
    .scope = TPL_SCOPE_RESOURCE_GROUP,
    .subscription_id = SUB,
    .subscription_name = "sub one",
    .tenant_id = "11111111-1111-1111-1111-111111111111",
    .resource_group = "rg1",
    .rg_location = "eastus",
    .deployment_name = "dep1",
    .mode = "Incremental",
};

static const struct tpl_world sub_world = {
    .scope = TPL_SCOPE_SUBSCRIPTION,
    .subscription_id = SUB,
    .subscription_name = "sub one",
    .tenant_id = "11111111-1111-1111-1111-111111111111",
    .deployment_name = "subdep",
    .deployment_location = "westus",
    .mode = "Incremental",
};

struct loaded {
  json_t *doc, *params;
  struct tpl_posmap *pos;
  struct tpl_template *t;
  struct tpl_error err;
};

static inline int load(struct loaded *l, const char *text, const char *params, const struct tpl_world *w)
{
  memset(l, 0, sizeof *l);
  int r = tpl_read(text, strlen(text), &l->doc, &l->pos, &l->err);
  if (r < 0)
    return r;
  l->params = params ? json_loads(params, 0, NULL) : NULL;
  struct tpl_input in = {l->doc, l->pos, l->params, "properties.template", w};
  return tpl_load(&in, &l->t, &l->err);
}

static inline void unload(struct loaded *l)
{
  tpl_free(l->t);
  tpl_posmap_free(l->pos);
  json_decref(l->doc);
  json_decref(l->params);
}

/* After a load that must succeed: the checks that follow need its plan. */
#define NEED_PLAN(l)  \
  do {                \
    if (!(l)->t) {    \
      unload(l);      \
      return;         \
    }                 \
  } while (0)

static inline char *seed(const char *name)
{
  char path[1024];
  const char *src = getenv("VMRP_SRC");
  snprintf(path, sizeof path, "%s/tests/templates/seed/%s", src ? src : ".", name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf)
    buf[n] = '\0';
  fclose(f);
  return buf;
}

/* The body of plan entry i equals the JSON text want. */
static inline bool body_is(struct tpl_template *t, int i, const struct tpl_world *w, const char *want)
{
  json_t *body = NULL, *expected = json_loads(want, 0, NULL);
  struct tpl_error err = {0};
  int r = tpl_body(t, i, w, &body, &err);
  bool ok = r == 0 && expected && json_equal(body, expected);
  if (!ok) {
    char *got = body ? json_dumps(body, JSON_COMPACT) : NULL;
    printf("# body %d: r=%d %s\n#   got  %s\n#   want %s\n", i, r, err.message, got ? got : "(none)", want);
    free(got);
  }
  json_decref(body);
  json_decref(expected);
  return ok;
}

static inline bool deps_are(const struct tpl_template *t, int i, int n, const int *want)
{
  const struct tpl_resource *r = tpl_get(t, i);
  if (r->ndepends != n)
    return false;
  for (int k = 0; k < n; k++)
    if (r->depends[k] != want[k])
      return false;
  return true;
}

/* err is InvalidTemplate "Deployment template validation failed: '<detail>'." at line/col and path. */
static inline bool failed(const struct tpl_error *err, const char *detail, int line, int col, const char *path)
{
  char want[sizeof err->message];
  snprintf(want, sizeof want, "Deployment template validation failed: '%s'.", detail);
  bool ok = !strcmp(err->code, "InvalidTemplate") && !strcmp(err->message, want) && err->line == line &&
            err->col == col && !strcmp(err->path, path);
  if (!ok)
    printf("# got  %s %s (%d:%d %s)\n# want %s (%d:%d %s)\n", err->code, err->message, err->line, err->col, err->path,
           want, line, col, path);
  return ok;
}

/* ---- Microsoft's restore point templates ------------------------------------------ */

/* a 1 GB disk resource named name, with extra members (e.g. dependsOn) */
#define DISK(name, extra)                                                                                   \
  "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"" name "\"" extra \
  ", \"properties\": {\"diskSizeGB\": 1}}"
