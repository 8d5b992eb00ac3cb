/*
 * internal.h — the volume structure shared by vol.c (I/O), cbt.c (dirty
 * bitmap) and fence.c (fence, capture, copy-before-write).
 */
#pragma once
#include <pthread.h>
#include <stdatomic.h>

#include "vol/vol.h"

struct cbt {
  _Atomic uint64_t *words; /* bit i: chunk i written since the last committed capture */
  uint64_t nchunks;
  bool trusted;
};

/* A byte-changing request in flight: its chunk range, the epoch it entered
 * in, and the capture it must copy-before-write for (if any). */
struct write_slot {
  bool used;
  uint64_t first, last, epoch;
  struct vol_capture *capture;
};

#define VOL_MAX_INFLIGHT 256

struct volume {
  int fd;
  char *path;
  char *cbt_path;
  bool readonly;
  uint32_t chunk_size;
  _Atomic uint64_t size;

  /* write gate (fence.c): writers register in a slot unless the gate is
   * closed; everything below is guarded by `gate` */
  pthread_mutex_t gate;
  pthread_cond_t gate_cv;
  unsigned in_flight;
  unsigned closers;     /* fences (or grows) holding the gate closed */
  uint64_t epoch;       /* bumped by every fence */
  struct write_slot slots[VOL_MAX_INFLIGHT];
  unsigned high_water;  /* slots[high_water..] are unused */

  struct cbt cbt;               /* swapped under the gate; bits set under it too */
  struct vol_capture *capture;  /* armed copy-before-write, or NULL */

  /* hydration (hydrate.c): `lazy` is the one branch the I/O paths take; it
   * is true while some chunk may still come from the source, and turns false
   * only once a complete bitmap is durable.  hy lives until vol_close. */
  _Atomic bool lazy;
  _Atomic bool no_nowait; /* the file system refused RWF_NOWAIT reads (vol_pread_nowait) */
  struct hydration *hy;
  /* encryption at rest (crypt.c): NULL for a plaintext volume; set before
   * any I/O, freed by vol_close */
  struct vcrypt *cr;
};

/* cbt.c */
int cbt_init(struct cbt *c, uint64_t nchunks, const char *path, bool trusted);
void cbt_free(struct cbt *c);
void cbt_mark(struct cbt *c, uint64_t first, uint64_t last);
bool cbt_test(const struct cbt *c, uint64_t idx);
int cbt_save(const struct cbt *c, const char *path);
int cbt_resize(struct cbt *c, uint64_t nchunks);

/* vol.c: extents of the file alone (SEEK_DATA/SEEK_HOLE) over [off, end). */
int file_extents(struct volume *v, uint64_t off, uint64_t end, vol_extent_cb cb, void *ctx);
/* vol.c: trim and zero of the file's bytes [off, off+len) (hole punching). */
int file_trim(struct volume *v, uint64_t off, uint64_t len);
int file_zero(struct volume *v, uint64_t off, uint64_t len, unsigned flags);
int write_zeros_at(int fd, uint64_t off, uint64_t len);
/* vol.c: fsync of the directory holding path. */
int fsync_parent_dir(const char *path);

/* crypt.c (called only when v->cr).  wm: the file's sectors below wm are
 * encrypted, the others plaintext (a conversion's watermark); VC_ALL for a
 * converted volume and for side files. */
#define VC_ALL UINT64_MAX
enum { VC_OWNED = 1, /* the caller's buffer may be overwritten (encrypted in place) */
       VC_SIDE = 2   /* a side file (copy-before-write): zeros are written, not punched */ };
/* An access to the file registered with a conversion (vc_enter .. vc_exit):
 * no step converts [lo, hi) meanwhile, and wm is the watermark to use. */
struct vc_io {
  uint64_t lo, hi, wm;
  struct vc_io *prev, *next;
  bool linked;
};
void vc_enter(struct volume *v, uint64_t off, uint64_t len, struct vc_io *io);
void vc_exit(struct volume *v, struct vc_io *io);
/* [off, off+len) of fd decrypted / encrypted (partial sectors read, patched
 * and written under their sector lock); fd is the volume's file (between
 * vc_enter and vc_exit; its sector locks taken across each system call) or
 * a side file (wm = VC_ALL; not locked: the capture's stripes serialize it). */
int vc_read(struct volume *v, int fd, void *buf, size_t len, uint64_t off, uint64_t wm);
int vc_write(struct volume *v, int fd, const void *buf, size_t len, uint64_t off, uint64_t wm, unsigned flags);
/* vc_enter, vc_read or vc_write of the volume's file, vc_exit. */
int vc_pread(struct volume *v, void *buf, size_t len, uint64_t off);
int vc_pwrite(struct volume *v, const void *buf, size_t len, uint64_t off, unsigned flags);
/* vol_pread_nowait of an encrypted volume (-EAGAIN unless whole sectors). */
int vc_pread_nowait(struct volume *v, void *buf, size_t len, uint64_t off);
/* Trim (partly covered sectors left as they are) or zero (rewritten). */
int vc_zero(struct volume *v, uint64_t off, uint64_t len, unsigned flags, bool trim);
/* Hydration's writer (inside vc_enter): encrypts buf, the plaintext of
 * [off, off+len) (off sector aligned), in place; *ready is the length from
 * off now ready to be written as it is, the rest (part of a last sector)
 * has been written here. */
int vc_seal(struct volume *v, uint8_t *buf, size_t len, uint64_t off, uint64_t wm, size_t *ready);
/* The calling thread's bounce buffer (vc_bounce_len bytes, sector aligned;
 * NULL if it cannot be had), for bytes to be written VC_OWNED. */
void *vc_bounce(void);
size_t vc_bounce_len(void);
void vc_close(struct volume *v);

/* hydrate.c (called only when v->lazy) */
struct hydration;
/* A guest change of [off, off+len): hydrates the partly covered chunks not
 * yet hydrated, and locks the fully covered ones (held across the change). */
struct hy_claim {
  uint64_t first, last;   /* chunks the change touches (clipped to the source) */
  uint64_t cfirst, clast; /* fully covered chunks claimed: marked after the change */
  uint64_t stripes[4];    /* stripe locks held (256 stripes) */
};
int hy_change_begin(struct volume *v, uint64_t off, uint64_t len, struct hy_claim *cl);
void hy_change_end(struct volume *v, struct hy_claim *cl, int r);
/* Makes chunk idx hold its real content in the file (no-op when hydrated). */
int hy_ensure(struct volume *v, uint64_t idx);
int hy_ensure_range(struct volume *v, uint64_t off, uint64_t len);
/* FLUSH / FUA on a lazy volume: fdatasync, and persist the bitmap when a
 * guest change may rely on it. */
int hy_flush(struct volume *v);
int hy_extents(struct volume *v, uint64_t off, uint64_t end, vol_extent_cb cb, void *ctx);
/* vol_close: persists the bitmap (after the caller's fdatasync), frees. */
int hy_close(struct volume *v);

/* fence.c: the write gate.  gate_enter registers a request for chunks
 * [first, last], marks them in the CBT bitmap of its epoch and returns its
 * slot and the capture it must copy-before-write for (NULL: none). */
int gate_enter(struct volume *v, uint64_t first, uint64_t last, struct vol_capture **cbw);
void gate_exit(struct volume *v, int slot);
/* Copies the fenced image of the captured chunks in [first, last] aside. */
int cbw_before_write(struct volume *v, struct vol_capture *c, uint64_t first, uint64_t last);
/* Blocks writers and waits until none is in flight / lets them go again. */
void gate_close(struct volume *v);
void gate_open(struct volume *v);
