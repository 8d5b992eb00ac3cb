/*
 * agent.c — freezing a guest around a fence, and never leaving it frozen.
 *
 * A VM's agent is the unix socket its Vmrp.QemuGuestAgent extension names
 * (meta computes it from the row).  The socket must be inside its
 * subscription's folder of the region's agent_socket_dir,
 * <agent_socket_dir>/<subscription>/ (lower case), and be a socket (lstat: no
 * symlink leads elsewhere), so a request cannot make the daemon talk to an
 * arbitrary socket of the host, nor a tenant name another subscription's
 * guest agent (freezing that guest, reading its status).  The operator puts
 * each VM's qemu-ga socket in the folder of the VM's subscription.
 *
 * A freeze, in order:
 *   1. the VM goes on the in-flight list (one freeze per guest; the thawer
 *      and status queries leave it alone meanwhile);
 *   2. a row in agent_freezes is committed: from here a crash leaves a
 *      record of a guest that may be frozen;
 *   3. guest-fsfreeze-freeze, its timeout the frozen cap — on any failure a
 *      thaw is sent at once (on a new connection when the old one broke);
 *   4. (the caller fences the disks: microseconds);
 *   5. guest-fsfreeze-thaw; the row is deleted only when the agent confirmed
 *      the thaw.
 * Every row still present is the thawer's: a thread that, from region open
 * on (so also after a crash), retries a thaw of each such guest, with
 * backoff, until its agent confirms it is thawed.  A thaw of a guest that is
 * not frozen is harmless (qemu-ga answers 0 file systems thawed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/agent.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "region/internal.h"

#define DEFAULT_TIMEOUT_MS 3000
#define DEFAULT_FROZEN_MAX_MS 10000
#define THAW_RETRY_MIN_S 1
#define THAW_RETRY_MAX_S 30

struct guest_freeze {
  char *vm_id;
  char *socket;
  struct agent *agent;   /* the connection the freeze was sent on */
  int64_t since_us;      /* its record's key (with vm_id) */
  uint64_t t0_ns;
  struct guest_freeze *next;
};

static int timeout_ms(const struct region *r)
{
  return r->cfg.agent_timeout_ms > 0 ? r->cfg.agent_timeout_ms : DEFAULT_TIMEOUT_MS;
}

static int frozen_max_ms(const struct region *r)
{
  return r->cfg.agent_frozen_max_ms > 0 ? r->cfg.agent_frozen_max_ms : DEFAULT_FROZEN_MAX_MS;
}

static uint64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The folder of owner_id's subscription ("/subscriptions/{sub}/..."),
 * lower case, in out: 0, or -EINVAL when the id names none or a name unfit
 * for a path. */
static int subscription_folder(const char *owner_id, char *out, size_t cap)
{
  const char *s = owner_id && !strncasecmp(owner_id, "/subscriptions/", 15) ? owner_id + 15 : NULL;
  size_t n = s ? strcspn(s, "/") : 0;
  if (!n || n >= cap || (s[0] == '.' && (n == 1 || (n == 2 && s[1] == '.'))))
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != '-' && c != '_' &&
        c != '.')
      return -EINVAL;
    out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  out[n] = '\0';
  return 0;
}

int region_agent_socket_check(struct region *r, const char *owner_id, const char *path, char *why, size_t cap)
{
  const char *dir = r->cfg.agent_socket_dir;
  size_t dl = dir ? strlen(dir) : 0;
  while (dl > 1 && dir[dl - 1] == '/')
    dl--;
  char sub[128];
  bool sub_ok = subscription_folder(owner_id, sub, sizeof sub) == 0;
  size_t sl = sub_ok ? strlen(sub) : 0;
  const char *problem = NULL;
  if (!dir || !dl)
    problem = "this region has no guest agent socket directory";
  else if (!sub_ok)
    problem = "the VM's subscription cannot name a folder";
  else if (path[0] != '/')
    problem = "the path must be absolute";
  else if (strlen(path) > 107)
    problem = "a unix socket path has at most 107 bytes";
  else if (strncmp(path, dir, dl) != 0 || path[dl] != '/' || strncmp(path + dl + 1, sub, sl) != 0 ||
           path[dl + 1 + sl] != '/' || !path[dl + 2 + sl])
    problem = "the socket must be inside the folder of the VM's subscription in the region's agent socket directory";
  for (const char *p = path; !problem && *p; p++)
    if ((unsigned char)*p < 0x20)
      problem = "the path holds a control character";
  for (const char *seg = path; !problem && seg; seg = strchr(seg + 1, '/')) {
    const char *s = seg + 1, *e = strchrnul(s, '/');
    size_t n = (size_t)(e - s);
    if ((n == 0 && *e) || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
      problem = "the path must not hold empty, '.' or '..' segments";
  }
  if (!problem)
    return 0;
  if (dir && dl && sub_ok)
    snprintf(why, cap, "%s (%.*s/%s/)", problem, (int)dl, dir, sub);
  else
    snprintf(why, cap, "%s%s%.*s%s", problem, dir && dl ? " (" : "", (int)dl, dir ? dir : "", dir && dl ? ")" : "");
  return -EINVAL;
}

int region_agent_folder_make(struct region *r, const char *subscription)
{
  char sub[128], path[4096], id[192];
  snprintf(id, sizeof id, "/subscriptions/%s", subscription);
  if (!r->cfg.agent_socket_dir || !r->cfg.agent_socket_dir[0])
    return 0;
  int rc = subscription_folder(id, sub, sizeof sub);
  if (rc == 0 && snprintf(path, sizeof path, "%s/%s", r->cfg.agent_socket_dir, sub) >= (int)sizeof path)
    rc = -ENAMETOOLONG;
  if (rc == 0)
    rc = mkdir_exist_ok(path, 0770);
  if (rc < 0)
    log_error("region", "cannot create the agent socket folder of subscription %s: %s", subscription, strerror(-rc));
  return rc;
}

/* Opens vm's agent: -ENOTCONN (why filled) when it cannot. */
static int connect_agent(struct region *r, const char *vm_id, const char *socket, struct agent **out, char *why,
                         size_t cap)
{
  struct stat st;
  int rc = region_agent_socket_check(r, vm_id, socket, why, cap);
  if (rc == 0 && (lstat(socket, &st) < 0 || !S_ISSOCK(st.st_mode))) {
    snprintf(why, cap, "no guest agent socket at %s", socket);
    rc = -ENOENT;
  }
  if (rc == 0) {
    rc = agent_open(socket, timeout_ms(r), out);
    if (rc < 0)
      snprintf(why, cap, "the guest agent at %s does not answer: %s", socket,
               rc == -ETIMEDOUT ? "no reply to guest-sync-delimited in time" : strerror(-rc));
  }
  return rc < 0 ? -ENOTCONN : 0;
}

static struct guest_freeze *in_flight(struct region *r, const char *vm_id)
{
  for (struct guest_freeze *f = r->freezing; f; f = f->next)
    if (!strcasecmp(f->vm_id, vm_id))
      return f;
  return NULL;
}

static void flight_remove(struct region *r, struct guest_freeze *f)
{
  pthread_mutex_lock(&r->agents_lock);
  for (struct guest_freeze **p = &r->freezing; *p; p = &(*p)->next)
    if (*p == f) {
      *p = f->next;
      break;
    }
  pthread_mutex_unlock(&r->agents_lock);
}

static void freeze_free(struct guest_freeze *f)
{
  agent_close(f->agent);
  free(f->vm_id);
  free(f->socket);
  free(f);
}

/* One thaw attempt: 0 when the agent confirms the guest is thawed. */
static int thaw_once(struct region *r, const char *vm_id, const char *socket, struct agent **reuse, char *why,
                     size_t cap)
{
  struct agent *a = reuse ? *reuse : NULL;
  if (reuse)
    *reuse = NULL;
  int n = 0, rc = 0;
  if (a && (rc = agent_fsfreeze_thaw(a, timeout_ms(r), &n)) == -EPIPE) {
    agent_close(a); /* the freeze broke that connection: a new one */
    a = NULL;
  }
  if (!a) {
    rc = connect_agent(r, vm_id, socket, &a, why, cap);
    if (rc == 0)
      rc = agent_fsfreeze_thaw(a, timeout_ms(r), &n);
  }
  if (rc == -EREMOTEIO) { /* thawed meanwhile (or never frozen)? */
    snprintf(why, cap, "guest-fsfreeze-thaw failed: %s", agent_error(a));
    bool frozen = true;
    if (agent_fsfreeze_status(a, timeout_ms(r), &frozen) == 0 && !frozen)
      rc = 0;
  } else if (rc < 0 && a) {
    snprintf(why, cap, "guest-fsfreeze-thaw failed: %s", agent_error(a));
  }
  agent_close(a);
  return rc;
}

int region_guest_freeze(struct region *r, const char *vm_id, struct guest_freeze **out, char *why, size_t cap)
{
  struct guest_freeze *f = calloc(1, sizeof *f);
  if (!f || !(f->vm_id = strdup(vm_id))) {
    free(f);
    return -ENOMEM;
  }
  int rc = meta_vm_agent_socket(r->meta, vm_id, &f->socket);
  if (rc == -ENOENT)
    snprintf(why, cap, "the VM has no guest agent (a Vmrp.QemuGuestAgent extension)");
  if (rc < 0) {
    freeze_free(f);
    return rc == -ENOENT ? -ENOTCONN : rc;
  }
  pthread_mutex_lock(&r->agents_lock);
  bool busy = in_flight(r, vm_id) != NULL;
  if (!busy) {
    f->next = r->freezing;
    r->freezing = f;
  }
  pthread_mutex_unlock(&r->agents_lock);
  if (busy) {
    snprintf(why, cap, "the guest is being frozen for another restore point");
    freeze_free(f);
    return -EBUSY;
  }
  rc = connect_agent(r, vm_id, f->socket, &f->agent, why, cap);
  if (rc == 0) {
    f->since_us = time_now_us();
    rc = meta_agent_freeze_put(r->meta, vm_id, f->socket, f->since_us);
    if (rc < 0)
      snprintf(why, cap, "the freeze could not be recorded");
  }
  if (rc == 0) {
    int n = 0;
    f->t0_ns = mono_ns();
    rc = agent_fsfreeze_freeze(f->agent, frozen_max_ms(r), &n);
    if (rc < 0) {
      snprintf(why, cap, "guest-fsfreeze-freeze failed: %s",
               rc == -ETIMEDOUT ? "no answer within the frozen-time limit" : agent_error(f->agent));
      char twhy[256];
      if (thaw_once(r, vm_id, f->socket, &f->agent, twhy, sizeof twhy) == 0)
        meta_agent_freeze_delete(r->meta, vm_id, f->since_us);
      else
        log_warn("region", "VM %s: thaw after a failed freeze failed (%s); retrying in the background", vm_id, twhy);
      rc = -ECANCELED;
    } else {
      log_info("region", "VM %s: guest froze %d file system(s)", vm_id, n);
    }
  }
  if (rc < 0) {
    flight_remove(r, f);
    freeze_free(f);
    pthread_mutex_lock(&r->agents_lock);
    r->thawer_kick = true; /* a row may be left: the thawer starts on it now */
    pthread_cond_signal(&r->agents_cv);
    pthread_mutex_unlock(&r->agents_lock);
    return rc;
  }
  *out = f;
  return 0;
}

int region_guest_thaw(struct region *r, struct guest_freeze *f, uint64_t *frozen_ns, char *why, size_t cap)
{
  int rc = thaw_once(r, f->vm_id, f->socket, &f->agent, why, cap);
  *frozen_ns = mono_ns() - f->t0_ns;
  if (rc == 0 && *frozen_ns > (uint64_t)frozen_max_ms(r) * 1000000u) {
    snprintf(why, cap, "the guest was frozen for %llu ms, longer than the limit of %d ms",
             (unsigned long long)(*frozen_ns / 1000000u), frozen_max_ms(r));
    rc = -ECANCELED;
    meta_agent_freeze_delete(r->meta, f->vm_id, f->since_us);
  } else if (rc == 0) {
    meta_agent_freeze_delete(r->meta, f->vm_id, f->since_us);
  } else {
    log_warn("region", "VM %s: %s; retrying the thaw in the background", f->vm_id, why);
    rc = -ECANCELED;
  }
  flight_remove(r, f);
  pthread_mutex_lock(&r->agents_lock);
  if (rc < 0) {
    r->thawer_kick = true;
    pthread_cond_signal(&r->agents_cv);
  }
  pthread_mutex_unlock(&r->agents_lock);
  freeze_free(f);
  return rc;
}

int region_agent_status(struct region *r, const char *vm_id, struct region_agent_status *out)
{
  memset(out, 0, sizeof *out);
  char *socket = NULL;
  int rc = meta_vm_agent_socket(r->meta, vm_id, &socket);
  if (rc == -ENOENT)
    return 0;
  if (rc < 0)
    return rc;
  out->configured = true;
  pthread_mutex_lock(&r->agents_lock);
  bool busy = in_flight(r, vm_id) != NULL;
  pthread_mutex_unlock(&r->agents_lock);
  if (busy) { /* its connection is the freeze's: do not queue behind it */
    out->ready = out->frozen = out->can_freeze = true;
    snprintf(out->message, sizeof out->message, "frozen for a restore point");
    free(socket);
    return 0;
  }
  struct agent *a = NULL;
  struct agent_info info;
  if (connect_agent(r, vm_id, socket, &a, out->message, sizeof out->message) == 0) {
    if (agent_info(a, timeout_ms(r), &info) == 0 && agent_fsfreeze_status(a, timeout_ms(r), &out->frozen) == 0) {
      out->ready = true;
      out->can_freeze = info.can_freeze;
      snprintf(out->version, sizeof out->version, "%s", info.version);
    } else {
      snprintf(out->message, sizeof out->message, "the guest agent at %s fails: %s", socket, agent_error(a));
    }
  }
  agent_close(a);
  free(socket);
  return 0;
}

/* ---- the thawer ------------------------------------------------------------ */

struct pending {
  struct meta_agent_freeze *rows;
  int n, cap;
};

static int collect(void *ctx, const struct meta_agent_freeze *f)
{
  struct pending *p = ctx;
  if (p->n == p->cap) {
    int cap = p->cap ? p->cap * 2 : 8;
    struct meta_agent_freeze *rows = realloc(p->rows, (size_t)cap * sizeof *rows);
    if (!rows)
      return -ENOMEM;
    p->rows = rows;
    p->cap = cap;
  }
  struct meta_agent_freeze *row = &p->rows[p->n];
  row->vm_id = strdup(f->vm_id);
  row->socket = strdup(f->socket);
  row->since_us = f->since_us;
  if (!row->vm_id || !row->socket) {
    free(row->vm_id);
    free(row->socket);
    return -ENOMEM;
  }
  p->n++;
  return 0;
}

/* One pass over the recorded freezes: how many are left. */
static int thaw_pending(struct region *r, bool first_pass)
{
  struct pending p = {0};
  int left = 0;
  if (meta_agent_freeze_list(r->meta, collect, &p) < 0)
    left = 1;
  for (int i = 0; i < p.n; i++) {
    struct meta_agent_freeze *f = &p.rows[i];
    pthread_mutex_lock(&r->agents_lock);
    bool busy = in_flight(r, f->vm_id) != NULL;
    pthread_mutex_unlock(&r->agents_lock);
    char why[256] = "";
    char power[32];
    if (busy) {
      left++;
    } else if (thaw_once(r, f->vm_id, f->socket, NULL, why, sizeof why) == 0) {
      char since[TIME_ISO_LEN];
      time_iso8601(f->since_us, since);
      log_info("region", "VM %s: thawed its guest, recorded as possibly frozen since %s", f->vm_id, since);
      meta_agent_freeze_delete(r->meta, f->vm_id, f->since_us);
    } else if (meta_vm_power_state(r->meta, f->vm_id, power) == -ENOENT) {
      log_warn("region", "VM %s is gone and its agent does not answer (%s): no more thaws", f->vm_id, why);
      meta_agent_freeze_delete(r->meta, f->vm_id, f->since_us);
    } else {
      if (first_pass)
        log_warn("region", "VM %s may be frozen: %s; retrying", f->vm_id, why);
      left++;
    }
    free(f->vm_id);
    free(f->socket);
  }
  free(p.rows);
  return left;
}

static void *thawer_main(void *arg)
{
  struct region *r = arg;
  int wait_s = 0;
  bool first = true;
  for (;;) {
    int left = thaw_pending(r, first);
    first = false;
    wait_s = left ? (wait_s ? (wait_s * 2 > THAW_RETRY_MAX_S ? THAW_RETRY_MAX_S : wait_s * 2) : THAW_RETRY_MIN_S) : 0;
    pthread_mutex_lock(&r->agents_lock);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_s ? wait_s : 3600;
    while (!r->thawer_stop && !r->thawer_kick)
      if (pthread_cond_timedwait(&r->agents_cv, &r->agents_lock, &until) == ETIMEDOUT)
        break;
    if (r->thawer_kick)
      wait_s = 0;
    r->thawer_kick = false;
    bool stop = r->thawer_stop;
    pthread_mutex_unlock(&r->agents_lock);
    if (stop)
      break;
  }
  return NULL;
}

int region_agents_open(struct region *r)
{
  if (r->cfg.agent_socket_dir && r->cfg.agent_socket_dir[0]) {
    int rc = mkdir_exist_ok(r->cfg.agent_socket_dir, 0770);
    if (rc < 0) {
      log_error("region", "cannot create the agent socket directory %s: %s", r->cfg.agent_socket_dir,
                strerror(-rc));
      return rc;
    }
  }
  int rc = -pthread_create(&r->thawer, NULL, thawer_main, r);
  r->thawer_running = rc == 0;
  return rc;
}

void region_agents_close(struct region *r)
{
  if (r->thawer_running) {
    pthread_mutex_lock(&r->agents_lock);
    r->thawer_stop = true;
    pthread_cond_signal(&r->agents_cv);
    pthread_mutex_unlock(&r->agents_lock);
    pthread_join(r->thawer, NULL);
    r->thawer_running = false;
  }
}
