/*
 * vmrp-store — operator and benchmark access to a chunk store and its trees.
 *
 *   vmrp-store -s DIR put-image FILE [--base ROOT [--changed LIST]]
 *   vmrp-store -s DIR get-image ROOT FILE
 *   vmrp-store -s DIR diff ROOT1 ROOT2 | map ROOT | info ROOT
 *   vmrp-store -s DIR verify | gc [--dry-run] | stats | roots | forget ROOT
 *
 * An encrypted store opens with its key domain's keys: --keyring DIR (the
 * platform domain of a vmrpd keyring, as the daemon opens it) or --key-file
 * F (80 bytes: domain id, enc key, addr key; tests and benchmarks), also
 * from $VMRP_KEYRING / $VMRP_STORE_KEY_FILE; a store created with a key is
 * encrypted.  Without either, a plaintext (pre-encryption) store.
 *
 * STORE is a store location (cas.h): a directory, or rados:pool=… .  GC
 * roots are in a file, STORE/roots for a directory, --roots F (also
 * $VMRP_STORE_ROOTS) for any store.
 *
 * put-image prints the new root on stdout only after the tree is durable
 * (cas_sync) and recorded in the roots file, so a root that was printed survives
 * any crash.  Long operations report progress on stderr.  Exit status: 0 ok,
 * 1 error or damage found, 2 usage.  See docs/storage.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cas/cas.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "keys/keys.h"
#include "snap/tree.h"
#include "tools/roots.h"

struct cli {
  const char *store, *keyring, *key_file;
  char *roots;
  unsigned threads, chunk_shift;
  int zstd_level;
  uint64_t pack_target;
  const char *base, *changed;
  bool dry_run, quiet, crc_reads;
  double threshold;
};

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct progress {
  const char *what;
  double start, last;
  bool quiet;
};

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
  struct progress *p = ctx;
  double t = now();
  if (p->quiet || (t - p->last < 1.0 && done < total))
    return;
  p->last = t;
  fprintf(stderr, "%s: %" PRIu64 "/%" PRIu64 " MiB (%.0f%%) %.0f MiB/s\n", p->what, done >> 20, total >> 20,
          total ? 100.0 * (double)done / (double)total : 100.0, (double)(done >> 20) / (t - p->start + 1e-9));
}

static int fail(const char *what, int r)
{
  fprintf(stderr, "vmrp-store: %s: %s\n", what, strerror(-r));
  return 1;
}

/* The store's key from --keyring (its platform domain) or --key-file. */
static int load_key(const struct cli *c, struct cas_key *k)
{
  if (c->keyring) {
    struct keys *ks;
    struct keys_set set;
    int r = keys_open(&(struct keys_config){.dir = c->keyring}, &ks);
    if (r < 0)
      return fail(c->keyring, r);
    keys_platform(ks, &set);
    keys_close(ks);
    _Static_assert(sizeof k->id == sizeof set.id && sizeof k->enc == sizeof set.enc, "key sizes");
    memcpy(k->id, set.id, sizeof k->id);
    memcpy(k->enc, set.enc, sizeof k->enc);
    memcpy(k->addr, set.addr, sizeof k->addr);
    explicit_bzero(&set, sizeof set);
    return 0;
  }
  CLEANUP_FREE uint8_t *buf = NULL;
  size_t len = 0;
  int r = read_file(c->key_file, (void **)&buf, &len);
  if (r == 0 && len != sizeof *k)
    r = -EINVAL;
  if (r == 0)
    memcpy(k, buf, sizeof *k);
  if (buf)
    explicit_bzero(buf, len);
  return r < 0 ? fail(c->key_file, r) : 0;
}

static int open_store(const struct cli *c, bool create, bool ro, struct cas **cas)
{
  struct cas_key key;
  bool keyed = c->keyring || c->key_file;
  if (keyed && load_key(c, &key))
    return 1;
  struct cas_options o = {.chunk_shift = c->chunk_shift, .zstd_level = c->zstd_level,
                          .pack_target = c->pack_target, .create = create, .read_only = ro,
                          .crc_reads = c->crc_reads, .key = keyed ? &key : NULL};
  int r = cas_open(c->store, &o, cas);
  explicit_bzero(&key, sizeof key);
  return r < 0 ? fail(c->store, r) : 0;
}

static int parse_root(const char *s, struct cas_addr *a)
{
  if (cas_addr_from_hex(s, a) < 0) {
    fprintf(stderr, "vmrp-store: not a root address: %s\n", s);
    return -EINVAL;
  }
  return 0;
}

/* LIST holds changed 4 KiB block numbers, one per line (gen-image.py's
 * --changed-list); converted to sorted chunk indices. */
static int load_changed(const char *path, unsigned shift, uint64_t **out, size_t *n)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return -errno;
  size_t cap = 1024, k = 0;
  uint64_t *v = malloc(cap * sizeof *v), blk;
  int r = v ? 0 : -ENOMEM;
  while (r == 0 && fscanf(f, "%" SCNu64, &blk) == 1) {
    uint64_t chunk = (blk * 4096) >> shift;
    if (k && v[k - 1] == chunk)
      continue;
    if (k == cap) {
      uint64_t *nv = realloc(v, 2 * cap * sizeof *nv);
      if (!nv) {
        r = -ENOMEM;
        break;
      }
      v = nv;
      cap *= 2;
    }
    v[k++] = chunk;
  }
  if (r == 0 && !feof(f))
    r = -EINVAL;
  fclose(f);
  if (r < 0) {
    free(v);
    return r;
  }
  *out = v;
  *n = k;
  return 0;
}

static int cmd_put(const struct cli *c, int argc, char **argv)
{
  if (argc != 1)
    return 2;
  CLEANUP_CLOSE int fd = open(argv[0], O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return fail(argv[0], -errno);
  struct cas *cas;
  if (open_store(c, true, false, &cas))
    return 1;
  struct cas_addr base, root;
  struct cas_hold *hold = NULL;
  struct progress pg = {.what = "put-image", .start = now(), .quiet = c->quiet};
  struct tree_opts to = {.threads = c->threads, .progress = progress_cb, .progress_ctx = &pg};
  struct tree_source src = tree_source_fd(&fd);
  struct tree_build_stats bs;
  CLEANUP_FREE uint64_t *changed = NULL;
  size_t n_changed = 0;
  int r = cas_hold_begin(cas, &hold);
  if (r == 0 && c->base && (r = parse_root(c->base, &base)) == 0)
    r = cas_hold_root(cas, hold, &base);
  if (r == 0 && c->changed && !c->base)
    r = -EINVAL;
  if (r == 0 && c->changed && (r = load_changed(c->changed, cas_chunk_shift(cas), &changed, &n_changed)) < 0)
    fail(c->changed, r);
  if (r == 0) {
    if (c->changed)
      r = tree_build_incremental(cas, &base, &src, (uint64_t)st.st_size, changed, n_changed, &to, &root, &bs);
    else
      r = tree_build_full(cas, &src, (uint64_t)st.st_size, &to, &root, &bs);
  }
  if (r == 0)
    r = cas_sync(cas);
  if (r == 0)
    r = roots_add(c->roots, &root);
  cas_hold_end(cas, hold);
  int cr = cas_close(cas);
  if (r == 0)
    r = cr;
  if (r < 0)
    return fail("put-image", r);
  char hex[2 * CAS_ADDR_LEN + 1];
  cas_addr_to_hex(&root, hex);
  double t = now() - pg.start;
  if (!c->quiet)
    fprintf(stderr,
            "put-image: %.2f s, read %" PRIu64 " chunks (%" PRIu64 " MiB), %" PRIu64 " zero, stored %" PRIu64
            " chunks (%" PRIu64 " MiB raw) and %" PRIu64 " nodes\n",
            t, bs.chunks_read, bs.bytes_read >> 20, bs.chunks_zero, bs.chunks_stored, bs.bytes_stored >> 20,
            bs.nodes_stored);
  printf("%s\n", hex);
  return 0;
}

static int cmd_get(const struct cli *c, int argc, char **argv)
{
  struct cas_addr root;
  if (argc != 2)
    return 2;
  if (parse_root(argv[0], &root) < 0)
    return 1;
  struct cas *cas;
  if (open_store(c, false, true, &cas))
    return 1;
  CLEANUP_CLOSE int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int r = fd < 0 ? -errno : 0;
  struct tree_opts to = {.threads = c->threads};
  if (r == 0)
    r = tree_restore(cas, &root, fd, &to);
  cas_close(cas);
  return r < 0 ? fail("get-image", r) : 0;
}

static int print_range(void *ctx, uint64_t off, uint64_t len)
{
  uint64_t *total = ctx;
  *total += len;
  printf("%" PRIu64 " %" PRIu64 "\n", off, len);
  return 0;
}

static int cmd_diff(const struct cli *c, int argc, char **argv)
{
  struct cas_addr a, b;
  if (argc != 2)
    return 2;
  if (parse_root(argv[0], &a) < 0 || parse_root(argv[1], &b) < 0)
    return 1;
  struct cas *cas;
  if (open_store(c, false, true, &cas))
    return 1;
  uint64_t total = 0;
  struct tree_diff_stats ds;
  int r = tree_diff(cas, &a, &b, print_range, &total, &ds);
  cas_close(cas);
  if (r < 0)
    return fail("diff", r);
  if (!c->quiet)
    fprintf(stderr, "diff: %" PRIu64 " bytes differ in %" PRIu64 " chunks; %" PRIu64 " nodes read\n", total,
            ds.chunks_differ, ds.nodes_read);
  return 0;
}

static int print_extent(void *ctx, const struct tree_extent *e)
{
  printf("%" PRIu64 " %" PRIu64 " %s\n", e->off, e->len, e->zero ? "zero" : "data");
  return 0;
}

static int cmd_map(const struct cli *c, int argc, char **argv)
{
  struct cas_addr root;
  if (argc != 1)
    return 2;
  if (parse_root(argv[0], &root) < 0)
    return 1;
  struct cas *cas;
  if (open_store(c, false, true, &cas))
    return 1;
  int r = tree_map(cas, &root, print_extent, NULL);
  cas_close(cas);
  return r < 0 ? fail("map", r) : 0;
}

static int cmd_info(const struct cli *c, int argc, char **argv)
{
  struct cas_addr root;
  if (argc != 1)
    return 2;
  if (parse_root(argv[0], &root) < 0)
    return 1;
  struct cas *cas;
  if (open_store(c, false, true, &cas))
    return 1;
  struct tree_info ti;
  int r = tree_info(cas, &root, &ti);
  cas_close(cas);
  if (r < 0)
    return fail("info", r);
  printf("size %" PRIu64 "\nchunk_size %u\nheight %u\n", ti.size, 1u << ti.chunk_shift, ti.height);
  return 0;
}

static int cmd_verify(const struct cli *c)
{
  struct cas *cas;
  if (open_store(c, false, true, &cas))
    return 1;
  CLEANUP_FREE struct cas_addr *roots = NULL;
  size_t n;
  int r = roots_load(c->roots, &roots, &n);
  struct cas_verify_report rep;
  struct progress pg = {.what = "verify", .start = now(), .quiet = c->quiet};
  if (r == 0)
    r = cas_verify(cas, roots, n, progress_cb, &pg, &rep);
  cas_close(cas);
  if (r < 0)
    return fail("verify", r);
  char hex[2 * CAS_ADDR_LEN + 1];
  for (size_t i = 0; i < rep.n_damage; i++) {
    cas_addr_to_hex(&rep.damage[i].addr, hex);
    printf("%s %s\n", rep.damage[i].error == -ENOENT ? "missing" : "damaged", hex);
  }
  size_t affected = 0;
  for (size_t i = 0; i < n; i++) {
    if (!rep.root_affected[i])
      continue;
    affected++;
    cas_addr_to_hex(&roots[i], hex);
    printf("affected-root %s\n", hex);
  }
  printf("verify: %" PRIu64 " packs, %" PRIu64 " objects, %" PRIu64 " MiB checked; %" PRIu64
         " damaged regions, %zu damaged or missing objects, %zu of %zu roots affected\n",
         rep.packs_checked, rep.objects_checked, rep.bytes_checked >> 20, rep.bad_records, rep.n_damage, affected,
         n);
  bool bad = rep.bad_records || rep.n_damage;
  cas_verify_report_free(&rep);
  return bad ? 1 : 0;
}

static int roots_cb(void *ctx, struct cas_addr **out, size_t *n) { return roots_load(ctx, out, n); }

static int cmd_gc(const struct cli *c)
{
  struct cas *cas;
  if (open_store(c, false, false, &cas))
    return 1;
  struct cas_gc_options o = {.rewrite_below = c->threshold, .dry_run = c->dry_run};
  struct cas_gc_stats st;
  int r = cas_gc(cas, roots_cb, c->roots, &o, &st);
  int cr = cas_close(cas);
  if (r == 0)
    r = cr;
  if (r < 0)
    return fail("gc", r);
  printf("gc: %" PRIu64 " live objects, %" PRIu64 " dead objects removed, %" PRIu64 " packs deleted, %" PRIu64
         " rewritten, %" PRIu64 " MiB freed, %" PRIu64 " MiB copied%s\n",
         st.live_objects, st.dead_objects, st.packs_deleted, st.packs_rewritten, st.bytes_freed >> 20,
         st.bytes_copied >> 20, c->dry_run ? " (dry run)" : "");
  return 0;
}

static int count_alloc(void *ctx, const struct tree_extent *e)
{
  if (!e->zero)
    *(uint64_t *)ctx += e->len;
  return 0;
}

static int cmd_stats(const struct cli *c)
{
  struct cas *cas;
  if (open_store(c, false, true, &cas))
    return 1;
  struct cas_stats st;
  CLEANUP_FREE struct cas_addr *roots = NULL;
  size_t n = 0;
  uint64_t logical = 0, allocated = 0;
  int r = cas_stats(cas, &st);
  if (r == 0)
    r = roots_load(c->roots, &roots, &n);
  for (size_t i = 0; i < n && r == 0; i++) {
    struct tree_info ti;
    if ((r = tree_info(cas, &roots[i], &ti)) == 0)
      r = tree_map(cas, &roots[i], count_alloc, &allocated);
    logical += ti.size;
  }
  unsigned chunk = cas_chunk_size(cas);
  bool encrypted = cas_encrypted(cas);
  cas_close(cas);
  if (r < 0)
    return fail("stats", r);
  printf("encrypted %d\nchunk_size %u\nroots %zu\nobjects %" PRIu64 "\nchunks %" PRIu64 "\nnodes %" PRIu64
         "\nlogical_bytes %" PRIu64 "\nallocated_bytes %" PRIu64 "\nraw_bytes %" PRIu64 "\nstored_bytes %" PRIu64
         "\npacks %" PRIu64 "\npack_file_bytes %" PRIu64 "\ncompressed_objects %" PRIu64
         "\ndedup_ratio %.3f\ncompression_ratio %.3f\nindex_ram_bytes %" PRIu64 "\n",
         encrypted, chunk, n, st.objects, st.chunks, st.nodes, logical, allocated, st.raw_bytes,
         st.stored_bytes, st.packs, st.pack_file_bytes, st.compressed_objects,
         st.raw_bytes ? (double)allocated / (double)st.raw_bytes : 0.0,
         st.stored_bytes ? (double)st.raw_bytes / (double)st.stored_bytes : 0.0, st.index_ram_bytes);
  return 0;
}

static int cmd_roots(const struct cli *c, int argc, char **argv)
{
  struct cas *cas;
  if (open_store(c, false, argc == 0, &cas))
    return 1;
  int r = 0;
  if (argc == 0) {
    CLEANUP_FREE struct cas_addr *roots = NULL;
    size_t n;
    r = roots_load(c->roots, &roots, &n);
    char hex[2 * CAS_ADDR_LEN + 1];
    for (size_t i = 0; i < n && r == 0; i++) {
      cas_addr_to_hex(&roots[i], hex);
      printf("%s\n", hex);
    }
  } else {
    struct cas_addr a;
    r = parse_root(argv[0], &a);
    if (r == 0)
      r = roots_remove(c->roots, &a);
  }
  cas_close(cas);
  return r < 0 ? fail("roots", r) : 0;
}

static void usage(void)
{
  fputs("usage: vmrp-store -s STORE [options] COMMAND [args]\n"
        "commands:\n"
        "  put-image FILE [--base ROOT [--changed LIST]]  store an image, print its root\n"
        "  get-image ROOT FILE [--check crc|hash]        restore an image (sparse); crc (the\n"
        "                                                default) skips the SHA-256 re-hash\n"
        "  diff ROOT1 ROOT2                              changed byte ranges\n"
        "  map ROOT                                      data/zero extents\n"
        "  info ROOT                                     size, chunk size, height\n"
        "  verify                                        scrub packs and all roots\n"
        "  gc [--dry-run] [--threshold R]                collect garbage\n"
        "  stats                                         objects, sizes, ratios\n"
        "  roots | forget ROOT                           list / drop a root\n"
        "options: --threads N, --chunk-size BYTES and --zstd-level N (new store),\n"
        "         --pack-size BYTES, --quiet; STORE (a directory or rados:pool=...) may come\n"
        "         from $VMRP_STORE; --roots F ($VMRP_STORE_ROOTS): the GC roots file\n"
        "         (default STORE/roots, a must for a store that is no directory)\n"
        "keys:    --keyring DIR ($VMRP_KEYRING) or --key-file F ($VMRP_STORE_KEY_FILE,\n"
        "         80 bytes: id, enc, addr) for an encrypted store\n",
        stderr);
}

/* An environment variable; set but empty is unset. */
static const char *env(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

int main(int argc, char **argv)
{
  /* Reads check CRC32C (which covers the address), type and zstd's content
   * checksum by default, as vmrpd does; --check hash re-hashes SHA-256 too.
   * verify and GC copies always re-hash. */
  struct cli c = {.store = getenv("VMRP_STORE"), .keyring = env("VMRP_KEYRING"),
                  .key_file = env("VMRP_STORE_KEY_FILE"), .crc_reads = true};
  static const struct option opts[] = {
      {"store", required_argument, 0, 's'},      {"threads", required_argument, 0, 't'},
      {"chunk-size", required_argument, 0, 'c'}, {"zstd-level", required_argument, 0, 'z'},
      {"pack-size", required_argument, 0, 'p'},  {"base", required_argument, 0, 'b'},
      {"changed", required_argument, 0, 'l'},    {"dry-run", no_argument, 0, 'n'},
      {"threshold", required_argument, 0, 'r'},  {"quiet", no_argument, 0, 'q'},
      {"check", required_argument, 0, 'k'},      {"keyring", required_argument, 0, 'K'},
      {"key-file", required_argument, 0, 'F'},   {"roots", required_argument, 0, 'R'},
      {0, 0, 0, 0}};
  int o;
  /* GNU getopt permutes: options may come before or after the command. */
  while ((o = getopt_long(argc, argv, "s:t:c:z:p:b:l:nr:qk:K:F:R:", opts, NULL)) != -1) {
    switch (o) {
    case 'K': c.keyring = optarg; break;
    case 'F': c.key_file = optarg; break;
    case 'R': free(c.roots); c.roots = strdup(optarg); break;
    case 's': c.store = optarg; break;
    case 't': c.threads = (unsigned)atoi(optarg); break;
    case 'c': {
      unsigned long v = strtoul(optarg, NULL, 0);
      while (c.chunk_shift < 31 && (1ul << c.chunk_shift) < v)
        c.chunk_shift++;
      if ((1ul << c.chunk_shift) != v) {
        fprintf(stderr, "vmrp-store: chunk size must be a power of two\n");
        return 2;
      }
      break;
    }
    case 'z': c.zstd_level = atoi(optarg); break;
    case 'p': c.pack_target = strtoull(optarg, NULL, 0); break;
    case 'b': c.base = optarg; break;
    case 'l': c.changed = optarg; break;
    case 'n': c.dry_run = true; break;
    case 'r': c.threshold = atof(optarg); break;
    case 'q': c.quiet = true; break;
    case 'k':
      if (strcmp(optarg, "crc") && strcmp(optarg, "hash")) {
        usage();
        return 2;
      }
      c.crc_reads = !strcmp(optarg, "crc");
      break;
    default: usage(); return 2;
    }
  }
  if (!c.store || optind >= argc) {
    usage();
    return 2;
  }
  if (!c.roots && env("VMRP_STORE_ROOTS"))
    c.roots = strdup(env("VMRP_STORE_ROOTS"));
  if (!c.roots && asprintf(&c.roots, "%s/roots", c.store) < 0)
    c.roots = NULL;
  if (!c.roots)
    return fail("roots", -ENOMEM);
  const char *cmd = argv[optind];
  int nargs = argc - optind - 1;
  char **pos = argv + optind + 1;
  int r = 2;
  if (!strcmp(cmd, "put-image"))
    r = cmd_put(&c, nargs, pos);
  else if (!strcmp(cmd, "get-image"))
    r = cmd_get(&c, nargs, pos);
  else if (!strcmp(cmd, "diff"))
    r = cmd_diff(&c, nargs, pos);
  else if (!strcmp(cmd, "map"))
    r = cmd_map(&c, nargs, pos);
  else if (!strcmp(cmd, "info"))
    r = cmd_info(&c, nargs, pos);
  else if (!strcmp(cmd, "verify") && nargs == 0)
    r = cmd_verify(&c);
  else if (!strcmp(cmd, "gc") && nargs == 0)
    r = cmd_gc(&c);
  else if (!strcmp(cmd, "stats") && nargs == 0)
    r = cmd_stats(&c);
  else if (!strcmp(cmd, "roots") && nargs == 0)
    r = cmd_roots(&c, 0, pos);
  else if (!strcmp(cmd, "forget") && nargs == 1)
    r = cmd_roots(&c, 1, pos);
  if (r == 2)
    usage();
  free(c.roots);
  return r;
}
