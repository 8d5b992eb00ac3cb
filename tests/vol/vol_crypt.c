/*
 * vol_crypt.c — encrypted volumes (crypt.c): every path reads back what was
 * written, byte for byte, while the file holds none of the plaintext; zero
 * sectors stay holes; partial writes to one sector from several threads keep
 * each other's bytes; each sector is atomic against concurrent I/O; captures, hydration and the in-place conversion of a
 * plaintext volume (with a crash, or an I/O error, at each of its points)
 * stay right.
 * Each test works on a real sparse file in a temporary directory and keeps a
 * model of the volume's bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/failpoint.h"
#include "vol/vol.h"

#define CHUNK 16384
#define SECTOR 4096
#define SIZE (64 * SECTOR + 1536) /* a last sector of 1536 bytes: its own XTS unit */

struct fixture {
  char dir[256], img[300], cbt[300], state[300], hyd[300];
  uint8_t key[VOL_KEY_LEN];
  struct volume *v;
  uint8_t *model; /* what the volume must read */
  uint64_t size;
};

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void random_bytes(uint8_t *b, size_t n)
{
  for (size_t i = 0; i < n; i++)
    b[i] = (uint8_t)(next_rand() >> 24);
}

static void make_key(uint8_t *key, unsigned seed)
{
  for (int i = 0; i < VOL_KEY_LEN; i++)
    key[i] = (uint8_t)(seed * 37 + i * 11 + 1);
}

static int setup_size(void **state, uint64_t size)
{
  struct fixture *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "%s/vmrp-vcrypt.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->img, sizeof f->img, "%s/disk.img", f->dir);
  snprintf(f->cbt, sizeof f->cbt, "%s/disk.cbt", f->dir);
  snprintf(f->state, sizeof f->state, "%s/disk.xts", f->dir);
  snprintf(f->hyd, sizeof f->hyd, "%s/disk.hyd", f->dir);
  f->size = size;
  f->model = calloc(1, size);
  make_key(f->key, 1);
  assert_int_equal(vol_create(f->img, size), 0);
  *state = f;
  return 0;
}

static void open_vol(struct fixture *f, const uint8_t *key, bool convert)
{
  assert_int_equal(vol_open(f->img, f->cbt, CHUNK, false, false, &f->v), 0);
  assert_int_equal(vol_crypt_attach(f->v, key, convert ? f->state : NULL, convert), 0);
}

static int setup(void **state)
{
  setup_size(state, SIZE);
  struct fixture *f = *state;
  open_vol(f, f->key, false);
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  if (f->v)
    vol_close(f->v);
  unlink(f->img);
  unlink(f->cbt);
  unlink(f->state);
  unlink(f->hyd);
  rmdir(f->dir);
  free(f->model);
  free(f);
  return 0;
}

static void model_write(struct fixture *f, const uint8_t *b, size_t n, uint64_t off)
{
  assert_int_equal(vol_pwrite(f->v, b, n, off, 0), 0);
  memcpy(f->model + off, b, n);
}

static void check_model(struct fixture *f)
{
  uint8_t *got = malloc(f->size);
  assert_int_equal(vol_pread(f->v, got, f->size, 0), 0);
  assert_memory_equal(got, f->model, f->size);
  /* and in odd pieces */
  for (int i = 0; i < 50; i++) {
    uint64_t off = next_rand() % f->size, n = next_rand() % (3 * SECTOR) + 1;
    if (n > f->size - off)
      n = f->size - off;
    assert_int_equal(vol_pread(f->v, got, n, off), 0);
    assert_memory_equal(got, f->model + off, n);
  }
  free(got);
}

static uint8_t *file_bytes(const char *path, size_t *len)
{
  int fd = open(path, O_RDONLY);
  assert_true(fd >= 0);
  struct stat st;
  fstat(fd, &st);
  uint8_t *b = malloc((size_t)st.st_size + 1);
  assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
  close(fd);
  *len = (size_t)st.st_size;
  return b;
}

/* No 16 bytes of the non-zero plaintext pt appear anywhere in the file
 * (at any offset): every 16-byte window of pt at any byte offset would
 * contain an 8-byte aligned window of the file, so those go into a hash set
 * and each of pt's windows is looked up. */
static void assert_no_plaintext(const uint8_t *file, size_t flen, const uint8_t *pt, size_t plen)
{
  size_t cap = 1;
  while (cap < flen / 2)
    cap *= 2;
  uint64_t *set = calloc(cap, sizeof *set); /* 0: empty (zero windows are never looked for) */
  for (size_t i = 0; i + 8 <= flen; i += 8) {
    uint64_t x;
    memcpy(&x, file + i, 8);
    size_t h = (size_t)(x * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
    while (x && set[h] && set[h] != x)
      h = (h + 1) & (cap - 1);
    if (x)
      set[h] = x;
  }
  size_t hits = 0;
  for (size_t p = 0; p + 16 <= plen; p++) {
    uint64_t x;
    memcpy(&x, pt + p, 8);
    if (!x)
      continue;
    size_t h = (size_t)(x * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
    while (set[h] && set[h] != x)
      h = (h + 1) & (cap - 1);
    if (set[h] == x && memmem(file, flen, pt + p, 16)) /* an 8-byte match: the whole window? */
      hits++;
  }
  free(set);
  assert_int_equal(hits, 0);
}

static void assert_file_secret(struct fixture *f)
{
  size_t flen;
  uint8_t *file = file_bytes(f->img, &flen);
  assert_no_plaintext(file, flen, f->model, f->size);
  free(file);
}

static void test_attach_refuses_bad_keys(void **state)
{
  struct fixture *f = *state;
  uint8_t same[VOL_KEY_LEN];
  memset(same, 7, sizeof same); /* equal halves */
  struct volume *v;
  assert_int_equal(vol_open(f->img, NULL, CHUNK, false, false, &v), 0);
  assert_int_equal(vol_crypt_attach(v, same, NULL, false), -EINVAL);
  assert_int_equal(vol_crypt_attach(v, f->key, NULL, true), -EINVAL); /* converting needs a state */
  assert_false(vol_encrypted(v));
  assert_int_equal(vol_crypt_attach(v, f->key, NULL, false), 0);
  assert_true(vol_encrypted(v));
  assert_int_equal(vol_crypt_attach(v, f->key, NULL, false), -EINVAL); /* once */
  vol_close(v);
  assert_true(vol_encrypted(f->v));
}

static void test_read_back_aligned_and_unaligned(void **state)
{
  struct fixture *f = *state;
  uint8_t *b = malloc(f->size);
  random_bytes(b, f->size);
  model_write(f, b, 8 * SECTOR, 0);                  /* aligned */
  model_write(f, b + 100, 3 * SECTOR + 777, 9 * SECTOR + 13); /* both edges partial */
  model_write(f, b + 200, 100, 20 * SECTOR + 4000);  /* across a sector boundary */
  model_write(f, b + 300, 10, 30 * SECTOR + 5);      /* inside one sector */
  model_write(f, b + 400, 1536, 64 * SECTOR);        /* the short last sector, whole */
  model_write(f, b + 500, 7, f->size - 7);           /* ... and part of it */
  for (int i = 0; i < 200; i++) {
    uint64_t off = next_rand() % f->size, n = next_rand() % (2 * SECTOR) + 1;
    if (n > f->size - off)
      n = f->size - off;
    model_write(f, b + next_rand() % SECTOR, n, off);
  }
  check_model(f);
  assert_int_equal(vol_read_fd(f->v, 0, SECTOR), -EOPNOTSUPP); /* the NBD server then uses vol_pread */
  uint8_t got[SECTOR];
  int r = vol_pread_nowait(f->v, got, SECTOR, 2 * SECTOR);
  assert_true(r == 0 || r == -EAGAIN);
  if (r == 0)
    assert_memory_equal(got, f->model + 2 * SECTOR, SECTOR);
  assert_int_equal(vol_pread_nowait(f->v, got, 100, 5), -EAGAIN); /* part of a sector: vol_pread */
  /* the same after a reopen, and none of it in the file */
  assert_int_equal(vol_close(f->v), 0);
  open_vol(f, f->key, false);
  check_model(f);
  assert_file_secret(f);
  free(b);
}

static void test_pipe_write(void **state)
{
  struct fixture *f = *state;
  uint8_t b[3 * SECTOR];
  random_bytes(b, sizeof b);
  uint64_t offs[] = {0, 5 * SECTOR + 3, 40 * SECTOR - 1000};
  size_t lens[] = {sizeof b, 2 * SECTOR + 5, sizeof b};
  for (int i = 0; i < 3; i++) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], b, lens[i]), (ssize_t)lens[i]);
    assert_int_equal(vol_pwrite_pipe(f->v, p[0], lens[i], offs[i], i == 1 ? VOL_FUA : 0), 0);
    memcpy(f->model + offs[i], b, lens[i]);
    close(p[0]);
    close(p[1]);
  }
  check_model(f);
  assert_file_secret(f);
}

static uint64_t allocated(struct fixture *f) { return vol_allocated(f->v); }

static int count_extent(void *ctx, uint64_t off, uint64_t len, bool hole)
{
  uint64_t *data = ctx;
  (void)off;
  if (!hole)
    *data += len;
  return 0;
}

static void test_zeros_are_holes(void **state)
{
  struct fixture *f = *state;
  uint64_t base = allocated(f);
  uint8_t zero[16 * SECTOR] = {0}, b[16 * SECTOR];
  check_model(f); /* never written: zeros */
  model_write(f, zero, sizeof zero, 0); /* zeros written: stored as holes */
  assert_int_equal(vol_flush(f->v), 0);
  assert_int_equal(allocated(f), base);
  random_bytes(b, sizeof b);
  model_write(f, b, sizeof b, 16 * SECTOR);
  assert_int_equal(vol_flush(f->v), 0);
  assert_true(allocated(f) >= base + sizeof b);
  /* zeros over data: the sectors become holes again */
  model_write(f, zero, 4 * SECTOR, 16 * SECTOR);
  /* trim: whole sectors punched, partly covered ones left as they are */
  assert_int_equal(vol_trim(f->v, 20 * SECTOR, 4 * SECTOR, 0), 0);
  memset(f->model + 20 * SECTOR, 0, 4 * SECTOR);
  /* zero of a range with partial edges: every byte zero, neighbours kept */
  assert_int_equal(vol_zero(f->v, 24 * SECTOR + 100, 3 * SECTOR, VOL_FAST), -ENOTSUP);
  assert_int_equal(vol_zero(f->v, 24 * SECTOR + 100, 3 * SECTOR, 0), 0);
  memset(f->model + 24 * SECTOR + 100, 0, 3 * SECTOR);
  assert_int_equal(vol_zero(f->v, 28 * SECTOR, 2 * SECTOR, VOL_FAST), 0);
  memset(f->model + 28 * SECTOR, 0, 2 * SECTOR);
  check_model(f);
  assert_int_equal(vol_flush(f->v), 0);
  uint64_t data = 0;
  assert_int_equal(vol_extents(f->v, 0, f->size, count_extent, &data), 0);
  uint64_t nz = 0;
  for (uint64_t s = 0; s * SECTOR < f->size; s++) {
    uint64_t n = f->size - s * SECTOR < SECTOR ? f->size - s * SECTOR : SECTOR;
    bool zero_sector = true;
    for (uint64_t i = 0; i < n && zero_sector; i++)
      zero_sector = f->model[s * SECTOR + i] == 0;
    nz += zero_sector ? 0 : n;
  }
  assert_int_equal(data, nz); /* exactly the non-zero sectors are data */
  assert_true(allocated(f) <= base + nz);
  assert_file_secret(f);
}

struct writer {
  struct fixture *f;
  int id;
  uint8_t last[1000];
};

static void *sub_sector_writer(void *arg)
{
  struct writer *w = arg;
  uint64_t off = 3 * SECTOR + (uint64_t)w->id * 1020 + 7; /* 4 writers share sector 3, each its own bytes */
  for (int k = 0; k < 2000; k++) {
    for (size_t i = 0; i < sizeof w->last; i++)
      w->last[i] = (uint8_t)(w->id * 50 + k + i);
    if (vol_pwrite(w->f->v, w->last, sizeof w->last, off, 0) != 0)
      return "write";
  }
  return NULL;
}

static void test_concurrent_partial_writers_keep_each_others_bytes(void **state)
{
  struct fixture *f = *state;
  uint8_t b[SECTOR];
  random_bytes(b, sizeof b);
  model_write(f, b, sizeof b, 3 * SECTOR);
  struct writer w[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (struct writer){.f = f, .id = i};
    assert_int_equal(pthread_create(&t[i], NULL, sub_sector_writer, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    void *res;
    pthread_join(t[i], &res);
    assert_null(res);
    uint64_t off = 3 * SECTOR + (uint64_t)i * 1020 + 7;
    memcpy(f->model + off, w[i].last, sizeof w[i].last);
  }
  check_model(f);
}

/* Atomic sectors: sectors 8-9 take only whole-sector writes (plain and
 * through a pipe) and zeros, sectors 10-11 those and writes and zeros of
 * 512-byte pieces (read-modify-write), all at once.  Every write stamps a
 * version repeated over what it writes (zero: version 0), so each 512-byte
 * piece read must hold one version throughout, and each of sectors 8-9 one
 * version throughout: a torn sector decrypts to garbage. */
#define AT_LO (8 * SECTOR)
#define AT_HI (12 * SECTOR)
#define AT_WRITES 20000 /* by each writer */
#define AT_READS 500    /* by each reader, at least: they read until the writers are done */

struct atomic_thread {
  struct fixture *f;
  int id;
  _Atomic int *writers_left;
};

static uint64_t stamp_of(int id, uint64_t k) { return 0x5EC7ull << 48 | (uint64_t)id << 32 | (k & 0xffffffffu); }

/* NULL if b (the volume's bytes [off, off+n), 512-byte aligned) is made of
 * whole versions as above. */
static const char *check_versions(const uint8_t *b, uint64_t off, size_t n)
{
  for (size_t p = 0; p < n; p += 512) {
    uint64_t w[64];
    memcpy(w, b + p, sizeof w);
    for (int i = 1; i < 64; i++)
      if (w[i] != w[0])
        return "a 512-byte piece mixes versions (garbage)";
    if (w[0] != 0 && (w[0] >> 48 != 0x5EC7 || (w[0] >> 32 & 0xffff) == 0 || (w[0] >> 32 & 0xffff) > 4))
      return "a piece holds no version";
    if ((off + p) / SECTOR < 10 && (off + p) % SECTOR && p >= 512 && memcmp(b + p - 512, b + p, 512))
      return "a sector written whole mixes versions";
  }
  return NULL;
}

static void *atomic_writer(void *arg)
{
  struct atomic_thread *t = arg;
  struct volume *v = t->f->v;
  uint64_t *b = malloc(2 * SECTOR);
  uint64_t x = (uint64_t)t->id * 2654435761u + 1;
  int pfd[2];
  const char *fail = pipe(pfd) ? "pipe" : NULL;
  for (uint64_t k = 1; !fail && k <= AT_WRITES; k++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    for (int i = 0; i < 2 * SECTOR / 8; i++)
      b[i] = stamp_of(t->id, k);
    uint64_t off, n;
    if (t->id <= 2) { /* whole sectors: one or two of 8-9 or of 10-11, or a zero */
      off = AT_LO + (x >> 8) % 4 * SECTOR;
      n = off % (2 * SECTOR) == 0 && x & 1 ? 2 * SECTOR : SECTOR;
      if ((x >> 4) % 8 == 0)
        fail = vol_zero(v, off, n, 0) ? "zero" : NULL;
      else if ((x >> 4) % 8 == 1)
        fail = write(pfd[1], b, n) != (ssize_t)n || vol_pwrite_pipe(v, pfd[0], n, off, 0) ? "pipe write" : NULL;
      else
        fail = vol_pwrite(v, b, n, off, 0) ? "write" : NULL;
    } else { /* 512-byte pieces of 10-11, never a whole sector */
      off = 10 * SECTOR + (x >> 8) % 16 * 512;
      n = ((x >> 16) % 3 + 1) * 512;
      if (n > AT_HI - off)
        n = AT_HI - off;
      if (off % SECTOR == 0 && n == SECTOR)
        n -= 512;
      if ((x >> 4) % 8 == 0)
        fail = vol_zero(v, off, n, 0) ? "partial zero" : NULL;
      else
        fail = vol_pwrite(v, b, n, off, 0) ? "partial write" : NULL;
    }
  }
  atomic_fetch_sub(t->writers_left, 1);
  close(pfd[0]);
  close(pfd[1]);
  free(b);
  return (void *)fail;
}

static void *atomic_reader(void *arg)
{
  struct atomic_thread *t = arg;
  uint8_t *b = malloc(AT_HI - AT_LO);
  uint64_t x = (uint64_t)t->id * 2654435761u + 1;
  const char *fail = NULL;
  for (int k = 0; !fail && (k < AT_READS || atomic_load(t->writers_left) > 0); k++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint64_t off = AT_LO, n = AT_HI - AT_LO;
    if (x & 1) { /* any 512-byte aligned part */
      off = AT_LO + (x >> 8) % 32 * 512;
      n = ((x >> 16) % ((AT_HI - off) / 512) + 1) * 512;
    }
    if ((x >> 1 & 3) == 0 && off % SECTOR == 0 && n % SECTOR == 0 && vol_pread_nowait(t->f->v, b, n, off) == 0)
      fail = check_versions(b, off, n);
    else
      fail = vol_pread(t->f->v, b, n, off) ? "read" : check_versions(b, off, n);
  }
  free(b);
  return (void *)fail;
}

static void test_sectors_are_atomic(void **state)
{
  struct fixture *f = *state;
  _Atomic int writers = 4;
  struct atomic_thread t[6];
  pthread_t th[6];
  for (int i = 0; i < 6; i++) {
    t[i] = (struct atomic_thread){f, i + 1, &writers};
    assert_int_equal(pthread_create(&th[i], NULL, i < 4 ? atomic_writer : atomic_reader, &t[i]), 0);
  }
  for (int i = 0; i < 6; i++) {
    void *res;
    pthread_join(th[i], &res);
    if (res)
      fail_msg("%s: %s", i < 4 ? "writer" : "reader", (const char *)res);
  }
  uint8_t b[AT_HI - AT_LO];
  assert_int_equal(vol_pread(f->v, b, sizeof b, AT_LO), 0);
  assert_null(check_versions(b, AT_LO, sizeof b));
}

/* A capture reads the fenced image, copy-before-write at work, while the
 * guest keeps writing; the copies are encrypted in their side file. */
static void test_capture_sees_fenced_image(void **state)
{
  struct fixture *f = *state;
  uint8_t *b = malloc(f->size);
  random_bytes(b, f->size);
  model_write(f, b, f->size, 0);
  uint8_t *image = malloc(f->size);
  memcpy(image, f->model, f->size);
  struct vol_capture *cap;
  struct volume *vols[1] = {f->v};
  assert_int_equal(vol_fence(vols, 1, VOL_FENCE_ALL, &cap, NULL), 0);
  random_bytes(b, f->size);
  model_write(f, b, 3 * CHUNK + 100, 50); /* copy-before-write of chunks 0-3 */
  model_write(f, b, 10, 6 * CHUNK + 9);
  /* the copies: the side file is the process's one deleted file in dir */
  char link[64], target[512];
  bool found = false;
  for (int fd = 3; fd < 1024 && !found; fd++) {
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
      continue;
    target[n] = '\0';
    if (strncmp(target, f->dir, strlen(f->dir)) == 0 && strstr(target, "(deleted)")) {
      size_t flen;
      uint8_t *copies = file_bytes(link, &flen);
      assert_true(flen >= 3 * CHUNK);
      assert_no_plaintext(copies, flen, image, f->size);
      free(copies);
      found = true;
    }
  }
  assert_true(found);
  uint8_t *got = malloc(CHUNK);
  for (uint64_t i = 0; i < vol_capture_chunks(cap); i++) {
    size_t len;
    if (i % 2 && i * CHUNK + 1000 + CHUNK / 2 <= f->size)
      model_write(f, b + i, CHUNK / 2, i * CHUNK + 1000); /* more copy-before-write, unaligned */
    assert_int_equal(vol_capture_read(cap, i, got, &len), 0);
    assert_memory_equal(got, image + i * CHUNK, len);
  }
  vol_capture_end(cap, true);
  check_model(f);
  assert_file_secret(f);
  free(got);
  free(image);
  free(b);
}

/* A source in memory, some chunks zero. */
struct mem_source {
  uint8_t *bytes;
  uint64_t size;
};

static int mem_read(void *ctx, uint64_t idx, void *buf, size_t len)
{
  struct mem_source *s = ctx;
  memcpy(buf, s->bytes + idx * CHUNK, len);
  return 0;
}

static int mem_is_zero(void *ctx, uint64_t idx)
{
  struct mem_source *s = ctx;
  uint64_t n = s->size - idx * CHUNK < CHUNK ? s->size - idx * CHUNK : CHUNK;
  for (uint64_t i = 0; i < n; i++)
    if (s->bytes[idx * CHUNK + i])
      return 0;
  return 1;
}

static void test_hydration_is_encrypted(void **state)
{
  struct fixture *f = *state;
  /* a source shorter than the volume, ending inside a sector */
  struct mem_source src = {calloc(1, f->size), 40 * SECTOR + 512};
  random_bytes(src.bytes, src.size);
  memset(src.bytes + CHUNK, 0, CHUNK);             /* a zero chunk */
  memset(src.bytes + 3 * CHUNK + SECTOR, 0, SECTOR); /* a zero sector */
  memcpy(f->model, src.bytes, src.size);
  struct vol_source vs = {mem_read, mem_is_zero, &src, src.size};
  assert_int_equal(vol_hydrate_attach(f->v, &vs, f->hyd, true), 0);
  /* guest I/O first: a read hydrates, a partial write over the source's end */
  uint8_t got[SECTOR];
  assert_int_equal(vol_pread(f->v, got, 100, 7 * CHUNK + 5), 0);
  assert_memory_equal(got, f->model + 7 * CHUNK + 5, 100);
  uint8_t b[600];
  random_bytes(b, sizeof b);
  model_write(f, b, sizeof b, src.size - 100);
  int r;
  while ((r = vol_hydrate_step(f->v, 64 * 1024)) == 0)
    ;
  assert_int_equal(r, 1);
  check_model(f);
  assert_file_secret(f);
  uint64_t data = 0;
  assert_int_equal(vol_extents(f->v, CHUNK, CHUNK, count_extent, &data), 0);
  assert_int_equal(data, 0); /* the zero chunk stayed a hole */
  assert_int_equal(vol_close(f->v), 0);
  open_vol(f, f->key, false);
  check_model(f);
  free(src.bytes);
}

static void test_wrong_key_reads_garbage(void **state)
{
  struct fixture *f = *state;
  uint8_t b[4 * SECTOR];
  random_bytes(b, sizeof b);
  model_write(f, b, sizeof b, 0);
  assert_int_equal(vol_close(f->v), 0);
  uint8_t other[VOL_KEY_LEN];
  make_key(other, 2);
  open_vol(f, other, false);
  uint8_t got[4 * SECTOR];
  assert_int_equal(vol_pread(f->v, got, sizeof got, 0), 0); /* no MAC: nothing tells */
  for (int s = 0; s < 4; s++)
    assert_memory_not_equal(got + s * SECTOR, b + s * SECTOR, SECTOR);
  assert_int_equal(vol_pread(f->v, got, SECTOR, 10 * SECTOR), 0);
  uint8_t zero[SECTOR] = {0};
  assert_memory_equal(got, zero, SECTOR); /* holes read zeros whatever the key */
}

static void test_grow(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(vol_grow(f->v, f->size + SECTOR), -EOPNOTSUPP); /* the short last sector */
  assert_int_equal(vol_close(f->v), 0);
  f->v = NULL;
  char p[320];
  snprintf(p, sizeof p, "%s/even.img", f->dir);
  assert_int_equal(vol_create(p, 8 * SECTOR), 0);
  struct volume *v;
  assert_int_equal(vol_open(p, NULL, CHUNK, false, false, &v), 0);
  assert_int_equal(vol_crypt_attach(v, f->key, NULL, false), 0);
  uint8_t b[8 * SECTOR], got[12 * SECTOR];
  random_bytes(b, sizeof b);
  assert_int_equal(vol_pwrite(v, b, sizeof b, 0, 0), 0);
  assert_int_equal(vol_grow(v, 12 * SECTOR), 0);
  assert_int_equal(vol_pread(v, got, sizeof got, 0), 0);
  assert_memory_equal(got, b, sizeof b);
  for (size_t i = sizeof b; i < sizeof got; i++)
    assert_int_equal(got[i], 0);
  vol_close(v);
  unlink(p);
}

/* ---- in-place conversion ---------------------------------------------------- */

#define CSIZE ((10u << 20) + 1536) /* three 4 MiB steps and a short last sector */

/* The volume's file made plaintext again from the model: data where the
 * model has it (a hole at 3-6 MiB, zeros written at 1 MiB). */
static void write_plain(struct fixture *f)
{
  unlink(f->img);
  unlink(f->state);
  assert_int_equal(vol_create(f->img, f->size), 0);
  struct volume *v;
  assert_int_equal(vol_open(f->img, NULL, CHUNK, false, false, &v), 0);
  assert_int_equal(vol_pwrite(v, f->model, 3u << 20, 0, 0), 0);
  assert_int_equal(vol_pwrite(v, f->model + (6u << 20), f->size - (6u << 20), 6u << 20, 0), 0);
  assert_int_equal(vol_close(v), 0);
}

static int setup_plain(void **state)
{
  setup_size(state, CSIZE);
  struct fixture *f = *state;
  random_bytes(f->model, f->size);
  memset(f->model + (3u << 20), 0, 3u << 20);
  memset(f->model + (1u << 20), 0, 64 * 1024);
  write_plain(f);
  return 0;
}

static void assert_hole(struct fixture *f, uint64_t off, uint64_t len)
{
  uint64_t data = 0;
  assert_int_equal(vol_extents(f->v, off, len, count_extent, &data), 0);
  assert_int_equal(data, 0);
}

static void finish_conversion(struct fixture *f)
{
  int r;
  while ((r = vol_crypt_step(f->v, 1 << 20)) == 0)
    assert_false(vol_encrypted(f->v));
  assert_int_equal(r, 1);
  assert_true(vol_encrypted(f->v));
  uint64_t done, total;
  vol_crypt_progress(f->v, &done, &total);
  assert_int_equal(done, total);
  assert_int_equal(total, f->size);
}

/* In a forked child: arms failpoint point=at and opens the plaintext volume
 * for conversion (exit 1 if it cannot). */
static struct volume *child_attach(struct fixture *f, const char *point, int at)
{
  char fp[64];
  snprintf(fp, sizeof fp, "%s=%d", point, at);
  setenv("VMRP_FAILPOINTS", fp, 1);
  failpoint_init();
  struct volume *v;
  if (vol_open(f->img, NULL, CHUNK, false, false, &v) || vol_crypt_attach(v, f->key, f->state, true))
    _exit(1);
  return v;
}

static int child_status(pid_t pid)
{
  int st;
  assert_true(pid >= 0);
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  return WEXITSTATUS(st);
}

/* A crash (the process exits at the failpoint vol.crypt.crash's n-th
 * point) at every point of a conversion, n = 1, 2, ... until one runs
 * through: re-attaching finishes the interrupted step, the volume reads the
 * same at once and after the conversion, holes stay holes, and neither the
 * volume nor its state file holds plaintext. */
static void test_conversion_survives_a_crash_anywhere(void **state)
{
  struct fixture *f = *state;
  int crashes = 0;
  for (int at = 1;; at++) {
    write_plain(f);
    pid_t pid = fork();
    if (pid == 0) {
      struct volume *v = child_attach(f, "vol.crypt.crash", at);
      int r;
      while ((r = vol_crypt_step(v, 1 << 20)) == 0)
        ;
      _exit(r == 1 && vol_close(v) == 0 ? 0 : 2);
    }
    int st = child_status(pid);
    assert_true(st == 0 || st == 86);
    open_vol(f, f->key, true);
    uint64_t done, total;
    vol_crypt_progress(f->v, &done, &total);
    assert_true(done <= total);
    check_model(f);
    size_t slen;
    uint8_t *sbytes = file_bytes(f->state, &slen);
    assert_no_plaintext(sbytes, slen, f->model, f->size);
    free(sbytes);
    finish_conversion(f);
    check_model(f);
    assert_hole(f, 3u << 20, 3u << 20);
    assert_hole(f, 1u << 20, 64 * 1024);
    assert_file_secret(f);
    assert_int_equal(vol_close(f->v), 0);
    open_vol(f, f->key, false); /* converted: an ordinary encrypted volume */
    check_model(f);
    assert_int_equal(vol_close(f->v), 0);
    f->v = NULL;
    if (st == 0)
      break;
    crashes++;
  }
  assert_true(crashes >= 15); /* 5 points in each of 3 steps, and the hole */
}

/* A capture fenced before a conversion reads the fenced image while the
 * conversion runs and the guest overwrites chunks on both sides of the
 * watermark (copy-before-write reads plaintext or ciphertext as the
 * watermark says, and its copies are encrypted either way). */
static void test_capture_during_conversion(void **state)
{
  struct fixture *f = *state;
  open_vol(f, f->key, true);
  uint8_t *image = malloc(f->size), *got = malloc(CHUNK), b[CHUNK];
  memcpy(image, f->model, f->size);
  struct vol_capture *cap;
  struct volume *vols[1] = {f->v};
  assert_int_equal(vol_fence(vols, 1, VOL_FENCE_ALL, &cap, NULL), 0);
  uint64_t n = vol_capture_chunks(cap), next = 0;
  int r = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (i % 64 == 0 && r == 0)
      r = vol_crypt_step(f->v, 1); /* 4 MiB more encrypted, between the guest's writes */
    assert_true(r >= 0);
    random_bytes(b, sizeof b);
    uint64_t at = (i * 7919 % n) * CHUNK + 100; /* chunks in a scattered order, unaligned */
    if (at + CHUNK / 2 <= f->size)
      model_write(f, b, CHUNK / 2, at);
    while (next <= i / 2) { /* the capture reads at half the guest's pace */
      size_t len;
      assert_int_equal(vol_capture_read(cap, next, got, &len), 0);
      assert_memory_equal(got, image + next * CHUNK, len);
      next++;
    }
  }
  for (; next < n; next++) {
    size_t len;
    assert_int_equal(vol_capture_read(cap, next, got, &len), 0);
    assert_memory_equal(got, image + next * CHUNK, len);
  }
  vol_capture_end(cap, true);
  finish_conversion(f);
  check_model(f);
  assert_file_secret(f);
  free(image);
  free(got);
}

/* A plaintext volume still hydrating when its conversion starts: hydration
 * writes are encrypted below the watermark, plain above, and both finish
 * right. */
static void test_conversion_of_a_hydrating_volume(void **state)
{
  struct fixture *f = *state;
  unlink(f->img);
  assert_int_equal(vol_create(f->img, f->size), 0);
  struct mem_source src = {malloc(f->size), f->size - 1536};
  memcpy(src.bytes, f->model, f->size);
  memset(f->model + src.size, 0, 1536);
  struct vol_source vs = {mem_read, mem_is_zero, &src, src.size};
  assert_int_equal(vol_open(f->img, f->cbt, CHUNK, false, false, &f->v), 0);
  assert_int_equal(vol_hydrate_attach(f->v, &vs, f->hyd, true), 0);
  assert_int_equal(vol_hydrate_step(f->v, 1 << 20), 0); /* some of it, in plaintext */
  assert_int_equal(vol_close(f->v), 0);
  assert_int_equal(vol_open(f->img, f->cbt, CHUNK, false, false, &f->v), 0);
  assert_int_equal(vol_hydrate_attach(f->v, &vs, f->hyd, false), 0);
  assert_int_equal(vol_crypt_attach(f->v, f->key, f->state, true), 0);
  int h = 0, c = 0;
  while (h == 0 || c == 0) {
    if (h == 0)
      h = vol_hydrate_step(f->v, 1 << 20);
    if (c == 0)
      c = vol_crypt_step(f->v, 1);
    assert_true(h >= 0 && c >= 0);
  }
  assert_true(vol_encrypted(f->v));
  check_model(f);
  assert_file_secret(f);
  assert_int_equal(vol_close(f->v), 0);
  open_vol(f, f->key, false);
  check_model(f);
  free(src.bytes);
}

/* A state whose slots are both damaged is refused, never taken for a new
 * conversion (which would encrypt the encrypted range again). */
static void test_damaged_state_refused(void **state)
{
  struct fixture *f = *state;
  open_vol(f, f->key, true);
  assert_int_equal(vol_crypt_step(f->v, 1), 0); /* one step: 4 MiB encrypted */
  assert_int_equal(vol_close(f->v), 0);
  f->v = NULL;
  int fd = open(f->state, O_WRONLY);
  uint8_t junk[1024];
  memset(junk, 0x5a, sizeof junk);
  assert_int_equal(pwrite(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
  close(fd);
  struct volume *v;
  assert_int_equal(vol_open(f->img, NULL, CHUNK, false, false, &v), 0);
  assert_int_equal(vol_crypt_attach(v, f->key, f->state, true), -EIO);
  assert_false(vol_encrypted(v));
  vol_close(v);
}

/* An I/O error (failpoint vol.crypt.fail: the n-th point fails) at every
 * point of a conversion: the step fails, the next one redoes what the
 * failed one left (its journal) and the conversion ends with the same bytes.
 * In a child, as the failpoint is process-wide. */
static void test_conversion_survives_an_error_anywhere(void **state)
{
  struct fixture *f = *state;
  for (int at = 1;; at++) {
    write_plain(f);
    pid_t pid = fork();
    if (pid == 0) {
      struct volume *v = child_attach(f, "vol.crypt.fail", at);
      int r, errors = 0;
      while ((r = vol_crypt_step(v, 1 << 20)) != 1)
        if (r < 0 && ++errors > 1)
          _exit(2);
      uint8_t *got = malloc(f->size);
      if (vol_pread(v, got, f->size, 0) || memcmp(got, f->model, f->size) || !vol_encrypted(v))
        _exit(3);
      free(got);
      _exit(vol_close(v) ? 4 : errors ? 5 : 0); /* 5: failed once, and recovered */
    }
    int st = child_status(pid);
    assert_true(st == 0 || st == 5);
    open_vol(f, f->key, false);
    check_model(f);
    assert_file_secret(f);
    assert_int_equal(vol_close(f->v), 0);
    f->v = NULL;
    if (st == 0)
      break;
    assert_true(at < 100);
  }
}

struct io_thread {
  struct fixture *f;
  uint64_t lo, hi; /* the sectors this thread owns (bytes) */
  _Atomic bool *stop;
  int ops;
};

/* Unaligned writes, zeros and reads of its own range, checked against the
 * model (which only this thread changes there). */
static void *conversion_io(void *arg)
{
  struct io_thread *t = arg;
  struct fixture *f = t->f;
  uint8_t *b = malloc(3 * SECTOR), *got = malloc(3 * SECTOR);
  uint64_t x = t->lo * 2654435761u + 1;
  const char *fail = NULL;
  while (!fail && (!atomic_load(t->stop) || t->ops < 200)) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint64_t off = t->lo + x % (t->hi - t->lo), n = (x >> 20) % (3 * SECTOR) + 1;
    if (n > t->hi - off)
      n = t->hi - off;
    for (uint64_t i = 0; i < n; i++)
      b[i] = (uint8_t)(x >> 8) + (uint8_t)i;
    switch (x >> 60 & 3) {
    case 0:
      if (vol_zero(f->v, off, n, 0))
        fail = "zero";
      memset(f->model + off, 0, n);
      break;
    case 1:
    case 2:
      if (vol_pwrite(f->v, b, n, off, 0))
        fail = "write";
      memcpy(f->model + off, b, n);
      break;
    default:
      if (vol_pread(f->v, got, n, off) || memcmp(got, f->model + off, n))
        fail = "read";
    }
    t->ops++;
  }
  free(b);
  free(got);
  return (void *)fail;
}

static void test_io_during_conversion(void **state)
{
  struct fixture *f = *state;
  open_vol(f, f->key, true);
  assert_false(vol_encrypted(f->v));
  _Atomic bool stop = false;
  struct io_thread t[3];
  pthread_t th[3];
  uint64_t part = f->size / 3 / SECTOR * SECTOR;
  for (int i = 0; i < 3; i++) {
    t[i] = (struct io_thread){f, i * part, i == 2 ? f->size : (i + 1) * part, &stop, 0};
    assert_int_equal(pthread_create(&th[i], NULL, conversion_io, &t[i]), 0);
  }
  uint64_t last = 0;
  int r;
  while ((r = vol_crypt_step(f->v, 1)) == 0) { /* one step at a time */
    uint64_t done, total;
    vol_crypt_progress(f->v, &done, &total);
    assert_true(done > last);
    last = done;
  }
  assert_int_equal(r, 1);
  atomic_store(&stop, true);
  for (int i = 0; i < 3; i++) {
    void *res;
    pthread_join(th[i], &res);
    assert_null(res);
  }
  assert_true(vol_encrypted(f->v));
  check_model(f);
  assert_file_secret(f);
  assert_int_equal(vol_close(f->v), 0);
  open_vol(f, f->key, false);
  check_model(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_attach_refuses_bad_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_back_aligned_and_unaligned, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipe_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zeros_are_holes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_partial_writers_keep_each_others_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sectors_are_atomic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_capture_sees_fenced_image, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hydration_is_encrypted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_key_reads_garbage, setup, teardown),
      cmocka_unit_test_setup_teardown(test_grow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_conversion_survives_a_crash_anywhere, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_conversion_survives_an_error_anywhere, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_io_during_conversion, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_capture_during_conversion, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_conversion_of_a_hydrating_volume, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_damaged_state_refused, setup_plain, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
