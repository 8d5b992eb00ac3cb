/*
 * vol.h — live volumes: the bytes of a managed disk.
 *
 * A volume is a sparse file named by a generated id (never by a request
 * name).  Reads and writes go straight to it with pread/pwrite; TRIM and
 * WRITE_ZEROES punch holes; FLUSH is fdatasync; FUA writes are fdatasync'd
 * before they return.  On top of the file a volume keeps:
 *  - changed-block tracking (CBT): a bitmap with one bit per chunk (the chunk
 *    store's chunk size) set by every write, trim and zero since the last
 *    restore point.  After an unclean shutdown the bitmap is not trusted
 *    (vol_cbt_trusted() is false) and the next capture re-reads every
 *    allocated chunk.
 *  - the write gate used by the consistency-group fence (vol_fence()), and
 *    copy-before-write for chunks captured by a fence but not yet read.
 *
 * Thread-safety: every function may be called concurrently from any number of
 * threads (NBD connections, capture jobs); writes to overlapping ranges from
 * different threads are ordered only as the caller orders them, as on a disk.
 *
 * Errors: 0 or -errno (-EIO, -ENOSPC, -EINVAL for out-of-range requests,
 * -EROFS on a read-only volume).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct volume;

/* VOL_FAST (zero only): fail with -ENOTSUP instead of writing zeros when the
 * file system cannot zero by metadata alone (NBD's FAST_ZERO). */
enum { VOL_FUA = 1, VOL_NO_HOLE = 2, VOL_FAST = 4 };

/* Creates the sparse file at path (must not exist) of size bytes (a multiple
 * of 512) and makes it durable (file and directory fsync'd). */
int vol_create(const char *path, uint64_t size);
/* Opens a volume.  cbt_path: where the CBT bitmap persists across clean
 * restarts; cbt_trusted says whether the last shutdown was clean (the
 * caller keeps that flag in the metadata store). */
int vol_open(const char *path, const char *cbt_path, uint32_t chunk_size, bool cbt_trusted, bool readonly,
             struct volume **out);
/* Flushes, persists the CBT bitmap, closes.  Returns the first error. */
int vol_close(struct volume *v);

uint64_t vol_size(const struct volume *v);
/* The bytes the volume's file occupies in its file system (a sparse file:
 * at most its size, plus metadata blocks); 0 if it cannot be told. */
uint64_t vol_allocated(const struct volume *v);
bool vol_readonly(const struct volume *v);

int vol_pread(struct volume *v, void *buf, size_t len, uint64_t off);
/* What vol_pread does before it reads (range check, hydration of a lazy
 * volume's range), then returns the file descriptor whose bytes at
 * [off, off+len) are the volume's: the caller reads them itself (the NBD
 * server splices them to a socket without copying).  The descriptor belongs
 * to the volume and stays open until vol_close.  -errno as vol_pread. */
int vol_read_fd(struct volume *v, uint64_t off, uint64_t len);
/* vol_pread if it cannot block: the volume is not lazy and every byte is in
 * the page cache (preadv2 RWF_NOWAIT).  -EAGAIN otherwise, having read
 * nothing that counts: the caller then calls vol_pread. */
int vol_pread_nowait(struct volume *v, void *buf, size_t len, uint64_t off);
int vol_pwrite(struct volume *v, const void *buf, size_t len, uint64_t off, unsigned flags);
/* vol_pwrite of len bytes that are all waiting in the pipe pipefd: they go
 * into the file with splice(2), so the caller need not copy them out of the
 * pipe first (the NBD server splices WRITE payloads from the socket).  Every
 * byte-changing rule of vol_pwrite applies (gate, CBT, copy-before-write,
 * hydration, FUA).  On an error the pipe may still hold some of the bytes. */
int vol_pwrite_pipe(struct volume *v, int pipefd, size_t len, uint64_t off, unsigned flags);
int vol_trim(struct volume *v, uint64_t off, uint64_t len, unsigned flags);
int vol_zero(struct volume *v, uint64_t off, uint64_t len, unsigned flags);
int vol_flush(struct volume *v);

/* Calls cb for consecutive extents covering [off, off+len) (clipped to the
 * size): hole = true where the range reads as zeros without being stored. */
typedef int (*vol_extent_cb)(void *ctx, uint64_t off, uint64_t len, bool hole);
int vol_extents(struct volume *v, uint64_t off, uint64_t len, vol_extent_cb cb, void *ctx);

/* Grows the volume (never shrinks): -EINVAL if new_size < size;
 * -EOPNOTSUPP for an encrypted volume whose size is not a multiple of
 * VOL_CRYPT_SECTOR (its short last XTS unit would change length). */
int vol_grow(struct volume *v, uint64_t new_size);

/* ---- consistency-group fence and capture --------------------------------- */

struct vol_capture;

/* Whether the CBT bitmap can be trusted (false after an unclean shutdown,
 * until a capture commits). */
bool vol_cbt_trusted(const struct volume *v);
uint32_t vol_chunk_size(const struct volume *v);
/* Whether chunk idx was written since the last committed capture (testing and
 * operator visibility). */
bool vol_cbt_dirty(const struct volume *v, uint64_t idx);

enum {
  /* Capture every chunk (a point-in-time copy of the whole volume) and leave
   * the dirty bitmap to the restore points: the capture neither consumes nor
   * returns it. */
  VOL_FENCE_ALL = 1,
};

/* Fences vols[0..n) as one consistency group: blocks new writes on all of
 * them, waits for in-flight writes to finish, moves each volume's dirty
 * bitmap into caps[i], arms copy-before-write for those chunks, releases the
 * writers.  *stall_ns (may be NULL) is how long writers were blocked.
 * -EBUSY if a volume already has a capture in progress. */
int vol_fence(struct volume **vols, int n, unsigned flags, struct vol_capture **caps, uint64_t *stall_ns);

/* The capture set: chunk idx must be read (dirty at the fence, or every chunk
 * when the CBT was untrusted — then `full` is true and holes may be skipped). */
uint64_t vol_capture_chunks(const struct vol_capture *c);
bool vol_capture_full(const struct vol_capture *c);
bool vol_capture_has(const struct vol_capture *c, uint64_t idx);
/* The volume's size at the fence. */
uint64_t vol_capture_size(const struct vol_capture *c);
/* Reads chunk idx as it was at the fence (the copy-before-write image if the
 * guest overwrote it since) into buf (chunk size bytes; *len gets the
 * chunk's length, shorter for the last chunk).  Afterwards the chunk needs no
 * copy-before-write any more.  -ENOENT if idx is not in the capture set. */
int vol_capture_read(struct vol_capture *c, uint64_t idx, void *buf, size_t *len);
/* 1 if chunk idx of the capture is known to read as zeros at the fence (a
 * hole the guest has not written since; the chunk then counts as read), 0 if
 * not known, -errno.  Lets the first capture of a disk skip its holes. */
int vol_capture_is_hole(struct vol_capture *c, uint64_t idx);
/* Ends a capture.  committed: the captured image is durable elsewhere, its
 * chunks are clean.  Not committed: they return to the dirty bitmap (and an
 * untrusted bitmap stays untrusted). */
void vol_capture_end(struct vol_capture *c, bool committed);

/* ---- lazy volumes: hydration from a read-only source (hydrate.c) --------- */

/* A read-only image the volume is filled from, chunk by chunk (chunks of the
 * volume's chunk size).  Both callbacks may be called from several threads at
 * once.  read_chunk fills exactly len bytes from the start of chunk idx: one
 * chunk, or several consecutive ones (the background step reads runs of up
 * to 1 MiB), shorter at the source's end; chunk_is_zero (may be NULL)
 * returns 1 if the chunk is known to read as zeros without reading it, 0 if
 * not, or -errno.
 * vol knows nothing else about the source (a snapshot tree, in vmrpd). */
struct vol_source {
  int (*read_chunk)(void *ctx, uint64_t idx, void *buf, size_t len);
  int (*chunk_is_zero)(void *ctx, uint64_t idx);
  void *ctx;
  uint64_t size; /* bytes; at most the volume's size; beyond it the volume reads its own file */
};

/* Attaches src to v: until chunk i is hydrated, its content is the source's.
 * hyd_path is the hydration bitmap's file.  create: v is a fresh, empty
 * volume (its file one hole: hydration leaves zero blocks unwritten) — an
 * all-clear bitmap is written (durably) first.  Otherwise the
 * bitmap is loaded: -ENOENT if missing, -EIO if damaged or not made for this
 * source size and chunk size.  Call once, before v serves I/O.  The source
 * must stay usable until vol_hydrated(v) is true or v is closed; after that
 * it is never called again. */
int vol_hydrate_attach(struct volume *v, const struct vol_source *src, const char *hyd_path, bool create);
/* Background hydration: fills the next chunks not yet hydrated, in order,
 * until about budget bytes were read from the source or about a second has
 * passed, whichever comes first: pool_threads(0) filler
 * threads (at a lower priority) read the source into 1 MiB run buffers (four
 * per filler, kept until the volume is hydrated or closed) and the calling
 * thread writes them; makes the progress durable at most
 * every second or 512 MiB written, and when the last chunk is filled.  Never
 * overwrites a chunk the guest wrote.  1 when every chunk is hydrated and
 * that is durable (the volume is then a plain volume), 0 when work remains,
 * -errno.  One caller at a time. */
int vol_hydrate_step(struct volume *v, uint64_t budget);
/* Chunks hydrated (or written by the guest) and chunks of the source. */
void vol_hydrate_progress(struct volume *v, uint64_t *done, uint64_t *total);
/* No source attached, or every chunk hydrated durably. */
bool vol_hydrated(const struct volume *v);

/* ---- encryption at rest (crypt.c) -----------------------------------------
 * An encrypted volume's file holds every VOL_CRYPT_SECTOR-byte sector
 * XTS-AES-256-encrypted under the volume's own key, the tweak being the
 * sector number (dm-crypt's aes-xts-plain64 with 4 KiB sectors).  A sector
 * whose bytes in the file are all zero reads as zeros — holes, trims and
 * never-written ranges, so they cost no space (a real ciphertext sector is
 * all zero with probability 2^-32768) — and a sector written all zero is
 * stored as zeros: the file shows which sectors are zero, as any thin
 * volume does, and nothing else.  Each sector is atomic, as a disk's
 * logical block is: a read returns its old or its new bytes, never a mix,
 * whatever writes, zeroes or trims of it run at once (sector locks; writes
 * smaller than a sector are read-modify-write under them).  Every
 * byte-changing rule
 * (gate, CBT, copy-before-write, hydration, FUA) applies unchanged; the
 * splice fast paths see plaintext (vol_read_fd answers -EOPNOTSUPP: the
 * caller reads with vol_pread).
 *
 * A plaintext volume written before encryption existed is converted in
 * place: sectors below a watermark are encrypted, the rest still plain;
 * vol_crypt_step moves the watermark forward while the volume serves I/O,
 * crash-safe (the range being converted is journalled in state_path). */
#define VOL_KEY_LEN 64          /* XTS-AES-256: two 256-bit keys */
#define VOL_CRYPT_SECTOR 4096u

/* Attaches key to v (once, right after vol_open, before any I/O; the key is
 * copied).  convert = false: every sector of the file is encrypted (a new
 * volume, or a finished conversion); state_path may be NULL.  convert =
 * true: the file may still be partly plaintext; the conversion's state is
 * loaded from state_path (created, watermark 0, when missing), finishing a
 * step a crash interrupted.  -EINVAL for a size that is not a multiple of
 * 512. */
int vol_crypt_attach(struct volume *v, const uint8_t key[VOL_KEY_LEN], const char *state_path, bool convert);
/* Converts about budget bytes more, durably (data, then the watermark).  1
 * when the whole file is encrypted and that is durable (state_path may then
 * be removed — once the caller has durably recorded that the volume is
 * encrypted: a convert = true attach that finds no state starts at 0, and
 * would encrypt an encrypted file again), 0 when work remains, -errno.  One
 * caller at a time. */
int vol_crypt_step(struct volume *v, uint64_t budget);
/* Bytes converted so far and the volume's size. */
void vol_crypt_progress(struct volume *v, uint64_t *done, uint64_t *total);
/* Every byte of the file is encrypted (a key is attached and no
 * conversion is pending): what a volume may claim. */
bool vol_encrypted(const struct volume *v);
