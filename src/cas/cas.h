/*
 * cas.h — the content-addressed chunk store: public API.
 *
 * An object is a disk chunk (CAS_CHUNK) or a tree node (CAS_NODE), at most
 * CAS_MAX_OBJECT bytes.  Its address is HMAC-SHA256(cas_key.addr, type byte ||
 * content) in an encrypted store (SHA-256(type byte || content) in a plaintext
 * one, which only the upgrade still reads), so equal content is stored once
 * (cas_put deduplicates) and the store reveals no content hash.
 *
 * Encryption (an encrypted store: cas_options.key): every record — chunk,
 * node, group — is encrypted and authenticated (format and nonce scheme in
 * pack.h and docs/encryption.md); its domain id, type, lengths and address
 * are authenticated with it, so a flipped bit anywhere, or a record of
 * another domain or deployment, is -EIO like any damage.  A store belongs to
 * one key domain: objects under different keys never deduplicate.
 *
 * The all-zero address
 * (cas_addr_is_zero) is reserved: callers use it for holes and never store it.
 *
 * Node objects have a fixed outer shape that the store understands, so that GC
 * and verify can walk trees without knowing what they mean:
 *     struct cas_node_hdr (16 bytes) + count × 32-byte child addresses.
 * Children of a node with level 0 are chunks; of a node with level > 0, nodes.
 * A zero child address is a hole and is skipped.  Everything else in the
 * header belongs to the layer that built the node (snap/).
 *
 * Durability: cas_put returns once the object is in the page cache and in the
 * index; only cas_sync makes it durable.  Nothing may be recorded as complete
 * (a restore point, a root file) before cas_sync has returned 0 (see the
 * numbered invariants at the top of cas.c).
 *
 * GC safety contract: an object becomes garbage when no root reaches it.  A
 * writer that puts objects which are not yet reachable from a root the GC
 * knows about (a capture building a new tree, a copy) must hold a
 * cas_hold from before its first put until its root is registered with the
 * root source; a hold also protects extra roots it names (the base tree of an
 * incremental build).  See gc.c for the protocol.
 *
 * Thread safety: one struct cas may be used by any number of threads at once
 * (put, get, has, sync, holds, verify and one GC).  cas_open/cas_close must not
 * race with other calls on the same handle.  Two processes must not open the
 * same store (cas_open takes the store's lock exclusively: an flock, or a
 * lease on RADOS; -EBUSY otherwise).
 *
 * Errors: functions return 0 or -errno.  -ENOENT: no such object.  -EIO: the
 * object exists but is damaged (CRC32C or address mismatch, or in an
 * encrypted store a seal that does not open under the store's key; never
 * returned as good data).  -EINVAL: bad argument.  -ENOMEM, and I/O errors as -errno.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAS_ADDR_LEN 32
#define CAS_MAX_OBJECT (4u << 20)
#define CAS_MIN_CHUNK_SHIFT 12
#define CAS_MAX_CHUNK_SHIFT 22
#define CAS_DEFAULT_CHUNK_SHIFT 16
#define CAS_DEFAULT_ZSTD_LEVEL 2
#define CAS_GROUP_BYTES (1u << 20) /* chunks a batch compresses together (see pack.h) */

enum cas_type { CAS_CHUNK = 1, CAS_NODE = 2 };

struct cas_addr {
  uint8_t b[CAS_ADDR_LEN];
};

struct cas_node_hdr {
  uint32_t magic;   /* owner-defined */
  uint16_t count;   /* number of child addresses that follow */
  uint8_t level;    /* 0: children are chunks; > 0: children are nodes */
  uint8_t flags;    /* owner-defined */
  uint64_t aux;     /* owner-defined */
};
_Static_assert(sizeof(struct cas_node_hdr) == 16, "node header is 16 bytes on disk");

struct cas;

/* A key domain's keys (keys/keys.h makes them). */
struct cas_key {
  uint8_t id[16];    /* the domain's id: in the store's config and in every record */
  uint8_t enc[32];   /* record encryption */
  uint8_t addr[32];  /* address keying */
};

struct cas_options {
  unsigned chunk_shift;     /* only used when creating a store; 0 = default */
  int zstd_level;           /* 0 = default (CAS_DEFAULT_ZSTD_LEVEL) */
  uint64_t pack_target;     /* seal a pack when it reaches this size; 0 = the back end's
                               default (64 MiB in a directory, 16 MiB on RADOS) */
  bool create;              /* create the store if missing */
  bool read_only;           /* no writes, no recovery truncation (verify may still report) */
  /* The store's key domain: a store created with a key is encrypted and
   * opens only with the same key (-EKEYREJECTED for another, -ENOKEY for
   * none); NULL opens a plaintext store (-EKEYREJECTED for an encrypted
   * one).  Copied: the caller may cleanse its copy after cas_open. */
  const struct cas_key *key;
  bool crc_reads;           /* cas_get checks CRC32C, record address and type and the zstd
                               content checksum but skips the SHA-256 re-hash (restores run
                               about twice as fast); GC copies and verify always re-hash */
};

/* Opens (and with opts->create, creates) the store at location.  Recovers
 * after a crash: the open pack's torn tail is truncated, missing index files
 * are rebuilt from their packs.  *out is owned by the caller; free with
 * cas_close.  A location is operator configuration, never request input:
 *     dir:PATH or PATH   the directory PATH (the default back end)
 *     rados:pool=NAME[,namespace=NS][,conf=FILE][,user=ID][,lease=SECONDS]
 *                        Ceph RADOS: the store's objects in pool NAME, in
 *                        namespace NS (default none), through the cluster
 *                        of ceph.conf FILE (default $CEPH_CONF, then Ceph's
 *                        search path) as client.ID (default admin); the
 *                        store's lock is a lease of SECONDS (default 15),
 *                        how long a crashed process keeps others out.
 * -EPROTONOSUPPORT: an unknown scheme, or rados: in a build without RADOS;
 * -EINVAL: a malformed location; -ETIMEDOUT: the cluster did not answer
 * within its timeout (15 s); -ENOENT: no such pool, or no store and no create. */
int cas_open(const char *location, const struct cas_options *opts, struct cas **out);
/* The location of a store named name beside others under base (a region's
 * store per key domain): the directory BASE/name, or on RADOS the namespace
 * NS/name (name alone when base has none).  name is [0-9a-zA-Z_.-]+.  *out
 * malloc'd.  -EINVAL for a bad name, -EPROTONOSUPPORT for an unknown scheme
 * (both logged). */
int cas_location_join(const char *base, const char *name, char **out);
/* Syncs (cas_sync), seals nothing, releases everything.  Returns the sync result. */
int cas_close(struct cas *cas);

unsigned cas_chunk_shift(const struct cas *cas);
static inline uint32_t cas_chunk_size(const struct cas *cas) { return 1u << cas_chunk_shift(cas); }

/* Address of (type, data) in this store, without storing it. */
void cas_addr_of(const struct cas *cas, enum cas_type type, const void *data, size_t len, struct cas_addr *out);
/* Whether the store encrypts (it was opened with a key). */
bool cas_encrypted(const struct cas *cas);
static inline bool cas_addr_is_zero(const struct cas_addr *a)
{
  for (int i = 0; i < CAS_ADDR_LEN; i++)
    if (a->b[i])
      return false;
  return true;
}
/* 64 lowercase hex digits + NUL. */
void cas_addr_to_hex(const struct cas_addr *a, char out[2 * CAS_ADDR_LEN + 1]);
int cas_addr_from_hex(const char *hex, struct cas_addr *out);

/* Stores (type, data) unless present; *addr_out gets its address.  *stored_out
 * (may be NULL) tells whether bytes were written (false: deduplicated).  len
 * must be 1..CAS_MAX_OBJECT and, for chunks, content must not be all zero
 * (-EINVAL: use the zero address instead).  Compresses with zstd when that
 * saves space.  Not durable until cas_sync. */
int cas_put(struct cas *cas, enum cas_type type, const void *data, size_t len, struct cas_addr *addr_out,
            bool *stored_out);
/* Like cas_put with a precomputed address (a copy from a peer).  The address is
 * re-checked against the content; -EIO if it does not match. */
int cas_put_addr(struct cas *cas, enum cas_type type, const struct cas_addr *addr, const void *data, size_t len);

/* ---- batches: chunks compressed together ----
 * A writer that stores many chunks in a row (a tree build) queues them in a
 * batch, which stores up to CAS_GROUP_BYTES of new chunks as one group record
 * (pack.h) so that zstd sees across chunk boundaries.  A queued chunk is not
 * readable, and other writers do not deduplicate against it, until the batch
 * is flushed: flush before putting anything that references it (the closure
 * invariant of snap/).  A batch belongs to one thread at a time. */
struct cas_batch;
int cas_batch_new(struct cas *cas, struct cas_batch **out);
/* Like cas_put of a chunk: *addr_out at once, stored by the next flush at the
 * latest.  Flushes by itself when the group is full. */
int cas_batch_put(struct cas_batch *b, const void *data, size_t len, struct cas_addr *addr_out);
/* Stores everything queued; then every chunk put so far is readable. */
int cas_batch_flush(struct cas_batch *b);
/* Chunks and their raw bytes that this batch stored (not deduplicated). */
void cas_batch_counts(const struct cas_batch *b, uint64_t *objects, uint64_t *bytes);
/* Frees the batch; chunks queued and not flushed are dropped. */
void cas_batch_free(struct cas_batch *b);

/* Reads an object into buf (cap bytes); *len_out = its length.  -ENOSPC if cap
 * is too small.  Checks the record CRC32C (which covers the stored address),
 * the type, and by default re-hashes the content against the address (see
 * cas_options.crc_reads); -EIO when a check fails, never damaged data. */
int cas_get(struct cas *cas, enum cas_type type, const struct cas_addr *addr, void *buf, size_t cap,
            size_t *len_out);
/* cas_get without the last copy: *view points to the checked content, either
 * in buf or in this thread's cache of decompressed groups, where it stays
 * valid until this thread's next cas_get or cas_get_view. */
int cas_get_view(struct cas *cas, enum cas_type type, const struct cas_addr *addr, void *buf, size_t cap,
                 const void **view, size_t *len_out);
#define CAS_GROUP_MAX 63u /* members of one group record at most */
/* Chunks addrs[0..n) (lens[i] bytes each) read end to end into dst without
 * a copy in between, when they begin with all the members of one group
 * record, in order (a tree build stores a leaf's new non-zero chunks in disk
 * order, a MiB to a group): returns how many were read, with cas_get's
 * checks.  0 means "read
 * addrs[0] with cas_get" — it is not a group's first member, the group has
 * members beyond n, or anything else unexpected, damage included (cas_get
 * reports it). */
int cas_get_group(struct cas *cas, const struct cas_addr *addrs, const uint32_t *lens, unsigned n, void *dst);
/* Present in the index (not checked for damage; see cas_verify). */
bool cas_has(struct cas *cas, const struct cas_addr *addr);
/* Asks the kernel to start reading the object's bytes (readahead), so a
 * later cas_get does not wait for the disk.  Advisory: errors are ignored. */
void cas_prefetch(struct cas *cas, const struct cas_addr *addr);

/* Makes every object put so far (by any thread) durable.  0 or -errno; after
 * an fsync failure the store refuses writes (-EIO) until reopened. */
int cas_sync(struct cas *cas);

/* ---- records: objects as stored, for copies between stores (transfer.c) ----
 * A copy sends an object as its pack holds it: the record, compressed as it
 * was stored (a group member travels in its whole group record: a tree build
 * stores a leaf's new chunks a MiB to a group, so they are wanted together).
 * A record of an encrypted store travels sealed: only a store of the same
 * key domain (another region's, holding the same keys) can open it.  The
 * receiver never trusts a record: cas_record_check opens it with the
 * receiving store's key, decompresses it and re-hashes every object with the
 * store's own address function before anything is stored. */
struct cas_record_info {
  enum cas_type type;
  unsigned n;                            /* objects it holds (1, or a group's members) */
  struct cas_addr addrs[CAS_GROUP_MAX];
  uint32_t raw_len;                      /* uncompressed bytes, all objects */
};
/* *key identifies the record holding addr (a group's is the same for all its
 * members), so a sender reads and sends a group once.  -ENOENT. */
int cas_record_key(struct cas *cas, const struct cas_addr *addr, uint64_t *key);
/* The record holding addr in *buf (*len bytes), its CRC32C checked (not
 * decompressed).  *buf is a buffer of *cap bytes (NULL, 0 at first) grown as
 * needed, for the caller to reuse for the next record and free.  -ENOENT,
 * -EIO. */
int cas_record_export(struct cas *cas, const struct cas_addr *addr, uint8_t **buf, size_t *cap, uint32_t *len);
/* Checks a record from elsewhere as cas would store it: framing, CRC32C, the
 * seal under cas's key (a record of another key domain or deployment, or a
 * plaintext record for an encrypted store and the reverse, is -EIO),
 * decompression, and every object re-hashed against its address.  For a
 * single object, content (cap bytes, may be NULL) receives it.  0, or -EIO
 * when anything is wrong.  Stores nothing. */
int cas_record_check(struct cas *cas, const void *rec, size_t len, struct cas_record_info *info, void *content,
                     size_t cap);
/* cas_record_check, then the record appended verbatim (no recompression);
 * objects already present are only recorded for GC.  *stored_bytes (may be
 * NULL) += the record's bytes when it was written.  Not durable until
 * cas_sync.  -EIO: nothing stored. */
int cas_record_import(struct cas *cas, const void *rec, size_t len, struct cas_record_info *info,
                      uint64_t *stored_bytes);
/* cas_record_import for a repair: every object of the record is published,
 * its index entry moved to this good copy even when the store has one (a
 * damaged one, which verify found); the damaged record stays behind,
 * indexed by nothing, until its pack is rewritten (cas_gc_options.rewrite). */
int cas_record_repair(struct cas *cas, const void *rec, size_t len, struct cas_record_info *info);

/* ---- GC holds and roots ---- */
struct cas_hold;
int cas_hold_begin(struct cas *cas, struct cas_hold **out);
/* Protects root (and everything it reaches) for the hold's lifetime. */
int cas_hold_root(struct cas *cas, struct cas_hold *hold, const struct cas_addr *root);
void cas_hold_end(struct cas *cas, struct cas_hold *hold);

/* The live roots, asked for once per GC after the GC has started recording
 * puts.  Must return every root that exists at the moment of the call. */
typedef int (*cas_roots_fn)(void *ctx, struct cas_addr **roots_out, size_t *n_out);

struct cas_gc_options {
  double rewrite_below;    /* rewrite packs whose live byte ratio is below this (0.5 if 0) */
  bool dry_run;
  int (*crash_point)(const char *step); /* tests only: called at each step, may _exit */
  /* Packs to rewrite whatever their live ratio (after a repair: what the
   * index still locates in them is copied, their damaged records are not). */
  const uint32_t *rewrite;
  size_t n_rewrite;
};
struct cas_gc_stats {
  uint64_t live_objects, dead_objects, packs_deleted, packs_rewritten, bytes_freed, bytes_copied;
};
/* Mark from roots, sweep, rewrite sparse packs, delete dead packs.  Only one GC
 * runs at a time (-EBUSY).  Crash-safe at every step (see gc.c).  Refuses to
 * delete anything if a root cannot be walked completely (-EIO). */
int cas_gc(struct cas *cas, cas_roots_fn roots, void *ctx, const struct cas_gc_options *opts,
           struct cas_gc_stats *stats);

/* ---- verify ---- */
struct cas_damage {
  struct cas_addr addr;
  int error;             /* -EIO damaged, -ENOENT missing */
};
struct cas_verify_report {
  uint64_t objects_checked, bytes_checked, packs_checked;
  uint64_t bad_records;  /* damaged pack regions, whether or not anything uses them */
  struct cas_damage *damage; /* objects in use (indexed or reachable) that are damaged or missing */
  size_t n_damage;
  bool *root_affected;   /* per root: something below it is damaged or missing */
  uint32_t *bad_packs;   /* the packs holding the bad records */
  size_t n_bad_packs;
};
/* Re-reads every record of every pack (CRC32C + re-hash), checks that every
 * index entry points at a good record, and walks every root.  progress may be
 * NULL.  Free the report with cas_verify_report_free.  The store is clean
 * when bad_records == 0 and n_damage == 0. */
int cas_verify(struct cas *cas, const struct cas_addr *roots, size_t nroots,
               void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
               struct cas_verify_report *rep);
void cas_verify_report_free(struct cas_verify_report *rep);

/* ---- stats ---- */
struct cas_stats {
  uint64_t objects, chunks, nodes;
  uint64_t raw_bytes;     /* sum of uncompressed object sizes */
  uint64_t stored_bytes;  /* sum of record sizes in packs (headers included) */
  uint64_t compressed_objects;
  uint64_t packs, pack_file_bytes;
  uint64_t index_entries, index_ram_bytes;
};
int cas_stats(struct cas *cas, struct cas_stats *st);
