/*
 * tree.h — snapshot trees: a disk image as a tree of chunk addresses.
 *
 * A tree stores a disk of `size` bytes cut into chunks of the store's chunk
 * size (the last one may be short).  Leaves (level 0) hold up to 256 chunk
 * addresses in disk order, interior nodes up to 256 child addresses; the zero
 * address stands for an all-zero chunk or an all-zero subtree, which is never
 * stored.  A small root object records the size, the chunk size and the
 * height and points at the top node; its address identifies the disk content.
 * The form is canonical: the same content and size always give the same root
 * address, whether built full or incrementally.  Format: node.c.
 *
 * Closure invariant: a node is stored only after everything below it is
 * stored (builders put children first), so "the store has node X" implies
 * "the store has X's whole subtree" — copies can skip any node the target has.
 *
 * Durability: builders only put; the caller runs cas_sync before recording
 * the root anywhere, and holds a cas_hold (with the base root added) for the
 * duration of an incremental build when GC may run (see cas.h).
 *
 * Thread safety: every function may be called from many threads at once on
 * the same store; a struct tree_reader is for one thread at a time.
 * Errors: 0 or -errno; -EINVAL for a malformed argument or a chunk-size
 * mismatch, -EIO for damaged or malformed objects, -ENOENT for missing ones,
 * or whatever the source callback returned.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cas/cas.h"

#define TREE_FANOUT 256u

struct tree_info {
  uint64_t size;
  unsigned chunk_shift;
  unsigned height;       /* levels of nodes above the leaves */
  struct cas_addr top;   /* top node (zero: the whole disk reads as zeros) */
};
int tree_info(struct cas *cas, const struct cas_addr *root, struct tree_info *out);

/* A disk image to read from.  read must fill exactly len bytes at off and be
 * callable from several threads at once (pread-like).  is_zero (optional)
 * returns 1 if [off, off+len) is known to read as zeros without reading it
 * (a hole), 0 if not known, or -errno. */
struct tree_source {
  int (*read)(void *ctx, void *buf, size_t len, uint64_t off);
  int (*is_zero)(void *ctx, uint64_t off, uint64_t len);
  void *ctx;
};
/* A source over a file descriptor: pread, and SEEK_DATA/SEEK_HOLE so that
 * holes are never read.  fd must stay open while the source is used. */
struct tree_source tree_source_fd(int *fd);

struct tree_opts {
  unsigned threads;   /* 0: two per online CPU (reads overlap with CPU work) */
  void (*progress)(void *ctx, uint64_t done, uint64_t total); /* bytes; may be NULL */
  void *progress_ctx;
};

struct tree_build_stats {
  uint64_t chunks_read, chunks_zero, chunks_stored, bytes_read, bytes_stored, nodes_stored;
};

/* Builds the tree of a whole image of `size` bytes.  Reads every chunk the
 * source does not report as a hole, hashes/compresses/stores them on
 * opts->threads threads with one chunk buffer each (bounded memory).  st may
 * be NULL. */
int tree_build_full(struct cas *cas, const struct tree_source *src, uint64_t size, const struct tree_opts *opts,
                    struct cas_addr *root_out, struct tree_build_stats *st);

/* Builds the tree of an image that differs from `base` only in the chunks
 * listed in `changed` (chunk indices, any order, duplicates allowed; indices
 * beyond the new size are ignored).  Reads only those chunks (plus the last
 * chunk when the size changes) and rewrites only the nodes on their paths.
 * A grown disk's new area reads as zeros unless listed.  The result equals
 * tree_build_full of the same image. */
int tree_build_incremental(struct cas *cas, const struct cas_addr *base, const struct tree_source *src,
                           uint64_t size, const uint64_t *changed, size_t n_changed, const struct tree_opts *opts,
                           struct cas_addr *root_out, struct tree_build_stats *st);

/* Random-access reads with a per-reader cache of the path to the last leaf. */
struct tree_reader;
int tree_reader_open(struct cas *cas, const struct cas_addr *root, struct tree_reader **out);
void tree_reader_close(struct tree_reader *rd);
const struct tree_info *tree_reader_info(const struct tree_reader *rd);
/* Reads [off, off+len), which must lie within the disk (-EINVAL otherwise). */
int tree_reader_read(struct tree_reader *rd, void *buf, size_t len, uint64_t off);
/* Address of chunk i (zero address for a hole). */
int tree_reader_chunk(struct tree_reader *rd, uint64_t i, struct cas_addr *out);
/* One-shot convenience: open, read, close. */
int tree_read(struct cas *cas, const struct cas_addr *root, void *buf, size_t len, uint64_t off);

/* Writes the whole disk to fd (which should be empty): sets its size, writes
 * only non-zero chunks (holes stay holes), on opts->threads threads that each
 * fetch, check and decompress chunks ahead of each other. */
int tree_restore(struct cas *cas, const struct cas_addr *root, int fd, const struct tree_opts *opts);

/* Calls fn for maximal extents of [0, size) that are allocated (zero=false)
 * or read as zeros (zero=true), in order.  Visits nodes only, never chunks.
 * fn returns 0 to go on, > 0 to stop (returned; fn is not called again), or
 * -errno (returned). */
struct tree_extent {
  uint64_t off, len;
  bool zero;
};
int tree_map(struct cas *cas, const struct cas_addr *root, int (*fn)(void *ctx, const struct tree_extent *e),
             void *ctx);
/* The same from byte `from` on (the first extent starts there); subtrees
 * that end before it are not read, so resuming a long map costs a path. */
int tree_map_from(struct cas *cas, const struct cas_addr *root, uint64_t from,
                  int (*fn)(void *ctx, const struct tree_extent *e), void *ctx);

/* Calls fn, in order, for maximal byte ranges in [0, max(size_a, size_b))
 * where the two disks differ, bytes beyond a disk's end reading as zeros.
 * Identical subtrees are skipped by address, so the cost is proportional to
 * what changed (st->nodes_read counts node fetches).  Granularity is the
 * chunk; the last chunk of a disk whose size changed may be reported even if
 * only its length differs.  Both trees must use the same chunk size. */
struct tree_diff_stats {
  uint64_t nodes_read, chunks_differ;
};
int tree_diff(struct cas *cas, const struct cas_addr *a, const struct cas_addr *b,
              int (*fn)(void *ctx, uint64_t off, uint64_t len), void *ctx, struct tree_diff_stats *st);
/* The differences as tree_diff finds them, from byte `from` on, each with
 * what b holds there: e->zero when the range reads as zeros in b (a page
 * that was cleared), else data (a page that was written).  Runs merge only
 * with runs of the same kind.  Subtrees before `from` are not read. */
int tree_changes(struct cas *cas, const struct cas_addr *a, const struct cas_addr *b, uint64_t from,
                 int (*fn)(void *ctx, const struct tree_extent *e), void *ctx, struct tree_diff_stats *st);

/* Top-down walk for copies and checks.  pre is called for every object
 * reached (root first); for a node it returns TREE_DESCEND or TREE_SKIP (e.g.
 * "the target already has it": by the closure invariant it has the subtree).
 * post is called for a descended node after all its children, with its
 * content, so a copier stores bottom-up and keeps the closure invariant.
 * Either callback may be NULL; a negative return stops the walk. */
enum tree_walk_action { TREE_DESCEND = 0, TREE_SKIP = 1 };
struct tree_walk_ops {
  int (*pre)(void *ctx, const struct cas_addr *a, enum cas_type t);
  int (*post)(void *ctx, const struct cas_addr *a, const void *node, size_t len);
};
int tree_walk(struct cas *cas, const struct cas_addr *root, const struct tree_walk_ops *ops, void *ctx);
