/*
 * vimg.h — a virtual disk image for tree tests: one content seed per 4 KiB
 * chunk (0 = zeros), content generated on demand, so large sparse disks cost
 * only what is allocated.  Odd seeds give compressible text, even seeds
 * random bytes.  Acts as a tree_source (thread-safe: read-only).
 */
#pragma once
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../cas/testutil.h"
#include "snap/tree.h"

#define VCH 4096u

struct vimg {
  uint64_t size, nchunks;
  uint64_t *seed;
};

static inline void vimg_init(struct vimg *v, uint64_t size)
{
  v->size = size;
  v->nchunks = (size + VCH - 1) / VCH;
  v->seed = calloc(v->nchunks ? v->nchunks : 1, sizeof *v->seed);
}

static inline void vimg_copy(struct vimg *dst, const struct vimg *src)
{
  vimg_init(dst, src->size);
  memcpy(dst->seed, src->seed, src->nchunks * sizeof *src->seed);
}

/* Changes the size; new chunks read as zeros. */
static inline void vimg_resize(struct vimg *v, uint64_t size)
{
  uint64_t n = (size + VCH - 1) / VCH;
  uint64_t *s = calloc(n ? n : 1, sizeof *s);
  memcpy(s, v->seed, (n < v->nchunks ? n : v->nchunks) * sizeof *s);
  free(v->seed);
  v->seed = s;
  v->size = size;
  v->nchunks = n;
}

static inline void vimg_free(struct vimg *v) { free(v->seed); v->seed = NULL; }

static inline uint32_t vimg_chunk_len(const struct vimg *v, uint64_t i)
{
  return v->size - i * VCH < VCH ? (uint32_t)(v->size - i * VCH) : VCH;
}

/* Full 4 KiB content of chunk i (zero-extended past the disk's end). */
static inline void vimg_chunk(const struct vimg *v, uint64_t i, uint8_t *out)
{
  uint64_t sd = i < v->nchunks ? v->seed[i] : 0;
  if (!sd) {
    memset(out, 0, VCH);
    return;
  }
  uint64_t s = sd * 1000003u + i;
  tu_fill(&s, out, VCH, (int)(sd & 1));
  if (i == v->nchunks - 1)
    memset(out + vimg_chunk_len(v, i), 0, VCH - vimg_chunk_len(v, i));
}

static inline int vimg_read(void *ctx, void *buf, size_t len, uint64_t off)
{
  const struct vimg *v = ctx;
  if (off + len > v->size)
    return -EIO;
  uint8_t tmp[VCH], *p = buf;
  while (len > 0) {
    uint64_t i = off / VCH, in = off % VCH;
    size_t n = VCH - in < len ? VCH - in : len;
    vimg_chunk(v, i, tmp);
    memcpy(p, tmp + in, n);
    p += n, off += n, len -= n;
  }
  return 0;
}

static inline int vimg_is_zero(void *ctx, uint64_t off, uint64_t len)
{
  const struct vimg *v = ctx;
  for (uint64_t i = off / VCH; i * VCH < off + len && i < v->nchunks; i++)
    if (v->seed[i])
      return 0;
  return 1;
}

static inline struct tree_source vimg_source(struct vimg *v)
{
  return (struct tree_source){.read = vimg_read, .is_zero = vimg_is_zero, .ctx = v};
}

/* Chunks i whose content differs between a and b, zero-extended. */
static inline bool vimg_chunk_differs(const struct vimg *a, const struct vimg *b, uint64_t i)
{
  uint64_t sa = i < a->nchunks ? a->seed[i] : 0, sb = i < b->nchunks ? b->seed[i] : 0;
  if (sa == 0 && sb == 0)
    return false;
  uint8_t x[VCH], y[VCH];
  vimg_chunk(a, i, x);
  vimg_chunk(b, i, y);
  return memcmp(x, y, VCH) != 0;
}
