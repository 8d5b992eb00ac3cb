/*
 * forward.c — one ARM namespace over every region: a request for a resource
 * that lives in another region is forwarded there.
 *
 * A resource lives in the region of its location (a new top-level resource:
 * the body's "location") or of its parent.  After the request is
 * authenticated here (so a region is never an open relay), the router asks
 * arm_forward whether the call is another region's:
 *   - a PUT whose body's location (in any case, as body.c reads members)
 *     is a peer's goes to that peer;
 *   - any other call on a resource path whose top-level resource (the path up
 *     to providers/{ns}/{type}/{name}) is not here goes to each peer in turn,
 *     and the first answer other than 404 is relayed;
 *   - lists of resources are merged: this region's, then every peer's (a peer
 *     that is down is skipped and named in the log);
 *   - resource groups are every region's: PUT, PATCH and DELETE of a group
 *     are sent to every peer after they succeeded here, and a forwarded PUT
 *     that finds its group missing at the peer creates it there and retries;
 *   - so are the locks of a subscription and of a group (locks.c): PUT and
 *     DELETE go to every peer after they succeeded here (a group missing
 *     there is made first), their lists are merged, a GET is answered here.
 *     A peer that does not take the change is the client's answer (503
 *     RegionUnavailable, or the peer's error): the change stands here and
 *     the request, idempotent, is to be retried, so a lock is never
 *     silently missing from a region.  A resource's locks are the
 *     resource's: routed by the path's top-level resource as any child;
 *   - a group's DELETE first asks every peer for the locks in the group
 *     (the resources' locks live in their regions): one there refuses the
 *     DELETE (409 ScopeLocked) before anything is deleted here.  A peer that
 *     does not answer is not asked, and is not sent the DELETE either, so
 *     its resources, locked or not, stay.
 * The request goes out as it came (method, path, query, body) with
 * x-vmrp-forwarded, so a forwarded call is never forwarded again, but never
 * with the caller's token: it is signed as every request between regions
 * is (repl.h) and asserts the caller this region authenticated, whom the
 * peer then authorizes with its own role table (router.c).  A peer thus
 * never holds a token it could use elsewhere, and a captured forwarded
 * request does not replay.  The
 * answer comes back as the peer gave it: status, body and the headers a
 * client reads (long-running operation URLs point at the peer, where they
 * are polled).  A peer that does not answer makes only its resources
 * unavailable: 503 naming the region for a call that is its, nothing for
 * the others.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/log.h"
#include "common/strlist.h"
#include "common/timefmt.h"
#include "common/urlcode.h"

#define MAX_REPLY (64u << 20)

struct reply {
  long status;
  char *body;
  size_t len, cap;
  char *headers[HTTP_MAX_HEADERS];
  int nheaders;
  bool too_big;
};

static void reply_free(struct reply *r)
{
  free(r->body);
  for (int i = 0; i < r->nheaders; i++)
    free(r->headers[i]);
  memset(r, 0, sizeof *r);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
  struct reply *r = ctx;
  size_t len = size * n;
  if (r->len + len + 1 > MAX_REPLY) {
    r->too_big = true;
    return 0;
  }
  if (r->len + len + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->len + len + 1)
      cap *= 2;
    char *b = realloc(r->body, cap);
    if (!b)
      return 0;
    r->body = b;
    r->cap = cap;
  }
  memcpy(r->body + r->len, p, len);
  r->len += len;
  r->body[r->len] = '\0';
  return len;
}

/* The headers a client of the answer reads. */
static const char *const relayed[] = {"Azure-AsyncOperation", "Location", "Retry-After", "ETag", "WWW-Authenticate",
                                      NULL};

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
  struct reply *r = ctx;
  size_t len = size * n;
  for (int i = 0; relayed[i]; i++) {
    size_t k = strlen(relayed[i]);
    if (len > k + 1 && !strncasecmp(p, relayed[i], k) && p[k] == ':' && r->nheaders < HTTP_MAX_HEADERS) {
      size_t v = len;
      while (v > 0 && (p[v - 1] == '\r' || p[v - 1] == '\n'))
        v--;
      r->headers[r->nheaders] = strndup(p, v);
      if (r->headers[r->nheaders])
        r->nheaders++;
    }
  }
  return len;
}

/* Sends the call as it came to loc, or with another method, path, query
 * (NULL: the call's) and body. */
static int send_to(struct arm_call *call, const struct arm_location *loc, const char *method, const char *path,
                   const char *query, const char *body, size_t body_len, struct reply *out)
{
  memset(out, 0, sizeof *out);
  char *q = query ? strdup(query) : arm_canonical_query(call->req); /* the form the peer rebuilds and checks */
  char *url = NULL, *target = NULL;
  CURL *c = curl_easy_init();
  struct curl_slist *hdrs = NULL;
  int rc = !q || !c ? -ENOMEM : 0;
  if (rc == 0 && (asprintf(&target, "%s%s%s", path, *q ? "?" : "", q) < 0 ||
                  asprintf(&url, "%s%s", loc->endpoint, target) < 0)) {
    url = NULL;
    rc = -ENOMEM;
  }
  char h[4096];
  struct repl_signature sig;
  struct repl_caller who = arm_peer_caller(&call->who);
  if (rc == 0)
    rc = repl_sign(loc->credential, call->arm->cfg.locations[0].name, loc->name, method, target, body,
                   body ? body_len : 0, &who, time_now_us() / 1000, &sig);
  const char *ctype = http_header(call->req, "Content-Type");
  const char *corr = http_header(call->req, "x-ms-correlation-request-id");
  if (rc == 0) {
    snprintf(h, sizeof h, "Authorization: %s", sig.authorization);
    hdrs = curl_slist_append(hdrs, h);
    snprintf(h, sizeof h, REPL_HEADER_PEER ": %s", call->arm->cfg.locations[0].name);
    hdrs = curl_slist_append(hdrs, h);
    if (sig.caller[0]) {
      snprintf(h, sizeof h, REPL_HEADER_CALLER ": %s", sig.caller);
      hdrs = curl_slist_append(hdrs, h);
    }
    snprintf(h, sizeof h, "Content-Type: %s", ctype && strlen(ctype) < 128 ? ctype : "application/json");
    hdrs = curl_slist_append(hdrs, h);
    snprintf(h, sizeof h, "x-ms-correlation-request-id: %s", corr && strlen(corr) < 128 ? corr : call->req->request_id);
    hdrs = curl_slist_append(hdrs, h);
    snprintf(h, sizeof h, ARM_HEADER_FORWARDED ": %s", call->arm->cfg.locations[0].name);
    hdrs = curl_slist_append(hdrs, h);
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    /* as sent: the path signed is the path sent, and a name "." or ".."
     * reaches the peer's name rules instead of naming the parent resource */
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    if (call->arm->cfg.peer_ca)
      curl_easy_setopt(c, CURLOPT_CAINFO, call->arm->cfg.peer_ca);
    if (!strcmp(method, "HEAD"))
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body && body_len) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "DELETE") != 0) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    CURLcode cr = curl_easy_perform(c);
    if (cr == CURLE_OK) {
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    } else {
      log_warn("arm", "%s %s at region %s: %s", method, path, loc->name, curl_easy_strerror(cr));
      rc = out->too_big ? -EFBIG : -EHOSTUNREACH;
    }
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  free(url);
  free(target);
  free(q);
  if (rc < 0)
    reply_free(out);
  return rc;
}

static void reply_unavailable(struct arm_call *call, const struct arm_location *loc)
{
  arm_reply_error(call, 503, "RegionUnavailable",
                  "The resource is in region '%s' (or, for a resource no region holds, may be): that region does "
                  "not answer. Resources in the other regions are not affected; retry later.",
                  loc->name);
}

/* Relays a peer's answer as this call's (consumes r). */
static void relay(struct arm_call *call, struct reply *r)
{
  for (int i = 0; i < r->nheaders; i++) {
    char *colon = strchr(r->headers[i], ':');
    if (!colon)
      continue;
    *colon = '\0';
    const char *v = colon + 1;
    while (*v == ' ')
      v++;
    http_response_header(call->resp, r->headers[i], "%s", v);
  }
  const char *ctype = r->len ? "application/json; charset=utf-8" : NULL;
  http_response_body(call->resp, (int)r->status, ctype, r->body, r->len);
  r->body = NULL;
  reply_free(r);
}

/* The id of the call's top-level resource, the path's first eight segments
 * /subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}; false
 * when the path names no resource inside a group. */
static bool top_level_id(const char *path, char *out, size_t cap)
{
  const char *e = path;
  for (int seg = 0; seg < 8; seg++) {
    if (*e != '/' || e[1] == '/' || !e[1])
      return false;
    const char *next = strchr(e + 1, '/');
    size_t n = next ? (size_t)(next - e - 1) : strlen(e + 1);
    if ((seg == 0 && (n != 13 || strncasecmp(e + 1, "subscriptions", 13))) ||
        (seg == 2 && (n != 14 || strncasecmp(e + 1, "resourceGroups", 14))) ||
        (seg == 4 && (n != 9 || strncasecmp(e + 1, "providers", 9))))
      return false;
    e = next ? next : e + 1 + n;
  }
  size_t n = (size_t)(e - path);
  if (n >= cap)
    return false;
  memcpy(out, path, n);
  out[n] = '\0';
  return true;
}

/* path with each run of '/' as one (the az CLI's resource-level lock path
 * has an empty parent path: "Microsoft.Compute//disks/d"), as the router
 * splits it; false when it does not fit cap. */
static bool single_slashes(const char *path, char *out, size_t cap)
{
  size_t n = 0;
  for (const char *p = path; *p; p++) {
    if (*p == '/' && p[1] == '/')
      continue;
    if (n + 1 >= cap)
      return false;
    out[n++] = *p;
  }
  out[n] = '\0';
  return true;
}

static bool is_group_call(struct arm_call *call)
{
  return call->type_name && !strcmp(call->type_name, "resourceGroups") && call->nparams == 2;
}

/* ---- lists: merged over the regions --------------------------------------- */

static bool is_list(struct arm_call *call)
{
  if (strcmp(call->req->method, "GET") != 0 || !call->type_name)
    return false;
  const char *t = call->type_name;
  bool resource_list = !strcmp(t, "resources") || !strcmp(t, "disks") || !strcmp(t, "virtualMachines") ||
                       !strcmp(t, "restorePointCollections") || !strcmp(t, "protectionPolicies");
  const char *path = call->req->raw_path ? call->req->raw_path : call->req->path;
  size_t n = strlen(path);
  while (n && path[n - 1] == '/')
    n--;
  size_t tl = strlen(t);
  return resource_list && n > tl && !strncasecmp(path + n - tl, t, tl) && path[n - tl - 1] == '/';
}

/* Appends every entry of a peer's {"value": [...]} not already listed. */
static void merge_values(json_t *into, const char *body)
{
  json_t *o = body ? json_loads(body, 0, NULL) : NULL;
  size_t i, k;
  json_t *v, *w;
  json_array_foreach(json_object_get(o, "value"), i, v) {
    const char *id = json_string_value(json_object_get(v, "id"));
    bool dup = false;
    json_array_foreach(into, k, w) {
      const char *wid = json_string_value(json_object_get(w, "id"));
      if (id && wid && !strcasecmp(id, wid))
        dup = true;
    }
    if (!dup)
      json_array_append(into, v);
  }
  json_decref(o);
}

/* Whether the resource id (as in the path, percent-encoded) is this region's. */
static bool held_here(struct arm *arm, const char *top)
{
  char *id = url_decode(top, strlen(top), 0);
  struct meta_resource r;
  bool here = id && meta_resource_get(arm->meta, id, &r) == 0;
  if (here)
    meta_resource_clear(&r);
  free(id);
  return here;
}

/* Creates the call's resource group at loc as it is here (a region that
 * missed its creation): 0 when loc has it now. */
/* Whether the top-level resource lives at loc (a 404 there may be about a
 * child of it, then it is the answer), asked over the peer protocol. */
static bool held_at(struct arm *arm, const struct arm_location *loc, const char *top)
{
  long status = 0;
  json_t *doc = NULL;
  bool held = arm_peer_resource(arm, NULL, loc, top, &status, &doc, NULL) == 0 && status == 200;
  json_decref(doc);
  return held;
}

static int make_group_at(struct arm_call *call, const struct arm_location *loc)
{
  char id[512];
  snprintf(id, sizeof id, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
  struct meta_resource g;
  int rc = meta_resource_get(call->arm->meta, id, &g);
  if (rc < 0)
    return rc;
  json_t *doc = json_pack("{s:s}", "location", g.location ? g.location : call->arm->cfg.locations[0].name);
  if (g.tags)
    json_object_set_new(doc, "tags", json_loads(g.tags, 0, NULL));
  char *text = json_dumps(doc, JSON_COMPACT);
  struct reply r;
  rc = text ? send_to(call, loc, "PUT", id, "api-version=2021-04-01", text, strlen(text), &r) : -ENOMEM;
  if (rc == 0) {
    rc = r.status == 200 || r.status == 201 ? 0 : -EIO;
    reply_free(&r);
  }
  free(text);
  json_decref(doc);
  meta_resource_clear(&g);
  return rc;
}

/* ---- locks of a subscription or a group: every region's --------------------------- */

/* Whether a lock path is a list (ends in …/Microsoft.Authorization/locks). */
static bool lock_list_path(const char *path)
{
  size_t n = strlen(path);
  while (n && path[n - 1] == '/')
    n--;
  static const char tail[] = "/providers/Microsoft.Authorization/locks";
  size_t t = sizeof tail - 1;
  return n >= t && !strncasecmp(path + n - t, tail, t);
}

/* After a lock's PUT or DELETE here: the same at every peer.  Each peer is
 * sent it even when one fails; the first failure becomes the answer (the
 * change stands where it was made, and the request is to be retried). */
static void replicate_lock(struct arm_call *call, const char *path)
{
  struct arm *arm = call->arm;
  const struct http_request *req = call->req;
  const char *m = req->method;
  if (call->resp->status < 200 || call->resp->status >= 300)
    return;
  const struct arm_location *down = NULL;
  struct reply refused = {0};
  for (int i = 1; i < arm->cfg.nlocations; i++) {
    const struct arm_location *loc = &arm->cfg.locations[i];
    struct reply r;
    int rc = send_to(call, loc, m, path, NULL, req->body, req->body_len, &r);
    if (rc == 0 && !strcmp(m, "PUT") && r.status == 404 && r.body && strstr(r.body, "\"ResourceGroupNotFound\"") &&
        make_group_at(call, loc) == 0) {
      reply_free(&r); /* the group is every region's: made there, try again */
      rc = send_to(call, loc, m, path, NULL, req->body, req->body_len, &r);
    }
    if (rc < 0) {
      log_warn("arm", "%s of lock %s: region %s did not answer", m, path, loc->name);
      down = down ? down : loc;
      continue;
    }
    if (r.status >= 300 && !refused.status) {
      log_warn("arm", "%s of lock %s at region %s: %ld", m, path, loc->name, r.status);
      refused = r;
      continue;
    }
    reply_free(&r);
  }
  if (down)
    arm_reply_error(call, 503, "RegionUnavailable",
                    "The lock was %s in region '%s', but region '%s' does not answer: requests served there are "
                    "not judged by it yet. Retry the request.",
                    !strcmp(m, "PUT") ? "set" : "removed", arm->cfg.locations[0].name, down->name);
  else if (refused.status)
    relay(call, &refused);
  reply_free(&refused);
}

/* Before a group's DELETE: the locks the peers hold in the group.  true:
 * one does, and 409 ScopeLocked is replied. */
static bool peers_lock_group(struct arm_call *call)
{
  struct arm *arm = call->arm;
  char group[512], path[600];
  snprintf(group, sizeof group, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
  snprintf(path, sizeof path, "%s/providers/Microsoft.Authorization/locks", group);
  struct strlist scopes = {0};
  for (int i = 1; i < arm->cfg.nlocations; i++) {
    struct reply r;
    if (send_to(call, &arm->cfg.locations[i], "GET", path, "api-version=2016-09-01", NULL, 0, &r) < 0)
      continue; /* it is not sent the DELETE either (see the head comment) */
    json_t *o = r.status == 200 && r.body ? json_loads(r.body, 0, NULL) : NULL;
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(o, "value"), k, v) {
      const char *id = json_string_value(json_object_get(v, "id"));
      const char *cut = id ? strcasestr(id, "/providers/Microsoft.Authorization/locks/") : NULL;
      if (cut)
        arm_lock_scopes_add(&scopes, id, (size_t)(cut - id));
    }
    json_decref(o);
    reply_free(&r);
  }
  bool locked = scopes.n > 0;
  if (locked) {
    char *list = arm_lock_scopes_join(&scopes);
    if (list)
      arm_reply_scope_locked(call, group, "delete", list);
    else
      arm_reply_internal(call, -ENOMEM);
    free(list);
  }
  strlist_free(&scopes);
  return locked;
}

/* ---- the decision -------------------------------------------------------------- */

bool arm_forward(struct arm_call *call, void (*local)(struct arm_call *call))
{
  struct arm *arm = call->arm;
  const struct http_request *req = call->req;
  if (arm->cfg.nlocations < 2 || http_header(req, ARM_HEADER_FORWARDED))
    return false;
  const char *path = req->raw_path ? req->raw_path : req->path;
  const char *m = req->method;
  static const struct arm_member where[] = {ARM_MEMBER("location", JSON_STRING), ARM_MEMBERS_END};
  if (call->body && !arm_body_normalise(call, call->body, where))
    return true; /* "location" in two spellings: refused (body.c) */

  bool lock_call = call->type_name && !strcmp(call->type_name, "locks");
  bool scope_lock = lock_call && arm_lock_scope_of(call) != ARM_LOCK_AT_RESOURCE;
  if (is_list(call) || (scope_lock && !strcmp(m, "GET") && lock_list_path(path))) {
    /* this region's list, then every peer's */
    local(call);
    struct http_response *resp = call->resp;
    json_t *mine = resp->status == 200 && resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    json_t *value = json_object_get(mine, "value");
    if (!json_is_array(value) || json_object_get(mine, "nextLink")) {
      json_decref(mine); /* an error, or a paged list: as this region gave it */
      return true;
    }
    for (int i = 1; i < arm->cfg.nlocations; i++) {
      struct reply r;
      if (send_to(call, &arm->cfg.locations[i], "GET", path, NULL, NULL, 0, &r) < 0)
        continue;
      if (r.status == 200)
        merge_values(value, r.body);
      reply_free(&r);
    }
    arm_reply_json(call, 200, mine);
    return true;
  }

  if (scope_lock) {
    if (!strcmp(m, "PUT") || !strcmp(m, "DELETE")) {
      local(call);
      replicate_lock(call, path);
      return true;
    }
    return false; /* a GET: this region holds it */
  }

  if (is_group_call(call) && !strcmp(m, "DELETE") && peers_lock_group(call))
    return true;
  if (is_group_call(call) && (!strcmp(m, "PUT") || !strcmp(m, "PATCH") || !strcmp(m, "DELETE"))) {
    local(call); /* here first; then the same for every peer */
    int status = call->resp->status;
    if (status >= 200 && status < 300)
      for (int i = 1; i < arm->cfg.nlocations; i++) {
        struct reply r;
        if (send_to(call, &arm->cfg.locations[i], m, path, NULL, req->body, req->body_len, &r) < 0)
          continue;
        if (r.status >= 300 && r.status != 404)
          log_warn("arm", "%s of resource group %s at region %s: %ld", m, call->params[1],
                   arm->cfg.locations[i].name, r.status);
        reply_free(&r);
      }
    return true;
  }

  char top[1024], one[2048];
  if (!single_slashes(path, one, sizeof one) || !top_level_id(one, top, sizeof top))
    return false;
  const struct arm_location *to = NULL;
  if (!strcmp(m, "PUT") && call->body && json_is_string(json_object_get(call->body, "location"))) {
    const char *loc = arm_location_canonical(arm, json_string_value(json_object_get(call->body, "location")));
    to = loc ? arm_peer_named(arm, loc) : NULL;
  }
  if (!to) {
    if (held_here(arm, top))
      return false;
    if (!strcmp(m, "PUT") && call->body && json_object_get(call->body, "location"))
      return false; /* a new resource of this region */
  }
  const struct arm_location *down = NULL;
  for (int i = 1; i < arm->cfg.nlocations; i++) {
    const struct arm_location *loc = &arm->cfg.locations[i];
    if (to && loc != to)
      continue;
    struct reply r;
    int rc = send_to(call, loc, m, path, NULL, req->body, req->body_len, &r);
    if (rc == 0 && to && r.status == 404 && r.body && strstr(r.body, "\"ResourceGroupNotFound\"") &&
        make_group_at(call, loc) == 0) {
      reply_free(&r); /* the group is every region's: made there, try again */
      rc = send_to(call, loc, m, path, NULL, req->body, req->body_len, &r);
    }
    if (rc < 0) {
      if (to) {
        reply_unavailable(call, loc);
        return true;
      }
      down = loc;
      continue;
    }
    if (to || r.status != 404 || held_at(arm, loc, top)) { /* a 404 from where it lives is the answer */
      relay(call, &r);
      return true;
    }
    reply_free(&r);
  }
  if (down) { /* not here, not in the regions that answered: it may be the silent one's */
    reply_unavailable(call, down);
    return true;
  }
  return false;
}
