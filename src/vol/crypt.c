/*
 * crypt.c — encryption at rest of a live volume: XTS-AES-256 per 4 KiB
 * sector (vol.h), and the in-place conversion of a plaintext volume.
 *
 * Why XTS: a volume is rewritten in place at any offset, so the cipher must
 * keep lengths and bind each sector to its position with no room for a nonce
 * or a tag: XTS, as dm-crypt and self-encrypting disks do.  It is not
 * authenticated — a changed ciphertext sector decrypts to garbage, undetected
 * (docs/encryption.md; restore points are protected by the chunk store's
 * AEAD).
 *
 * Sector s is [s*4096, min((s+1)*4096, size)): one XTS data unit under the
 * tweak s, little-endian (plain64, in 4 KiB units).  A size that is not a
 * multiple of 4096 leaves a shorter last unit (a multiple of 512, and XTS
 * takes any length from 16 bytes); growing such a volume would change that
 * unit's length, so vol_grow refuses (-EOPNOTSUPP; disk sizes are whole GiB).
 *
 * Zero rule: a sector whose bytes in the file are all zero reads as zeros,
 * and a sector written all zero is stored as zeros (its blocks punched), so
 * holes, trims and thin provisioning work as on a plaintext volume.  The file
 * thus shows which sectors are zero, and nothing else of their content.
 *
 * Per-thread contexts: a thread keeps an encrypting and a decrypting
 * EVP_CIPHER_CTX and two scratch buffers, made on its first use and freed
 * when it exits.  A context is re-keyed only when the thread moves to
 * another volume (each attach takes a new id, never reused), so an I/O
 * allocates nothing and sets only the tweak.
 *
 * Atomic sectors: each sector reads as its old or its new bytes, never a
 * mix, whatever runs at once — as a disk's logical block does.  The page
 * cache does not copy a 4 KiB page atomically, so without a lock a read
 * racing a write of a sector could see half old, half new ciphertext, which
 * decrypts to garbage, and a read-modify-write racing a whole-sector write
 * could write that garbage back.  So the volume's file is guarded by sector
 * locks: VC_STRIPES rwlocks, the one of group g (VC_GROUP bytes of sectors)
 * being g % VC_STRIPES, held only across the system calls — shared by reads
 * (pread, RWF_NOWAIT reads, which only try), exclusive by writes, hole
 * punches (zero, trim) and the read-modify-write of a write that covers part
 * of a sector (read, decrypt, patch, encrypt, write).  Encryption and
 * decryption of whole sectors run outside them, so the cost is a lock and an
 * unlock per VC_GROUP bytes (vol-bench: within its noise, docs/encryption.md);
 * a plaintext volume takes none.  They prefer writers, so that a stream of
 * reads of a group cannot starve its writes.  An I/O takes the stripes of the groups it covers in ascending index
 * order, and holds no other sector lock meanwhile: no deadlock.  Not locked,
 * as nothing else touches their bytes meanwhile: the conversion's own
 * reads and writes (its range is claimed: no access overlaps it), the
 * hydration writer's (hydrate.c invariant 2: nothing reads or writes a chunk
 * before its bit is set, which the writer does after writing it) and a
 * capture's side file (its chunks' I/O is under the capture's stripes,
 * fence.c).  Overlapping requests in flight together are otherwise ordered
 * only as the caller orders them (vol.h).
 *
 * Conversion.  The watermark W (bytes: a sector boundary, or the size): the
 * file's sectors below W are encrypted, the others still plaintext.  While a
 * volume converts, every access to its file registers its sector range
 * (vc_enter) and treats each sector by the W it saw; vol_crypt_step claims
 * [W, W+n) as busy, waits until no registered access overlaps it (accesses
 * that arrive and overlap wait for the step), converts it and moves W past
 * it.  So a sector's state never changes under an access, and accesses
 * elsewhere go on.  A step (at most VC_STEP bytes), crash-safe:
 *   1. the range's ciphertext (made from the file's plaintext) is journalled
 *      with lo, hi and a CRC32C in state_path (at JOURNAL_AT); fdatasync
 *   2. the ciphertext is written over the range (zero sectors punched: holes
 *      stay holes); fdatasync of the volume
 *   3. W = hi goes into the state's other slot (two slots with sequence
 *      numbers and CRCs: a torn slot write leaves the previous one); fdatasync
 * The journal holds ciphertext, never plaintext, and redoing it is a copy,
 * idempotent whatever step 2 had written before a crash.  On attach a valid
 * journal whose lo is the durable W is redone (2 and 3); any other is stale
 * or torn, and then the range was never touched.  A step that fails (an I/O
 * error) after its journal was durable keeps its range claimed — accesses to
 * it wait — until the next vol_crypt_step redoes the journal the same way.  A hole is not journalled:
 * it reads zeros in both states, so W jumps over it (3 alone).
 * Lock order: capture stripe → hydration stripes → conversion range (mu is
 * never held across I/O; an access registers before it locks sectors) →
 * sector locks (ascending; innermost: nothing is waited for while one is
 * held but a sector lock of a higher index).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crc32c.h"
#include "common/failpoint.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "vol/internal.h"

#define SECTOR VOL_CRYPT_SECTOR
#define VC_BUF (256u << 10)       /* per-thread scratch: ciphertext of a piece of a write */
#define VC_GROUP (64u << 10)      /* the bytes of sectors one sector lock guards */
#define VC_STRIPES 256            /* sector locks: group g's is g % VC_STRIPES */
#define VC_STEP (4u << 20)        /* what one conversion step journals at most */
#define SLOT_MAGIC "VMRPXTS1"
#define JOURNAL_MAGIC "VMRPXTJ1"
#define SLOT_SIZE 512             /* slots 0 and 1 at 0 and 512 */
#define JOURNAL_AT 4096           /* the journal's header; its data at JOURNAL_AT + 4096 */
#define VC_CRASH_EXIT 86          /* status of a test crash (failpoints vol.crypt.crash / fail) */

struct vc_lock {
  _Alignas(64) pthread_rwlock_t l; /* a cache line each: readers of different groups share none */
};

struct vcrypt {
  struct vc_lock locks[VC_STRIPES]; /* sector locks (design comment) */
  uint8_t key[VOL_KEY_LEN];
  uint64_t id; /* which key a thread's context holds */
  /* conversion */
  _Atomic bool converting;
  pthread_mutex_t mu;
  pthread_cond_t cv;          /* busy cleared, or a registered access gone */
  _Atomic uint64_t w;         /* the file is encrypted below; changed under mu */
  uint64_t busy_lo, busy_hi;  /* the range a step converts (mu; empty when equal) */
  struct vc_io *ios;          /* registered accesses (mu) */
  int sfd;                    /* the state file, or -1 */
  bool redo;                  /* a step failed after its journal was durable: its range stays claimed */
  uint64_t seq;               /* sequence number of the last slot written */
};

struct slot {
  char magic[8];
  uint64_t seq, w;
  uint32_t crc; /* CRC32C of the slot with crc = 0 */
  uint32_t pad;
};

struct jhdr {
  char magic[8];
  uint64_t lo, hi;
  uint32_t crc; /* CRC32C of the header with crc = 0, then of the data */
  uint32_t pad;
};

/* ---- per-thread cipher contexts -------------------------------------------- */

struct vc_thread {
  EVP_CIPHER_CTX *ctx[2]; /* [0] decrypts, [1] encrypts */
  uint64_t owner[2];      /* the vcrypt id whose key ctx[i] holds, 0: none */
  uint8_t *buf;           /* VC_BUF: ciphertext of writes, sectors being patched */
  uint8_t *bounce;        /* VC_BUF: vc_bounce */
};

static _Thread_local struct vc_thread *self;
static pthread_key_t self_key;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t next_id = 1;
static _Atomic int64_t points_seen;

static void thread_free(void *p)
{
  struct vc_thread *t = p;
  EVP_CIPHER_CTX_free(t->ctx[0]);
  EVP_CIPHER_CTX_free(t->ctx[1]);
  free(t->buf);
  free(t->bounce);
  free(t);
  self = NULL;
}

static void key_make(void) { pthread_key_create(&self_key, thread_free); }

static struct vc_thread *thread_get(void)
{
  if (self)
    return self;
  pthread_once(&self_once, key_make);
  struct vc_thread *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->ctx[0] = EVP_CIPHER_CTX_new();
  t->ctx[1] = EVP_CIPHER_CTX_new();
  t->buf = aligned_alloc(SECTOR, VC_BUF);
  if (!t->ctx[0] || !t->ctx[1] || !t->buf || pthread_setspecific(self_key, t) != 0) {
    thread_free(t);
    return NULL;
  }
  return self = t;
}

void *vc_bounce(void)
{
  struct vc_thread *t = thread_get();
  if (t && !t->bounce)
    t->bounce = aligned_alloc(SECTOR, VC_BUF);
  return t ? t->bounce : NULL;
}

size_t vc_bounce_len(void) { return VC_BUF; }

/* XTS of one sector's n bytes from in to out (may be the same), s its
 * number. */
static int xts(struct vc_thread *t, const struct vcrypt *cr, int enc, uint8_t *out, const uint8_t *in, size_t n,
               uint64_t s)
{
  uint8_t iv[16] = {0};
  for (int i = 0; i < 8; i++)
    iv[i] = (uint8_t)(s >> (8 * i));
  EVP_CIPHER_CTX *ctx = t->ctx[enc];
  int ok, outl = 0;
  if (t->owner[enc] != cr->id) {
    t->owner[enc] = 0;
    ok = EVP_CipherInit_ex(ctx, EVP_aes_256_xts(), NULL, cr->key, iv, enc);
    if (ok)
      t->owner[enc] = cr->id;
  } else {
    ok = EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc);
  }
  ok = ok && EVP_CipherUpdate(ctx, out, &outl, in, (int)n) && outl == (int)n;
  return ok ? 0 : -EIO;
}

/* ---- sectors ------------------------------------------------------------- */

/* The length of the sector starting at p (sector aligned, below size). */
static size_t unit(uint64_t size, uint64_t p) { return size - p < SECTOR ? (size_t)(size - p) : SECTOR; }

/* The end of the whole sectors of [p, end) from p (sector aligned). */
static uint64_t whole_end(uint64_t size, uint64_t end) { return end >= size ? size : end - end % SECTOR; }

/* buf holds the file's bytes of the whole sectors [off, off+n): decrypted in
 * place below wm; an all-zero sector stays zero. */
static int open_run(struct volume *v, struct vc_thread *t, uint8_t *buf, size_t n, uint64_t off, uint64_t wm)
{
  uint64_t size = vol_size(v);
  int r = 0;
  for (size_t o = 0; o < n && r == 0;) {
    size_t u = unit(size, off + o);
    if (off + o < wm && !bytes_zero(buf + o, u))
      r = xts(t, v->cr, 0, buf + o, buf + o, u, (off + o) / SECTOR);
    o += u;
  }
  return r;
}

/* The whole sectors in[0..n) at off, encrypted below wm into out (may be
 * in); an all-zero sector stays zero. */
static int seal_run(struct volume *v, struct vc_thread *t, const uint8_t *in, uint8_t *out, size_t n, uint64_t off,
                    uint64_t wm)
{
  uint64_t size = vol_size(v);
  int r = 0;
  for (size_t o = 0; o < n && r == 0;) {
    size_t u = unit(size, off + o);
    if (bytes_zero(in + o, u)) {
      if (out != in)
        memset(out + o, 0, u);
    } else if (off + o < wm) {
      r = xts(t, v->cr, 1, out + o, in + o, u, (off + o) / SECTOR);
    } else if (out != in) {
      memcpy(out + o, in + o, u);
    }
    o += u;
  }
  return r;
}

/* Writes the file's bytes buf[0..n) of whole sectors at off: the all-zero
 * sectors as holes in the volume's file (zeros in a side file, which must
 * reach its length, or where holes cannot be punched). */
static int store(struct volume *v, int fd, const uint8_t *buf, size_t n, uint64_t off, bool side)
{
  uint64_t size = vol_size(v);
  int r = 0;
  for (size_t o = 0; o < n && r == 0;) {
    size_t a = o;
    bool zero = bytes_zero(buf + o, unit(size, off + o));
    while (o < n && bytes_zero(buf + o, unit(size, off + o)) == zero)
      o += unit(size, off + o);
    if (!zero)
      r = write_full_at(fd, buf + a, o - a, (off_t)(off + a));
    else if (side)
      r = write_zeros_at(fd, off + a, o - a);
    else if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(off + a), (off_t)(o - a)) < 0)
      r = errno == EOPNOTSUPP ? write_zeros_at(fd, off + a, o - a) : -errno;
  }
  return r;
}

/* ---- sector locks --------------------------------------------------------- */

/* The stripes of the groups of [lo, hi): n of them (none if empty), the
 * j-th in ascending index order being (a + (from + j) % n) % VC_STRIPES. */
struct span {
  unsigned a, n, from;
};

static struct span span_of(uint64_t lo, uint64_t hi)
{
  if (hi <= lo)
    return (struct span){0, 0, 0};
  uint64_t g0 = lo / VC_GROUP, g1 = (hi - 1) / VC_GROUP;
  struct span s = {(unsigned)(g0 % VC_STRIPES), VC_STRIPES, 0};
  if (g1 - g0 < VC_STRIPES)
    s.n = (unsigned)(g1 - g0 + 1);
  else
    s.a = 0; /* every stripe */
  if (s.a + s.n > VC_STRIPES)
    s.from = VC_STRIPES - s.a; /* wraps: the low indices come first */
  return s;
}

static pthread_rwlock_t *span_lock(struct vcrypt *cr, struct span s, unsigned j)
{
  unsigned k = s.from + j < s.n ? s.from + j : s.from + j - s.n;
  return &cr->locks[(s.a + k) % VC_STRIPES].l;
}

enum { SHARED, EXCLUSIVE, TRY_SHARED };

/* Takes the sector locks of [lo, hi) of the volume's file in ascending
 * order; false (none held) when TRY_SHARED finds one taken. */
static bool lock_sectors(struct vcrypt *cr, uint64_t lo, uint64_t hi, int mode)
{
  struct span s = span_of(lo, hi);
  for (unsigned j = 0; j < s.n; j++) {
    pthread_rwlock_t *l = span_lock(cr, s, j);
    if (mode == EXCLUSIVE)
      pthread_rwlock_wrlock(l);
    else if (mode == SHARED)
      pthread_rwlock_rdlock(l);
    else if (pthread_rwlock_tryrdlock(l) != 0) {
      while (j-- > 0)
        pthread_rwlock_unlock(span_lock(cr, s, j));
      return false;
    }
  }
  return true;
}

static void unlock_sectors(struct vcrypt *cr, uint64_t lo, uint64_t hi)
{
  struct span s = span_of(lo, hi);
  for (unsigned j = 0; j < s.n; j++)
    pthread_rwlock_unlock(span_lock(cr, s, j));
}

int vc_read(struct volume *v, int fd, void *buf, size_t len, uint64_t off, uint64_t wm)
{
  struct vc_thread *t = thread_get();
  if (!t)
    return -ENOMEM;
  struct vcrypt *cr = v->cr;
  bool own = fd == v->fd; /* a side file is not locked (design comment) */
  uint64_t size = vol_size(v), end = off + len, p = off;
  uint8_t *b = buf;
  int r = 0;
  while (p < end && r == 0) {
    uint64_t ss = p - p % SECTOR;
    size_t u = unit(size, ss);
    if (p == ss && end >= ss + u) { /* whole sectors: straight into buf */
      uint64_t e = whole_end(size, end);
      if (own)
        lock_sectors(cr, p, e, SHARED);
      r = read_full_at(fd, b + (p - off), e - p, (off_t)p);
      if (own)
        unlock_sectors(cr, p, e);
      if (r == 0)
        r = open_run(v, t, b + (p - off), e - p, p, wm);
      p = e;
    } else { /* part of a sector */
      uint64_t e = end < ss + u ? end : ss + u;
      if (own)
        lock_sectors(cr, ss, ss + u, SHARED);
      r = read_full_at(fd, t->buf, u, (off_t)ss);
      if (own)
        unlock_sectors(cr, ss, ss + u);
      if (r == 0)
        r = open_run(v, t, t->buf, u, ss, wm);
      if (r == 0)
        memcpy(b + (p - off), t->buf + (p - ss), e - p);
      p = e;
    }
  }
  return r;
}

int vc_write(struct volume *v, int fd, const void *buf, size_t len, uint64_t off, uint64_t wm, unsigned flags)
{
  struct vc_thread *t = thread_get();
  if (!t)
    return -ENOMEM;
  struct vcrypt *cr = v->cr;
  bool side = flags & VC_SIDE, own = fd == v->fd;
  uint64_t size = vol_size(v), end = off + len, p = off;
  const uint8_t *in = buf;
  int r = 0;
  while (p < end && r == 0) {
    uint64_t ss = p - p % SECTOR;
    size_t u = unit(size, ss);
    if (p == ss && end >= ss + u) { /* whole sectors: encrypted in place or through the scratch */
      uint64_t e = whole_end(size, end);
      if (!(flags & VC_OWNED) && e - p > VC_BUF)
        e = p + VC_BUF;
      const uint8_t *src = in + (p - off);
      uint8_t *dst = (flags & VC_OWNED) ? (uint8_t *)src : t->buf;
      r = seal_run(v, t, src, dst, e - p, p, wm);
      if (r == 0 && own) {
        lock_sectors(cr, p, e, EXCLUSIVE);
        r = store(v, fd, dst, e - p, p, side);
        unlock_sectors(cr, p, e);
      } else if (r == 0) {
        r = store(v, fd, dst, e - p, p, side);
      }
      p = e;
    } else { /* part of a sector: read-modify-write under its lock */
      uint64_t e = end < ss + u ? end : ss + u;
      if (own)
        lock_sectors(cr, ss, ss + u, EXCLUSIVE);
      r = read_full_at(fd, t->buf, u, (off_t)ss);
      if (r == 0)
        r = open_run(v, t, t->buf, u, ss, wm);
      if (r == 0) {
        memcpy(t->buf + (p - ss), in + (p - off), e - p);
        r = seal_run(v, t, t->buf, t->buf, u, ss, wm);
      }
      if (r == 0)
        r = store(v, fd, t->buf, u, ss, side);
      if (own)
        unlock_sectors(cr, ss, ss + u);
      p = e;
    }
  }
  return r;
}

int vc_seal(struct volume *v, uint8_t *buf, size_t len, uint64_t off, uint64_t wm, size_t *ready)
{
  struct vc_thread *t = thread_get();
  if (!t)
    return -ENOMEM;
  uint64_t full = whole_end(vol_size(v), off + len) - off;
  int r = full < len ? vc_write(v, v->fd, buf + full, len - full, off + full, wm, VC_OWNED) : 0;
  if (r == 0)
    r = seal_run(v, t, buf, buf, full, off, wm);
  *ready = full;
  return r;
}

/* ---- conversion range ---------------------------------------------------- */

void vc_enter(struct volume *v, uint64_t off, uint64_t len, struct vc_io *io)
{
  struct vcrypt *cr = v->cr;
  io->linked = false;
  io->wm = VC_ALL;
  if (!atomic_load_explicit(&cr->converting, memory_order_acquire))
    return;
  io->lo = off - off % SECTOR;
  io->hi = (off + len + SECTOR - 1) / SECTOR * SECTOR;
  pthread_mutex_lock(&cr->mu);
  while (cr->busy_lo < cr->busy_hi && io->lo < cr->busy_hi && cr->busy_lo < io->hi)
    pthread_cond_wait(&cr->cv, &cr->mu);
  io->wm = atomic_load(&cr->w);
  io->prev = NULL;
  io->next = cr->ios;
  if (cr->ios)
    cr->ios->prev = io;
  cr->ios = io;
  io->linked = true;
  pthread_mutex_unlock(&cr->mu);
}

void vc_exit(struct volume *v, struct vc_io *io)
{
  struct vcrypt *cr = v->cr;
  if (!io->linked)
    return;
  pthread_mutex_lock(&cr->mu);
  if (io->prev)
    io->prev->next = io->next;
  else
    cr->ios = io->next;
  if (io->next)
    io->next->prev = io->prev;
  io->linked = false;
  pthread_cond_broadcast(&cr->cv);
  pthread_mutex_unlock(&cr->mu);
}

int vc_pread(struct volume *v, void *buf, size_t len, uint64_t off)
{
  struct vc_io io;
  vc_enter(v, off, len, &io);
  int r = vc_read(v, v->fd, buf, len, off, io.wm);
  vc_exit(v, &io);
  return r;
}

int vc_pwrite(struct volume *v, const void *buf, size_t len, uint64_t off, unsigned flags)
{
  struct vc_io io;
  vc_enter(v, off, len, &io);
  int r = vc_write(v, v->fd, buf, len, off, io.wm, flags);
  vc_exit(v, &io);
  return r;
}

int vc_pread_nowait(struct volume *v, void *buf, size_t len, uint64_t off)
{
  struct vc_thread *t = thread_get();
  uint64_t size = vol_size(v);
  if (!t || atomic_load_explicit(&v->cr->converting, memory_order_acquire) || off % SECTOR ||
      whole_end(size, off + len) != off + len)
    return -EAGAIN; /* vol_pread does it */
  if (!lock_sectors(v->cr, off, off + len, TRY_SHARED))
    return -EAGAIN; /* a write of these sectors is under way */
  struct iovec iov = {buf, len};
  ssize_t n = preadv2(v->fd, &iov, 1, (off_t)off, RWF_NOWAIT);
  int err = n < 0 ? errno : 0;
  unlock_sectors(v->cr, off, off + len);
  if (n == (ssize_t)len)
    return open_run(v, t, buf, len, off, VC_ALL) < 0 ? -EAGAIN : 0;
  if (err == EOPNOTSUPP)
    atomic_store_explicit(&v->no_nowait, true, memory_order_relaxed);
  return -EAGAIN;
}

int vc_zero(struct volume *v, uint64_t off, uint64_t len, unsigned flags, bool trim)
{
  static const uint8_t zeros[SECTOR];
  uint64_t size = vol_size(v), end = off + len;
  uint64_t a = (off + SECTOR - 1) / SECTOR * SECTOR, b = whole_end(size, end);
  if (a > end)
    a = end;
  if (b < a)
    b = a;
  bool edges = off < a || b < end;
  if (!trim && edges && (flags & VOL_FAST))
    return -ENOTSUP; /* the edges are rewritten, not zeroed by metadata */
  int r = 0;
  /* a trim leaves partly covered sectors as they are (trims are advisory);
   * a zero rewrites them */
  if (!trim && off < a)
    r = vc_pwrite(v, zeros, a - off, off, 0);
  if (r == 0 && !trim && b < end)
    r = vc_pwrite(v, zeros, end - b, b, 0);
  if (r == 0 && a < b) {
    struct vc_io io;
    vc_enter(v, a, b - a, &io);
    lock_sectors(v->cr, a, b, EXCLUSIVE); /* a punch racing a read could tear a sector too */
    r = trim ? file_trim(v, a, b - a) : file_zero(v, a, b - a, flags);
    unlock_sectors(v->cr, a, b);
    vc_exit(v, &io);
  }
  return r;
}

/* ---- attach and conversion ----------------------------------------------- */

/* Test hooks between a step's writes (tests/vol/vol_crypt.c): the process
 * exits at the n-th point when vol.crypt.crash=n, and the n-th point fails
 * with -EIO when vol.crypt.fail=n. */
static int fault_point(void)
{
  int64_t crash = failpoint_value("vol.crypt.crash", 0), fail = failpoint_value("vol.crypt.fail", 0);
  if (crash <= 0 && fail <= 0)
    return 0;
  int64_t n = atomic_fetch_add(&points_seen, 1) + 1;
  if (n == crash)
    _exit(VC_CRASH_EXIT);
  return n == fail ? -EIO : 0;
}

static int slot_put(struct vcrypt *cr, uint64_t w)
{
  struct slot s = {.seq = cr->seq + 1, .w = w};
  memcpy(s.magic, SLOT_MAGIC, 8);
  s.crc = crc32c(0, &s, sizeof s);
  int r = write_full_at_fp("vol.crypt.slot", cr->sfd, &s, sizeof s, (off_t)(s.seq % 2 * SLOT_SIZE));
  if (r == 0)
    r = fdatasync_fp("vol.crypt.slot", cr->sfd);
  if (r == 0)
    cr->seq = s.seq;
  return r;
}

/* The durable W: the valid slot with the highest sequence number.  A state
 * file too short to hold its first slot (written at SLOT_SIZE) is new:
 * W = 0.  Any other without a valid slot is damaged, and never taken for
 * new: W = 0 over an encrypted range would encrypt it twice. */
static int slots_load(struct vcrypt *cr, uint64_t size, uint64_t *w)
{
  struct slot s[2];
  ssize_t n = pread(cr->sfd, s, sizeof s[0], 0);
  ssize_t m = pread(cr->sfd, &s[1], sizeof s[1], SLOT_SIZE);
  if (n < 0 || m < 0)
    return -errno;
  bool any = false;
  for (int i = 0; i < 2; i++) {
    if ((i == 0 ? n : m) != (ssize_t)sizeof s[i] || memcmp(s[i].magic, SLOT_MAGIC, 8))
      continue;
    uint32_t crc = s[i].crc;
    s[i].crc = 0;
    if (crc32c(0, &s[i], sizeof s[i]) != crc || s[i].w > size || (s[i].w % SECTOR && s[i].w != size))
      continue;
    if (!any || s[i].seq > cr->seq) {
      cr->seq = s[i].seq;
      *w = s[i].w;
    }
    any = true;
  }
  if (any)
    return 0;
  off_t len = lseek(cr->sfd, 0, SEEK_END);
  if (len < 0)
    return -errno;
  if (len >= SLOT_SIZE + (off_t)sizeof(struct slot))
    return -EIO;
  *w = 0;
  return slot_put(cr, 0);
}

/* Redoes the journal if it is valid and its lo is the durable W (design
 * comment); otherwise it is stale or torn and ignored. */
static int journal_redo(struct volume *v, struct vcrypt *cr, uint64_t *w)
{
  struct jhdr h;
  if (pread(cr->sfd, &h, sizeof h, JOURNAL_AT) != (ssize_t)sizeof h || memcmp(h.magic, JOURNAL_MAGIC, 8) ||
      h.lo != *w || h.hi <= h.lo || h.hi > vol_size(v) || h.hi - h.lo > VC_STEP)
    return 0;
  size_t n = (size_t)(h.hi - h.lo);
  uint8_t *data = malloc(n);
  if (!data)
    return -ENOMEM;
  uint32_t crc = h.crc;
  h.crc = 0;
  int r = 0;
  /* cut short or not matching its CRC: torn */
  if (read_full_at(cr->sfd, data, n, JOURNAL_AT + 4096) == 0 && crc32c(crc32c(0, &h, sizeof h), data, n) == crc) {
    log_info("vol", "redoing the interrupted encryption of bytes %llu-%llu", (unsigned long long)h.lo,
             (unsigned long long)h.hi);
    r = store(v, v->fd, data, n, h.lo, false);
    if (r == 0 && fdatasync(v->fd) < 0)
      r = -errno;
    if (r == 0)
      r = slot_put(cr, h.hi);
    if (r == 0)
      *w = h.hi;
  }
  free(data);
  return r;
}

static void vc_free(struct vcrypt *cr)
{
  if (!cr)
    return;
  if (cr->sfd >= 0)
    close(cr->sfd);
  for (int i = 0; i < VC_STRIPES; i++)
    pthread_rwlock_destroy(&cr->locks[i].l);
  pthread_mutex_destroy(&cr->mu);
  pthread_cond_destroy(&cr->cv);
  OPENSSL_cleanse(cr->key, sizeof cr->key);
  free(cr);
}

void vc_close(struct volume *v)
{
  /* this thread's contexts forget the key now; another thread's when it
   * next uses a volume, or exits */
  for (int i = 0; i < 2 && self && v->cr; i++)
    if (self->owner[i] == v->cr->id) {
      EVP_CIPHER_CTX_reset(self->ctx[i]);
      self->owner[i] = 0;
    }
  vc_free(v->cr);
  v->cr = NULL;
}

int vol_crypt_attach(struct volume *v, const uint8_t key[VOL_KEY_LEN], const char *state_path, bool convert)
{
  uint64_t size = vol_size(v);
  /* equal halves make XTS's tweak predictable (OpenSSL refuses them too) */
  if (v->cr || size % 512 || CRYPTO_memcmp(key, key + VOL_KEY_LEN / 2, VOL_KEY_LEN / 2) == 0 ||
      (convert && !state_path))
    return -EINVAL;
  if (convert && v->readonly)
    return -EROFS;
  struct vcrypt *cr = aligned_alloc(_Alignof(struct vcrypt), sizeof *cr);
  if (!cr)
    return -ENOMEM;
  memset(cr, 0, sizeof *cr);
  memcpy(cr->key, key, VOL_KEY_LEN);
  cr->id = atomic_fetch_add(&next_id, 1);
  cr->sfd = -1;
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  /* a stream of reads of a group must not starve its writes */
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  for (int i = 0; i < VC_STRIPES; i++)
    pthread_rwlock_init(&cr->locks[i].l, &attr);
  pthread_rwlockattr_destroy(&attr);
  pthread_mutex_init(&cr->mu, NULL);
  pthread_cond_init(&cr->cv, NULL);
  uint64_t w = size;
  int r = 0;
  if (convert) {
    cr->sfd = open(state_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (cr->sfd < 0)
      r = -errno;
    if (r == 0)
      r = fsync_parent_dir(state_path); /* a state made now must not vanish once steps rely on it */
    if (r == 0)
      r = slots_load(cr, size, &w);
    if (r == 0 && w < size)
      r = journal_redo(v, cr, &w);
    if (r < 0)
      log_error("vol", "the encryption state %s of %s is unusable: %s", state_path, v->path, strerror(-r));
  }
  if (r < 0) {
    vc_free(cr);
    return r;
  }
  atomic_init(&cr->w, w);
  atomic_init(&cr->converting, w < size);
  v->cr = cr;
  return 0;
}

/* Claims [lo, hi) for a step: accesses that overlap it wait from now on, and
 * those in flight are waited for. */
static void claim(struct vcrypt *cr, uint64_t lo, uint64_t hi)
{
  pthread_mutex_lock(&cr->mu);
  cr->busy_lo = lo;
  cr->busy_hi = hi;
  for (;;) {
    bool overlap = false;
    for (const struct vc_io *io = cr->ios; io && !overlap; io = io->next)
      overlap = io->lo < hi && lo < io->hi;
    if (!overlap)
      break;
    pthread_cond_wait(&cr->cv, &cr->mu);
  }
  pthread_mutex_unlock(&cr->mu);
}

/* Ends a step: W = w (when it moved; durable already) and the range free. */
static void release(struct volume *v, struct vcrypt *cr, uint64_t w)
{
  pthread_mutex_lock(&cr->mu);
  atomic_store(&cr->w, w);
  cr->busy_lo = cr->busy_hi = 0;
  if (w >= vol_size(v))
    atomic_store_explicit(&cr->converting, false, memory_order_release);
  pthread_cond_broadcast(&cr->cv);
  pthread_mutex_unlock(&cr->mu);
}

/* Where the file's next data at or after lo is (size if none). */
static int next_data(struct volume *v, uint64_t lo, uint64_t *at)
{
  off_t d = lseek(v->fd, (off_t)lo, SEEK_DATA);
  if (d < 0 && errno != ENXIO)
    return -errno;
  *at = d < 0 || (uint64_t)d > vol_size(v) ? vol_size(v) : (uint64_t)d;
  return 0;
}

/* One step of at most VC_STEP bytes (or a hole); *done grows by the bytes
 * converted (a hole's count 1/64). */
static int convert_one(struct volume *v, struct vcrypt *cr, uint8_t *buf, uint64_t *done)
{
  uint64_t size = vol_size(v), lo = atomic_load(&cr->w), data;
  int r = next_data(v, lo, &data);
  if (r < 0)
    return r;
  uint64_t hole_end = data >= size ? size : data - data % SECTOR;
  uint64_t hi = hole_end > lo ? hole_end : (size - lo < VC_STEP ? size : lo + VC_STEP);
  claim(cr, lo, hi);
  if (hole_end > lo) { /* still a hole, now that nothing touches it? */
    r = next_data(v, lo, &data);
    if (r == 0 && data >= hi) {
      r = slot_put(cr, hi);
      if (r == 0)
        *done += (hi - lo) / 64;
      release(v, cr, r == 0 ? hi : lo); /* a slot that failed to be written is the old one, or a torn one */
      return r == 0 ? fault_point() : r;
    }
    if (hi - lo > VC_STEP) { /* written meanwhile: an ordinary step (a smaller claim stays claimed) */
      pthread_mutex_lock(&cr->mu);
      hi = cr->busy_hi = lo + VC_STEP;
      pthread_cond_broadcast(&cr->cv);
      pthread_mutex_unlock(&cr->mu);
    }
  }
  struct vc_thread *t = thread_get();
  size_t n = (size_t)(hi - lo), half = n / 2 - n / 2 % SECTOR;
  struct jhdr h = {.lo = lo, .hi = hi};
  memcpy(h.magic, JOURNAL_MAGIC, 8);
  if (r == 0 && !t)
    r = -ENOMEM;
  if (r == 0)
    r = read_full_at(v->fd, buf, n, (off_t)lo);
  if (r == 0)
    r = seal_run(v, t, buf, buf, n, lo, VC_ALL);
  if (r == 0) { /* 1: the journal */
    h.crc = crc32c(crc32c(0, &h, sizeof h), buf, n);
    r = write_full_at(cr->sfd, &h, sizeof h, JOURNAL_AT);
  }
  if (r == 0)
    r = write_full_at(cr->sfd, buf, half, JOURNAL_AT + 4096);
  if (r == 0 && (r = fault_point()) == 0)
    r = write_full_at(cr->sfd, buf + half, n - half, (off_t)(JOURNAL_AT + 4096 + half));
  if (r == 0 && fdatasync(cr->sfd) < 0)
    r = -errno;
  /* from here on the range may hold ciphertext: a failure leaves it claimed
   * until the journal is redone (vol_crypt_step, or the next attach) */
  bool touched = r == 0;
  if (r == 0 && (r = fault_point()) == 0) /* 2: the range */
    r = store(v, v->fd, buf, half, lo, false);
  if (r == 0 && (r = fault_point()) == 0)
    r = store(v, v->fd, buf + half, n - half, lo + half, false);
  if (r == 0 && fdatasync(v->fd) < 0)
    r = -errno;
  if (r == 0 && (r = fault_point()) == 0) /* 3: W */
    r = slot_put(cr, hi);
  if (r < 0) {
    log_error("vol", "encrypting bytes %llu-%llu of %s failed: %s", (unsigned long long)lo, (unsigned long long)hi,
              v->path, strerror(-r));
    if (touched)
      cr->redo = true;
    else
      release(v, cr, lo);
    return r;
  }
  *done += n;
  release(v, cr, hi);
  return fault_point();
}

/* A step that failed after its journal was durable: the journal redone,
 * the range released.  -EIO if the journal does not redo (damaged since). */
static int redo_failed_step(struct volume *v, struct vcrypt *cr)
{
  uint64_t lo = atomic_load(&cr->w), w = lo;
  int r = journal_redo(v, cr, &w);
  if (r == 0 && w == lo)
    r = -EIO;
  if (r < 0)
    return r;
  cr->redo = false;
  release(v, cr, w);
  return 0;
}

int vol_crypt_step(struct volume *v, uint64_t budget)
{
  struct vcrypt *cr = v->cr;
  if (!cr)
    return -EINVAL;
  if (!atomic_load_explicit(&cr->converting, memory_order_acquire))
    return 1;
  uint8_t *buf = aligned_alloc(SECTOR, VC_STEP);
  if (!buf)
    return -ENOMEM;
  uint64_t done = 0;
  int r = cr->redo ? redo_failed_step(v, cr) : 0;
  while (r == 0 && done < budget && atomic_load(&cr->converting))
    r = convert_one(v, cr, buf, &done);
  OPENSSL_cleanse(buf, VC_STEP);
  free(buf);
  if (r == 0 && !atomic_load(&cr->converting) && ftruncate(cr->sfd, JOURNAL_AT) == 0) /* the journal's job is done */
    fdatasync(cr->sfd);
  return r < 0 ? r : atomic_load(&cr->converting) ? 0 : 1;
}

void vol_crypt_progress(struct volume *v, uint64_t *done, uint64_t *total)
{
  *total = vol_size(v);
  *done = v->cr ? atomic_load(&v->cr->w) : 0;
}

bool vol_encrypted(const struct volume *v)
{
  return v->cr && !atomic_load_explicit(&v->cr->converting, memory_order_acquire);
}
