/*
 * store.c — opening, recovering and closing a chunk store; the pack table.
 *
 * A store is at a location (cas.h): a directory, or a RADOS pool and
 * namespace (pack_store_open picks the back end).  Layout of a store directory
 * (pack_rados.c maps each item to an object):
 *     config             written atomically once: "vmrp-cas 1\nchunk_shift N\n" for a
 *                        plaintext store; an encrypted one's is "vmrp-cas 2\nchunk_shift
 *                        N\ndomain HEX\nkey_check HEX\n" (its key domain's id and
 *                        crypt_key_check of its keys: cas_open tells a wrong or
 *                        missing key before it reads or changes anything)
 *     lock               flock'd by the process that has the store open
 *     packs/NNNNNNNN.pack  append-only record files (format in pack.h)
 *     packs/NNNNNNNN.idx   index of a sealed pack (sorted addresses → offsets)
 * The config, the lock and packs/ are the back end's (pack_dir.c): this file
 * reaches them only through the pack store (pack_store.h), whose ops say
 * which of the invariants below each of them keeps.
 *
 * States of a pack: OPEN (the highest id; appended to; no .idx), SEALING
 * (no longer appended to; being fsync'd, then its .idx written), SEALED (has a
 * .idx; immutable), DELETED (by GC only, .idx unlinked first).
 *
 * Durability invariants (each named by the test that checks it, and by the
 * failpoints, docs/reliability.md, that make its I/O fail):
 *  (1) Pack data is fsync'd before anything references it: sealing fsyncs the
 *      pack before writing its .idx, and cas_sync fsyncs the open pack and
 *      waits for in-flight seals before returning, so a root recorded after
 *      cas_sync never points at data that a crash can lose.  A failed fsync
 *      is never retried: the store takes no more writes until it is opened
 *      again (its bytes may not be on disk).
 *      [tests/cas test_cas: sync_survives_crash; tests/store kill9-put.sh]
 *      [failpoints cas.pack.fsync, cas.pack.seal: test_cas_faults
 *      fsync_failure_stops_writes; tests/reliability/failpoints_store.sh]
 *  (2) Sealed packs are immutable: nothing writes to a pack that has a .idx;
 *      GC only deletes whole packs.  [test_cas: sealed_packs_immutable]
 *  (3) Index files are only caches of their packs: written atomically (temp,
 *      fsync, rename, fsync dir) after the pack is durable; a missing or
 *      damaged .idx is rebuilt from its pack at open.  An .idx that cannot be
 *      written (a full disk) stops nothing: its pack stays unsealed, entries
 *      in memory, until the next open writes it.
 *      [test_cas: damage_index_deleted, damage_index_corrupt]
 *      [failpoint cas.index.write: test_cas_faults index_write_failure;
 *      tests/reliability/failpoints_store.sh]
 *  (4) A pack without a .idx is scanned at open; bytes after its last valid
 *      record (a torn tail) are truncated and fsync'd before anything is
 *      appended; valid records after a damaged one are kept.  A pack
 *      shorter than its header (a crash inside pack_create) holds nothing:
 *      a writable open writes its header, verify does not call it damage.
 *      An append that fails (a full disk) is cut off at once.
 *      [test_cas: torn_tail_truncated, pack_creation_cut_short; test_model
 *      crash steps; tests/store/kill9-put.sh]
 *      [failpoints cas.pack.write, cas.pack.create: test_cas_faults
 *      failed_append_cut, pack_create_crash; tests/reliability/failpoints.sh]
 *  (5) Nothing damaged is served: every read checks the record CRC32C, the
 *      address and the content hash.  [test_cas: damage_bitflip, damage_truncate]
 *  (6) GC deletes a pack only after the live objects it held are in a durable
 *      pack, and re-checks under the write lock that no writer deduplicated
 *      against it meanwhile (protocol in gc.c).
 *      [test_cas: gc_concurrent_dedup; tests/store kill9-gc.sh; test_model]
 *      [failpoints cas.gc.unlink, cas.gc.fsync_dir: test_cas_faults
 *      gc_delete_failure; tests/reliability/failpoints_store.sh]
 *  (7) verify reports a flip of any bit of any pack or index file: record
 *      headers and payloads (group member tables, tree nodes) by the record
 *      CRC32C and the re-hash, index files by their CRC32C (also when a
 *      read-only open could not rebuild a damaged one and scanned the pack
 *      instead), the 16-byte pack file header byte for byte.  The one place
 *      a flip cannot be told from a crash is the torn tail of (4): there it
 *      is reported through the objects the record held (missing, with the
 *      roots they affect), and it is never served.  [tests/store damage.sh,
 *      which flips every byte class; test_cas: damage_pack_header,
 *      damage_index_read_only]
 *  (8) In an encrypted store nothing plaintext reaches a pack or an index
 *      file: every record is sealed (pack.h format 2: content, group member
 *      tables and tree nodes encrypted), addresses are keyed HMACs, and an
 *      index file holds only addresses, offsets and lengths.
 *      [test_cas_crypt: no_plaintext_at_rest]
 *  (9) A record is served, indexed or copied only when it opens under the
 *      store's key: its domain id and GCM tag (over its header) check out; a
 *      flipped bit, a record of another domain or deployment, or a plaintext
 *      record in an encrypted store is damage like a bad CRC32C, which a copy
 *      from a store of the same domain repairs.
 *      [test_cas_crypt: damage_detected_and_repaired, foreign_pack_refused]
 * (10) cas_open with a wrong key (-EKEYREJECTED) or none (-ENOKEY) for an
 *      encrypted store, or with a key for a plaintext one (-EKEYREJECTED),
 *      changes no byte of the store: the config is checked before any
 *      recovery.  [test_cas_crypt: wrong_key_changes_nothing]
 * Recovery is idempotent: a crash during recovery is recovered by the next open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cas/cas_int.h"
#include "cas/crypt.h"
#include "cas/zpool.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/random.h"

#define DEFAULT_PACK_TARGET (64ull << 20)

unsigned cas_chunk_shift(const struct cas *cas) { return cas->chunk_shift; }

/* Whether key is the encrypted store's (its config's domain and key check). */
static int key_matches(const struct cas_key *key, const char *domain, const char *check)
{
  uint8_t kc[CRYPT_CHECK_LEN];
  char want_d[2 * CRYPT_ID_LEN + 1], want_c[2 * CRYPT_CHECK_LEN + 1];
  int r = crypt_key_check(key, kc);
  if (r < 0)
    return r;
  hex_encode(key->id, CRYPT_ID_LEN, want_d);
  hex_encode(kc, CRYPT_CHECK_LEN, want_c);
  return strcmp(domain, want_d) == 0 && strcmp(check, want_c) == 0 ? 0 : -EKEYREJECTED;
}

static int config_create(struct cas *cas, const struct cas_options *o)
{
  unsigned shift = o->chunk_shift ? o->chunk_shift : CAS_DEFAULT_CHUNK_SHIFT;
  if (shift < CAS_MIN_CHUNK_SHIFT || shift > CAS_MAX_CHUNK_SHIFT)
    return -EINVAL;
  char cfg[160];
  int n = snprintf(cfg, sizeof cfg, "vmrp-cas 1\nchunk_shift %u\n", shift);
  if (o->key) {
    uint8_t kc[CRYPT_CHECK_LEN];
    char d[2 * CRYPT_ID_LEN + 1], c[2 * CRYPT_CHECK_LEN + 1];
    int r = crypt_key_check(o->key, kc);
    if (r < 0)
      return r;
    hex_encode(o->key->id, CRYPT_ID_LEN, d);
    hex_encode(kc, CRYPT_CHECK_LEN, c);
    n = snprintf(cfg, sizeof cfg, "vmrp-cas 2\nchunk_shift %u\ndomain %s\nkey_check %s\n", shift, d, c);
  }
  int r = cas->store->ops->conf_put(cas->store, cfg, (size_t)n);
  if (r == 0)
    cas->chunk_shift = shift;
  return r;
}

/* Reads (or, with o->create, writes) the config and checks the key against
 * it (invariant (10)): nothing is changed before this has passed. */
static int config_load_or_create(struct cas *cas, const struct cas_options *o)
{
  CLEANUP_FREE char *buf = NULL;
  size_t len;
  int r = cas->store->ops->conf_get(cas->store, (void **)&buf, &len);
  if (r == -ENOENT && o->create && !o->read_only)
    return config_create(cas, o);
  if (r < 0)
    return r;
  unsigned version, shift;
  char domain[2 * CRYPT_ID_LEN + 1] = "", check[2 * CRYPT_CHECK_LEN + 1] = "";
  int got = sscanf(buf, "vmrp-cas %u\nchunk_shift %u\ndomain %32s\nkey_check %32s", &version, &shift, domain, check);
  if (got < 2 || (version == 1 && got != 2) || (version == 2 && got != 4) || version < 1 || version > 2 ||
      shift < CAS_MIN_CHUNK_SHIFT || shift > CAS_MAX_CHUNK_SHIFT) {
    log_error("cas", "%s: unreadable config", cas->location);
    return -EIO;
  }
  if (version == 1 && o->key)
    return -EKEYREJECTED; /* a plaintext store: only the upgrade reads it, without a key */
  if (version == 2 && !o->key)
    return -ENOKEY;
  if (version == 2 && (r = key_matches(o->key, domain, check)) < 0)
    return r;
  cas->chunk_shift = shift;
  return 0;
}

static int table_put(struct cas *cas, struct pack *p)
{
  LOCK_GUARD(&cas->packs_lock);
  if (p->id >= cas->n_packs_slots) {
    uint32_t n = cas->n_packs_slots ? cas->n_packs_slots : 64;
    while (n <= p->id)
      n *= 2;
    struct pack **np = realloc(cas->packs, n * sizeof *np);
    if (!np)
      return -ENOMEM;
    memset(np + cas->n_packs_slots, 0, (n - cas->n_packs_slots) * sizeof *np);
    cas->packs = np;
    cas->n_packs_slots = n;
  }
  cas->packs[p->id] = p;
  if (p->id >= cas->next_pack_id)
    cas->next_pack_id = p->id + 1;
  return 0;
}

struct pack *cas_pack_ref(struct cas *cas, uint32_t id)
{
  LOCK_GUARD(&cas->packs_lock);
  struct pack *p = id < cas->n_packs_slots ? cas->packs[id] : NULL;
  if (p)
    atomic_fetch_add(&p->refs, 1);
  return p;
}

void cas_pack_unref(struct pack *p)
{
  if (atomic_fetch_sub(&p->refs, 1) == 1) {
    if (p->obj)
      p->obj->ops->close(p->obj);
    free(p->ents);
    free(p);
  }
}

void cas_pack_drop(struct cas *cas, uint32_t id)
{
  struct pack *p = NULL;
  {
    LOCK_GUARD(&cas->packs_lock);
    if (id < cas->n_packs_slots) {
      p = cas->packs[id];
      cas->packs[id] = NULL;
    }
  }
  if (p)
    cas_pack_unref(p);
}

static struct pack *pack_new(uint32_t id, struct pack_obj *obj, uint64_t size, bool sealed)
{
  struct pack *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->id = id;
  p->obj = obj;
  p->size = size;
  p->sealed = sealed;
  atomic_init(&p->refs, 1);
  return p;
}

int pack_ents_add(struct pack *p, const struct pack_idx_ent *ent)
{
  if (p->n_ents == p->cap_ents) {
    size_t n = p->cap_ents ? 2 * p->cap_ents : 1024;
    struct pack_idx_ent *ne = realloc(p->ents, n * sizeof *ne);
    if (!ne)
      return -ENOMEM;
    p->ents = ne;
    p->cap_ents = n;
  }
  p->ents[p->n_ents++] = *ent;
  return 0;
}

static int scan_add(void *ctx, const struct pack_rec *rec, const uint8_t *body, uint32_t off, uint32_t len)
{
  struct pack_idx_ent objs[PACK_GROUP_MAX];
  int n = pack_rec_objects(NULL, rec, body, off, len, false, NULL, objs);
  if (n < 0) {
    log_warn("cas", "record at %u: malformed group table; skipped", off);
    return 0;
  }
  for (int i = 0; i < n; i++) {
    int r = pack_ents_add(ctx, &objs[i]);
    if (r < 0)
      return r;
  }
  return 0;
}

/* Accumulates the entries of all packs for index_load. */
struct load_acc {
  struct idx_ent *e;
  size_t n, cap;
};

static int acc_add(struct load_acc *a, uint32_t pack, const struct pack_idx_ent *src, size_t n)
{
  if (a->n + n > a->cap) {
    size_t c = a->cap ? a->cap : 4096;
    while (c < a->n + n)
      c *= 2;
    struct idx_ent *ne = realloc(a->e, c * sizeof *ne);
    if (!ne)
      return -ENOMEM;
    a->e = ne;
    a->cap = c;
  }
  for (size_t i = 0; i < n; i++) {
    struct idx_ent *d = &a->e[a->n++];
    memcpy(d->key, src[i].addr.b, INDEX_KEY_LEN);
    d->pack = pack;
    d->off = src[i].off;
    d->len = idx_pack_len(src[i].len, src[i].member);
  }
  return 0;
}

/* Scans a pack that has no (valid) index, truncates its torn tail and, unless
 * it is to stay open, seals it.  Invariants (3) and (4). */
static int recover_pack(struct cas *cas, struct pack *p, bool keep_open)
{
  uint64_t end = 0, bad = 0, size;
  int r = p->obj->ops->size(p->obj, &size);
  if (r < 0)
    return r;
  if (size < PACK_HDR_SIZE) {
    /* Its creation was cut short (pack_create writes and fsyncs the header
     * before anything can be appended), so it holds nothing: no damage.  A
     * writable open writes the header now; read-only, its size below the
     * header says so (verify finds nothing in it to check). */
    p->size = size;
    if (cas->read_only)
      return 0;
    log_warn("cas", "pack %08x: its creation was cut short (%llu bytes); header written", p->id,
             (unsigned long long)size);
    uint8_t h[PACK_HDR_SIZE];
    pack_hdr_encode(h, cas_pack_version(cas));
    struct iovec v = {h, sizeof h};
    if ((r = p->obj->ops->append(p->obj, &v, 1, 0)) < 0 || (r = p->obj->ops->sync(p->obj, PACK_SYNC_RECOVERED)) < 0)
      return r;
    size = PACK_HDR_SIZE;
  }
  r = pack_scan(p->obj, size, cas->crypt, false, scan_add, p, &end, &bad);
  if (r < 0)
    return r;
  if (bad)
    log_warn("cas", "pack %08x: %llu damaged region(s) skipped during recovery", p->id, (unsigned long long)bad);
  p->size = end;
  if (cas->read_only)
    return 0;
  if (size != end) {
    log_warn("cas", "pack %08x: truncating torn tail %llu -> %llu", p->id, (unsigned long long)size,
             (unsigned long long)end);
    if ((r = p->obj->ops->truncate(p->obj, end)) < 0)
      return r;
  }
  if ((r = p->obj->ops->sync(p->obj, PACK_SYNC_RECOVERED)) < 0)
    return r;
  if (keep_open)
    return 0;
  r = pack_idx_write(cas->store, p->id, p->ents, p->n_ents);
  p->sealed = r == 0;
  return r;
}

/* Lists the packs (dir back end: their files; orphan index files are
 * dropped there), loads their index files, recovers those without one. */
static int load_packs(struct cas *cas)
{
  struct cas_pack_store *s = cas->store;
  CLEANUP_FREE uint32_t *ids = NULL;
  size_t n = 0;
  int r = s->ops->list(s, &ids, &n);
  if (r < 0)
    return r;
  struct load_acc acc = {0};
  for (size_t i = 0; i < n && r == 0; i++) {
    struct pack_obj *obj;
    if ((r = s->ops->open(s, ids[i], !cas->read_only, &obj)) < 0)
      break;
    uint64_t size = 0;
    struct pack *p = obj->ops->size(obj, &size) == 0 ? pack_new(ids[i], obj, size, true) : NULL;
    if (!p) {
      obj->ops->close(obj);
      r = -ENOMEM;
      break;
    }
    struct pack_idx_ent *ents = NULL;
    size_t ne = 0;
    int ir = pack_idx_read(s, ids[i], &ents, &ne);
    bool last = i + 1 == n;
    if (ir == 0) {
      r = acc_add(&acc, p->id, ents, ne);
      free(ents);
    } else {
      if (ir != -ENOENT)
        log_warn("cas", "pack %08x: index file damaged (%s), %s", ids[i], strerror(-ir),
                 cas->read_only ? "scanning the pack instead (read-only: not rebuilt)" : "rebuilding from the pack");
      p->sealed = false;
      r = recover_pack(cas, p, last);
      p->idx_damaged = ir != -ENOENT && !p->sealed;
      if (r == 0)
        r = acc_add(&acc, p->id, p->ents, p->n_ents);
      if (p->sealed) {
        free(p->ents);
        p->ents = NULL;
        p->n_ents = p->cap_ents = 0;
      }
    }
    if (r == 0)
      r = table_put(cas, p);
    if (r < 0) {
      cas_pack_unref(p);
      break;
    }
    if (!p->sealed && !cas->read_only)
      cas->open = p;
  }
  if (r == 0)
    r = index_load(&cas->idx, acc.e, acc.n);
  else
    free(acc.e);
  return r;
}

int cas_new_open_pack(struct cas *cas, struct pack **out)
{
  uint32_t id;
  {
    LOCK_GUARD(&cas->packs_lock);
    id = cas->next_pack_id;
  }
  struct pack_obj *obj;
  int r = pack_create(cas->store, id, cas_pack_version(cas), &obj);
  if (r < 0)
    return r;
  struct pack *p = pack_new(id, obj, PACK_HDR_SIZE, false);
  if (!p) {
    obj->ops->close(obj);
    return -ENOMEM;
  }
  r = table_put(cas, p);
  if (r < 0) {
    cas_pack_unref(p);
    return r;
  }
  *out = p;
  return 0;
}

static void raise_fd_limit(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static void cas_free(struct cas *cas)
{
  if (cas->packs) {
    for (uint32_t i = 0; i < cas->n_packs_slots; i++)
      if (cas->packs[i])
        cas_pack_unref(cas->packs[i]);
    free(cas->packs);
  }
  for (struct cas_hold *h = cas->holds, *nx; h; h = nx) {
    nx = h->next;
    free(h->roots);
    free(h);
  }
  index_free(&cas->idx);
  zpool_free(cas->zpool);
  crypt_free(cas->crypt);
  free(cas->rec);
  if (cas->store)
    cas->store->ops->free(cas->store);
  pthread_rwlock_destroy(&cas->idx_lock);
  pthread_mutex_destroy(&cas->write_lock);
  pthread_cond_destroy(&cas->seal_cond);
  pthread_mutex_destroy(&cas->packs_lock);
  pthread_mutex_destroy(&cas->rec_lock);
  pthread_mutex_destroy(&cas->gc_lock);
  free(cas->location);
  free(cas);
}

int cas_open(const char *location, const struct cas_options *opts, struct cas **out)
{
  struct cas_options o = {0};
  if (opts)
    o = *opts;
  struct cas *cas = calloc(1, sizeof *cas);
  if (!cas)
    return -ENOMEM;
  pthread_rwlock_init(&cas->idx_lock, NULL);
  pthread_mutex_init(&cas->write_lock, NULL);
  pthread_cond_init(&cas->seal_cond, NULL);
  pthread_mutex_init(&cas->packs_lock, NULL);
  pthread_mutex_init(&cas->rec_lock, NULL);
  pthread_mutex_init(&cas->gc_lock, NULL);
  cas->read_only = o.read_only;
  cas->crc_reads = o.crc_reads;
  cas->zstd_level = o.zstd_level ? o.zstd_level : CAS_DEFAULT_ZSTD_LEVEL;
  static atomic_uint_fast64_t instances;
  cas->instance = atomic_fetch_add(&instances, 1) + 1;
  int r = -ENOMEM;
  if (!(cas->location = strdup(location)) || (r = pack_store_open(location, o.create, o.read_only, &cas->store)) < 0)
    goto fail;
  cas->pack_target = o.pack_target       ? o.pack_target
                     : cas->store->pack_target ? cas->store->pack_target
                                               : DEFAULT_PACK_TARGET;
  if ((r = config_load_or_create(cas, &o)) < 0 || (r = index_init(&cas->idx)) < 0)
    goto fail;
  r = -ENOMEM;
  if (!(cas->zpool = zpool_new(cas->zstd_level)) || (o.key && !(cas->crypt = crypt_new(o.key))))
    goto fail;
  raise_fd_limit();
  if ((r = load_packs(cas)) < 0)
    goto fail;
  if (!cas->read_only && !cas->open && (r = cas_new_open_pack(cas, &cas->open)) < 0)
    goto fail;
  if (cas->open)
    cas->unsynced_from = cas->open->size;
  *out = cas;
  return 0;
fail:
  log_error("cas", "cannot open store %s: %s", location, strerror(-r));
  cas_free(cas);
  return r;
}

int cas_close(struct cas *cas)
{
  if (!cas)
    return 0;
  int r = cas->read_only ? 0 : cas_sync(cas);
  cas_free(cas);
  return r;
}

void cas_crash_close(struct cas *cas) { cas_free(cas); }

int cas_node_children(const void *node, size_t len,
                      int (*fn)(void *ctx, const struct cas_addr *child, enum cas_type t), void *ctx)
{
  struct cas_node_hdr h;
  if (len < sizeof h)
    return -EIO;
  memcpy(&h, node, sizeof h);
  if (len != sizeof h + (size_t)h.count * CAS_ADDR_LEN)
    return -EIO;
  const uint8_t *p = (const uint8_t *)node + sizeof h;
  for (unsigned i = 0; i < h.count; i++) {
    struct cas_addr a;
    memcpy(a.b, p + (size_t)i * CAS_ADDR_LEN, CAS_ADDR_LEN);
    if (cas_addr_is_zero(&a))
      continue;
    int r = fn(ctx, &a, h.level == 0 ? CAS_CHUNK : CAS_NODE);
    if (r)
      return r;
  }
  return 0;
}
