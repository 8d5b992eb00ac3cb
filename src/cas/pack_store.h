/*
 * pack_store.h — where a store's packs and their index blobs live (internal
 * to cas/): the seam between the pack layer and the object back end.
 *
 * Everything of cas/ that touches a pack's or an index's bytes goes through
 * these ops; nothing else of cas/ holds a file descriptor or a path of one.
 * The record format, the index encoding, recovery's logic and GC's protocol
 * stay above the seam (pack.c, store.c, gc.c), so every back end stores the
 * same bytes.  Two back ends, chosen by the store's location
 * (pack_store_open; docs/storage.md, "The pack store seam"):
 *   - dir:PATH, the local directory (pack_dir.c: `packs/NNNNNNNN.pack` and
 *     `.idx`), the default;
 *   - rados:pool=…, Ceph RADOS (pack_rados.c): create = an exclusive create
 *     with the header; append = an aio write, sync = waiting for the
 *     outstanding ones (an ack is durable on every replica); idx_put =
 *     write_full of the idx object; read = a ranged read; remove = removing
 *     both objects.  One node owns the store (a lease on a lock object) and
 *     lists its packs from a registry object, stand-ins for the PostgreSQL
 *     pack registry and node leases of several nodes (SCALE-OUT.md §3).
 *   - S3 (next): the open pack is staged in a local file (append, truncate,
 *     read as the dir back end does); sync(SEAL) is the one PUT, with
 *     If-None-Match: *; read of a sealed pack a ranged GET; remove DELETEs.
 * With several nodes a distributed back end will never recover a torn pack
 * (a dead node's open pack was never published: it is an orphan the GC
 * removes) and never list (the registry knows the packs); while one node
 * owns a store, `list` and recovery of its own open pack (`size`,
 * `truncate`) work on every back end, and `truncate` is only ever called on
 * the node's own open pack.
 *
 * A pack handle (struct pack_obj) is what the pack table keeps per pack: one
 * per pack, shared by all readers, closed when the last reference goes
 * (cas_pack_unref).  Per-pack ops are thread-safe on one handle for reads
 * and hints; appends, sync and truncate come from one writer at a time
 * (write_lock, or a pack no longer open that only its sealer touches).
 *
 * Durability, by op — the numbers are the invariants of store.c, where the
 * test that checks each is named:
 *   create    durable on return, header included, and exclusive: -EEXIST
 *             rather than touching an existing pack (2), (4).
 *   append    not durable; on failure part of it may be in the pack, and
 *             the caller cuts it off with truncate (4).
 *   sync      DATA: every byte appended before it is durable (1).  SEAL: the
 *             same, and the pack takes no append again — it is complete
 *             and immutable once its index is put (1), (2).  RECOVERED:
 *             durable after recovery cut a torn tail or wrote the header
 *             of a pack whose creation a crash cut short (dir back end, (4)).
 *   truncate  cuts the node's own open pack; not durable by itself (4).
 *   idx_put   atomic and durable on return: a reader gets the old blob (or
 *             none) or the new one, never a part (3).  Called only once the
 *             pack is durable (sync SEAL), which is what makes it sealed.
 *   remove    the index, then the pack (a pack without index is rescanned,
 *             never an index without pack); durable after sync_removals (6).
 *   conf_put  atomic and durable on return, like idx_put: the store's config.
 *   read, hint, size, idx_get, conf_get, list: no durability of their own.
 * Errors are -errno; the dir back end's I/O sits at the failpoint sites of
 * docs/reliability.md (cas.pack.create, .write, .fsync, .seal,
 * cas.index.write, cas.gc.unlink, cas.gc.fsync_dir).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct pack_store_ops;

/* A store of packs; a back end embeds it first in its own state. */
struct cas_pack_store {
  const struct pack_store_ops *ops;
  uint64_t pack_target; /* the pack size the back end prefers; 0: the store's default */
};

/* One pack held open; a back end embeds it first in its handle. */
struct pack_obj {
  const struct pack_store_ops *ops;
};

enum pack_sync {
  PACK_SYNC_DATA,      /* cas_sync: the appended bytes durable, the pack stays open */
  PACK_SYNC_SEAL,      /* sealing: durable and complete, no append follows */
  PACK_SYNC_RECOVERED, /* after recovery cut a torn tail (dir back end) */
};

enum pack_hint {
  PACK_HINT_WILLNEED,  /* [off, off+len) is about to be read */
  PACK_HINT_WRITEBACK, /* [off, off+len) was appended: start writing it out (keeps sync short) */
  PACK_HINT_DONTNEED,  /* a sealed pack nobody is about to read: drop cached copies of it */
};

struct pack_store_ops {
  /* Creates pack id with its file header hdr (len bytes), exclusively. */
  int (*create)(struct cas_pack_store *s, uint32_t id, const void *hdr, size_t len, struct pack_obj **out);
  /* Opens an existing pack (writable: to recover or append to it); -ENOENT when there is none. */
  int (*open)(struct cas_pack_store *s, uint32_t id, bool writable, struct pack_obj **out);
  void (*close)(struct pack_obj *h);
  /* Writes the iovecs at off, which is the pack's current end. */
  int (*append)(struct pack_obj *h, const struct iovec *iov, int n, uint64_t off);
  int (*sync)(struct pack_obj *h, enum pack_sync how);
  /* Reads exactly the iovecs' bytes at off (iov may be advanced in place); -EIO if the pack ends first,
   * -ENOENT if it is gone (RADOS: GC removed it since the reader's lookup, which get.c then repeats). */
  int (*read)(struct pack_obj *h, struct iovec *iov, int n, uint64_t off);
  /* Advice only: never fails, may do nothing. */
  void (*hint)(struct pack_obj *h, enum pack_hint what, uint64_t off, uint64_t len);
  /* The pack's length in the back end (recovery, and the pack table at open). */
  int (*size)(struct pack_obj *h, uint64_t *size);
  int (*truncate)(struct pack_obj *h, uint64_t size);
  /* The sealed pack id's index blob; idx_get: -ENOENT when there is none, *buf malloc'd. */
  int (*idx_put)(struct cas_pack_store *s, uint32_t id, const void *buf, size_t len);
  int (*idx_get)(struct cas_pack_store *s, uint32_t id, void **buf, size_t *len);
  /* Removes pack id and its index blob; sync_removals makes the removals so far durable. */
  int (*remove)(struct cas_pack_store *s, uint32_t id);
  int (*sync_removals)(struct cas_pack_store *s);
  /* The store's config blob (store.c's format); conf_get: -ENOENT when there is none, *buf malloc'd. */
  int (*conf_put)(struct cas_pack_store *s, const void *buf, size_t len);
  int (*conf_get)(struct cas_pack_store *s, void **buf, size_t *len);
  /* The ids of the packs there, ascending, *ids malloc'd. */
  int (*list)(struct cas_pack_store *s, uint32_t **ids, size_t *n);
  /* Closes the store (and releases what open took: the store's lock). */
  void (*free)(struct cas_pack_store *s);
};

/* Opens the pack store at location (cas_open's; grammar in cas.h): the dir
 * back end for "dir:PATH" or a plain path, RADOS for "rados:…" (-EPROTONOSUPPORT
 * when built without it, or for another scheme; -EINVAL for a malformed
 * location).  Creates what create asks for (the dir back end's directories);
 * takes the store's lock, exclusively or shared when read_only (-EBUSY when
 * another process holds it the other way).  Errors are logged here. */
int pack_store_open(const char *location, bool create, bool read_only, struct cas_pack_store **out);

/* For the back ends' list: appends id to *ids (n used of cap, grown by doubling). */
int pack_ids_push(uint32_t **ids, size_t *n, size_t *cap, uint32_t id);

/* One buffer read at off. */
static inline int pack_obj_read(struct pack_obj *h, void *buf, size_t len, uint64_t off)
{
  struct iovec v = {buf, len};
  return h->ops->read(h, &v, 1, off);
}

/* The local directory back end (pack_dir.c).  Opens DIR/packs (creating DIR
 * and it when create) and takes DIR/lock: exclusively, or shared when
 * read_only (-EBUSY when another process holds it the other way). */
int pack_dir_open(const char *dir, bool create, bool read_only, struct cas_pack_store **out);
/* The RADOS back end (pack_rados.c), params the part of a "rados:" location
 * after the scheme. */
int pack_rados_open(const char *params, bool create, bool read_only, struct cas_pack_store **out);
/* "PACKDIR/NNNNNNNN.EXT" (ext "pack" or "idx"); caller frees. */
char *pack_path(const char *packdir, uint32_t id, const char *ext);
/* The directory of a dir store's packs (tests and tools that reach into it). */
const char *pack_dir_path(const struct cas_pack_store *s);
