/*
 * pack_dir.c — the local directory back end of the pack store (pack_store.h).
 *
 *     DIR/config               the store's config (store.c), replaced atomically
 *     DIR/lock                 flock'd by the process that has the store open
 *                              (exclusive; shared by read-only opens)
 *     DIR/packs/NNNNNNNN.pack  a pack: one file, appended with pwrite
 *     DIR/packs/NNNNNNNN.idx   its index blob, replaced atomically
 *
 * A handle is the pack's file descriptor, opened once and shared by every
 * reader (pread needs no lock); the hints map onto the page cache:
 * posix_fadvise for reads ahead and for dropping a cold pack's pages,
 * sync_file_range for starting writeback of new appends so the fsync at a
 * sync finds little left to do.  Sync is fdatasync for DATA (the size change
 * of appends is part of the data), fsync for SEAL and after recovery.
 *
 * Creation writes and fsyncs the header, then fsyncs packs/, so a crash
 * leaves either no file or one shorter than its header, which holds nothing
 * (store.c invariant (4)); a failed creation removes its file.  Listing
 * drops what a crash can leave besides packs: an .idx whose pack GC removed
 * (it unlinks the .idx first, so only a crash between a failed rename and its
 * cleanup leaves one) and an .idx.tmp of an interrupted write_file_atomic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cas/pack_store.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

struct dir_store {
  struct cas_pack_store base;
  char *dir;
  char *packdir;
  int lock_fd;
  bool read_only;
};

struct dir_pack {
  struct pack_obj base;
  int fd;
};

static const struct pack_store_ops dir_ops;

static struct dir_store *ds(struct cas_pack_store *s) { return (struct dir_store *)s; }
static int dfd(struct pack_obj *h) { return ((struct dir_pack *)h)->fd; }

char *pack_path(const char *packdir, uint32_t id, const char *ext)
{
  char *p = NULL;
  if (asprintf(&p, "%s/%08x.%s", packdir, id, ext) < 0)
    return NULL;
  return p;
}

const char *pack_dir_path(const struct cas_pack_store *s) { return ((const struct dir_store *)s)->packdir; }

static int handle_new(int fd, struct pack_obj **out)
{
  struct dir_pack *h = malloc(sizeof *h);
  if (!h)
    return -ENOMEM;
  h->base.ops = &dir_ops;
  h->fd = fd;
  *out = &h->base;
  return 0;
}

static int dir_create(struct cas_pack_store *s, uint32_t id, const void *hdr, size_t len, struct pack_obj **out)
{
  const char *packdir = ds(s)->packdir;
  CLEANUP_FREE char *path = pack_path(packdir, id, "pack");
  if (!path)
    return -ENOMEM;
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return -errno;
  int r = write_full_at_fp("cas.pack.create", fd, hdr, len, 0);
  if (r == 0)
    r = fsync_fp("cas.pack.create", fd);
  if (r == 0)
    r = fsync_dir(packdir);
  if (r == 0)
    r = handle_new(fd, out);
  if (r < 0) {
    close(fd);
    unlink(path);
  }
  return r;
}

static int dir_open(struct cas_pack_store *s, uint32_t id, bool writable, struct pack_obj **out)
{
  CLEANUP_FREE char *path = pack_path(ds(s)->packdir, id, "pack");
  if (!path)
    return -ENOMEM;
  int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int r = handle_new(fd, out);
  if (r < 0)
    close(fd);
  return r;
}

static void dir_close(struct pack_obj *h)
{
  close(dfd(h));
  free(h);
}

static int dir_append(struct pack_obj *h, const struct iovec *iov, int n, uint64_t off)
{
  int r = 0;
  for (int i = 0; i < n && r == 0; off += iov[i].iov_len, i++)
    r = write_full_at_fp("cas.pack.write", dfd(h), iov[i].iov_base, iov[i].iov_len, (off_t)off);
  return r;
}

static int dir_sync(struct pack_obj *h, enum pack_sync how)
{
  switch (how) {
  case PACK_SYNC_DATA:
    return fdatasync_fp("cas.pack.fsync", dfd(h));
  case PACK_SYNC_SEAL:
    return fsync_fp("cas.pack.seal", dfd(h));
  case PACK_SYNC_RECOVERED:
    break;
  }
  return fsync(dfd(h)) < 0 ? -errno : 0;
}

static int dir_read(struct pack_obj *h, struct iovec *iov, int n, uint64_t off)
{
  return n == 1 ? read_full_at(dfd(h), iov[0].iov_base, iov[0].iov_len, (off_t)off)
                : preadv_full(dfd(h), iov, n, (off_t)off);
}

static void dir_hint(struct pack_obj *h, enum pack_hint what, uint64_t off, uint64_t len)
{
  switch (what) {
  case PACK_HINT_WILLNEED:
    posix_fadvise(dfd(h), (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
    break;
  case PACK_HINT_WRITEBACK:
    sync_file_range(dfd(h), (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
    break;
  case PACK_HINT_DONTNEED:
    posix_fadvise(dfd(h), (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
    break;
  }
}

static int dir_size(struct pack_obj *h, uint64_t *size)
{
  struct stat st;
  if (fstat(dfd(h), &st) < 0)
    return -errno;
  *size = (uint64_t)st.st_size;
  return 0;
}

static int dir_truncate(struct pack_obj *h, uint64_t size)
{
  return ftruncate(dfd(h), (off_t)size) < 0 ? -errno : 0;
}

static int dir_idx_put(struct cas_pack_store *s, uint32_t id, const void *buf, size_t len)
{
  CLEANUP_FREE char *path = pack_path(ds(s)->packdir, id, "idx");
  return path ? write_file_atomic_fp("cas.index.write", path, buf, len, 0644) : -ENOMEM;
}

static int dir_idx_get(struct cas_pack_store *s, uint32_t id, void **buf, size_t *len)
{
  CLEANUP_FREE char *path = pack_path(ds(s)->packdir, id, "idx");
  return path ? read_file(path, buf, len) : -ENOMEM;
}

static int dir_remove(struct cas_pack_store *s, uint32_t id)
{
  CLEANUP_FREE char *ip = pack_path(ds(s)->packdir, id, "idx");
  CLEANUP_FREE char *pp = pack_path(ds(s)->packdir, id, "pack");
  int r = (!ip || !pp) ? -ENOMEM : 0;
  if (!r && (r = unlink_fp("cas.gc.unlink", ip)) == -ENOENT)
    r = 0;
  if (!r)
    r = unlink_fp("cas.gc.unlink", pp);
  return r;
}

static int dir_sync_removals(struct cas_pack_store *s) { return fsync_dir_fp("cas.gc.fsync_dir", ds(s)->packdir); }

static int dir_conf_put(struct cas_pack_store *s, const void *buf, size_t len)
{
  CLEANUP_FREE char *path = NULL;
  if (asprintf(&path, "%s/config", ds(s)->dir) < 0)
    return -ENOMEM;
  return write_file_atomic_fp("cas.config.write", path, buf, len, 0644);
}

static int dir_conf_get(struct cas_pack_store *s, void **buf, size_t *len)
{
  CLEANUP_FREE char *path = NULL;
  if (asprintf(&path, "%s/config", ds(s)->dir) < 0)
    return -ENOMEM;
  return read_file(path, buf, len);
}

static int cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void remove_orphans(struct dir_store *d)
{
  DIR *dh = opendir(d->packdir);
  if (!dh)
    return;
  struct dirent *de;
  while ((de = readdir(dh))) {
    unsigned id;
    char ext[12];
    if (sscanf(de->d_name, "%8x.%11s", &id, ext) != 2)
      continue;
    bool orphan = strcmp(ext, "idx.tmp") == 0;
    if (strcmp(ext, "idx") == 0) {
      CLEANUP_FREE char *pp = pack_path(d->packdir, id, "pack");
      orphan = pp && access(pp, F_OK) != 0;
    }
    if (orphan)
      unlinkat(dirfd(dh), de->d_name, 0);
  }
  closedir(dh);
}

static int dir_list(struct cas_pack_store *s, uint32_t **ids_out, size_t *n_out)
{
  struct dir_store *d = ds(s);
  if (!d->read_only)
    remove_orphans(d);
  DIR *dh = opendir(d->packdir);
  if (!dh)
    return -errno;
  uint32_t *ids = NULL;
  size_t n = 0, cap = 0;
  int r = 0;
  struct dirent *de;
  while ((de = readdir(dh))) {
    unsigned id;
    char ext[8];
    if (sscanf(de->d_name, "%8x.%7s", &id, ext) != 2 || strcmp(ext, "pack") != 0)
      continue;
    if ((r = pack_ids_push(&ids, &n, &cap, id)) < 0)
      break;
  }
  closedir(dh);
  if (r < 0) {
    free(ids);
    return r;
  }
  if (n > 1)
    qsort(ids, n, sizeof *ids, cmp_u32);
  *ids_out = ids;
  *n_out = n;
  return 0;
}

static void dir_free(struct cas_pack_store *s)
{
  struct dir_store *d = ds(s);
  if (d->lock_fd >= 0)
    close(d->lock_fd);
  free(d->packdir);
  free(d->dir);
  free(d);
}

static const struct pack_store_ops dir_ops = {
    .create = dir_create,
    .open = dir_open,
    .close = dir_close,
    .append = dir_append,
    .sync = dir_sync,
    .read = dir_read,
    .hint = dir_hint,
    .size = dir_size,
    .truncate = dir_truncate,
    .idx_put = dir_idx_put,
    .idx_get = dir_idx_get,
    .remove = dir_remove,
    .sync_removals = dir_sync_removals,
    .conf_put = dir_conf_put,
    .conf_get = dir_conf_get,
    .list = dir_list,
    .free = dir_free,
};

int pack_dir_open(const char *dir, bool create, bool read_only, struct cas_pack_store **out)
{
  struct dir_store *d = calloc(1, sizeof *d);
  if (!d)
    return -ENOMEM;
  d->base.ops = &dir_ops;
  d->lock_fd = -1;
  d->read_only = read_only;
  int r = !(d->dir = strdup(dir)) || asprintf(&d->packdir, "%s/packs", dir) < 0 ? (d->packdir = NULL, -ENOMEM) : 0;
  if (r == 0 && create && !read_only && (r = mkdir_exist_ok(dir, 0755)) == 0)
    r = mkdir_exist_ok(d->packdir, 0755);
  CLEANUP_FREE char *lp = NULL;
  if (r == 0 && asprintf(&lp, "%s/lock", dir) < 0) {
    lp = NULL;
    r = -ENOMEM;
  }
  if (r == 0 && (d->lock_fd = open(lp, (read_only ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0644)) < 0)
    r = -errno;
  if (r == 0 && flock(d->lock_fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
    r = errno == EWOULDBLOCK ? -EBUSY : -errno;
  if (r < 0) {
    dir_free(&d->base);
    return r;
  }
  *out = &d->base;
  return 0;
}
