/*
 * pack_store.c — from a store's location to its back end (pack_store.h).
 *
 * A location names its back end by a scheme: "dir:PATH" (or a plain PATH,
 * which every caller from before locations passes) and "rados:KEY=VALUE,…".
 * The grammar is cas.h's; the keys of a rados location are pack_rados.c's
 * to check.  A build without librados (VMRP_RADOS off) knows the scheme and
 * refuses it with an error that says why, so a configuration meant for a
 * RADOS build fails at start instead of opening a directory named "rados:…".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cas/cas.h"
#include "cas/pack_store.h"
#include "common/log.h"

#define RADOS_SCHEME "rados:"
#define DIR_SCHEME "dir:"

/* The length of location's scheme with its ':' ([a-z][a-z0-9+.-]*:), or 0
 * for a plain path. */
static size_t scheme_len(const char *location)
{
  size_t i = 0;
  if (location[0] < 'a' || location[0] > 'z')
    return 0;
  while (location[i] && strchr("abcdefghijklmnopqrstuvwxyz0123456789+.-", location[i]))
    i++;
  return location[i] == ':' ? i + 1 : 0;
}

int pack_store_open(const char *location, bool create, bool read_only, struct cas_pack_store **out)
{
  size_t n = scheme_len(location);
  if (n == 0)
    return pack_dir_open(location, create, read_only, out);
  if (!strncmp(location, DIR_SCHEME, n) && location[n])
    return pack_dir_open(location + n, create, read_only, out);
  if (!strncmp(location, RADOS_SCHEME, n)) {
#ifdef VMRP_RADOS
    return pack_rados_open(location + n, create, read_only, out);
#else
    log_error("cas", "store location %s: this vmrp was built without RADOS (librados-dev missing at build time)",
              location);
    return -EPROTONOSUPPORT;
#endif
  }
  log_error("cas", "store location %s: unknown scheme %.*s (dir: or rados:)", location, (int)n, location);
  return -EPROTONOSUPPORT;
}

int pack_ids_push(uint32_t **ids, size_t *n, size_t *cap, uint32_t id)
{
  if (*n == *cap) {
    size_t c = *cap ? 2 * *cap : 64;
    uint32_t *ni = realloc(*ids, c * sizeof *ni);
    if (!ni)
      return -ENOMEM;
    *ids = ni;
    *cap = c;
  }
  (*ids)[(*n)++] = id;
  return 0;
}

static bool name_ok(const char *name)
{
  size_t n = strspn(name, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.-");
  return n > 0 && !name[n];
}

/* base's rados parameters with name appended to the namespace (added when
 * there is none). */
static int rados_join(const char *params, const char *name, char **out)
{
  const char *ns = NULL;
  for (const char *p = params; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
    if (!strncmp(p, "namespace=", 10))
      ns = p + 10;
  if (!ns)
    return asprintf(out, RADOS_SCHEME "%s,namespace=%s", params, name) < 0 ? -ENOMEM : 0;
  size_t len = strcspn(ns, ","); /* the namespace's value: ns[0, len) */
  int r = asprintf(out, RADOS_SCHEME "%.*s%s%s%s", (int)(ns + len - params), params, len ? "/" : "", name, ns + len);
  return r < 0 ? -ENOMEM : 0;
}

int cas_location_join(const char *base, const char *name, char **out)
{
  size_t n = scheme_len(base);
  if (!name_ok(name)) {
    log_error("cas", "store location %s: '%s' cannot name a store in it", base, name);
    return -EINVAL;
  }
  if (n && !strncmp(base, RADOS_SCHEME, n))
    return rados_join(base + n, name, out);
  if (n && strncmp(base, DIR_SCHEME, n)) {
    log_error("cas", "store location %s: unknown scheme %.*s (dir: or rados:)", base, (int)n, base);
    return -EPROTONOSUPPORT;
  }
  return asprintf(out, "%s/%s", base, name) < 0 ? -ENOMEM : 0;
}
