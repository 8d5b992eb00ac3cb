/*
 * vol.c — a live volume's I/O: see vol.h.
 *
 * Durability invariants (checked by tests/vol and the NBD crash test; the
 * failpoints that make their I/O fail, docs/reliability.md, in brackets):
 *  (1) vol_flush returns only after fdatasync of the file: every write
 *      completed before the flush, on any connection, is durable.
 *      [vol.data.flush: vol_io test_write_failures; reliability/failpoints.sh]
 *  (2) A write with VOL_FUA returns only after its data is durable.
 *      [vol.data.write, vol.data.flush: vol_io test_write_failures]
 *  (3) vol_create makes the new file and its directory entry durable before
 *      returning, so a disk that was reported created exists after a crash;
 *      one that failed leaves no file.  [vol.create: vol_io test_create_failure]
 *  (4) Every byte-changing operation (write, trim, zero) sets the CBT bit of
 *      each chunk it touches, in the bitmap of the epoch it entered in,
 *      before it changes anything, so a write that fails halfway is tracked.
 *      [vol.data.write short: vol_io test_write_failures]
 * A change-tracking bitmap is trusted at open only after a clean close
 * saved it; a save that fails fails vol_close [vol.cbt.write: vol_io
 * test_cbt_save_failure].
 * A lazy volume (hydrate.c) adds its own invariants; the paths here test
 * v->lazy once and otherwise never touch the hydration state.
 * Trims are advisory: a file system that cannot punch holes turns them into
 * no-ops (the data stays; reads of trimmed ranges are not promised zero).
 * Zeroes are mandatory: when holes cannot be punched, zeros are written.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/failpoint.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "vol/internal.h"

static uint64_t nchunks_for(uint64_t size, uint32_t chunk) { return (size + chunk - 1) / chunk; }

int vol_create(const char *path, uint64_t size)
{
  if (size == 0 || size % 512)
    return -EINVAL;
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  int r = failpoint_err("vol.create");
  if (r == 0 && (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0))
    r = -errno;
  close(fd);
  if (r == 0)
    r = fsync_parent_dir(path);
  if (r < 0)
    unlink(path);
  return r;
}

int fsync_parent_dir(const char *path)
{
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  return fsync_dir(slash ? dir : ".");
}

int vol_open(const char *path, const char *cbt_path, uint32_t chunk_size, bool cbt_trusted, bool readonly,
             struct volume **out)
{
  if (chunk_size < 4096 || (chunk_size & (chunk_size - 1)))
    return -EINVAL;
  struct volume *v = calloc(1, sizeof *v);
  if (!v)
    return -ENOMEM;
  v->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (v->fd < 0) {
    int r = -errno;
    free(v);
    return r;
  }
  struct stat st;
  fstat(v->fd, &st);
  atomic_init(&v->size, (uint64_t)st.st_size);
  v->path = strdup(path);
  v->cbt_path = cbt_path ? strdup(cbt_path) : NULL;
  v->readonly = readonly;
  v->chunk_size = chunk_size;
  pthread_mutex_init(&v->gate, NULL);
  pthread_cond_init(&v->gate_cv, NULL);
  int r = cbt_init(&v->cbt, nchunks_for((uint64_t)st.st_size, chunk_size), cbt_path, cbt_trusted);
  if (r < 0 || !v->path) {
    vol_close(v);
    return r < 0 ? r : -ENOMEM;
  }
  *out = v;
  return 0;
}

int vol_close(struct volume *v)
{
  if (!v)
    return 0;
  int r = 0;
  if (!v->readonly && fdatasync(v->fd) < 0)
    r = -errno;
  /* A capture still open was not committed: its chunks stay dirty. */
  if (v->capture)
    vol_capture_end(v->capture, false);
  int hr = hy_close(v);
  if (r == 0)
    r = hr;
  if (r == 0 && v->cbt_path && !v->readonly && v->cbt.trusted)
    r = cbt_save(&v->cbt, v->cbt_path);
  close(v->fd);
  vc_close(v);
  cbt_free(&v->cbt);
  pthread_mutex_destroy(&v->gate);
  pthread_cond_destroy(&v->gate_cv);
  free(v->path);
  free(v->cbt_path);
  free(v);
  return r;
}

uint64_t vol_size(const struct volume *v) { return atomic_load(&v->size); }
bool vol_readonly(const struct volume *v) { return v->readonly; }
uint64_t vol_allocated(const struct volume *v)
{
  struct stat st;
  return fstat(v->fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}
uint32_t vol_chunk_size(const struct volume *v) { return v->chunk_size; }
bool vol_cbt_trusted(const struct volume *v) { return v->cbt.trusted; }
bool vol_cbt_dirty(const struct volume *v, uint64_t idx) { return cbt_test(&v->cbt, idx); }

static int check_range(struct volume *v, uint64_t off, uint64_t len)
{
  uint64_t size = vol_size(v);
  return off > size || len > size - off ? -EINVAL : 0;
}

/* What every read does first: the range check, and hydration of the range
 * of a lazy volume. */
static int before_read(struct volume *v, uint64_t off, uint64_t len)
{
  int r = check_range(v, off, len);
  if (r == 0 && __builtin_expect(atomic_load_explicit(&v->lazy, memory_order_acquire), 0))
    r = hy_ensure_range(v, off, len);
  return r;
}

int vol_read_fd(struct volume *v, uint64_t off, uint64_t len)
{
  if (v->cr)
    return -EOPNOTSUPP; /* the file holds ciphertext: the caller reads with vol_pread */
  int r = before_read(v, off, len);
  return r < 0 ? r : v->fd;
}

int vol_pread(struct volume *v, void *buf, size_t len, uint64_t off)
{
  int r = before_read(v, off, len);
  if (r < 0)
    return r;
  return v->cr ? vc_pread(v, buf, len, off) : read_full_at(v->fd, buf, len, (off_t)off);
}

int vol_pread_nowait(struct volume *v, void *buf, size_t len, uint64_t off)
{
  if (atomic_load_explicit(&v->lazy, memory_order_acquire) || atomic_load_explicit(&v->no_nowait, memory_order_relaxed))
    return -EAGAIN;
  int r = check_range(v, off, len);
  if (r < 0)
    return r;
  if (v->cr)
    return vc_pread_nowait(v, buf, len, off);
  struct iovec iov = {buf, len};
  ssize_t n = preadv2(v->fd, &iov, 1, (off_t)off, RWF_NOWAIT);
  if (n == (ssize_t)len)
    return 0;
  if (n < 0 && errno == EOPNOTSUPP)
    atomic_store_explicit(&v->no_nowait, true, memory_order_relaxed); /* never again on this file */
  return -EAGAIN; /* short (part not cached), would block, or not supported */
}

/* The body of every byte-changing request: gate, CBT, copy-before-write,
 * the change itself, FUA. */
typedef int (*change_fn)(struct volume *v, const void *buf, uint64_t off, uint64_t len, unsigned flags);

static int change(struct volume *v, change_fn fn, const void *buf, uint64_t off, uint64_t len, unsigned flags)
{
  if (v->readonly)
    return -EROFS;
  int r = check_range(v, off, len);
  if (r < 0 || len == 0)
    return r;
  struct vol_capture *cbw;
  uint64_t first = off / v->chunk_size, last = (off + len - 1) / v->chunk_size;
  int slot = gate_enter(v, first, last, &cbw);
  if (cbw)
    r = cbw_before_write(v, cbw, first, last);
  bool lazy = __builtin_expect(atomic_load_explicit(&v->lazy, memory_order_acquire), 0);
  struct hy_claim claim;
  if (lazy) {
    int hr = hy_change_begin(v, off, len, &claim);
    if (r == 0)
      r = hr;
  }
  if (r == 0)
    r = fn(v, buf, off, len, flags);
  if (lazy)
    hy_change_end(v, &claim, r);
  gate_exit(v, slot);
  if (r == 0 && (flags & VOL_FUA))
    r = lazy ? hy_flush(v) : fdatasync_fp("vol.data.flush", v->fd);
  return r;
}

/* The failpoint vol.data.write: a short write lands the first half. */
static int do_write(struct volume *v, const void *buf, uint64_t off, uint64_t len, unsigned flags)
{
  (void)flags;
  int fp = failpoint_io("vol.data.write");
  uint64_t n = fp == FAILPOINT_SHORT ? len / 2 : len;
  int r = fp < 0 ? fp : v->cr ? vc_pwrite(v, buf, n, off, 0) : write_full_at(v->fd, buf, n, (off_t)off);
  return r == 0 && fp == FAILPOINT_SHORT ? -ENOSPC : r;
}

int write_zeros_at(int fd, uint64_t off, uint64_t len)
{
  static const char zeros[65536];
  while (len > 0) {
    size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;
    int r = write_full_at(fd, zeros, n, (off_t)off);
    if (r < 0)
      return r;
    off += n;
    len -= n;
  }
  return 0;
}

int file_trim(struct volume *v, uint64_t off, uint64_t len)
{
  if (fallocate(v->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0 &&
      errno != EOPNOTSUPP)
    return -errno;
  return 0; /* advisory: unsupported hole punching leaves the data */
}

int file_zero(struct volume *v, uint64_t off, uint64_t len, unsigned flags)
{
  int mode = (flags & VOL_NO_HOLE) ? FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE
                                   : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
  if (fallocate(v->fd, mode, (off_t)off, (off_t)len) == 0)
    return 0;
  if (errno != EOPNOTSUPP)
    return -errno;
  return (flags & VOL_FAST) ? -ENOTSUP : write_zeros_at(v->fd, off, len); /* zeros read as zeros encrypted too */
}

static int do_trim(struct volume *v, const void *buf, uint64_t off, uint64_t len, unsigned flags)
{
  (void)buf;
  (void)flags;
  return v->cr ? vc_zero(v, off, len, flags, true) : file_trim(v, off, len);
}

static int do_zero(struct volume *v, const void *buf, uint64_t off, uint64_t len, unsigned flags)
{
  (void)buf;
  return v->cr ? vc_zero(v, off, len, flags, false) : file_zero(v, off, len, flags);
}

/* Reads exactly len bytes from a pipe that holds them. */
static int read_pipe(int pipefd, uint8_t *b, size_t len)
{
  while (len > 0) {
    ssize_t n = read(pipefd, b, len);
    if (n == 0)
      return -EIO; /* the caller put fewer bytes in the pipe than it said */
    if (n < 0 && errno != EINTR)
      return -errno;
    if (n > 0) {
      b += n;
      len -= (size_t)n;
    }
  }
  return 0;
}

/* The rest of a pipe's payload through a bounce buffer: for a file system
 * that cannot splice into files (EINVAL), so the write still lands, and for
 * an encrypted volume (the bytes are encrypted in the buffer; its pieces end
 * on sector boundaries, so that only the request's edges are
 * read-modify-written). */
static int write_pipe_copy(struct volume *v, int pipefd, uint64_t off, uint64_t len)
{
  enum { BOUNCE = 64 * 1024 };
  CLEANUP_FREE uint8_t *own = v->cr ? NULL : malloc(BOUNCE);
  uint8_t *b = v->cr ? vc_bounce() : own;
  size_t cap = v->cr ? vc_bounce_len() : BOUNCE;
  if (!b)
    return -ENOMEM;
  while (len > 0) {
    size_t n = cap - (size_t)(off % VOL_CRYPT_SECTOR);
    if (n > len)
      n = (size_t)len;
    int r = read_pipe(pipefd, b, n);
    if (r == 0)
      r = v->cr ? vc_pwrite(v, b, n, off, VC_OWNED) : write_full_at(v->fd, b, n, (off_t)off);
    if (r < 0)
      return r;
    off += n;
    len -= n;
  }
  return 0;
}

/* buf points at the pipe's descriptor: the bytes are all in the pipe, so
 * splice only waits for the file. */
static int do_write_pipe(struct volume *v, const void *buf, uint64_t off, uint64_t len, unsigned flags)
{
  (void)flags;
  int pipefd = *(const int *)buf;
  int fp = failpoint_io("vol.data.write"); /* as do_write's */
  if (fp == FAILPOINT_SHORT)
    return (fp = write_pipe_copy(v, pipefd, off, len / 2)) < 0 ? fp : -ENOSPC;
  if (fp < 0)
    return fp;
  if (v->cr)
    return write_pipe_copy(v, pipefd, off, len);
  loff_t o = (loff_t)off;
  while (len > 0) {
    ssize_t n = splice(pipefd, NULL, v->fd, &o, len, 0);
    if (n > 0)
      len -= (uint64_t)n;
    else if (n == 0)
      return -EIO; /* the caller put fewer bytes in the pipe than it said */
    else if (errno == EINVAL)
      return write_pipe_copy(v, pipefd, (uint64_t)o, len);
    else if (errno != EINTR)
      return -errno;
  }
  return 0;
}

int vol_pwrite(struct volume *v, const void *buf, size_t len, uint64_t off, unsigned flags)
{
  return change(v, do_write, buf, off, len, flags);
}

int vol_pwrite_pipe(struct volume *v, int pipefd, size_t len, uint64_t off, unsigned flags)
{
  return change(v, do_write_pipe, &pipefd, off, len, flags);
}

int vol_trim(struct volume *v, uint64_t off, uint64_t len, unsigned flags)
{
  return change(v, do_trim, NULL, off, len, flags);
}

int vol_zero(struct volume *v, uint64_t off, uint64_t len, unsigned flags)
{
  return change(v, do_zero, NULL, off, len, flags);
}

int vol_flush(struct volume *v)
{
  if (__builtin_expect(atomic_load_explicit(&v->lazy, memory_order_acquire), 0))
    return hy_flush(v);
  return v->readonly ? 0 : fdatasync_fp("vol.data.flush", v->fd);
}

int vol_extents(struct volume *v, uint64_t off, uint64_t len, vol_extent_cb cb, void *ctx)
{
  uint64_t size = vol_size(v);
  if (off >= size)
    return off == size ? 0 : -EINVAL;
  uint64_t end = len > size - off ? size : off + len;
  if (__builtin_expect(atomic_load_explicit(&v->lazy, memory_order_acquire), 0))
    return hy_extents(v, off, end, cb, ctx);
  return file_extents(v, off, end, cb, ctx);
}

int file_extents(struct volume *v, uint64_t off, uint64_t end, vol_extent_cb cb, void *ctx)
{
  uint64_t size = vol_size(v);
  while (off < end) {
    off_t data = lseek(v->fd, (off_t)off, SEEK_DATA);
    if (data < 0 && errno != ENXIO)
      return -errno;
    uint64_t data_at = data < 0 ? size : (uint64_t)data;
    if (data_at > off) { /* a hole up to data_at */
      uint64_t n = (data_at < end ? data_at : end) - off;
      int r = cb(ctx, off, n, true);
      if (r)
        return r;
      off += n;
      continue;
    }
    off_t hole = lseek(v->fd, (off_t)off, SEEK_HOLE);
    if (hole < 0)
      return -errno;
    uint64_t n = ((uint64_t)hole < end ? (uint64_t)hole : end) - off;
    int r = cb(ctx, off, n, false);
    if (r)
      return r;
    off += n;
  }
  return 0;
}

int vol_grow(struct volume *v, uint64_t new_size)
{
  if (v->readonly)
    return -EROFS;
  if (new_size < vol_size(v) || new_size % 512)
    return -EINVAL;
  if (v->cr && vol_size(v) % VOL_CRYPT_SECTOR && new_size != vol_size(v))
    return -EOPNOTSUPP; /* the last sector's XTS unit would change length (crypt.c) */
  gate_close(v);
  int r = v->capture ? -EBUSY : 0;
  if (r == 0 && (ftruncate(v->fd, (off_t)new_size) < 0 || fsync(v->fd) < 0))
    r = -errno;
  uint64_t old_last = vol_size(v) ? (vol_size(v) - 1) / v->chunk_size : 0;
  if (r == 0)
    r = cbt_resize(&v->cbt, nchunks_for(new_size, v->chunk_size));
  if (r == 0) {
    /* The old last chunk and the new ones read differently now (zeros where
     * there was end of disk): they belong to the next capture. */
    cbt_mark(&v->cbt, old_last, nchunks_for(new_size, v->chunk_size) - 1);
    atomic_store(&v->size, new_size);
  }
  gate_open(v);
  return r;
}
