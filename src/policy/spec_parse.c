/*
 * spec_parse.c — policy_spec_parse: a protection policy's document
 * (spec.h's head comment) read strictly into a struct policy_spec.
 *
 * Strict, because a policy runs unattended for months: a member misspelled
 * ("retension", "keepDialy") and silently ignored would leave VMs unprotected
 * or keep restore points for ever, with nobody watching.  So every member is
 * known, typed and bounded (POLICY_MAX_*), and the first problem found is
 * the 400's message with its member's path first ("properties.copies[0].
 * region: …"), so a client can point at the mistake.  Names are matched in
 * the documented spelling: the ARM handler has already renamed a client's
 * "TimeZone" to "timeZone" as Azure's deserializer reads it (body.c), and
 * the scheduler parses the stored, normalised document.
 *
 * The grammars are their owners': schedules (sched_parse), zones (tz_load),
 * retention rules (retention_parse) and ISO 8601 durations
 * (iso_duration_parse).  This file walks the document and hands each its
 * piece.  What needs the world — a VM exists and is in the policy's region,
 * a copy region is a configured peer other than the policy's own — is the
 * ARM handler's (arm/policies.c), which runs after this.
 *
 * notifications.secret is optional here although a PUT needs one: the
 * stored document never holds it (it is kept with meta_secret_put, never
 * returned), and the scheduler parses the stored document; the PUT handler
 * requires it when no secret is stored yet.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/schedule.h"
#include "policy/spec.h"
#include "policy/tz.h"

#define MAX_TAG_NAME 512 /* ARM's tag limits */
#define MAX_TAG_VALUE 256
#define MAX_TAGS 50
#define MAX_URL 2048
#define MIN_SECRET 32
#define MAX_SECRET 512
#define MAX_REGION 64
#define DEFAULT_SPREAD_S 600 /* PT10M */

struct parse {
  char *err;
  size_t errlen;
};

static int fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parse *p, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err, p->errlen, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

static const char *json_kind(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER:
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "?";
}

/* A grammar's message (sched_parse, retention_parse) under path: one that
 * starts by naming its member ("scheduleRunTimes[1]: …") continues the path
 * ("properties.schedules[0].scheduleRunTimes[1]: …"). */
static int fail_under(struct parse *p, const char *path, const char *why)
{
  size_t n = strcspn(why, ": '\"");
  bool member = n > 0 && why[n] == ':' && ((why[0] >= 'a' && why[0] <= 'z') || (why[0] >= 'A' && why[0] <= 'Z'));
  if (!why[0])
    return fail(p, "%s: invalid.", path);
  return fail(p, "%s%s%s", path, member ? "." : ": ", why);
}

/* Every member of obj (at path) is one of names (NULL-terminated). */
static int members_known(struct parse *p, const json_t *obj, const char *path, const char *const *names)
{
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool known = false;
    for (int i = 0; names[i] && !known; i++)
      known = !strcmp(key, names[i]);
    if (known)
      continue;
    char list[512];
    size_t n = 0;
    list[0] = '\0';
    for (int i = 0; names[i] && n < sizeof list; i++)
      n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", names[i]);
    return fail(p, "%s.%s: unknown member; %s has only %s.", path, key, path, list);
  }
  return 0;
}

/* A string member (NULL when absent or null): -EINVAL when it is another
 * type, empty or longer than max. */
static int get_string(struct parse *p, const json_t *obj, const char *name, const char *path, size_t max,
                      const char **out)
{
  json_t *v = json_object_get(obj, name);
  *out = NULL;
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_string(v))
    return fail(p, "%s.%s: must be a string, not %s.", path, name, json_kind(v));
  if (json_string_length(v) == 0)
    return fail(p, "%s.%s: must not be empty.", path, name);
  if (json_string_length(v) > max)
    return fail(p, "%s.%s: longer than %zu characters.", path, name, max);
  *out = json_string_value(v);
  return 0;
}

/* An array member of at most max items (NULL when absent or null). */
static int get_array(struct parse *p, const json_t *obj, const char *name, const char *path, size_t max,
                     json_t **out)
{
  json_t *v = json_object_get(obj, name);
  *out = NULL;
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_array(v))
    return fail(p, "%s.%s: must be an array, not %s.", path, name, json_kind(v));
  if (json_array_size(v) > max)
    return fail(p, "%s.%s: %zu items; at most %zu.", path, name, json_array_size(v), max);
  *out = v;
  return 0;
}

static int get_object(struct parse *p, const json_t *obj, const char *name, const char *path, json_t **out)
{
  json_t *v = json_object_get(obj, name);
  *out = NULL;
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_object(v))
    return fail(p, "%s.%s: must be an object, not %s.", path, name, json_kind(v));
  *out = v;
  return 0;
}

/* Compute's names (disks, VMs): letters, digits, '_', '-', '.', starting
 * with a letter or digit, ending with a letter, digit or '_'. */
static bool compute_name_ok(const char *s, size_t n, size_t max)
{
  bool ok = n >= 1 && n <= max;
  for (size_t i = 0; ok && i < n; i++) {
    char c = s[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    ok = alnum || ((c == '_' || c == '-' || c == '.') && i > 0 && (i < n - 1 || c == '_'));
  }
  return ok;
}

/* ARM's resource group names: 1-90 letters (any non-ASCII byte too),
 * digits, - _ . ( ), not ending in '.'. */
static bool group_name_ok(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80 ||
          strchr("-_.()", c)))
      return false;
  }
  return n >= 1 && n <= 90 && s[n - 1] != '.';
}

/* id is /subscriptions/{sub}/resourceGroups/{g}/providers/Microsoft.Compute/
 * {kind}/{name} in the policy's subscription; otherwise the error at path. */
static int compute_id_ok(struct parse *p, const char *id, const char *sub, const char *kind, size_t name_max,
                         const char *path)
{
  const char *want[] = {"subscriptions", NULL, "resourceGroups", NULL, "providers", "Microsoft.Compute", kind, NULL};
  const char *seg[8];
  size_t len[8];
  const char *s = id;
  int n = 0;
  while (*s == '/' && n < 8) {
    seg[n] = s + 1;
    len[n] = strcspn(s + 1, "/");
    s = seg[n] + len[n];
    n++;
  }
  bool shape = n == 8 && *s == '\0';
  for (int i = 0; shape && i < 8; i++)
    shape = len[i] > 0 && (!want[i] || (strlen(want[i]) == len[i] && !strncasecmp(seg[i], want[i], len[i])));
  const char *what = !strcmp(kind, "virtualMachines") ? "virtual machine" : "disk";
  if (!shape)
    return fail(p, "%s: '%s' is not a %s id (/subscriptions/{subscription}/resourceGroups/{group}/providers/"
                "Microsoft.Compute/%s/{name}).", path, id, what, kind);
  if (len[1] != strlen(sub) || strncasecmp(seg[1], sub, len[1]))
    return fail(p, "%s: the %s '%s' is in subscription '%.*s'; a policy protects only its own subscription's "
                "('%s').", path, what, id, (int)len[1], seg[1], sub);
  if (!group_name_ok(seg[3], len[3]))
    return fail(p, "%s: '%.*s' in '%s' is not a valid resource group name.", path, (int)len[3], seg[3], id);
  if (!compute_name_ok(seg[7], len[7], name_max))
    return fail(p, "%s: '%.*s' in '%s' is not a valid %s name.", path, (int)len[7], seg[7], id, what);
  return 0;
}

/* A list of Compute ids (virtualMachines, excludeDisks): each checked, no
 * id twice (ids compare case-insensitively, as ARM's do). */
static int id_list(struct parse *p, const json_t *props, const char *name, const char *sub, const char *kind,
                   size_t name_max, size_t max, char ***out, int *nout)
{
  json_t *arr, *v;
  char path[96];
  snprintf(path, sizeof path, "properties.%s", name);
  int rc = get_array(p, props, name, "properties", max, &arr);
  size_t n = arr ? json_array_size(arr) : 0;
  if (rc < 0 || n == 0)
    return rc;
  char **ids = calloc(n, sizeof *ids);
  if (!ids)
    return -ENOMEM;
  *out = ids;
  size_t i;
  json_array_foreach(arr, i, v) {
    char at[128];
    snprintf(at, sizeof at, "%s[%zu]", path, i);
    if (!json_is_string(v))
      return fail(p, "%s: must be a string, not %s.", at, json_kind(v));
    const char *id = json_string_value(v);
    if ((rc = compute_id_ok(p, id, sub, kind, name_max, at)) < 0)
      return rc;
    for (size_t k = 0; k < i; k++)
      if (!strcasecmp(ids[k], id))
        return fail(p, "%s: '%s' is listed twice (also %s[%zu]).", at, id, path, k);
    if (!(ids[i] = strdup(id)))
      return -ENOMEM;
    *nout = (int)i + 1;
  }
  return 0;
}

static int tag_selector(struct parse *p, const json_t *props, struct policy_spec *out)
{
  json_t *sel, *v;
  int rc = get_object(p, props, "vmTagSelector", "properties", &sel);
  if (rc < 0 || !sel)
    return rc;
  size_t n = json_object_size(sel);
  if (n == 0)
    return fail(p, "properties.vmTagSelector: must name at least one tag (or leave it out).");
  if (n > MAX_TAGS)
    return fail(p, "properties.vmTagSelector: %zu tags; at most %d.", n, MAX_TAGS);
  if (!(out->tags = calloc(n, sizeof *out->tags)))
    return -ENOMEM;
  const char *key;
  json_object_foreach(sel, key, v) {
    if (!json_is_string(v))
      return fail(p, "properties.vmTagSelector.%s: must be a string, not %s.", key, json_kind(v));
    if (!*key || strlen(key) > MAX_TAG_NAME)
      return fail(p, "properties.vmTagSelector: a tag name must have 1 to %d characters.", MAX_TAG_NAME);
    if (json_string_length(v) > MAX_TAG_VALUE)
      return fail(p, "properties.vmTagSelector.%s: longer than %d characters.", key, MAX_TAG_VALUE);
    struct policy_tag *t = &out->tags[out->ntags];
    t->name = strdup(key);
    t->value = strdup(json_string_value(v));
    out->ntags++;
    if (!t->name || !t->value)
      return -ENOMEM;
  }
  return 0;
}

static int time_zone(struct parse *p, const json_t *props, struct policy_spec *out)
{
  const char *name;
  int rc = get_string(p, props, "timeZone", "properties", 64, &name);
  if (rc < 0)
    return rc;
  rc = tz_load(name ? name : "UTC", &out->zone);
  if (rc == -EINVAL)
    return fail(p, "properties.timeZone: '%s' is not a valid IANA time zone name (e.g. 'Europe/Berlin').", name);
  if (rc == -ENOENT)
    return fail(p, "properties.timeZone: there is no time zone '%s' (IANA names, e.g. 'America/New_York').", name);
  if (rc == -EBADMSG)
    return fail(p, "properties.timeZone: the zone file of '%s' is not a time zone (TZif) file.", name);
  return rc;
}

static int schedules(struct parse *p, const json_t *props, struct policy_spec *out)
{
  json_t *arr, *v;
  int rc = get_array(p, props, "schedules", "properties", POLICY_MAX_SCHEDULES, &arr);
  if (rc < 0)
    return rc;
  if (!arr || json_array_size(arr) == 0)
    return fail(p, "properties.schedules: required: at least one schedule (an ISO 8601 repeating interval such as "
                "'R/2026-12-07T02:00:00Z/PT4H', or {\"scheduleRunFrequency\": \"Daily\", \"scheduleRunTimes\": "
                "[\"02:30\"]}).");
  size_t i;
  json_array_foreach(arr, i, v) {
    if (!json_is_string(v) && !json_is_object(v))
      return fail(p, "properties.schedules[%zu]: must be a string (an ISO 8601 repeating interval) or an object "
                  "(daily or weekly run times), not %s.", i, json_kind(v));
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text)
      return -ENOMEM;
    char why[384] = "";
    rc = sched_parse(text, out->zone, &out->schedules[i], why, sizeof why);
    free(text);
    if (rc == -ENOMEM)
      return rc;
    if (rc < 0) {
      char at[48];
      snprintf(at, sizeof at, "properties.schedules[%zu]", i);
      return fail_under(p, at, why);
    }
    out->nschedules = (int)i + 1;
  }
  return 0;
}

/* A retention object (at path) parsed by retention_parse into rules. */
static int retention(struct parse *p, const json_t *obj, const char *name, const char *path,
                     struct retention_rules *rules)
{
  json_t *v;
  int rc = get_object(p, obj, name, path, &v);
  if (rc < 0)
    return rc;
  if (!v)
    return fail(p, "%s.%s: required: the rules that decide which restore points are kept (keepLast, keepHourly, "
                "keepDaily, keepWeekly, keepMonthly, keepYearly, keepWithin).", path, name);
  char *text = json_dumps(v, JSON_COMPACT);
  if (!text)
    return -ENOMEM;
  char why[384] = "";
  rc = retention_parse(text, rules, why, sizeof why);
  free(text);
  if (rc == -ENOMEM)
    return rc;
  char at[96];
  snprintf(at, sizeof at, "%s.%s", path, name);
  return rc < 0 ? fail_under(p, at, why) : 0;
}

static int copies(struct parse *p, const json_t *props, struct policy_spec *out)
{
  static const char *const names[] = {"region", "retention", NULL};
  json_t *arr, *v;
  int rc = get_array(p, props, "copies", "properties", POLICY_MAX_COPIES, &arr);
  if (rc < 0 || !arr)
    return rc;
  size_t i;
  json_array_foreach(arr, i, v) {
    char at[64];
    snprintf(at, sizeof at, "properties.copies[%zu]", i);
    if (!json_is_object(v))
      return fail(p, "%s: must be an object ({\"region\": …, \"retention\": {…}}), not %s.", at, json_kind(v));
    const char *region;
    if ((rc = members_known(p, v, at, names)) < 0 || (rc = get_string(p, v, "region", at, MAX_REGION, &region)) < 0)
      return rc;
    if (!region)
      return fail(p, "%s.region: required: the region the copies go to.", at);
    for (size_t k = 0; k < i; k++)
      if (!strcasecmp(out->copies[k].region, region))
        return fail(p, "%s.region: '%s' is named twice (also properties.copies[%zu]).", at, region, k);
    struct policy_copy *c = &out->copies[i];
    if (!(c->region = strdup(region)))
      return -ENOMEM;
    out->ncopies = (int)i + 1;
    if ((rc = retention(p, v, "retention", at, &c->retention)) < 0)
      return rc;
  }
  return 0;
}

/* An ISO 8601 duration member in seconds, a year 365 days and a month 30
 * (iso_duration_nominal_s; 0 when absent); min_s 0 or 1 (longer than
 * zero). */
static int duration(struct parse *p, const json_t *obj, const char *name, const char *path, int64_t min_s,
                    int64_t *out)
{
  const char *s;
  int rc = get_string(p, obj, name, path, 64, &s);
  *out = 0;
  if (rc < 0 || !s)
    return rc;
  struct iso_duration d;
  char why[256] = "";
  if (iso_duration_parse_msg(s, &d, why, sizeof why) < 0)
    return fail(p, "%s.%s: %s", path, name, why[0] ? why : "not an ISO 8601 duration (e.g. 'PT10M', 'P7D').");
  *out = iso_duration_nominal_s(&d);
  if (*out < min_s)
    return fail(p, "%s.%s: '%s' must be longer than zero.", path, name, s);
  return 0;
}

static int retention_lock(struct parse *p, const json_t *props, struct policy_spec *out)
{
  static const char *const names[] = {"duration", "mode", NULL};
  const char *at = "properties.retentionLock";
  json_t *lock;
  const char *mode;
  int rc = get_object(p, props, "retentionLock", "properties", &lock);
  if (rc < 0 || !lock)
    return rc;
  if ((rc = members_known(p, lock, at, names)) < 0 || (rc = get_string(p, lock, "mode", at, 16, &mode)) < 0 ||
      (rc = duration(p, lock, "duration", at, 1, &out->lock_s)) < 0)
    return rc;
  if (!json_object_get(lock, "duration") || json_is_null(json_object_get(lock, "duration")))
    return fail(p, "%s.duration: required: how long each restore point stays locked (ISO 8601, e.g. 'P30D').", at);
  if (mode && strcasecmp(mode, "Governance") && strcasecmp(mode, "Compliance"))
    return fail(p, "%s.mode: '%s' is not a lock mode: 'Governance' or 'Compliance'.", at, mode);
  out->lock_compliance = mode && !strcasecmp(mode, "Compliance");
  return 0;
}

/* An https:// URL with a host and no spaces or control characters. */
static bool https_url_ok(const char *u)
{
  if (strncasecmp(u, "https://", 8) != 0)
    return false;
  const char *host = u + 8;
  if (!*host || strchr("/?#:", *host))
    return false;
  for (const unsigned char *c = (const unsigned char *)u; *c; c++)
    if (*c <= ' ' || *c == 0x7f)
      return false;
  return true;
}

static int notifications(struct parse *p, const json_t *props, struct policy_spec *out)
{
  static const char *const names[] = {"webhooks", "secret", NULL};
  const char *at = "properties.notifications";
  json_t *n, *arr, *v;
  const char *secret;
  int rc = get_object(p, props, "notifications", "properties", &n);
  if (rc < 0 || !n)
    return rc;
  if ((rc = members_known(p, n, at, names)) < 0 ||
      (rc = get_array(p, n, "webhooks", at, POLICY_MAX_WEBHOOKS, &arr)) < 0)
    return rc;
  if (!arr || json_array_size(arr) == 0)
    return fail(p, "%s.webhooks: required: 1 to %d https:// URLs the policy's events are posted to.", at,
                POLICY_MAX_WEBHOOKS);
  size_t i;
  json_array_foreach(arr, i, v) {
    if (!json_is_string(v))
      return fail(p, "%s.webhooks[%zu]: must be a string, not %s.", at, i, json_kind(v));
    const char *u = json_string_value(v);
    if (json_string_length(v) > MAX_URL || !https_url_ok(u))
      return fail(p, "%s.webhooks[%zu]: '%.200s' is not an https:// URL (events are signed, and sent only over "
                  "TLS; at most %d characters).", at, i, u, MAX_URL);
    if (!(out->webhooks[i] = strdup(u)))
      return -ENOMEM;
    out->nwebhooks = (int)i + 1;
  }
  json_t *sv = json_object_get(n, "secret");
  if (json_is_string(sv) && json_string_length(sv) < MIN_SECRET) /* get_string would call "" empty */
    return fail(p, "%s.secret: %zu characters; a webhook secret needs at least %d.", at, json_string_length(sv),
                MIN_SECRET);
  if ((rc = get_string(p, n, "secret", at, MAX_SECRET, &secret)) < 0)
    return rc;
  if (secret && !(out->secret = strdup(secret)))
    return -ENOMEM;
  return 0;
}

static int consistency(struct parse *p, const json_t *props, struct policy_spec *out)
{
  const char *mode;
  int rc = get_string(p, props, "consistencyMode", "properties", 32, &mode);
  if (rc < 0 || !mode)
    return rc;
  if (strcasecmp(mode, "CrashConsistent") && strcasecmp(mode, "ApplicationConsistent"))
    return fail(p, "properties.consistencyMode: '%s' is not a consistency mode: 'CrashConsistent' or "
                "'ApplicationConsistent'.", mode);
  out->application_consistent = !strcasecmp(mode, "ApplicationConsistent");
  return 0;
}

/* spreadWindow and rpoTarget, defaulted from the shortest period between
 * slots (min over the schedules: each one's own, the union's can only be
 * shorter, and the jitter is per schedule's slot). */
static int windows(struct parse *p, const json_t *props, struct policy_spec *out)
{
  int64_t period = 0;
  for (int i = 0; i < out->nschedules; i++) {
    int64_t m = sched_min_period(out->schedules[i]);
    if (m > 0 && (period == 0 || m < period))
      period = m;
  }
  int rc = duration(p, props, "spreadWindow", "properties", 0, &out->spread_s);
  if (rc < 0 || (rc = duration(p, props, "rpoTarget", "properties", 1, &out->rpo_target_s)) < 0)
    return rc;
  bool spread_given = json_is_string(json_object_get(props, "spreadWindow"));
  if (spread_given && period > 0 && out->spread_s >= period)
    return fail(p, "properties.spreadWindow: '%s' is not shorter than the shortest time between two slots "
                "(%lld seconds): a VM's restore point would drift into its next slot.",
                json_string_value(json_object_get(props, "spreadWindow")), (long long)period);
  if (!spread_given)
    out->spread_s = period > 0 && period / 4 < DEFAULT_SPREAD_S ? period / 4 : DEFAULT_SPREAD_S;
  if (!json_is_string(json_object_get(props, "rpoTarget")))
    out->rpo_target_s = period > 0 ? 2 * period : 0;
  return 0;
}

static int parse(struct parse *p, const json_t *props, const char *sub, struct policy_spec *out)
{
  static const char *const names[] = {"virtualMachines", "vmTagSelector", "schedules", "timeZone",
                                      "consistencyMode", "excludeDisks", "retention", "copies",
                                      "retentionLock", "spreadWindow", "rpoTarget", "notifications", NULL};
  if (!json_is_object(props))
    return fail(p, "properties: required: an object with the policy's VMs, schedules and retention.");
  int rc;
  if ((rc = members_known(p, props, "properties", names)) < 0 || (rc = time_zone(p, props, out)) < 0 ||
      (rc = id_list(p, props, "virtualMachines", sub, "virtualMachines", 64, POLICY_MAX_VMS, &out->vm_ids,
                    &out->nvm_ids)) < 0 ||
      (rc = tag_selector(p, props, out)) < 0)
    return rc;
  if (out->nvm_ids == 0 && out->ntags == 0)
    return fail(p, "properties.virtualMachines: required: the VMs the policy protects, by id, or a "
                "vmTagSelector (or both).");
  if ((rc = schedules(p, props, out)) < 0 || (rc = consistency(p, props, out)) < 0 ||
      (rc = id_list(p, props, "excludeDisks", sub, "disks", 80, POLICY_MAX_EXCLUDE_DISKS, &out->exclude_disks,
                    &out->nexclude_disks)) < 0 ||
      (rc = retention(p, props, "retention", "properties", &out->retention)) < 0 || (rc = copies(p, props, out)) < 0 ||
      (rc = retention_lock(p, props, out)) < 0 || (rc = windows(p, props, out)) < 0)
    return rc;
  return notifications(p, props, out);
}

int policy_spec_parse(const json_t *properties, const char *sub, struct policy_spec *out, char *err, size_t errlen)
{
  struct parse p = {err, errlen};
  *out = (struct policy_spec){0};
  if (errlen)
    err[0] = '\0';
  int rc = parse(&p, properties, sub, out);
  if (rc == -ENOMEM)
    snprintf(err, errlen, "out of memory reading the policy");
  if (rc < 0)
    policy_spec_clear(out);
  return rc;
}
