/*
 * rotate.c — master-key rotation, crash-safe at every step.
 *
 * Only the master key and the few domain files it wraps change; data never
 * does, so a rotation takes milliseconds whatever the store size, and
 * daemons running meanwhile go on with the sets they unwrapped at start.
 * Under the keyring's lock:
 *
 *   1. every master-wrapped domain is opened with the old key (a wrong key
 *      stops here, nothing written)
 *   2. the new key is written whole to master.key.new
 *   3. each such domain is sealed with the new key into domains/<id>.new
 *      (written whole, fsync'ed, directory fsync'ed)
 *   4. COMMIT: rename master.key.new → master.key, fsync the directory
 *   5. each domains/<id>.new is renamed over domains/<id>, directory fsync'ed
 *
 * Invariants, for a crash anywhere (tests/unit/test_keys.c rotate_crash
 * crashes at each numbered point with the failpoint keys.rotate.crash=N)
 * and a failed write (rotate makes keys.master.write, keys.domain.write and
 * keys.rotate.commit fail: the rotation fails, (1)'s state stays):
 *   (1) master.key.new exists  ⇔  the rotation did not commit: master.key
 *       and every domains/<id> are the old, consistent state; recovery
 *       deletes the .new files (the domains first, then the key, so a crash
 *       during recovery leaves the same state).
 *   (2) no master.key.new but domains/<id>.new files  ⇔  it committed:
 *       master.key is new and every .new file was durable before the commit;
 *       recovery renames them over the old files.
 *   (3) recovery changes nothing unless master.key opens the state it keeps
 *       (-EKEYREJECTED otherwise: a wrong key copied in is reported, and
 *       the .new files that might be needed are not deleted).
 *   (4) *.tmp files are never part of a state: half-written temps, removed.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "keys/internal.h"

/* Test crash points: the failpoint keys.rotate.crash=N ends the process
 * (as kill -9 would) at point N. */
static void crash_point(int n)
{
  if (failpoint_value("keys.rotate.crash", 0) == n)
    _exit(137);
}

static void remove_temps(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    char path[PATH_MAX];
    if (n > 4 && !strcmp(e->d_name + n - 4, ".tmp") && keyring_path(dir, e->d_name, path) == 0)
      unlink(path);
  }
  closedir(d);
}

/* The master-wrapped domains among the files ids (with suffix), opened with
 * master into sets (NULL: only verified); their count in *n. */
static int open_by_master(const char *dir, const uint8_t master[KEYS_KEY_LEN], const char *suffix,
                          uint8_t (*ids)[KEYS_ID_LEN], size_t count, struct keys_set *sets, size_t *n)
{
  char path[PATH_MAX];
  struct domain_file d;
  struct keys_set set;
  int r = 0;
  *n = 0;
  for (size_t i = 0; i < count && r == 0; i++) {
    if ((r = domain_path(dir, ids[i], suffix, path)) < 0 || (r = domain_read(path, &d)) < 0 || !domain_by_master(&d))
      continue;
    if ((r = domain_open_master(master, &d, &set)) < 0)
      log_error("keys", "the master key in %s does not open %s", dir, path);
    else if (sets)
      sets[(*n)++] = set;
    else
      (*n)++;
  }
  OPENSSL_cleanse(&set, sizeof set);
  return r;
}

/* Deletes the .new files of an uncommitted rotation (invariant 1). */
static int roll_back(const char *dir, uint8_t (*ids)[KEYS_ID_LEN], size_t n)
{
  char path[PATH_MAX];
  int r = 0;
  for (size_t i = 0; i < n && r == 0; i++)
    if ((r = domain_path(dir, ids[i], ".new", path)) == 0 && unlink(path) < 0 && errno != ENOENT)
      r = -errno;
  if (r == 0 && (r = keyring_path(dir, KEYS_DOMAINS, path)) == 0)
    r = fsync_dir(path);
  if (r == 0 && (r = keyring_path(dir, KEYS_MASTER_NEW, path)) == 0 && unlink(path) < 0 && errno != ENOENT)
    r = -errno;
  return r < 0 ? r : fsync_dir(dir);
}

/* Renames the .new files of a committed rotation over the old (invariant 2). */
static int roll_forward(const char *dir, uint8_t (*ids)[KEYS_ID_LEN], size_t n, int crash_after_first)
{
  char from[PATH_MAX], to[PATH_MAX];
  int r = 0;
  for (size_t i = 0; i < n && r == 0; i++) {
    if ((r = domain_path(dir, ids[i], ".new", from)) < 0 || (r = domain_path(dir, ids[i], "", to)) < 0)
      break;
    if (rename(from, to) < 0)
      r = -errno;
    if (i == 0 && crash_after_first)
      crash_point(crash_after_first);
  }
  if (r == 0 && (r = keyring_path(dir, KEYS_DOMAINS, from)) == 0)
    r = fsync_dir(from);
  return r;
}

int rotate_recover(const char *dir)
{
  char path[PATH_MAX];
  uint8_t master[KEYS_KEY_LEN];
  uint8_t(*ids)[KEYS_ID_LEN] = NULL, (*news)[KEYS_ID_LEN] = NULL;
  size_t nids = 0, nnews = 0, n = 0;
  struct stat st;
  int r;
  remove_temps(dir);
  if ((r = keyring_path(dir, KEYS_DOMAINS, path)) < 0)
    return r;
  remove_temps(path);
  if ((r = domain_list(dir, ".new", &news, &nnews)) < 0 || (r = keyring_path(dir, KEYS_MASTER_NEW, path)) < 0)
    goto out;
  bool committed = lstat(path, &st) < 0;
  if (committed && nnews == 0)
    goto out; /* nothing interrupted */
  if ((r = master_read(dir, KEYS_MASTER, master)) < 0)
    goto out;
  if (committed) {
    r = open_by_master(dir, master, ".new", news, nnews, NULL, &n);
    if (r == 0 && (r = roll_forward(dir, news, nnews, 0)) == 0)
      log_warn("keys", "%s: finished the master-key rotation a crash interrupted (%zu domains)", dir, n);
  } else {
    r = domain_list(dir, "", &ids, &nids);
    if (r == 0)
      r = open_by_master(dir, master, "", ids, nids, NULL, &n);
    if (r == 0 && (r = roll_back(dir, news, nnews)) == 0)
      log_warn("keys", "%s: undid the master-key rotation a crash interrupted before its commit", dir);
  }
out:
  OPENSSL_cleanse(master, sizeof master);
  free(ids);
  free(news);
  return r;
}

int keys_rotate_master(const struct keys_config *cfg)
{
  const char *dir = cfg->dir;
  char path[PATH_MAX], to[PATH_MAX];
  uint8_t old[KEYS_KEY_LEN], fresh[KEYS_KEY_LEN];
  uint8_t(*ids)[KEYS_ID_LEN] = NULL;
  struct keys_set *sets = NULL;
  struct domain_file d;
  size_t nids = 0, n = 0;
  bool committed = false;
  int lock = keyring_lock(dir), r = lock;
  if (r < 0 || (r = rotate_recover(dir)) < 0 || (r = master_read(dir, KEYS_MASTER, old)) < 0 ||
      (r = domain_list(dir, "", &ids, &nids)) < 0)
    goto out;
  if (!(sets = calloc(nids ? nids : 1, sizeof *sets))) {
    r = -ENOMEM;
    goto out;
  }
  if ((r = open_by_master(dir, old, "", ids, nids, sets, &n)) < 0)     /* step 1 */
    goto out;
  if (RAND_bytes(fresh, sizeof fresh) != 1) {
    r = -EIO;
    goto out;
  }
  crash_point(1);
  if ((r = master_write(dir, KEYS_MASTER_NEW, fresh)) < 0)             /* step 2 */
    goto undo;
  crash_point(2);
  for (size_t i = 0; i < n; i++) {                                     /* step 3 */
    if ((r = domain_seal_master(fresh, &sets[i], &d)) < 0 || (r = domain_path(dir, sets[i].id, ".new", path)) < 0 ||
        (r = domain_write(path, &d)) < 0)
      goto undo;
    if (i == 0)
      crash_point(3);
  }
  crash_point(4);
  if ((r = keyring_path(dir, KEYS_MASTER_NEW, path)) < 0 || (r = keyring_path(dir, KEYS_MASTER, to)) < 0)
    goto undo;
  if ((r = rename_fp("keys.rotate.commit", path, to)) < 0) /* step 4: commit */
    goto undo;
  committed = true;
  if ((r = fsync_dir(dir)) < 0)
    goto out;
  crash_point(5);
  for (size_t i = 0; i < n; i++)
    memcpy(ids[i], sets[i].id, KEYS_ID_LEN);
  if ((r = roll_forward(dir, ids, n, 6)) < 0)                          /* step 5 */
    goto out;
  crash_point(7);
  log_info("keys", "%s: master key rotated (%zu domains re-wrapped)", dir, n);
  goto out;
undo:
  for (size_t i = 0; i < n; i++)
    memcpy(ids[i], sets[i].id, KEYS_ID_LEN);
  roll_back(dir, ids, n);
out:
  if (r < 0)
    log_error("keys", "%s: master-key rotation failed%s: %s", dir,
              committed ? " after its commit (the next open finishes it)" : ", nothing changed", strerror(-r));
  OPENSSL_cleanse(old, sizeof old);
  OPENSSL_cleanse(fresh, sizeof fresh);
  if (sets)
    OPENSSL_cleanse(sets, (nids ? nids : 1) * sizeof *sets);
  free(sets);
  free(ids);
  if (lock >= 0)
    close(lock);
  return r;
}
