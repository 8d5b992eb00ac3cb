/*
 * test_agent.c — the qemu-ga client (src/agent) against a scripted agent and
 * against raw byte streams.
 *
 * Most tests run tests/lib/fake_qga.py (python3, found through $VMRP_SRC) as
 * a child process on a socket in a fresh temporary directory, in the mode the
 * test needs (ok, silent, garbage, die-on-freeze, freeze-hang, thaw-fail,
 * freeze-fail, slow-freeze=S); a test waits for the fake's pidfile, written
 * once it listens, and ends it with SIGTERM, after which the fake must have
 * exited with status 0 and removed its socket (a test process that crashes
 * takes its fake along: --exit-with-parent).  The fake keeps the guest's
 * state across connections, as a guest does, so a freeze left by one
 * connection is seen and thawed by the next.
 *
 * The streams no agent sends on purpose (a reply larger than the client's
 * limit, one that is not JSON or has neither "return" nor "error", stale
 * replies ahead of the sync's, replies cut inside a JSON token) come from a
 * raw server: a thread of this file that accepts one connection, reads the
 * 0xFF + guest-sync-delimited (for its id) and plays a script.  A full
 * listen backlog is made with listen(0) and one connection waiting in it.
 *
 * Timing: a test that expects a timeout uses SHORT_MS, one that expects an
 * answer LONG_MS.  An elapsed time is checked to be no shorter than the
 * timeout and never bounded tighter than SLACK_MS beyond it: the machine may
 * be busy (sanitizers, a parallel ctest).
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/agent.h"

extern char **environ;

enum { SHORT_MS = 300, LONG_MS = 10000, SLACK_MS = 5000 };

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* A timeout of timeout_ms took at least that long (the client counts whole
 * milliseconds: 1 ms of rounding) and, loosely, not much longer. */
static void assert_waited(int64_t t0, int timeout_ms)
{
  int64_t took = now_ms() - t0;
  if (took < timeout_ms - 1 || took > timeout_ms + SLACK_MS)
    fail_msg("a %d ms timeout took %lld ms", timeout_ms, (long long)took);
}

static char *xasprintf(const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0)
    abort();
  return s;
}

/* A fresh directory, short enough for a socket path in it. */
static char *make_dir(void)
{
  const char *t = getenv("TMPDIR");
  if (!t || !*t || strlen(t) > 64)
    t = "/tmp";
  char *p = xasprintf("%s/vmrp-agent.XXXXXX", t);
  if (!mkdtemp(p))
    abort();
  return p;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

static void remove_dir(char **dir)
{
  if (*dir)
    nftw(*dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
  free(*dir);
  *dir = NULL;
}

/* ---- the fake agent: tests/lib/fake_qga.py ------------------------------- */

struct fake {
  pid_t pid; /* 0: not running */
  char *dir, *sock, *log, *pidfile;
};

/* Starts the fake in mode with extra arguments (NULL-terminated) and waits
 * until it listens. */
static void fake_start(struct fake *f, const char *mode, ...)
{
  const char *src = getenv("VMRP_SRC");
  if (!src || !*src)
    src = VMRP_SOURCE_DIR;
  char *script = xasprintf("%s/tests/lib/fake_qga.py", src);
  f->dir = make_dir();
  f->sock = xasprintf("%s/qga.sock", f->dir);
  f->log = xasprintf("%s/qga.log", f->dir);
  f->pidfile = xasprintf("%s/qga.pid", f->dir);
  const char *argv[24] = {"python3",   script, f->sock,      "--mode",            mode,
                          "--log",     f->log, "--pidfile",  f->pidfile,         "--exit-with-parent"};
  int n = 10;
  va_list ap;
  va_start(ap, mode);
  for (const char *s; (s = va_arg(ap, const char *)) && n < 23;)
    argv[n++] = s;
  va_end(ap);
  int rc = posix_spawnp(&f->pid, "python3", NULL, NULL, (char *const *)argv, environ);
  free(script);
  if (rc != 0) {
    f->pid = 0;
    fail_msg("cannot run python3: %s", strerror(rc));
  }
  int64_t deadline = now_ms() + 30000;
  while (access(f->pidfile, F_OK) != 0) {
    int status;
    if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
      f->pid = 0;
      fail_msg("fake_qga.py (%s) exited before listening: status %#x", mode, status);
    }
    if (now_ms() > deadline)
      fail_msg("fake_qga.py (%s) did not listen within 30 s", mode);
    sleep_ms(10);
  }
}

/* Waits for the fake to exit by itself: its exit status. */
static int fake_reap(struct fake *f)
{
  int64_t deadline = now_ms() + SLACK_MS;
  int status = -1;
  while (waitpid(f->pid, &status, WNOHANG) != f->pid) {
    if (now_ms() > deadline)
      fail_msg("fake_qga.py did not exit");
    sleep_ms(10);
  }
  f->pid = 0;
  return status;
}

static void fake_free(struct fake *f)
{
  if (f->pid > 0) { /* a test that failed half-way */
    kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
    f->pid = 0;
  }
  remove_dir(&f->dir);
  free(f->sock), free(f->log), free(f->pidfile);
  f->sock = f->log = f->pidfile = NULL;
}

/* SIGTERM: the fake exits with status 0 and takes its socket away. */
static void fake_stop(struct fake *f)
{
  assert_true(f->pid > 0);
  assert_int_equal(kill(f->pid, SIGTERM), 0);
  int status;
  assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
  f->pid = 0;
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_not_equal(access(f->sock, F_OK), 0);
  assert_int_not_equal(access(f->pidfile, F_OK), 0);
  fake_free(f);
}

/* Waits (loosely) until the fake's log has a line containing needle. */
static void fake_wait_log(struct fake *f, const char *needle)
{
  int64_t deadline = now_ms() + SLACK_MS;
  for (;;) {
    char buf[16384];
    size_t n = 0;
    FILE *fp = fopen(f->log, "r");
    if (fp) {
      n = fread(buf, 1, sizeof buf - 1, fp);
      fclose(fp);
    }
    buf[n] = '\0';
    if (strstr(buf, needle))
      return;
    if (now_ms() > deadline)
      fail_msg("no \"%s\" in the fake's log:\n%s", needle, buf);
    sleep_ms(10);
  }
}

/* ---- the raw server: a thread that plays a script ------------------------ */

struct raw;
typedef void raw_script(struct raw *r, int fd, unsigned long id);
struct raw {
  char *dir, *path;
  int lfd, filler;  /* filler: a connection waiting in a listen(0) backlog */
  int delay_ms;     /* before the first accept */
  raw_script *script;
  pthread_t thread;
  bool running;
  char bad[256];    /* what the thread found wrong ("" when nothing) */
};

static void raw_fail(struct raw *r, const char *what)
{
  if (!r->bad[0])
    snprintf(r->bad, sizeof r->bad, "%s", what);
}

static void raw_send(int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; /* the client went away: what it missed is its business */
    p += n;
    len -= (size_t)n;
  }
}

static void raw_sends(int fd, const char *s) { raw_send(fd, s, strlen(s)); }

/* Reads one line (the client ends each command with "\n"): its length, or -1
 * at the end of the stream. */
static int raw_line(int fd, char *line, size_t cap)
{
  size_t n = 0;
  for (;;) {
    char c;
    ssize_t k = recv(fd, &c, 1, 0);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    if (n + 1 < cap)
      line[n++] = c;
    if (c == '\n')
      break;
  }
  line[n] = '\0';
  return (int)n;
}

/* The next command must be {"execute":"cmd"}. */
static void raw_expect(struct raw *r, int fd, const char *cmd)
{
  char line[256], want[128];
  snprintf(want, sizeof want, "{\"execute\":\"%s\"}\n", cmd);
  if (raw_line(fd, line, sizeof line) < 0 || strcmp(line, want) != 0) {
    char why[256];
    snprintf(why, sizeof why, "expected %s", cmd);
    raw_fail(r, why);
  }
}

static void raw_sync_reply(int fd, unsigned long id)
{
  char reply[64];
  snprintf(reply, sizeof reply, "\xff{\"return\": %lu}\n", id);
  raw_sends(fd, reply);
}

static void *raw_main(void *arg)
{
  struct raw *r = arg;
  if (r->delay_ms)
    sleep_ms(r->delay_ms);
  if (r->filler >= 0) { /* let the backlog go: the filler is first in it */
    int fd = accept(r->lfd, NULL, NULL);
    if (fd >= 0)
      close(fd);
  }
  int fd = accept(r->lfd, NULL, NULL);
  if (fd < 0) {
    raw_fail(r, "accept failed");
    return NULL;
  }
  char line[256];
  const char *p;
  if (raw_line(fd, line, sizeof line) < 0)
    raw_fail(r, "no guest-sync-delimited");
  else if (line[0] != '\xff' || !strstr(line, "\"guest-sync-delimited\"") || !(p = strstr(line, "\"id\":")))
    raw_fail(r, "the sync is not 0xFF + guest-sync-delimited with an id");
  else
    r->script(r, fd, strtoul(p + 5, NULL, 10));
  char buf[4096];
  while (recv(fd, buf, sizeof buf, 0) > 0) /* until the client hangs up */
    ;
  close(fd);
  return NULL;
}

/* Listens (backlog 4, or 0 with one connection waiting in it when busy) and
 * starts the script's thread. */
static void raw_start(struct raw *r, raw_script *script, bool busy, int delay_ms)
{
  r->dir = make_dir();
  r->path = xasprintf("%s/raw.sock", r->dir);
  r->script = script;
  r->delay_ms = delay_ms;
  r->filler = -1;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", r->path);
  r->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(r->lfd >= 0);
  assert_int_equal(bind(r->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(r->lfd, busy ? 0 : 4), 0);
  if (busy) {
    r->filler = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(r->filler, (struct sockaddr *)&sa, sizeof sa), 0);
  }
  assert_int_equal(pthread_create(&r->thread, NULL, raw_main, r), 0);
  r->running = true;
}

/* Joins the thread (the client must have hung up) and checks its script ran
 * as expected. */
static void raw_join(struct raw *r)
{
  assert_int_equal(pthread_join(r->thread, NULL), 0);
  r->running = false;
  if (r->bad[0])
    fail_msg("raw server: %s", r->bad);
}

/* false: a test failed half-way and the thread, let go, may still use r. */
static bool raw_free(struct raw *r)
{
  if (r->running) {
    shutdown(r->lfd, SHUT_RDWR); /* wakes an accept */
    pthread_detach(r->thread);
    return false;
  }
  if (r->dir) {
    close(r->lfd);
    if (r->filler >= 0)
      close(r->filler);
  }
  remove_dir(&r->dir);
  free(r->path);
  r->path = NULL;
  return true;
}

/* ---- fixtures ------------------------------------------------------------ */

struct ctx {
  struct fake f;
  struct raw r;
};

static int setup(void **state)
{
  *state = calloc(1, sizeof(struct ctx));
  return *state ? 0 : -1;
}

static int teardown(void **state)
{
  struct ctx *c = *state;
  fake_free(&c->f);
  if (raw_free(&c->r))
    free(c);
  return 0;
}

/* call (on a) must succeed; else the failure says why, agent_error(a) too. */
#define assert_agent_ok(a, call)                                                                       \
  do {                                                                                                 \
    int rc_ = (call);                                                                                  \
    if (rc_ != 0)                                                                                      \
      fail_msg("%s: %d %s (%s)", #call, rc_, strerror(-rc_), agent_error(a));                          \
  } while (0)

static struct agent *open_ok(const char *path)
{
  struct agent *a = NULL;
  int rc = agent_open(path, LONG_MS, &a);
  if (rc != 0)
    fail_msg("agent_open(%s): %s", path, strerror(-rc));
  assert_non_null(a);
  return a;
}

/* ---- against the fake ---------------------------------------------------- */

static void open_ping_info(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "ok", NULL);
  struct agent *a = open_ok(c->f.sock);
  assert_agent_ok(a, agent_ping(a, LONG_MS));
  assert_string_equal(agent_error(a), "");
  struct agent_info info;
  assert_agent_ok(a, agent_info(a, LONG_MS, &info));
  assert_string_equal(info.version, "8.2.0-fake");
  assert_true(info.can_freeze);
  agent_close(a);
  agent_close(NULL);
  fake_wait_log(&c->f, " guest-sync-delimited thawed\n");
  fake_wait_log(&c->f, " guest-info thawed\n");
  fake_wait_log(&c->f, " disconnect thawed\n");
  fake_stop(&c->f);
}

/* An agent whose freeze is disabled (qemu-ga -b) says so, and refuses it. */
static void info_freeze_disabled(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "ok", "--version", "7.2.0", "--disable", "guest-fsfreeze-freeze", NULL);
  struct agent *a = open_ok(c->f.sock);
  struct agent_info info;
  assert_agent_ok(a, agent_info(a, LONG_MS, &info));
  assert_string_equal(info.version, "7.2.0");
  assert_false(info.can_freeze);
  int count = -1;
  assert_int_equal(agent_fsfreeze_freeze(a, LONG_MS, &count), -EREMOTEIO);
  assert_non_null(strstr(agent_error(a), "Command guest-fsfreeze-freeze has been disabled"));
  assert_agent_ok(a, agent_ping(a, LONG_MS)); /* an error reply leaves the connection usable */
  agent_close(a);
  fake_stop(&c->f);
}

static void freeze_status_thaw(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "ok", "--fs-count", "3", NULL);
  struct agent *a = open_ok(c->f.sock);
  bool frozen = true;
  assert_agent_ok(a, agent_fsfreeze_status(a, LONG_MS, &frozen));
  assert_false(frozen);
  int count = -1;
  assert_agent_ok(a, agent_fsfreeze_freeze(a, LONG_MS, &count));
  assert_int_equal(count, 3);
  assert_agent_ok(a, agent_fsfreeze_status(a, LONG_MS, &frozen));
  assert_true(frozen);
  /* Frozen, qemu-ga disables every command but a few: freeze among them. */
  struct agent_info info;
  assert_agent_ok(a, agent_info(a, LONG_MS, &info));
  assert_false(info.can_freeze);
  assert_int_equal(agent_fsfreeze_freeze(a, LONG_MS, &count), -EREMOTEIO);
  assert_non_null(strstr(agent_error(a), "the agent is in frozen state"));
  agent_close(a);
  fake_wait_log(&c->f, " guest-fsfreeze-freeze frozen\n");

  /* The guest stays frozen across connections; the next one thaws it. */
  a = open_ok(c->f.sock);
  assert_agent_ok(a, agent_fsfreeze_status(a, LONG_MS, &frozen));
  assert_true(frozen);
  assert_agent_ok(a, agent_fsfreeze_thaw(a, LONG_MS, &count));
  assert_int_equal(count, 3);
  assert_agent_ok(a, agent_fsfreeze_status(a, LONG_MS, &frozen));
  assert_false(frozen);
  assert_agent_ok(a, agent_fsfreeze_thaw(a, LONG_MS, &count));
  assert_int_equal(count, 0); /* nothing was frozen */
  assert_agent_ok(a, agent_info(a, LONG_MS, &info));
  assert_true(info.can_freeze);
  agent_close(a);
  fake_wait_log(&c->f, " connect frozen\n");
  fake_wait_log(&c->f, " guest-fsfreeze-thaw thawed\n");
  fake_stop(&c->f);
}

/* Junk, a stale reply, invalid JSON after a 0xFF and a wrong id before the
 * sync's reply, on every connection: the client still synchronises. */
static void garbage_resync(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "garbage", NULL);
  for (int i = 0; i < 2; i++) {
    struct agent *a = open_ok(c->f.sock);
    assert_agent_ok(a, agent_ping(a, LONG_MS));
    struct agent_info info;
    assert_agent_ok(a, agent_info(a, LONG_MS, &info));
    assert_string_equal(info.version, "8.2.0-fake");
    int count = -1;
    assert_agent_ok(a, agent_fsfreeze_freeze(a, LONG_MS, &count));
    assert_int_equal(count, 2);
    bool frozen = false;
    assert_agent_ok(a, agent_fsfreeze_status(a, LONG_MS, &frozen));
    assert_true(frozen);
    assert_agent_ok(a, agent_fsfreeze_thaw(a, LONG_MS, &count));
    assert_int_equal(count, 2);
    agent_close(a);
  }
  fake_stop(&c->f);
}

/* Replies written 61 bytes at a time: cut anywhere, even inside a JSON token
 * ("tr|ue", a number), as a slow virtio-serial port delivers them. */
static void chunked_replies(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "ok", "--chunk", "61", NULL);
  struct agent *a = open_ok(c->f.sock);
  struct agent_info info;
  for (int i = 0; i < 3; i++) {
    assert_agent_ok(a, agent_info(a, LONG_MS, &info));
    assert_string_equal(info.version, "8.2.0-fake");
    assert_true(info.can_freeze);
  }
  int count = -1;
  assert_agent_ok(a, agent_fsfreeze_freeze(a, LONG_MS, &count));
  assert_agent_ok(a, agent_info(a, LONG_MS, &info));
  assert_false(info.can_freeze);
  assert_agent_ok(a, agent_fsfreeze_thaw(a, LONG_MS, &count));
  assert_int_equal(count, 2);
  agent_close(a);
  fake_stop(&c->f);
}

/* The chardev serves one client at a time: a second one is not answered
 * until the first hangs up. */
static void one_client_at_a_time(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "ok", NULL);
  struct agent *a = open_ok(c->f.sock), *b = NULL;
  int64_t t0 = now_ms();
  assert_int_equal(agent_open(c->f.sock, SHORT_MS, &b), -ETIMEDOUT);
  assert_waited(t0, SHORT_MS);
  assert_null(b);
  assert_agent_ok(a, agent_ping(a, LONG_MS));
  agent_close(a);
  b = open_ok(c->f.sock);
  assert_agent_ok(b, agent_ping(b, LONG_MS));
  agent_close(b);
  fake_stop(&c->f);
}

static void silent_times_out(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "silent", NULL);
  struct agent *a = NULL;
  int64_t t0 = now_ms();
  assert_int_equal(agent_open(c->f.sock, SHORT_MS, &a), -ETIMEDOUT);
  assert_waited(t0, SHORT_MS);
  assert_null(a);
  fake_wait_log(&c->f, " guest-sync-delimited thawed\n"); /* it was heard, not answered */
  fake_stop(&c->f);
}

static void no_agent_socket(void **state)
{
  (void)state;
  char *dir = make_dir();
  char *path = xasprintf("%s/qga.sock", dir);
  struct agent *a = NULL;
  assert_int_equal(agent_open(path, SHORT_MS, &a), -ENOENT);
  assert_null(a);
  /* A socket file nobody listens on (its server died). */
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  close(fd);
  assert_int_equal(agent_open(path, SHORT_MS, &a), -ECONNREFUSED);
  assert_null(a);
  char long_path[200];
  memset(long_path, 'x', sizeof long_path - 1);
  long_path[0] = '/';
  long_path[sizeof long_path - 1] = '\0';
  assert_int_equal(agent_open(long_path, SHORT_MS, &a), -ENAMETOOLONG);
  free(path);
  remove_dir(&dir);
}

/* An error reply is -EREMOTEIO with the agent's words, and the connection
 * stays usable. */
static void thaw_fails(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "thaw-fail", NULL);
  struct agent *a = open_ok(c->f.sock);
  int count = -1;
  assert_agent_ok(a, agent_fsfreeze_freeze(a, LONG_MS, &count));
  assert_int_equal(agent_fsfreeze_thaw(a, LONG_MS, &count), -EREMOTEIO);
  assert_non_null(strstr(agent_error(a), "fsfreeze thaw failed"));
  assert_non_null(strstr(agent_error(a), "GenericError"));
  bool frozen = false;
  assert_agent_ok(a, agent_fsfreeze_status(a, LONG_MS, &frozen));
  assert_true(frozen);
  assert_string_equal(agent_error(a), ""); /* a success clears it */
  agent_close(a);
  fake_wait_log(&c->f, " guest-fsfreeze-thaw frozen\n");
  fake_stop(&c->f);
}

static void freeze_fails(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "freeze-fail", NULL);
  struct agent *a = open_ok(c->f.sock);
  int count = -1;
  assert_int_equal(agent_fsfreeze_freeze(a, LONG_MS, &count), -EREMOTEIO);
  assert_non_null(strstr(agent_error(a), "fsfreeze freeze failed"));
  bool frozen = true;
  assert_agent_ok(a, agent_fsfreeze_status(a, LONG_MS, &frozen));
  assert_false(frozen);
  agent_close(a);
  fake_stop(&c->f);
}

/* A command that times out breaks the connection (its reply may still
 * come): every later call is -EPIPE.  A new connection skips the late reply. */
static void timeout_breaks_connection(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "slow-freeze=1", NULL);
  struct agent *a = open_ok(c->f.sock);
  int count = -1;
  int64_t t0 = now_ms();
  assert_int_equal(agent_fsfreeze_freeze(a, SHORT_MS, &count), -ETIMEDOUT);
  assert_waited(t0, SHORT_MS);
  assert_int_not_equal(agent_error(a)[0], '\0');
  assert_int_equal(agent_ping(a, LONG_MS), -EPIPE);
  bool frozen = false;
  assert_int_equal(agent_fsfreeze_status(a, LONG_MS, &frozen), -EPIPE);
  agent_close(a);
  a = open_ok(c->f.sock); /* answered once the freeze is over */
  assert_agent_ok(a, agent_fsfreeze_status(a, LONG_MS, &frozen));
  assert_true(frozen);
  assert_agent_ok(a, agent_fsfreeze_thaw(a, LONG_MS, &count));
  assert_int_equal(count, 2);
  agent_close(a);
  fake_stop(&c->f);
}

/* The agent dies during the freeze: the client hears the hang-up at once
 * rather than waiting for its timeout. */
static void die_on_freeze(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "die-on-freeze", NULL);
  struct agent *a = open_ok(c->f.sock);
  int count = -1;
  int64_t t0 = now_ms();
  int rc = agent_fsfreeze_freeze(a, LONG_MS, &count);
  if (rc != -ECONNRESET && rc != -EPIPE)
    fail_msg("freeze on a dying agent: %d (%s)", rc, strerror(-rc));
  assert_true(now_ms() - t0 < LONG_MS);
  assert_int_equal(agent_ping(a, LONG_MS), -EPIPE);
  agent_close(a);
  int status = fake_reap(&c->f);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  fake_wait_log(&c->f, " guest-fsfreeze-freeze frozen\n");
  /* Its socket file stays, with nobody behind it. */
  assert_int_equal(agent_open(c->f.sock, SHORT_MS, &a), -ECONNREFUSED);
  fake_free(&c->f);
}

/* A freeze that never answers times out; the guest is frozen, and a thaw on a
 * new connection still works. */
static void freeze_hang_then_thaw(void **state)
{
  struct ctx *c = *state;
  fake_start(&c->f, "freeze-hang", NULL);
  struct agent *a = open_ok(c->f.sock);
  int count = -1;
  int64_t t0 = now_ms();
  assert_int_equal(agent_fsfreeze_freeze(a, SHORT_MS, &count), -ETIMEDOUT);
  assert_waited(t0, SHORT_MS);
  assert_int_equal(agent_fsfreeze_thaw(a, LONG_MS, &count), -EPIPE);
  agent_close(a);
  a = open_ok(c->f.sock);
  bool frozen = false;
  assert_agent_ok(a, agent_fsfreeze_status(a, LONG_MS, &frozen));
  assert_true(frozen);
  assert_agent_ok(a, agent_fsfreeze_thaw(a, LONG_MS, &count));
  assert_int_equal(count, 2);
  assert_agent_ok(a, agent_fsfreeze_status(a, LONG_MS, &frozen));
  assert_false(frozen);
  agent_close(a);
  fake_wait_log(&c->f, " guest-fsfreeze-thaw thawed\n");
  fake_stop(&c->f);
}

/* ---- against the raw server ---------------------------------------------- */

/* What qemu-ga answers to the 0xFF itself, a stale reply to an older
 * command, and a stale sync reply (wrong id): all skipped. */
static void script_stale(struct raw *r, int fd, unsigned long id)
{
  raw_sends(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\n");
  raw_sends(fd, "{\"return\": \"thawed\"}\n");
  char stale[64];
  snprintf(stale, sizeof stale, "\xff{\"return\": %lu}\n", id + 1);
  raw_sends(fd, stale);
  raw_sync_reply(fd, id);
  raw_expect(r, fd, "guest-fsfreeze-status");
  raw_sends(fd, "{\"return\": \"frozen\"}\n");
}

static void stale_replies_skipped(void **state)
{
  struct ctx *c = *state;
  raw_start(&c->r, script_stale, false, 0);
  struct agent *a = open_ok(c->r.path);
  bool frozen = false;
  assert_agent_ok(a, agent_fsfreeze_status(a, LONG_MS, &frozen));
  assert_true(frozen); /* the answer, not the stale "thawed" */
  agent_close(a);
  raw_join(&c->r);
}

static void script_not_json(struct raw *r, int fd, unsigned long id)
{
  raw_sync_reply(fd, id);
  raw_expect(r, fd, "guest-ping");
  raw_sends(fd, "this is not JSON\n");
}

static void not_json_after_sync(void **state)
{
  struct ctx *c = *state;
  raw_start(&c->r, script_not_json, false, 0);
  struct agent *a = open_ok(c->r.path);
  assert_int_equal(agent_ping(a, LONG_MS), -EPROTO);
  assert_non_null(strstr(agent_error(a), "not JSON"));
  assert_int_equal(agent_ping(a, LONG_MS), -EPIPE);
  agent_close(a);
  raw_join(&c->r);
}

/* A reply that never ends: 4 MiB of one string, past the client's 1 MiB. */
static void script_too_large(struct raw *r, int fd, unsigned long id)
{
  raw_sync_reply(fd, id);
  raw_expect(r, fd, "guest-info");
  raw_sends(fd, "{\"return\": {\"version\": \"");
  static char xs[65536];
  memset(xs, 'x', sizeof xs);
  for (int i = 0; i < 64; i++)
    raw_send(fd, xs, sizeof xs); /* fails once the client hangs up */
}

static void reply_too_large(void **state)
{
  struct ctx *c = *state;
  raw_start(&c->r, script_too_large, false, 0);
  struct agent *a = open_ok(c->r.path);
  struct agent_info info;
  assert_int_equal(agent_info(a, LONG_MS, &info), -EPROTO);
  assert_non_null(strstr(agent_error(a), "bytes"));
  assert_int_equal(agent_ping(a, LONG_MS), -EPIPE);
  agent_close(a);
  raw_join(&c->r);
}

/* JSON, but not an answer: neither "return" nor "error"; the wrong type. */
static void script_no_return(struct raw *r, int fd, unsigned long id)
{
  raw_sync_reply(fd, id);
  raw_expect(r, fd, "guest-ping");
  raw_sends(fd, "{\"event\": \"SOMETHING\"}\n");
}

static void script_wrong_type(struct raw *r, int fd, unsigned long id)
{
  raw_sync_reply(fd, id);
  raw_expect(r, fd, "guest-fsfreeze-status");
  raw_sends(fd, "{\"return\": 1}\n");
}

static void not_an_answer(void **state)
{
  struct ctx *c = *state;
  raw_start(&c->r, script_no_return, false, 0);
  struct agent *a = open_ok(c->r.path);
  assert_int_equal(agent_ping(a, LONG_MS), -EPROTO);
  assert_non_null(strstr(agent_error(a), "neither return nor error"));
  agent_close(a);
  raw_join(&c->r);
  raw_free(&c->r);

  raw_start(&c->r, script_wrong_type, false, 0);
  a = open_ok(c->r.path);
  bool frozen;
  assert_int_equal(agent_fsfreeze_status(a, LONG_MS, &frozen), -EPROTO);
  agent_close(a);
  raw_join(&c->r);
}

/* Replies cut inside a JSON token, 50 ms apart: in "true", in a UTF-8
 * character, after the backslash of an escape, in a number. */
static void script_split(struct raw *r, int fd, unsigned long id)
{
  raw_sync_reply(fd, id);
  raw_expect(r, fd, "guest-info");
  raw_sends(fd, "{\"return\": {\"version\": \"7.2.0\", \"supported_commands\": [{\"enabled\": tr");
  sleep_ms(50);
  raw_sends(fd, "ue, \"name\": \"guest-fsfreeze-freeze\", \"success-response\": true}]}}\n");
  raw_expect(r, fd, "guest-info");
  raw_sends(fd, "{\"return\": {\"version\": \"caf\xc3");
  sleep_ms(50);
  raw_sends(fd, "\xa9 \\");
  sleep_ms(50);
  raw_sends(fd, "u00e9\", \"supported_commands\": [{\"enabled\": fal");
  sleep_ms(50);
  raw_sends(fd, "se, \"name\": \"guest-fsfreeze-freeze\"}]}}\n");
  raw_expect(r, fd, "guest-fsfreeze-freeze");
  raw_sends(fd, "{\"return\": 1");
  sleep_ms(50);
  raw_sends(fd, "2}\n");
}

static void split_tokens(void **state)
{
  struct ctx *c = *state;
  raw_start(&c->r, script_split, false, 0);
  struct agent *a = open_ok(c->r.path);
  struct agent_info info;
  assert_agent_ok(a, agent_info(a, LONG_MS, &info));
  assert_string_equal(info.version, "7.2.0");
  assert_true(info.can_freeze);
  assert_agent_ok(a, agent_info(a, LONG_MS, &info));
  assert_string_equal(info.version, "caf\xc3\xa9 \xc3\xa9");
  assert_false(info.can_freeze);
  int count = -1;
  assert_agent_ok(a, agent_fsfreeze_freeze(a, LONG_MS, &count));
  assert_int_equal(count, 12);
  agent_close(a);
  raw_join(&c->r);
}

/* A listener whose backlog is full (QEMU serving another client, more
 * waiting): connect() fails with EAGAIN, and the client waits for room
 * rather than failing at once; room comes after 2 s here. */
static void script_ping(struct raw *r, int fd, unsigned long id)
{
  raw_sync_reply(fd, id);
  raw_expect(r, fd, "guest-ping");
  raw_sends(fd, "{\"return\": {}}\n");
}

static void busy_listener(void **state)
{
  struct ctx *c = *state;
  raw_start(&c->r, script_ping, true, 2000);
  struct agent *a = NULL;
  int64_t t0 = now_ms();
  assert_int_equal(agent_open(c->r.path, SHORT_MS, &a), -ETIMEDOUT);
  assert_waited(t0, SHORT_MS);
  a = open_ok(c->r.path);
  assert_agent_ok(a, agent_ping(a, LONG_MS));
  agent_close(a);
  raw_join(&c->r);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(open_ping_info),
      T(info_freeze_disabled),
      T(freeze_status_thaw),
      T(garbage_resync),
      T(chunked_replies),
      T(one_client_at_a_time),
      T(silent_times_out),
      T(no_agent_socket),
      T(thaw_fails),
      T(freeze_fails),
      T(timeout_breaks_connection),
      T(die_on_freeze),
      T(freeze_hang_then_thaw),
      T(stale_replies_skipped),
      T(not_json_after_sync),
      T(reply_too_large),
      T(not_an_answer),
      T(split_tokens),
      T(busy_listener),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
