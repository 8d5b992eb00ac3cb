/*
 * test_failpoint.c — src/common/failpoint.c and the fsutil *_fp helpers:
 * the spec grammar (every action, @N, xK, integers, what is refused and that
 * a refused spec changes nothing), hit and fire counting, the runtime set
 * replacing itself over the environment's, counting from several threads
 * while the set is re-armed, `short` writing exactly half, and
 * `crash` ending the process with SIGKILL before the I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "common/fsutil.h"
#include "unit.h"

/* The hits and firings of site, or -1 each when it is not armed. */
struct seen {
  const char *site;
  char spec[64];
  long long hits, fired;
  int runtime;
};

static int seen_cb(const struct failpoint_info *fp, void *arg)
{
  struct seen *s = arg;
  if (!strcmp(fp->site, s->site)) {
    snprintf(s->spec, sizeof s->spec, "%s", fp->spec);
    s->hits = (long long)fp->hits;
    s->fired = (long long)fp->fired;
    s->runtime = fp->runtime;
  }
  return 0;
}

static struct seen seen(const char *site)
{
  struct seen s = {.site = site, .hits = -1, .fired = -1, .runtime = -1};
  failpoint_each(seen_cb, &s);
  return s;
}

static int count_cb(const struct failpoint_info *fp, void *arg)
{
  (void)fp;
  ++*(int *)arg;
  return 0;
}

static int armed(void)
{
  int n = 0;
  failpoint_each(count_cb, &n);
  return n;
}

static void grammar(void **state)
{
  (void)state;
  static const char *good[] = {
      "",      "a.b.c=eio", "a=enospc", "a=short@3", "a=crash@2x1", "a=eiox5", "a=eio@1x1", "a=-7",
      "a=0",   "x.y_z-1=42", "a=eio,b=enospc,c=short,d=crash,e=9",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    CHECK(failpoint_arm(good[i]) == 0, "'%s' is a spec", good[i]);
  static const char *bad[] = {
      "a",       "=eio",     "a=",       "a=EIO",    "a=eio@0",   "a=eiox0", "a=eio@",   "a=eiox",
      "a=eio@1@2", "a=eiox1@2", "a=eiofoo", "a=3@2",   "a=3x1",     "a=1.5",   "A=eio",    "a b=eio",
      "a=eio,",  ",a=eio",   "a=eio,,b=eio", "a=eio,a=enospc", "a=99999999999999999999", "a=eio@99999999999999",
      "a=crash x1",
  };
  CHECK(failpoint_arm("keep.me=eio") == 0, "a runtime set is armed");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(failpoint_arm(bad[i]) == -EINVAL, "'%s' is refused with -EINVAL", bad[i]);
  CHECK(!strcmp(seen("keep.me").spec, "eio") && armed() == 1, "the refused specs changed nothing");
  char many[64 * 12 + 16] = "";
  for (int i = 0; i < 65; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many), "%sp%d=1", i ? "," : "", i);
  CHECK(failpoint_arm(many) == -EINVAL && armed() == 1, "65 points are more than the table holds: refused");
  CHECK(failpoint_arm("") == 0 && armed() == 0, "an empty spec clears the runtime set");
}

static void actions(void **state)
{
  (void)state;
  CHECK(failpoint_io("t.io") == 0 && failpoint_value("t.v", 5) == 5, "nothing armed: I/O goes on, defaults hold");
  CHECK(failpoint_arm("t.eio=eio,t.nospc=enospc,t.short=short,t.v=-12") == 0, "armed");
  CHECK(failpoint_io("t.eio") == -EIO, "eio fails -EIO");
  CHECK(failpoint_io("t.nospc") == -ENOSPC, "enospc fails -ENOSPC");
  CHECK(failpoint_io("t.short") == FAILPOINT_SHORT, "short answers FAILPOINT_SHORT");
  CHECK(failpoint_err("t.short") == -ENOSPC, "short where nothing can be halved is -ENOSPC");
  CHECK(failpoint_io("t.other") == 0, "an unarmed site goes on");
  CHECK(failpoint_value("t.v", 0) == -12, "an integer point has its value");
  CHECK(failpoint_io("t.v") == 0, "an integer point does not fail I/O");
  CHECK(failpoint_value("t.eio", 7) == 7, "an I/O point has no integer value");
  struct seen s = seen("t.short");
  CHECK(s.hits == 2 && s.fired == 2 && s.runtime == 1, "t.short: 2 hits, 2 fired, runtime (%lld, %lld, %d)", s.hits,
        s.fired, s.runtime);
  failpoint_arm("");
}

static void counting(void **state)
{
  (void)state;
  CHECK(failpoint_arm("t.at=eio@3,t.times=enospcx2,t.both=eio@2x2") == 0, "armed");
  int at[6], times[6], both[6];
  for (int i = 0; i < 6; i++) {
    at[i] = failpoint_io("t.at");
    times[i] = failpoint_io("t.times");
    both[i] = failpoint_io("t.both");
  }
  CHECK(at[0] == 0 && at[1] == 0 && at[2] == -EIO && at[3] == -EIO && at[5] == -EIO,
        "@3: hits 1 and 2 go on, every hit from the 3rd fails");
  CHECK(times[0] == -ENOSPC && times[1] == -ENOSPC && times[2] == 0 && times[5] == 0, "x2: the first two fail");
  CHECK(both[0] == 0 && both[1] == -EIO && both[2] == -EIO && both[3] == 0 && both[4] == 0,
        "@2x2: the 2nd and 3rd hits fail, no others");
  struct seen s = seen("t.both");
  CHECK(s.hits == 6 && s.fired == 2 && !strcmp(s.spec, "eio@2x2"), "t.both: 6 hits, 2 fired, spec eio@2x2");
  CHECK(failpoint_arm("t.both=eio@2x2") == 0 && seen("t.both").hits == 0 && failpoint_io("t.both") == 0,
        "re-arming starts the count again");
  failpoint_arm("");
}

static void environment(void **state)
{
  (void)state;
  setenv("VMRP_FAILPOINTS", "e.io=eio,e.v=3", 1);
  CHECK(failpoint_init() == 0, "VMRP_FAILPOINTS arms at init");
  CHECK(failpoint_arm("e.io=enospc,r.io=eio") == 0, "a runtime set is armed beside it");
  CHECK(failpoint_io("e.io") == -ENOSPC, "the runtime set overrides the environment's point");
  CHECK(failpoint_value("e.v", 0) == 3 && failpoint_io("r.io") == -EIO, "both sets are armed");
  CHECK(failpoint_arm("") == 0, "the runtime set is cleared");
  CHECK(failpoint_io("e.io") == -EIO && failpoint_io("r.io") == 0 && seen("e.io").runtime == 0,
        "the environment's points stay");
  setenv("VMRP_FAILPOINTS", "e.io=bogus", 1);
  CHECK(failpoint_init() == -EINVAL && failpoint_io("e.io") == -EIO, "a bad VMRP_FAILPOINTS is refused, nothing changed");
  unsetenv("VMRP_FAILPOINTS");
  CHECK(failpoint_init() == 0 && armed() == 0, "no VMRP_FAILPOINTS: nothing armed");
}

enum { THREADS = 4, CALLS = 20000 };
static atomic_int rearming;

static void *hitter(void *arg)
{
  int *failed = arg;
  for (int i = 0; i < CALLS; i++)
    *failed += failpoint_io("t.mt") == -EIO;
  return NULL;
}

static void *rearmer(void *arg)
{
  (void)arg;
  for (int i = 0; atomic_load(&rearming); i++)
    failpoint_arm(i % 2 ? "r.other=enospc,r.more=short" : "");
  return NULL;
}

/* Hits from several threads while the runtime set is re-armed all along:
 * every hit is counted once and the point fires exactly K times. */
static void threads(void **state)
{
  (void)state;
  setenv("VMRP_FAILPOINTS", "t.mt=eio@1000x300", 1);
  CHECK(failpoint_init() == 0, "t.mt armed from the environment");
  pthread_t t[THREADS], r;
  int failed[THREADS] = {0};
  atomic_store(&rearming, 1);
  pthread_create(&r, NULL, rearmer, NULL);
  for (int i = 0; i < THREADS; i++)
    pthread_create(&t[i], NULL, hitter, &failed[i]);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  atomic_store(&rearming, 0);
  pthread_join(r, NULL);
  int total = 0;
  for (int i = 0; i < THREADS; i++)
    total += failed[i];
  struct seen s = seen("t.mt");
  CHECK(total == 300 && s.fired == 300 && s.hits == THREADS * CALLS,
        "%d threads x %d calls: %d failed, %lld fired, %lld hits", THREADS, CALLS, total, s.fired, s.hits);
  unsetenv("VMRP_FAILPOINTS");
  failpoint_init();
  failpoint_arm("");
}

static void fsutil_sites(void **state)
{
  (void)state;
  char dir[] = "/tmp/unit_failpoint_XXXXXX", path[64], other[80];
  CHECK(mkdtemp(dir) != NULL, "temporary directory");
  snprintf(path, sizeof path, "%s/f", dir);
  snprintf(other, sizeof other, "%s/g", dir);
  char data[1000];
  memset(data, 'x', sizeof data);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  CHECK(failpoint_arm("t.w=short,t.s=eio,t.r=enospc,t.u=eio") == 0, "armed");
  CHECK(write_full_at_fp("t.w", fd, data, sizeof data, 0) == -ENOSPC, "short: -ENOSPC");
  struct stat st;
  fstat(fd, &st);
  CHECK(st.st_size == 500, "short: exactly half the bytes reached the file (%lld)", (long long)st.st_size);
  CHECK(write_full_at_fp("t.none", fd, data, sizeof data, 0) == 0 && fstat(fd, &st) == 0 && st.st_size == 1000,
        "an unarmed site writes everything");
  CHECK(fsync_fp("t.s", fd) == -EIO && fdatasync_fp("t.s", fd) == -EIO && fsync_dir_fp("t.s", dir) == -EIO,
        "fsync, fdatasync and fsync_dir fail at their site");
  CHECK(fsync_fp(NULL, fd) == 0, "no site: plain fsync");
  CHECK(rename_fp("t.r", path, other) == -ENOSPC && access(path, F_OK) == 0, "a failed rename renames nothing");
  CHECK(unlink_fp("t.u", path) == -EIO && access(path, F_OK) == 0, "a failed unlink removes nothing");
  CHECK(failpoint_arm("t.a=short") == 0, "armed");
  CHECK(write_file_atomic_fp("t.a", path, "new", 3, 0600) == -ENOSPC, "an atomic replacement fails short");
  char tmp[80];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  CHECK(stat(path, &st) == 0 && st.st_size == 1000 && access(tmp, F_OK) != 0,
        "the old file is whole and no temporary file is left");
  close(fd);
  failpoint_arm("");
  unlink(path);
  rmdir(dir);
}

static void crash(void **state)
{
  (void)state;
  char dir[] = "/tmp/unit_failpoint_XXXXXX", path[64];
  CHECK(mkdtemp(dir) != NULL, "temporary directory");
  snprintf(path, sizeof path, "%s/f", dir);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    failpoint_arm("t.c=crash@2");
    write_full_at_fp("t.c", fd, "a", 1, 0);
    write_full_at_fp("t.c", fd, "b", 1, 1);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "crash@2 ends the process with SIGKILL");
  struct stat st;
  CHECK(stat(path, &st) == 0 && st.st_size == 1, "the first write happened, the second did not");
  unlink(path);
  rmdir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      UNIT_TEST(grammar), UNIT_TEST(actions),      UNIT_TEST(counting),
      UNIT_TEST(environment), UNIT_TEST(threads),      UNIT_TEST(fsutil_sites),
      UNIT_TEST(crash),
  };
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
