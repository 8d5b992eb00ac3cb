/*
 * master.c — the master key file and the keyring's lock.
 *
 * The master key is 32 bytes from OpenSSL's CSPRNG in a file of exactly
 * that size, mode 0600, in a 0700 directory.  A file other users may read
 * is refused (the key might have leaked: the operator must look, then chmod
 * or rotate), and so is one of another size (a truncated copy, the wrong
 * file).  The key is read only to unwrap or re-wrap the master-wrapped
 * domains, then cleansed: no struct keys keeps it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "keys/internal.h"

int keyring_path(const char *dir, const char *name, char *out)
{
  int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
  return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int keyring_lock(const char *dir)
{
  char path[PATH_MAX];
  int r = keyring_path(dir, KEYS_LOCK, path);
  if (r < 0)
    return r;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return errno == ENOENT ? -ENOKEY : -errno;
  while (flock(fd, LOCK_EX) < 0) {
    if (errno != EINTR) {
      r = -errno;
      close(fd);
      return r;
    }
  }
  return fd;
}

int master_read(const char *dir, const char *name, uint8_t key[KEYS_KEY_LEN])
{
  char path[PATH_MAX];
  int r = keyring_path(dir, name, path);
  if (r < 0)
    return r;
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return errno == ENOENT ? -ENOKEY : -errno;
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -errno;
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    log_error("keys", "the master key %s is open to other users (mode %04o); refusing it. Check who read it, "
              "then: chmod 600 %s (or rotate it: vmrpd keys rotate-master)",
              path, (unsigned)(st.st_mode & 07777), path);
    return -EPERM;
  }
  if (!S_ISREG(st.st_mode) || st.st_size != KEYS_KEY_LEN) {
    log_error("keys", "%s is not a master key (%lld bytes, a key is %d)", path, (long long)st.st_size,
              KEYS_KEY_LEN);
    return -EKEYREJECTED;
  }
  r = read_full_at(fd, key, KEYS_KEY_LEN, 0);
  if (r < 0)
    OPENSSL_cleanse(key, KEYS_KEY_LEN);
  return r;
}

int master_write(const char *dir, const char *name, const uint8_t key[KEYS_KEY_LEN])
{
  char path[PATH_MAX];
  int r = keyring_path(dir, name, path);
  return r < 0 ? r : write_file_atomic_fp("keys.master.write", path, key, KEYS_KEY_LEN, 0600);
}
