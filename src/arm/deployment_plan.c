/*
 * deployment_plan.c — a deployment request body, read and planned: what
 * PUT, validate (and what-if) all start from, so that a template plans the
 * same way in each.
 *
 * The body is read with the template layer's tolerant reader (tpl_read):
 * the az CLI sends an unquoted `template` member followed by the user's
 * file verbatim, comments and raw newlines included, so line and column of
 * a template error are those of the user's file.  `template` and
 * `parameters` may also come as JSON strings (the spec allows both), read
 * the same way.  What vmrp cannot honour is refused with a clear 400 rather
 * than accepted and ignored: templateLink and parametersLink (vmrp fetches
 * nothing from the network), onErrorDeployment (no rollback), Complete mode
 * at subscription scope.  Then the template is planned (tpl_load) in the
 * world of the deployment's scope (deploy_world_init: the resource group as
 * stored, ResourceGroupNotFound when there is none).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/log.h"

void arm_reply_template_error(struct arm_call *call, int status, const struct tpl_error *err)
{
  json_t *e = json_pack("{s:s,s:s}", "code", err->code[0] ? err->code : "InvalidTemplate", "message", err->message);
  if (err->line > 0)
    json_object_set_new(e, "additionalInfo",
                        json_pack("[{s:s,s:{s:i,s:i,s:s}}]", "type", "TemplateViolation", "info", "lineNumber",
                                  err->line, "linePosition", err->col, "path", err->path));
  log_info("arm", "%d %s at line %d column %d", status, err->code, err->line, err->col);
  arm_reply_json(call, status, json_pack("{s:o}", "error", e));
}

bool arm_deployment_scope(struct arm_call *call, struct arm_deployment_scope *s)
{
  memset(s, 0, sizeof *s);
  /* /subscriptions/{s}/resourcegroups/... or /subscriptions/{s}/providers/...: the third segment (empty
   * segments skipped, as the router skips them) */
  const char *p = call->req->path;
  for (int seg = 0; seg < 2; seg++) {
    p += strspn(p, "/");
    p += strcspn(p, "/");
  }
  p += strspn(p, "/");
  bool rg = !strncasecmp(p, "resourcegroups/", 15);
  s->sub = call->params[0];
  s->rg = rg ? call->params[1] : NULL;
  s->name = call->params[rg ? 2 : 1];
  s->extra = call->nparams > (rg ? 3 : 2) ? call->params[rg ? 3 : 2] : NULL;
  int n = rg ? snprintf(s->scope, sizeof s->scope, "/subscriptions/%s/resourceGroups/%s", s->sub, s->rg)
             : snprintf(s->scope, sizeof s->scope, "/subscriptions/%s", s->sub);
  int m = snprintf(s->id, sizeof s->id, "%s/providers/Microsoft.Resources/deployments/%s", s->scope, s->name);
  size_t len = strlen(s->name);
  bool chars = true;
  for (const char *c = s->name; *c; c++)
    chars = chars && (((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z') || (*c >= '0' && *c <= '9') || strchr("-_.()", *c));
  if (len > 64 || n < 0 || (size_t)n >= sizeof s->scope || m < 0 || (size_t)m >= sizeof s->id) {
    arm_reply_error(call, 400, "DeploymentNameLengthLimitExceeded",
                    "The provided deployment name '%s' has a length of '%zu' which exceeds the maximum length of "
                    "'64'. Please see https://aka.ms/arm-deploy-resources for usage details.",
                    s->name, len);
    return false;
  }
  if (len == 0 || !chars) {
    arm_reply_error(call, 400, "DeploymentNameInvalidCharacters",
                    "The provided deployment name '%s' has these invalid characters: the name may hold only "
                    "letters, digits and '-', '_', '.', '(', ')'. Please see https://aka.ms/arm-deploy-resources "
                    "for usage details.",
                    s->name);
    return false;
  }
  return true;
}

void arm_deployment_plan_clear(struct arm_deployment_plan *p)
{
  tpl_free(p->plan);
  if (p->world)
    deploy_world_clear(p->world);
  free(p->world);
  tpl_posmap_free(p->pos);
  tpl_posmap_free(p->template_pos);
  json_decref(p->body);
  json_decref(p->template);
  json_decref(p->parameters);
  memset(p, 0, sizeof *p);
}

/* member of properties that may be an object or a JSON string holding one:
 * 0 with *out (a new reference, NULL when absent) and *pos for a string's
 * own positions; replied and -EINVAL otherwise. */
static int object_or_string(struct arm_call *call, json_t *props, const char *name, json_t **out,
                            struct tpl_posmap **pos)
{
  json_t *v = json_object_get(props, name);
  *out = NULL;
  if (!v || json_is_null(v))
    return 0;
  if (json_is_object(v)) {
    *out = json_incref(v);
    return 0;
  }
  struct tpl_error err = {0};
  if (json_is_string(v)) {
    const char *text = json_string_value(v);
    if (tpl_read(text, json_string_length(v), out, pos, &err) < 0) {
      arm_reply_template_error(call, 400, &err);
      return -EINVAL;
    }
    if (json_is_object(*out))
      return 0;
    json_decref(*out);
    *out = NULL;
  }
  arm_reply_error(call, 400, "InvalidRequestContent",
                  "The request content was invalid and could not be deserialized: 'properties.%s must be a JSON "
                  "object or a string holding one.'",
                  name);
  return -EINVAL;
}

/* Before anything runs: each resource's body evaluates (what needs a
 * reference() is left for the run) and its PUT would reach a handler at
 * its apiVersion; otherwise 400 InvalidTemplate (with the resource's
 * position) or InvalidTemplateDeployment with the router's errors. */
static int preflight(struct arm_call *call, const struct arm_deployment_scope *s, struct arm_deployment_plan *p)
{
  json_t *details = json_array();
  int rc = 0;
  for (int i = 0; rc == 0 && i < tpl_count(p->plan); i++) {
    const struct tpl_resource *r = tpl_get(p->plan, i);
    if (!r->deploy)
      continue;
    struct tpl_error err = {0};
    json_t *body = NULL;
    int b = tpl_body(p->plan, i, &p->world->w, &body, &err);
    json_decref(body);
    if (b < 0 && b != -EAGAIN) {
      arm_reply_template_error(call, 400, &err);
      rc = b;
      break;
    }
    json_t *e = NULL;
    if (r->kind == TPL_RESOURCE && arm_route_precheck(call->arm, "PUT", r->id, r->api_version, &e) < 0 && e) {
      json_object_set_new(e, "target", json_string(r->id));
      json_array_append(details, e);
    }
    json_decref(e);
  }
  if (rc == 0 && json_array_size(details)) {
    char tracking[40];
    snprintf(tracking, sizeof tracking, "%s", call->req->request_id);
    char msg[512];
    snprintf(msg, sizeof msg,
             "The template deployment '%s' is not valid according to the validation procedure. The tracking id is "
             "'%s'. See inner errors for details.",
             s->name, tracking);
    arm_reply_json(call, 400, json_pack("{s:{s:s,s:s,s:O}}", "error", "code", "InvalidTemplateDeployment",
                                        "message", msg, "details", details));
    rc = -EINVAL;
  }
  json_decref(details);
  return rc;
}

int arm_deployment_plan(struct arm_call *call, const struct arm_deployment_scope *s, struct deploy *engine,
                        struct arm_deployment_plan *p)
{
  memset(p, 0, sizeof *p);
  struct tpl_error err = {0};
  const char *text = call->req->body ? call->req->body : "";
  int rc = tpl_read(text, call->req->body_len, &p->body, &p->pos, &err);
  if (rc < 0) {
    arm_reply_template_error(call, 400, &err);
    return rc;
  }
  json_t *props = json_object_get(p->body, "properties");
  if (!json_is_object(p->body) || !json_is_object(props)) {
    arm_reply_error(call, 400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: 'Required property "
                    "'properties' not found in JSON. Path '', line 1, position 1.'");
    return -EINVAL;
  }
  const char *mode = json_string_value(json_object_get(props, "mode"));
  if (!mode || (strcasecmp(mode, "Incremental") && strcasecmp(mode, "Complete"))) {
    arm_reply_error(call, 400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: 'Required property 'mode' "
                    "is missing or not one of 'Incremental', 'Complete'. Path 'properties.mode'.'");
    return -EINVAL;
  }
  p->mode = strcasecmp(mode, "Complete") ? "Incremental" : "Complete";
  if (!s->rg && !strcmp(p->mode, "Complete")) {
    arm_reply_error(call, 400, "InvalidDeploymentMode",
                    "The deployment mode 'Complete' is not supported for deployments at subscription scope.");
    return -EINVAL;
  }
  static const struct {
    const char *member, *code, *message;
  } refused[] = {
      {"templateLink", "InvalidContentLink",
       "Linked templates (properties.templateLink) are not supported: this service fetches nothing from the "
       "network and has no template specs. Send the template inline in properties.template."},
      {"parametersLink", "InvalidContentLink",
       "Linked parameter files (properties.parametersLink) are not supported: this service fetches nothing from "
       "the network. Send the parameters inline in properties.parameters."},
      {"onErrorDeployment", "InvalidOnErrorDeployment",
       "Rollback on error (properties.onErrorDeployment) is not supported by this service; deploy without it."},
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
    if (json_object_get(props, refused[i].member) && !json_is_null(json_object_get(props, refused[i].member))) {
      arm_reply_error_target(call, 400, refused[i].code, refused[i].member, "%s", refused[i].message);
      return -EINVAL;
    }
  /* Operations never carry request or response content (they could hold a
   * secure value a template put into a property): asking for it is refused,
   * not accepted and ignored.  "none" asks for nothing. */
  const char *detail = json_string_value(json_object_get(json_object_get(props, "debugSetting"), "detailLevel"));
  if (detail && strcasecmp(detail, "none")) {
    arm_reply_error_target(call, 400, "InvalidDebugSetting", "debugSetting.detailLevel",
                           "Request and response content in deployment operations (debugSetting.detailLevel "
                           "'%s') is not supported by this service; deploy without debugSetting.",
                           detail);
    return -EINVAL;
  }
  struct tpl_posmap *ppos = NULL;
  if ((rc = object_or_string(call, props, "template", &p->template, &p->template_pos)) < 0 ||
      (rc = object_or_string(call, props, "parameters", &p->parameters, &ppos)) < 0) {
    tpl_posmap_free(ppos);
    return rc;
  }
  tpl_posmap_free(ppos);
  if (!p->template) {
    arm_reply_error(call, 400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: 'Required property "
                    "'properties.template' not found.'");
    return -EINVAL;
  }
  p->location = json_string_value(json_object_get(p->body, "location"));
  if (!s->rg && !p->location) {
    arm_reply_error(call, 400, "LocationRequired",
                    "The location property is required for this definition: a deployment at subscription scope "
                    "needs 'location'.");
    return -EINVAL;
  }
  if (s->rg)
    p->location = NULL;
  p->tags = json_object_get(p->body, "tags");
  if (p->tags && !arm_tags_ok(call, p->tags))
    return -EINVAL;
  p->world = calloc(1, sizeof *p->world);
  rc = p->world ? deploy_world_init(engine, p->world, s->sub, s->rg, s->name, p->location, p->mode) : -ENOMEM;
  if (rc == -ENOENT) {
    arm_reply_error(call, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.", s->rg);
    free(p->world);
    p->world = NULL;
    return rc;
  }
  if (rc < 0) {
    free(p->world);
    p->world = NULL;
    arm_reply_internal(call, rc);
    return rc;
  }
  struct tpl_input in = {.template = p->template,
                         .pos = p->template_pos ? p->template_pos : p->pos,
                         .parameters = p->parameters,
                         .path = "properties.template",
                         .world = &p->world->w};
  rc = tpl_load(&in, &p->plan, &err);
  if (rc < 0) {
    arm_reply_template_error(call, 400, &err);
    return rc;
  }
  return preflight(call, s, p);
}
