/*
 * fuzz_template.c — libFuzzer harness of the ARM template language: the
 * input is a deployment's request body as the az CLI sends it (tolerant
 * JSON, an unquoted template member, comments) or a bare template.  It is
 * read (tpl_read), planned (tpl_load: parameters, variables, copy loops,
 * conditions, dependencies, nested deployments) in a resource group's or a
 * subscription's world, and every resource's body, every nested plan and
 * the outputs are evaluated, with reference() answering a made-up resource
 * for ids that name one and "not yet" for the rest; then what a deployment
 * stores and shows of it: the parameters view, secure values masked,
 * validate's answer and what-if's delta.  A template is a user's program:
 * any input must end in a plan or an error, never a crash, a leak, undefined
 * behaviour or an unbounded amount of work.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/deploy.h"
#include "deploy/whatif.h"
#include "template/template.h"
#include "support.h"

#define SUB "4f3b2a1c-5d6e-4f70-8a9b-0c1d2e3f4a5b"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* reference(): a resource for ids with a provider namespace, -EAGAIN for
 * the rest (what validate sees for resources not yet deployed). */
static int reference(void *ctx, const char *id, const char *api_version, bool full, json_t **out,
                     struct tpl_error *err)
{
  (void)ctx;
  (void)api_version;
  if (!strstr(id, "/providers/")) {
    if (strstr(id, "missing")) {
      snprintf(err->message, sizeof err->message, "The resource '%s' is not defined.", id);
      return -EINVAL;
    }
    return -EAGAIN;
  }
  json_t *props = json_pack("{s:s,s:i,s:{s:s},s:[s,i]}", "provisioningState", "Succeeded", "diskSizeGB", 32,
                            "source", "id", id, "list", "a", 1);
  *out = full ? json_pack("{s:s,s:s,s:o}", "id", id, "location", "eastus", "properties", props) : props;
  return 0;
}

/* Everything the engine and the front end make of a plan, for plan t in world w; depth bounds nesting. */
static void exercise(struct tpl_template *t, const struct tpl_world *w, json_t *env, int depth)
{
  for (int i = 0; i < tpl_count(t); i++) {
    const struct tpl_resource *r = tpl_get(t, i);
    struct tpl_error err = {0};
    json_t *body = NULL;
    if (tpl_body(t, i, w, &body, &err) == 0) {
      json_t *masked = deploy_masked(t, body);
      json_t *delta = whatif_delta(NULL, body), *after = whatif_predict(masked, body);
      json_t *again = whatif_delta(after, body);
      json_decref(masked);
      json_decref(delta);
      json_decref(after);
      json_decref(again);
    }
    json_decref(body);
    if (r->kind == TPL_DEPLOYMENT && r->deploy && depth < 3) {
      struct tpl_world child = *w;
      child.resource_group = r->resource_group;
      child.scope = r->resource_group ? TPL_SCOPE_RESOURCE_GROUP : TPL_SCOPE_SUBSCRIPTION;
      child.rg_location = r->resource_group ? "eastus" : NULL;
      child.deployment_location = "eastus";
      child.environment = env;
      struct tpl_template *nested = NULL;
      if (tpl_nested(t, i, &child, &nested, &err) == 0)
        exercise(nested, &child, env, depth + 1);
      tpl_free(nested);
    }
  }
  struct tpl_error err = {0};
  json_t *outputs = NULL;
  if (tpl_outputs(t, w, &outputs, &err) == 0)
    json_decref(deploy_masked(t, outputs));
  json_decref(outputs);
  json_decref(tpl_parameters_view(t));
}

/* A member given as a JSON string holding the document: *v replaced by
 * what it reads as (NULL when it does not). */
static void as_document(json_t **v, struct tpl_posmap **pos)
{
  struct tpl_error err = {0};
  json_t *read = NULL;
  if (tpl_read(json_string_value(*v), json_string_length(*v), &read, pos, &err) < 0)
    read = NULL;
  json_decref(*v);
  *v = read;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_quiet();
  json_t *env = json_pack("{s:s,s:s,s:{s:s,s:[s]},s:{}}", "name", "vmrp", "resourceManager",
                          "https://127.0.0.1:8443", "authentication", "loginEndpoint", "https://127.0.0.1:8443/adfs",
                          "audiences", "https://127.0.0.1:8443", "suffixes");
  json_t *tags = json_pack("{s:s}", "env", "fuzz");
  struct tpl_error err = {0};
  json_t *doc = NULL;
  struct tpl_posmap *pos = NULL;
  if (tpl_read((const char *)data, size, &doc, &pos, &err) == 0 && json_is_object(doc)) {
    /* a deployment's body {properties: {template, parameters, mode}}, or a bare template */
    json_t *props = json_object_get(doc, "properties");
    json_t *tpl = json_is_object(props) ? json_incref(json_object_get(props, "template")) : json_incref(doc);
    json_t *params = json_is_object(props) ? json_incref(json_object_get(props, "parameters")) : NULL;
    struct tpl_posmap *tpos = NULL, *ppos = NULL; /* template and parameters may come as JSON strings */
    if (json_is_string(tpl))
      as_document(&tpl, &tpos);
    if (json_is_string(params))
      as_document(&params, &ppos);
    const char *schema = json_string_value(json_object_get(tpl, "$schema"));
    bool at_sub = schema && strstr(schema, "subscriptionDeploymentTemplate");
    const char *mode = json_is_object(props) ? json_string_value(json_object_get(props, "mode")) : NULL;
    struct tpl_world w = {
        .scope = at_sub ? TPL_SCOPE_SUBSCRIPTION : TPL_SCOPE_RESOURCE_GROUP,
        .subscription_id = SUB,
        .subscription_name = "vmrp",
        .tenant_id = "8d8a4c6e-3f2b-4b7a-9c1d-0e5f6a7b8c9d",
        .resource_group = at_sub ? NULL : "rg1",
        .rg_location = at_sub ? NULL : "eastus",
        .rg_tags = tags,
        .deployment_name = "dep1",
        .deployment_location = at_sub ? "eastus" : NULL,
        .mode = mode && !strcmp(mode, "Complete") ? "Complete" : "Incremental",
        .environment = env,
        .reference = reference,
    };
    struct tpl_input in = {tpl, tpos ? tpos : pos, json_is_object(params) ? params : NULL, "properties.template", &w};
    struct tpl_template *t = NULL;
    if (json_is_object(tpl) && tpl_load(&in, &t, &err) == 0) {
      char hash[21];
      tpl_template_hash(tpl, hash);
      json_decref(deploy_validate_view("/subscriptions/" SUB "/resourceGroups/rg1/providers/"
                                       "Microsoft.Resources/deployments/dep1",
                                       "dep1", w.deployment_location, w.mode, t, tags));
      exercise(t, &w, env, 0);
    }
    tpl_free(t);
    tpl_posmap_free(tpos);
    tpl_posmap_free(ppos);
    json_decref(tpl);
    json_decref(params);
  }
  tpl_posmap_free(pos);
  json_decref(doc);
  json_decref(tags);
  json_decref(env);
  return 0;
}
