/*
 * peer_doc.c — what a peer region sends is checked here, in one place,
 * before anything in this region reads it.
 *
 * A peer is trusted with the data it serves, not with this region's memory:
 * a document of the wrong shape (a member missing, null, of another JSON
 * type, an id that is not the one asked for, a tree root that is not a
 * tree address, a size out of range) is refused whole, with the field named,
 * so the copy or the request fails with a clear error instead of reading
 * NULL or storing garbage.  Every field a copy (copies.c) or a lookup
 * (collections.c, forward.c) reads from a peer's document is listed here;
 * a new use of a field needs its check here first.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"

#define MAX_TREE_BYTES (64ull << 40) /* 64 TiB: twice Azure's largest disk */
#define MAX_DISKS 256                /* disk restore points in one restore point */
#define MAX_ID 1024

static int bad(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t cap, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return -EPROTO;
}

static bool printable(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return false;
  return true;
}

/* A resource name as this region's names are: 1-128 of letters, digits and
 * - _ . ( ) — never a '/', so it stays one segment of an id made from it. */
static bool name_ok(const char *s)
{
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 128)
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("-_.()", *s)))
      return false;
  return true;
}

static bool id_ok(const char *s)
{
  return s && !strncasecmp(s, "/subscriptions/", 15) && strlen(s) < MAX_ID && printable(s);
}

/* n hex digits (upper case too when upper). */
static bool hex_n(const char *s, size_t n, bool upper)
{
  if (!s || strlen(s) != n)
    return false;
  for (; *s; s++)
    if (!strchr(upper ? "0123456789abcdefABCDEF" : "0123456789abcdef", *s))
      return false;
  return true;
}

static bool hex64(const char *s) { return hex_n(s, 64, true); }

/* Member k of o is absent, or present with type t.  A null counts as
 * present (the copy would read it as the type). */
static bool opt(const json_t *o, const char *k, json_type t)
{
  const json_t *v = json_object_get(o, k);
  return !v || json_typeof(v) == t;
}

static const char *str(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* The restore point properties a copy keeps (copies.c record()). */
static int rp_props_check(const json_t *props, const char *at, char *why, size_t cap)
{
  if (!json_is_object(props))
    return bad(why, cap, "%sproperties is not an object", at);
  static const struct {
    const char *k;
    json_type t;
  } members[] = {{"sourceMetadata", JSON_OBJECT}, {"excludeDisks", JSON_ARRAY}, {"consistencyMode", JSON_STRING},
                 {"vmrpConsistency", JSON_OBJECT}, {"timeCreated", JSON_STRING}};
  for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
    if (!opt(props, members[i].k, members[i].t))
      return bad(why, cap, "%sproperties.%s is not a%s %s", at, members[i].k,
                 members[i].t == JSON_ARRAY || members[i].t == JSON_OBJECT ? "n" : "",
                 members[i].t == JSON_OBJECT ? "object" : members[i].t == JSON_ARRAY ? "array" : "string");
  const char *tc = str(props, "timeCreated");
  if (tc && (strlen(tc) > 64 || !printable(tc)))
    return bad(why, cap, "%sproperties.timeCreated is not a time", at);
  json_t *lock = json_object_get(props, ARM_RETENTION_LOCK); /* a copy carries it (copies.c) */
  char w[200];
  if (lock && arm_retention_lock_check(lock, w, sizeof w) < 0)
    return bad(why, cap, "%s%s", at, w);
  return 0;
}

/* A disk restore point of restore point rp_id, as the copy reads it. */
static int drp_check(const json_t *d, size_t i, const char *rp_id, char *why, size_t cap)
{
  const char *id = str(d, "id"), *name = str(d, "name");
  size_t rl = strlen(rp_id);
  if (!json_is_object(d))
    return bad(why, cap, "diskRestorePoints[%zu] is not an object", i);
  if (!id_ok(id) || strncasecmp(id, rp_id, rl) != 0 || strncasecmp(id + rl, "/diskRestorePoints/", 19) != 0)
    return bad(why, cap, "diskRestorePoints[%zu].id is not a disk restore point id of '%s'", i, rp_id);
  if (!name_ok(name) || strcasecmp(id + rl + 19, name) != 0)
    return bad(why, cap, "diskRestorePoints[%zu].name is not a valid name, the last segment of its id", i);
  json_t *props = json_object_get(d, "properties");
  if (!json_is_object(props))
    return bad(why, cap, "diskRestorePoints[%zu].properties is not an object", i);
  const char *src = str(props, "sourceResourceId");
  if (!opt(props, "sourceResourceId", JSON_STRING) || (src && *src && !id_ok(src)))
    return bad(why, cap, "diskRestorePoints[%zu].properties.sourceResourceId is not a resource id", i);
  if (!opt(props, "osType", JSON_STRING))
    return bad(why, cap, "diskRestorePoints[%zu].properties.osType is not a string", i);
  json_t *tree = json_object_get(d, "vmrpTree");
  if (!tree)
    return 0; /* not captured yet */
  if (!json_is_object(tree))
    return bad(why, cap, "diskRestorePoints[%zu].vmrpTree is not an object", i);
  const char *root = str(tree, "root"), *state = str(tree, "state");
  json_t *size = json_object_get(tree, "size");
  if (!root || (*root && !hex64(root)))
    return bad(why, cap, "diskRestorePoints[%zu].vmrpTree.root is not 64 hex digits", i);
  if (!json_is_integer(size) || json_integer_value(size) < 0 ||
      (unsigned long long)json_integer_value(size) > MAX_TREE_BYTES)
    return bad(why, cap, "diskRestorePoints[%zu].vmrpTree.size is not a size from 0 to 64 TiB", i);
  if (!opt(tree, "state", JSON_STRING) || (state && (strlen(state) > 32 || !printable(state))))
    return bad(why, cap, "diskRestorePoints[%zu].vmrpTree.state is not a state", i);
  const char *domain = str(tree, "domain");
  if (!opt(tree, "domain", JSON_STRING) || (domain && *domain && !hex_n(domain, 32, false)))
    return bad(why, cap, "diskRestorePoints[%zu].vmrpTree.domain is not a key domain (32 lower-case hex digits)", i);
  if (state && !strcmp(state, "Succeeded") && (!*root || json_integer_value(size) == 0))
    return bad(why, cap, "diskRestorePoints[%zu].vmrpTree is Succeeded without a root or a size", i);
  return 0;
}

/* Ids unique (a copy maps each to one of its own). */
static int unique_ids(const json_t *list, const char *(*id_of)(const json_t *), const char *what, char *why,
                      size_t cap)
{
  size_t i, k;
  json_t *a, *b;
  json_array_foreach(list, i, a) {
    json_array_foreach(list, k, b) {
      if (k >= i)
        break;
      if (!strcasecmp(id_of(a), id_of(b)))
        return bad(why, cap, "%s[%zu] repeats the id of %s[%zu]", what, i, what, k);
    }
  }
  return 0;
}

static const char *drp_id(const json_t *d) { return str(d, "id"); }

int arm_peer_doc_check(const json_t *doc, const char *id, char *why, size_t cap)
{
  if (!json_is_object(doc))
    return bad(why, cap, "the document is not an object");
  const char *did = str(doc, "id");
  if (!did || strcasecmp(did, id) != 0)
    return bad(why, cap, "id is not the id asked for");
  static const char *const strings[] = {"type", "name", "location", "provisioningState"};
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    const char *v = str(doc, strings[i]);
    if (!v || strlen(v) > 256 || !printable(v))
      return bad(why, cap, "%s is missing or not a short string", strings[i]);
  }
  if (!json_is_object(json_object_get(doc, "properties")))
    return bad(why, cap, "properties is not an object");
  if (strcasecmp(str(doc, "type"), RP_TYPE) != 0)
    return 0; /* a lookup reads only the type of anything else */
  if (!id_ok(did))
    return bad(why, cap, "id is not a restore point id");
  int rc = rp_props_check(json_object_get(doc, "properties"), "", why, cap);
  json_t *list = json_object_get(doc, "diskRestorePoints");
  if (rc == 0 && (!json_is_array(list) || json_array_size(list) > MAX_DISKS))
    rc = bad(why, cap, "diskRestorePoints is not an array of at most %d", MAX_DISKS);
  size_t i;
  json_t *d;
  json_array_foreach(rc == 0 ? list : NULL, i, d) {
    if ((rc = drp_check(d, i, did, why, cap)) < 0)
      break;
  }
  return rc == 0 ? unique_ids(list, drp_id, "diskRestorePoints", why, cap) : rc;
}

/* ---- the answer to captures ---------------------------------------------- */

static const char *capture_drp_id(const json_t *disk)
{
  return str(json_object_get(disk, "diskRestorePoint"), "id");
}

/* A disk of the captured VM's storage profile (copies.c add_capture_disk). */
static int capture_disk_check(const json_t *disk, const char *at, const char *rp_id, char *why, size_t cap)
{
  if (!json_is_object(disk))
    return bad(why, cap, "%s is not an object", at);
  const char *drp = capture_drp_id(disk);
  size_t rl = strlen(rp_id);
  if (!opt(disk, "diskRestorePoint", JSON_OBJECT))
    return bad(why, cap, "%s.diskRestorePoint is not an object", at);
  if (json_object_get(disk, "diskRestorePoint") && (!id_ok(drp) || strncasecmp(drp, rp_id, rl) != 0 || strncasecmp(drp + rl, "/diskRestorePoints/", 19) != 0 ||
      !name_ok(drp + rl + 19)))
    return bad(why, cap, "%s.diskRestorePoint.id is not a disk restore point id of '%s'", at, rp_id);
  json_t *md = json_object_get(disk, "managedDisk");
  const char *src = str(md, "id");
  if ((md && !json_is_object(md)) || !opt(md, "id", JSON_STRING) || (src && !id_ok(src)))
    return bad(why, cap, "%s.managedDisk.id is not a resource id", at);
  if (!opt(disk, "osType", JSON_STRING))
    return bad(why, cap, "%s.osType is not a string", at);
  return 0;
}

int arm_peer_capture_check(const json_t *doc, char *why, size_t cap)
{
  if (!json_is_object(doc))
    return bad(why, cap, "the document is not an object");
  const char *id = str(doc, "id");
  if (!id_ok(id) || !strcasestr(id, "/providers/Microsoft.Compute/restorePointCollections/") ||
      !strcasestr(id, "/restorePoints/"))
    return bad(why, cap, "id is not a restore point id");
  json_t *props = json_object_get(doc, "properties");
  int rc = rp_props_check(props, "", why, cap);
  json_t *sp = json_object_get(json_object_get(props, "sourceMetadata"), "storageProfile");
  if (rc == 0 && (!json_is_object(sp) || !opt(sp, "osDisk", JSON_OBJECT) || !opt(sp, "dataDisks", JSON_ARRAY) ||
                  json_array_size(json_object_get(sp, "dataDisks")) >= MAX_DISKS))
    rc = bad(why, cap, "properties.sourceMetadata.storageProfile is not an object with osDisk an object and "
             "dataDisks an array of at most %d", MAX_DISKS - 1);
  json_t *all = rc == 0 ? json_array() : NULL;
  if (rc == 0 && json_object_get(sp, "osDisk")) {
    rc = capture_disk_check(json_object_get(sp, "osDisk"), "properties.sourceMetadata.storageProfile.osDisk", id,
                            why, cap);
    if (rc == 0 && capture_drp_id(json_object_get(sp, "osDisk")))
      json_array_append(all, json_object_get(sp, "osDisk"));
  }
  size_t i;
  json_t *d;
  json_array_foreach(rc == 0 ? json_object_get(sp, "dataDisks") : NULL, i, d) {
    char at[80];
    snprintf(at, sizeof at, "properties.sourceMetadata.storageProfile.dataDisks[%zu]", i);
    if ((rc = capture_disk_check(d, at, id, why, cap)) < 0)
      break;
    if (capture_drp_id(d)) /* an excluded disk has none */
      json_array_append(all, d);
  }
  if (rc == 0)
    rc = unique_ids(all, capture_drp_id, "the disks", why, cap);
  json_decref(all);
  return rc;
}

bool arm_peer_error_ok(long status, const json_t *doc)
{
  json_t *e = json_object_get(doc, "error");
  const char *code = str(e, "code");
  return status >= 400 && status <= 599 && json_is_object(e) && code && strlen(code) < 128 && printable(code) &&
         opt(e, "message", JSON_STRING);
}
