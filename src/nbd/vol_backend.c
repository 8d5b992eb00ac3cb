/*
 * vol_backend.c — struct nbd_backend_ops for a live volume (src/vol).
 *
 * A thin mapping: vol_pread/vol_pread_nowait/vol_read_fd/vol_pwrite/vol_pwrite_pipe/
 * vol_trim/vol_zero/vol_flush/vol_extents/vol_size/vol_readonly.  FUA and NO_HOLE pass through as
 * VOL_FUA/VOL_NO_HOLE.  Multi-conn is safe: every connection writes the same
 * file descriptor, so one fdatasync makes every completed write durable.
 * FAST_ZERO becomes VOL_FAST: hole punching and FALLOC_FL_ZERO_RANGE are
 * metadata operations and run; where the file system has neither, vol
 * answers -ENOTSUP rather than writing zeros, as the protocol asks.
 * An encrypted volume's file holds ciphertext: vol_read_fd answers
 * -EOPNOTSUPP, and the server then reads with vol_pread (transmission.c
 * read_into_pipe); its WRITE payloads still arrive in a pipe and are
 * encrypted on their way to the file.
 */
#include "nbd/nbd.h"
#include "vol/vol.h"

static uint64_t vb_size(void *h) { return vol_size(h); }
static bool vb_readonly(void *h) { return vol_readonly(h); }
static int vb_pread(void *h, void *buf, size_t len, uint64_t off) { return vol_pread(h, buf, len, off); }
static int vb_pread_nowait(void *h, void *buf, size_t len, uint64_t off) { return vol_pread_nowait(h, buf, len, off); }
static int vb_read_fd(void *h, uint64_t off, size_t len) { return vol_read_fd(h, off, len); }

static unsigned vol_flags(unsigned f)
{
  return ((f & NBD_BACKEND_FUA) ? VOL_FUA : 0) | ((f & NBD_BACKEND_NO_HOLE) ? VOL_NO_HOLE : 0) |
         ((f & NBD_BACKEND_FAST_ZERO) ? VOL_FAST : 0);
}

static int vb_pwrite(void *h, const void *buf, size_t len, uint64_t off, unsigned f)
{
  return vol_pwrite(h, buf, len, off, vol_flags(f));
}

static int vb_pwrite_pipe(void *h, int pipefd, size_t len, uint64_t off, unsigned f)
{
  return vol_pwrite_pipe(h, pipefd, len, off, vol_flags(f));
}

static int vb_flush(void *h) { return vol_flush(h); }
static int vb_trim(void *h, uint64_t off, uint64_t len, unsigned f) { return vol_trim(h, off, len, vol_flags(f)); }
static int vb_zero(void *h, uint64_t off, uint64_t len, unsigned f) { return vol_zero(h, off, len, vol_flags(f)); }

struct vb_extents {
  nbd_extent_fn cb;
  void *ctx;
};

static int vb_extent(void *ctx, uint64_t off, uint64_t len, bool hole)
{
  struct vb_extents *x = ctx;
  return x->cb(x->ctx, off, len, hole ? NBD_EXTENT_HOLE | NBD_EXTENT_ZERO : 0);
}

static int vb_extents(void *h, uint64_t off, uint64_t len, nbd_extent_fn cb, void *ctx)
{
  struct vb_extents x = {cb, ctx};
  return vol_extents(h, off, len, vb_extent, &x);
}

const struct nbd_backend_ops nbd_vol_ops = {
    .size = vb_size,
    .readonly = vb_readonly,
    .pread = vb_pread,
    .pwrite = vb_pwrite,
    .flush = vb_flush,
    .trim = vb_trim,
    .zero = vb_zero,
    .extents = vb_extents,
    .read_fd = vb_read_fd,
    .pread_nowait = vb_pread_nowait,
    .pwrite_pipe = vb_pwrite_pipe,
    .multi_conn = true,
};
