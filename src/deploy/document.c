/*
 * document.c — what the engine stores of an operation, and the masking of
 * secure values in everything it stores.
 *
 * An operation's document is the DeploymentOperation's properties as ARM
 * shows them: provisioningOperation (Create, Delete), provisioningState,
 * timestamp, duration, trackingId and serviceRequestId (the id the request
 * ran under), statusCode (the handler's HTTP status by name), statusMessage
 * ({"status": "Failed", "error": {...}} on a failure) and targetResource.
 * Messages come from handlers, which may quote a value they refused — a
 * secure parameter's included — so every string of an error is masked
 * (deploy_mask_json) before it is written; what-if's change list, which shows
 * the bodies a template would send, is masked the same way
 * (deploy_masked).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/random.h"
#include "common/timefmt.h"
#include "deploy/internal.h"

void deploy_duration(int64_t us, char out[32])
{
  if (us < 0)
    us = 0;
  snprintf(out, 32, "PT%lld.%06lldS", (long long)(us / 1000000), (long long)(us % 1000000));
}

void deploy_op_id(char out[17])
{
  unsigned char b[8];
  random_bytes(b, sizeof b);
  hex_encode(b, sizeof b, out);
  for (char *c = out; *c; c++)
    if (*c >= 'a' && *c <= 'f')
      *c = (char)(*c - 'a' + 'A');
}

const char *deploy_status_name(int status)
{
  static const struct {
    int status;
    const char *name;
  } names[] = {{200, "OK"},           {201, "Created"},           {202, "Accepted"},
               {204, "NoContent"},    {400, "BadRequest"},        {401, "Unauthorized"},
               {403, "Forbidden"},    {404, "NotFound"},          {405, "MethodNotAllowed"},
               {409, "Conflict"},     {412, "PreconditionFailed"}, {413, "RequestEntityTooLarge"},
               {429, "TooManyRequests"}, {500, "InternalServerError"}, {502, "BadGateway"},
               {503, "ServiceUnavailable"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].status == status)
      return names[i].name;
  return status < 400 ? "OK" : status < 500 ? "BadRequest" : "InternalServerError";
}

static char *mask(const struct tpl_template *plan, const char *msg)
{
  const char *const *secrets = NULL;
  int n = plan ? tpl_secrets(plan, &secrets) : 0;
  char *out = strdup(msg);
  for (int i = 0; out && i < n; i++) {
    size_t sl = strlen(secrets[i]);
    if (sl == 0)
      continue;
    char *hit;
    while (out && (hit = strstr(out, secrets[i]))) {
      size_t pre = (size_t)(hit - out);
      char *next = NULL;
      if (asprintf(&next, "%.*s***%s", (int)pre, out, hit + sl) < 0)
        next = NULL;
      free(out);
      out = next;
    }
  }
  return out;
}

json_t *deploy_masked(const struct tpl_template *plan, json_t *v)
{
  if (json_is_string(v)) {
    char *m = mask(plan, json_string_value(v));
    json_t *s = m ? json_string(m) : json_string("***");
    free(m);
    return s;
  }
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *m;
    json_object_foreach(v, k, m) json_object_set_new(o, k, deploy_masked(plan, m));
    return o;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(v, i, m) json_array_append_new(a, deploy_masked(plan, m));
    return a;
  }
  return json_incref(v);
}

json_t *deploy_mask_json(struct run *run, json_t *v)
{
  return deploy_masked(run ? run->plan : NULL, v);
}

int deploy_op_write(struct run *run, const char *op_id, const char *operation, const char *state,
                    const struct tpl_resource *target, int64_t start_us, const char *status_code, json_t *error,
                    const char *request_id)
{
  char now[TIME_ISO_LEN], dur[32];
  int64_t t = time_now_us();
  time_iso8601(t, now);
  deploy_duration(t - start_us, dur);
  json_t *doc = json_pack("{s:s,s:s,s:s,s:s}", "provisioningOperation", operation, "provisioningState", state,
                          "timestamp", now, "duration", dur);
  if (request_id) {
    json_object_set_new(doc, "trackingId", json_string(request_id));
    json_object_set_new(doc, "serviceRequestId", json_string(request_id));
  }
  if (status_code)
    json_object_set_new(doc, "statusCode", json_string(status_code));
  if (error)
    json_object_set_new(doc, "statusMessage",
                        json_pack("{s:s,s:o}", "status", "Failed", "error", deploy_mask_json(run, error)));
  if (target)
    json_object_set_new(doc, "targetResource", json_pack("{s:s,s:s,s:s}", "id", target->id, "resourceType",
                                                         target->type, "resourceName", target->name));
  char *text = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  struct meta_deployment_op op = {.deployment_id = run->id, .id = (char *)op_id, .state = (char *)state,
                                  .target_id = target ? (char *)target->id : NULL, .document = text};
  int rc = text ? meta_deployment_op_put(run->d->cfg.meta, &op) : -ENOMEM;
  free(text);
  return rc;
}
