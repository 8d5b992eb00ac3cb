/*
 * fsutil.c — see fsutil.h.  write_file_atomic follows the textbook order
 * (temp file, fsync, rename, fsync of the directory) so a crash leaves either
 * the old or the new content, never a mix.
 */
#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/failpoint.h"

/* The failpoint's answer for a call that is not a write: short is -ENOSPC. */
static int fp_err(const char *site)
{
  return site ? failpoint_err(site) : 0;
}

int write_full_at(int fd, const void *buf, size_t len, off_t off)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t n = pwrite(fd, p, len, off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += n;
    len -= (size_t)n;
    off += n;
  }
  return 0;
}

int preadv_full(int fd, struct iovec *iov, int iovcnt, off_t off)
{
  for (;;) {
    while (iovcnt > 0 && iov->iov_len == 0) {
      iov++;
      iovcnt--;
    }
    if (iovcnt == 0)
      return 0;
    ssize_t n = preadv(fd, iov, iovcnt, off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (n == 0)
      return -EIO;
    off += n;
    for (; iovcnt > 0 && (size_t)n >= iov->iov_len; iov++, iovcnt--)
      n -= (ssize_t)iov->iov_len;
    if (iovcnt > 0) {
      iov->iov_base = (char *)iov->iov_base + n;
      iov->iov_len -= (size_t)n;
    }
  }
}

int read_full_at(int fd, void *buf, size_t len, off_t off)
{
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  return preadv_full(fd, &iov, 1, off);
}

int write_full_at_fp(const char *site, int fd, const void *buf, size_t len, off_t off)
{
  int r = site ? failpoint_io(site) : 0;
  if (r == FAILPOINT_SHORT) {
    r = write_full_at(fd, buf, len / 2, off);
    return r < 0 ? r : -ENOSPC;
  }
  return r < 0 ? r : write_full_at(fd, buf, len, off);
}

int fsync_fp(const char *site, int fd)
{
  int r = fp_err(site);
  return r < 0 ? r : fsync(fd) < 0 ? -errno : 0;
}

int fdatasync_fp(const char *site, int fd)
{
  int r = fp_err(site);
  return r < 0 ? r : fdatasync(fd) < 0 ? -errno : 0;
}

int rename_fp(const char *site, const char *from, const char *to)
{
  int r = fp_err(site);
  return r < 0 ? r : rename(from, to) < 0 ? -errno : 0;
}

int unlink_fp(const char *site, const char *path)
{
  int r = fp_err(site);
  return r < 0 ? r : unlink(path) < 0 ? -errno : 0;
}

int fsync_dir_fp(const char *site, const char *dir)
{
  int r = fp_err(site);
  return r < 0 ? r : fsync_dir(dir);
}

int fsync_dir(const char *dir)
{
  CLEANUP_CLOSE int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  return fsync(fd) < 0 ? -errno : 0;
}

int write_file_atomic(const char *path, const void *data, size_t len)
{
  return write_file_atomic_mode(path, data, len, 0644);
}

int write_file_atomic_mode(const char *path, const void *data, size_t len, mode_t mode)
{
  return write_file_atomic_fp(NULL, path, data, len, mode);
}

int write_file_atomic_fp(const char *site, const char *path, const void *data, size_t len, mode_t mode)
{
  CLEANUP_FREE char *dcopy = strdup(path);
  CLEANUP_FREE char *tmp = NULL;
  if (!dcopy || asprintf(&tmp, "%s.tmp", path) < 0)
    return -ENOMEM;
  int r;
  {
    unlink(tmp); /* a crash's leftover: created anew, so it gets mode (less the umask) */
    CLEANUP_CLOSE int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
      return -errno;
    r = write_full_at_fp(site, fd, data, len, 0);
    if (r == 0 && fsync(fd) < 0)
      r = -errno;
  }
  if (r == 0 && rename(tmp, path) < 0)
    r = -errno;
  if (r < 0) {
    unlink(tmp);
    return r;
  }
  return fsync_dir(dirname(dcopy));
}

int read_file(const char *path, void **out, size_t *len_out)
{
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -errno;
  CLEANUP_FREE char *buf = malloc((size_t)st.st_size + 1);
  if (!buf)
    return -ENOMEM;
  int r = read_full_at(fd, buf, (size_t)st.st_size, 0);
  if (r < 0)
    return r;
  buf[st.st_size] = 0;
  *len_out = (size_t)st.st_size;
  *out = STEAL_PTR(buf);
  return 0;
}

int mkdir_exist_ok(const char *path, mode_t mode)
{
  if (mkdir(path, mode) == 0)
    return 0;
  if (errno != EEXIST)
    return -errno;
  struct stat st;
  if (stat(path, &st) < 0)
    return -errno;
  return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
