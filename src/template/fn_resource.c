/*
 * fn_resource.c — the resource functions: resourceId() in all its argument
 * forms, subscriptionResourceId(), tenantResourceId(),
 * extensionResourceId(), reference() (docs: template-functions-resource.md;
 * TEMPLATES.md §3.4.1, §3.4.3).
 *
 * Ids are built as ARM builds them: "resourceGroups" in camel case, the
 * current subscription and resource group where omitted, names inserted as
 * given.  The type is the first argument holding a '/' (a subscription id or
 * a resource group name never does); a trailing '/' on it is tolerated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/internal.h"

/* The index of the type among args[from..max], all strings; -1 with err. */
static int find_type(struct tpl_call *c, json_t *const *args, int n, int max)
{
  for (int i = 0; i < n; i++)
    if (!json_is_string(args[i]))
      return tpl_call_fail(c, "Unable to evaluate template language function '%s': all function arguments must be "
                              "string literals.",
                           c->fn->name);
  for (int i = 0; i < n && i <= max; i++)
    if (strchr(json_string_value(args[i]), '/'))
      return i;
  return tpl_call_fail(c, "Unable to evaluate template language function '%s': the resource type (such as "
                          "'Microsoft.Compute/disks') must be one of its first %d argument(s).",
                       c->fn->name, max + 1);
}

/* prefix + "/providers/Ns/t1/n1/t2/n2…" from args[t] (the type) and the
 * names after it. */
static int build_id(struct tpl_call *c, struct tpl_buf *b, json_t *const *args, int t, int n, json_t **out)
{
  const char *type = json_string_value(args[t]);
  size_t tlen = strlen(type);
  while (tlen > 0 && type[tlen - 1] == '/')
    tlen--;
  int segments = 1;
  for (size_t i = 0; i < tlen; i++)
    segments += type[i] == '/';
  int names = n - t - 1;
  if (segments < 2 || names != segments - 1 || type[0] == '/') {
    free(b->p);
    return tpl_call_fail(c, "Unable to evaluate template language function '%s': the type '%.*s' requires '%d' "
                            "resource name argument(s).",
                         c->fn->name, (int)tlen, type, segments - 1);
  }
  tpl_buf_str(b, "/providers/");
  const char *seg = type, *slash = memchr(seg, '/', tlen);
  tpl_buf_add(b, seg, (size_t)(slash - seg)); /* the namespace */
  for (int k = 0; k < names; k++) {
    seg = slash + 1;
    slash = memchr(seg, '/', (size_t)(type + tlen - seg));
    if (!slash)
      slash = type + tlen;
    tpl_buf_str(b, "/");
    tpl_buf_add(b, seg, (size_t)(slash - seg));
    tpl_buf_str(b, "/");
    tpl_buf_str(b, json_string_value(args[t + 1 + k]));
  }
  return tpl_buf_done(c, b, out);
}

static const char *current_subscription(struct tpl_call *c)
{
  return c->ev->world && c->ev->world->subscription_id ? c->ev->world->subscription_id : "";
}

static int fn_resource_id(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int t = find_type(c, args, n, 2);
  if (t < 0)
    return t;
  const struct tpl_world *w = c->ev->world;
  struct tpl_buf b = {0};
  tpl_buf_str(&b, "/subscriptions/");
  tpl_buf_str(&b, t == 2 ? json_string_value(args[0]) : current_subscription(c));
  const char *rg = t >= 1 ? json_string_value(args[t - 1])
                          : w && w->scope == TPL_SCOPE_RESOURCE_GROUP ? w->resource_group : NULL;
  if (rg) {
    tpl_buf_str(&b, "/resourceGroups/");
    tpl_buf_str(&b, rg);
  }
  return build_id(c, &b, args, t, n, out);
}

static int fn_subscription_resource_id(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int t = find_type(c, args, n, 1);
  if (t < 0)
    return t;
  struct tpl_buf b = {0};
  tpl_buf_str(&b, "/subscriptions/");
  tpl_buf_str(&b, t == 1 ? json_string_value(args[0]) : current_subscription(c));
  return build_id(c, &b, args, t, n, out);
}

static int fn_tenant_resource_id(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int t = find_type(c, args, n, 0);
  if (t < 0)
    return t;
  struct tpl_buf b = {0};
  return build_id(c, &b, args, t, n, out);
}

static int fn_extension_resource_id(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  for (int i = 0; i < n; i++)
    if (!json_is_string(args[i]))
      return tpl_type_error(c, i, args[i], "of type 'String'");
  const char *base = json_string_value(args[0]);
  if (base[0] != '/')
    return tpl_call_fail(c, "Unable to evaluate template language function 'extensionResourceId': the resource id "
                            "'%s' is not a fully qualified resource id.",
                         base);
  struct tpl_buf b = {0};
  size_t blen = strlen(base);
  while (blen > 0 && base[blen - 1] == '/')
    blen--;
  tpl_buf_add(&b, base, blen);
  return build_id(c, &b, args, 1, n, out);
}

static int fn_reference(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const struct tpl_eval *ev = c->ev;
  const char *name, *api = NULL, *full = NULL;
  int rc;
  if (!(ev->allow & TPL_ALLOW_REFERENCE))
    return tpl_fail(c->err, "InvalidTemplate",
                    "The template function 'reference' is not expected at this location. Please see "
                    "https://aka.ms/arm-template-expressions for usage details.");
  if ((rc = tpl_arg_string(c, args, 0, &name)) < 0 || (n > 1 && (rc = tpl_arg_string(c, args, 1, &api)) < 0) ||
      (n > 2 && (rc = tpl_arg_string(c, args, 2, &full)) < 0))
    return rc;
  if (full && strcasecmp(full, "Full") != 0)
    return tpl_call_fail(c, "The template language function 'reference' expects its third parameter to be 'Full'. "
                            "The provided value is '%s'.",
                         full);
  const char *id = ev->resource_id_of ? ev->resource_id_of(ev->ctx, name) : NULL;
  if (!id && name[0] != '/')
    return tpl_fail(c->err, "InvalidTemplate",
                    "The template reference '%s' is not valid: could not find template resource or resource copy "
                    "with this name. Please see https://aka.ms/arm-function-reference for usage details.",
                    name);
  if (!ev->world || !ev->world->reference) {
    tpl_fail(c->err, "InvalidTemplate", "The value of reference('%s') is not known before the deployment runs.", name);
    return -EAGAIN;
  }
  return ev->world->reference(ev->world->reference_ctx, id ? id : name, api && *api ? api : NULL, full != NULL, out,
                              c->err);
}

const struct tpl_function tpl_fn_resource[] = {
    {"extensionResourceId", fn_extension_resource_id, 3, -1, 0},
    {"reference", fn_reference, 1, 3, 0},
    {"resourceId", fn_resource_id, 2, -1, 0},
    {"subscriptionResourceId", fn_subscription_resource_id, 2, -1, 0},
    {"tenantResourceId", fn_tenant_resource_id, 2, -1, 0},
    {NULL, NULL, 0, 0, 0},
};
