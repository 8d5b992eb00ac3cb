/*
 * resources.c — the generic resource list of a subscription or resource
 * group (GET …/resources), which `az resource list` and template tooling use.
 *
 * $filter: conjunctions of `resourceGroup eq '…'`, `resourceType eq '…'` and
 * `name eq '…'` (case-insensitive values, as ARM compares them); anything
 * else is refused with InvalidFilterInQueryString rather than ignored.
 * $expand: createdTime, changedTime, provisioningState add those fields
 * (arm_expand_has is the hook other handlers use for their own $expand).
 */
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/timefmt.h"

bool arm_expand_has(const struct arm_call *call, const char *what)
{
  const char *e = http_query(call->req, "$expand");
  size_t n = strlen(what);
  while (e && *e) {
    while (*e == ' ' || *e == ',')
      e++;
    size_t len = strcspn(e, ",");
    while (len && e[len - 1] == ' ')
      len--;
    if (len == n && strncasecmp(e, what, n) == 0)
      return true;
    e += strcspn(e, ",");
  }
  return false;
}

struct filter {
  char rg[256], type[256], name[256];
};

/* Parses "a eq 'x' and b eq 'y'"; false on anything else. */
static bool parse_filter(const char *f, struct filter *out)
{
  memset(out, 0, sizeof *out);
  while (f && *f) {
    char field[32], value[256];
    int used = 0;
    if (sscanf(f, " %31[A-Za-z] eq '%255[^']'%n", field, value, &used) != 2 || used == 0)
      return false;
    if (!strcasecmp(field, "resourceGroup"))
      snprintf(out->rg, sizeof out->rg, "%s", value);
    else if (!strcasecmp(field, "resourceType"))
      snprintf(out->type, sizeof out->type, "%s", value);
    else if (!strcasecmp(field, "name"))
      snprintf(out->name, sizeof out->name, "%s", value);
    else
      return false;
    f += used;
    while (*f == ' ')
      f++;
    if (*f && strncasecmp(f, "and ", 4) != 0)
      return false;
    if (*f)
      f += 4;
  }
  return true;
}

struct list_state {
  struct arm_call *call;
  struct filter filter;
  json_t *value;
};

/* The resource group of an id (/subscriptions/s/resourceGroups/<rg>/...). */
static bool in_group(const char *id, const char *rg)
{
  const char *p = strcasestr(id, "/resourceGroups/");
  if (!p)
    return false;
  p += strlen("/resourceGroups/");
  size_t n = strcspn(p, "/");
  return strlen(rg) == n && strncasecmp(p, rg, n) == 0;
}

static int list_one(void *ctx, const struct meta_resource *r)
{
  struct list_state *st = ctx;
  if (!strcasecmp(r->type, "Microsoft.Resources/resourceGroups") || !strcasecmp(r->type, LOCK_TYPE) ||
      (st->filter.rg[0] && !in_group(r->id, st->filter.rg)) ||
      (st->filter.type[0] && strcasecmp(r->type, st->filter.type)) ||
      (st->filter.name[0] && strcasecmp(r->name, st->filter.name)))
    return 0;
  json_t *o = json_pack("{s:s,s:s,s:s}", "id", r->id, "name", r->name, "type", r->type);
  if (r->location)
    json_object_set_new(o, "location", json_string(r->location));
  json_object_set_new(o, "tags", r->tags ? json_loads(r->tags, 0, NULL) : json_object());
  json_t *extra = r->extra ? json_loads(r->extra, 0, NULL) : NULL;
  if (json_object_get(extra, "sku"))
    json_object_set(o, "sku", json_object_get(extra, "sku"));
  if (json_object_get(extra, "managedBy"))
    json_object_set(o, "managedBy", json_object_get(extra, "managedBy"));
  json_decref(extra);
  char t[TIME_ISO_LEN];
  if (arm_expand_has(st->call, "createdTime")) {
    time_iso8601(r->created_us, t);
    json_object_set_new(o, "createdTime", json_string(t));
  }
  if (arm_expand_has(st->call, "changedTime")) {
    time_iso8601(r->changed_us, t);
    json_object_set_new(o, "changedTime", json_string(t));
  }
  if (arm_expand_has(st->call, "provisioningState") && r->provisioning_state)
    json_object_set_new(o, "provisioningState", json_string(r->provisioning_state));
  json_array_append_new(st->value, o);
  return 0;
}

void arm_resources_list(struct arm_call *call)
{
  struct list_state st = {.call = call};
  if (!parse_filter(http_query(call->req, "$filter"), &st.filter)) {
    arm_reply_error_target(call, 400, "InvalidFilterInQueryString", "$filter",
                           "The $filter '%s' is not supported: use resourceGroup, resourceType and name with 'eq', "
                           "joined by 'and'.",
                           http_query(call->req, "$filter"));
    return;
  }
  char scope[512];
  if (call->nparams >= 2 && !arm_rg_found(call))
    return;
  if (call->nparams >= 2) { /* …/resourceGroups/{rg}/resources */
    snprintf(scope, sizeof scope, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
    snprintf(st.filter.rg, sizeof st.filter.rg, "%s", call->params[1]);
  } else {
    snprintf(scope, sizeof scope, "/subscriptions/%s", call->params[0]);
  }
  st.value = json_array();
  int rc = meta_resource_list_under(call->arm->meta, scope, list_one, &st);
  if (rc < 0) {
    json_decref(st.value);
    arm_reply_internal(call, rc);
    return;
  }
  arm_reply_json(call, 200, json_pack("{s:o}", "value", st.value));
}
