/* failpoint.c — see failpoint.h.  A small table under one mutex: the
 * environment's points first, then the runtime set (failpoint_arm replaces
 * that tail), so a lookup from the end lets the admin call override a point
 * armed at start-up.  failpoint_armed_ counts the table's entries and is the
 * only thing an unarmed site reads. */
#include "common/failpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define FAILPOINT_MAX 64
#define SITE_MAX 64
#define SPEC_MAX 48

enum fp_action { FP_VALUE, FP_EIO, FP_ENOSPC, FP_SHORT, FP_CRASH };
static const char *const action_names[] = {[FP_EIO] = "eio", [FP_ENOSPC] = "enospc", [FP_SHORT] = "short",
                                           [FP_CRASH] = "crash"};

struct point {
  char site[SITE_MAX];
  char spec[SPEC_MAX];
  enum fp_action action;
  int64_t value;
  uint64_t first, times; /* @N (1 by default), xK (0: unbounded) */
  uint64_t hits, fired;
  bool runtime;
};

#if VMRP_FAILPOINTS
atomic_int failpoint_armed_;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct point points[FAILPOINT_MAX];
static int npoints;
#endif

/* A decimal count >= 1 at *s, advancing *s; -EINVAL if none. */
static int parse_count(const char **s, uint64_t *out)
{
  uint64_t v = 0;
  const char *p = *s;
  for (; *p >= '0' && *p <= '9' && v < UINT64_C(1000000000000); p++)
    v = v * 10 + (uint64_t)(*p - '0');
  if (p == *s || v == 0 || (*p >= '0' && *p <= '9'))
    return -EINVAL;
  *s = p;
  *out = v;
  return 0;
}

/* ACTION[@N][xK] or an integer. */
static int parse_action(const char *s, struct point *p)
{
  if ((*s >= '0' && *s <= '9') || *s == '-') {
    char *end;
    errno = 0;
    p->value = strtoll(s, &end, 10);
    p->action = FP_VALUE;
    return errno || end == s || *end ? -EINVAL : 0;
  }
  size_t n = 0;
  for (int a = FP_EIO; a <= FP_CRASH; a++) {
    n = strlen(action_names[a]);
    if (!strncmp(s, action_names[a], n) && (s[n] == '\0' || s[n] == '@' || s[n] == 'x')) {
      p->action = (enum fp_action)a;
      break;
    }
    n = 0;
  }
  if (n == 0)
    return -EINVAL;
  s += n;
  p->first = 1;
  p->times = 0;
  if (*s == '@' && (++s, parse_count(&s, &p->first) < 0))
    return -EINVAL;
  if (*s == 'x' && (++s, parse_count(&s, &p->times) < 0))
    return -EINVAL;
  return *s ? -EINVAL : 0;
}

/* One `site=ACTION...` item (len bytes at item) into p. */
static int parse_item(const char *item, size_t len, struct point *p)
{
  memset(p, 0, sizeof *p);
  const char *eq = memchr(item, '=', len);
  size_t slen = eq ? (size_t)(eq - item) : 0, alen = eq ? len - slen - 1 : 0;
  if (slen == 0 || slen >= SITE_MAX || alen == 0 || alen >= SPEC_MAX)
    return -EINVAL;
  for (size_t i = 0; i < slen; i++) {
    char c = item[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return -EINVAL;
  }
  memcpy(p->site, item, slen);
  memcpy(p->spec, eq + 1, alen);
  return parse_action(p->spec, p);
}

/* The items of spec into out[*n...], each site once. */
static int parse_spec(const char *spec, struct point *out, int *n, int max)
{
  if (!*spec)
    return 0;
  for (const char *s = spec;; s++) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    if (*n >= max || parse_item(s, len, &out[*n]) < 0)
      return -EINVAL;
    for (int i = 0; i < *n; i++)
      if (!strcmp(out[i].site, out[*n].site))
        return -EINVAL;
    (*n)++;
    if (!comma)
      return 0;
    s = comma;
  }
}

#if VMRP_FAILPOINTS
/* Replaces the environment's (runtime false) or the runtime set (true) with
 * the parsed spec; lock held. */
static int replace_set(const char *spec, bool runtime)
{
  struct point parsed[FAILPOINT_MAX];
  int n = 0;
  if (parse_spec(spec, parsed, &n, FAILPOINT_MAX) < 0)
    return -EINVAL;
  struct point keep[FAILPOINT_MAX];
  int k = 0;
  for (int i = 0; i < npoints; i++)
    if (points[i].runtime != runtime)
      keep[k++] = points[i];
  if (k + n > FAILPOINT_MAX)
    return -EINVAL;
  for (int i = 0; i < n; i++)
    parsed[i].runtime = runtime;
  struct point *env = runtime ? keep : parsed, *rt = runtime ? parsed : keep;
  int nenv = runtime ? k : n, nrt = runtime ? n : k;
  memcpy(points, env, (size_t)nenv * sizeof *points);
  memcpy(points + nenv, rt, (size_t)nrt * sizeof *points);
  npoints = nenv + nrt;
  atomic_store_explicit(&failpoint_armed_, npoints, memory_order_release);
  return 0;
}

static int arm_locked(const char *spec, bool runtime)
{
  pthread_mutex_lock(&lock);
  int r = replace_set(spec, runtime);
  pthread_mutex_unlock(&lock);
  return r;
}

int failpoint_init(void)
{
  const char *env = getenv("VMRP_FAILPOINTS");
  return arm_locked(env ? env : "", false);
}

int failpoint_arm(const char *spec)
{
  return arm_locked(spec, true);
}

/* The point armed for name (the runtime set's first); lock held. */
static struct point *find(const char *name)
{
  for (int i = npoints - 1; i >= 0; i--)
    if (!strcmp(points[i].site, name))
      return &points[i];
  return NULL;
}

int failpoint_io_armed_(const char *site)
{
  enum fp_action act = FP_VALUE;
  uint64_t hit = 0;
  pthread_mutex_lock(&lock);
  struct point *p = find(site);
  if (p && p->action != FP_VALUE) {
    hit = ++p->hits;
    if (hit >= p->first && (p->times == 0 || p->fired < p->times)) {
      p->fired++;
      act = p->action;
    }
  }
  pthread_mutex_unlock(&lock);
  if (act == FP_VALUE)
    return 0;
  log_warn("failpoint", "failpoint fired site=%s action=%s hit=%" PRIu64, site, action_names[act], hit);
  switch (act) {
  case FP_EIO:
    return -EIO;
  case FP_ENOSPC:
    return -ENOSPC;
  case FP_SHORT:
    return FAILPOINT_SHORT;
  default:
    kill(getpid(), SIGKILL);
    _exit(137); /* not reached: SIGKILL ends the process */
  }
}

int64_t failpoint_value_armed_(const char *name, int64_t def)
{
  pthread_mutex_lock(&lock);
  struct point *p = find(name);
  if (p && p->action == FP_VALUE) {
    p->hits++;
    def = p->value;
  }
  pthread_mutex_unlock(&lock);
  return def;
}

int failpoint_each(int (*fn)(const struct failpoint_info *fp, void *arg), void *arg)
{
  int r = 0;
  pthread_mutex_lock(&lock);
  for (int i = 0; r == 0 && i < npoints; i++) {
    struct failpoint_info fi = {.site = points[i].site, .spec = points[i].spec, .hits = points[i].hits,
                                .fired = points[i].fired, .runtime = points[i].runtime};
    r = fn(&fi, arg);
  }
  pthread_mutex_unlock(&lock);
  return r;
}
#else
/* Built without failpoints: a spec asking for one is refused loudly, so a
 * test armed against such a build fails instead of passing unharmed. */
int failpoint_init(void)
{
  const char *env = getenv("VMRP_FAILPOINTS");
  return env && *env ? -ENOTSUP : 0;
}

int failpoint_arm(const char *spec)
{
  struct point parsed[FAILPOINT_MAX];
  int n = 0;
  return parse_spec(spec, parsed, &n, FAILPOINT_MAX) < 0 ? -EINVAL : -ENOTSUP;
}

int failpoint_each(int (*fn)(const struct failpoint_info *fp, void *arg), void *arg)
{
  return 0;
}
#endif
