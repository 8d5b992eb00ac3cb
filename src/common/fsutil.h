/*
 * fsutil.h — small POSIX file helpers used by every durable component.
 *
 * All functions return 0 or -errno and are thread-safe (no shared state).
 *
 * The *_fp variants are the same calls at a named failpoint site
 * (failpoint.h): an armed site fails them with -EIO / -ENOSPC before the
 * call, `short` writes half the bytes and fails -ENOSPC (anything but a
 * write just fails -ENOSPC), `crash` dies before the call.  Durable I/O goes
 * through them so that every such site can be made to fail by name.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Writes all len bytes at off, retrying short writes and EINTR. */
int write_full_at(int fd, const void *buf, size_t len, off_t off);
/* Reads exactly len bytes at off; -EIO if the file ends first. */
int read_full_at(int fd, void *buf, size_t len, off_t off);
/* Reads exactly the iovecs' bytes at off, retrying short reads and EINTR
 * (iov is advanced in place); -EIO if the file ends first. */
int preadv_full(int fd, struct iovec *iov, int iovcnt, off_t off);
/* fsync(2) on a directory, so renames and unlinks inside it are durable. */
int fsync_dir(const char *dir);
/* Atomically replaces path with data: write path.tmp → fsync → rename → fsync dir. */
int write_file_atomic(const char *path, const void *data, size_t len);
/* The same, the file created with mode less the umask (0600 for secrets). */
int write_file_atomic_mode(const char *path, const void *data, size_t len, mode_t mode);
/* The same at failpoint site (site NULL: none). */
int write_full_at_fp(const char *site, int fd, const void *buf, size_t len, off_t off);
int fsync_fp(const char *site, int fd);
int fdatasync_fp(const char *site, int fd);
int rename_fp(const char *site, const char *from, const char *to);
int unlink_fp(const char *site, const char *path);
int fsync_dir_fp(const char *site, const char *dir);
/* write_file_atomic_mode at site: the failpoint stands for the whole
 * replacement (a short write leaves the old file and no temp behind). */
int write_file_atomic_fp(const char *site, const char *path, const void *data, size_t len, mode_t mode);
/* Reads a whole file into a malloc'd buffer (caller frees *out). */
int read_file(const char *path, void **out, size_t *len_out);
/* mkdir that treats an existing directory as success. */
int mkdir_exist_ok(const char *path, mode_t mode);
