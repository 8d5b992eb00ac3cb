/*
 * pack.h — pack files and their index files (internal to cas/).
 *
 * A pack `packs/NNNNNNNN.pack` is a 16-byte file header ('VMRPPAK1', u32
 * version 1, u32 0; no CRC: it holds no data, and verify checks every one of
 * its bytes against these constants) followed by records:
 *
 *     offset size
 *      0      4   magic 'VREC' (0x43455256 little-endian)
 *      4      1   type (enum cas_type)
 *      5      1   flags: bit 0 = payload is zstd-compressed
 *      6      2   reserved, 0
 *      8      4   raw_len: uncompressed length
 *     12      4   stored_len: payload length in the file
 *     16     32   address = SHA-256(type || uncompressed content)
 *     48      4   CRC32C over bytes 0..47 and the payload
 *     52      -   payload (stored_len bytes)
 *
 * so a pack can be scanned and recovered without any index.  All integers are
 * little-endian.
 *
 * A group record (flags bit 1) holds several chunks compressed together, so
 * that zstd can use back-references across chunk boundaries (per-chunk frames
 * of 64 KiB lose them: the benchmark image stores 1859 MiB that way against
 * 1629 MiB in 1 MiB groups at the same speed class; numbers in
 * docs/storage.md).  Its type is CAS_CHUNK, its address field is zero, raw_len
 * is the sum of the members' lengths, and its payload is
 *
 *      0      4   count (1..PACK_GROUP_MAX; 1 only in GC rewrites)
 *      4   36×n   per member: address (32), raw_len (4), in content order
 *      -      -   the members' contents concatenated: one zstd frame when
 *                 bit 0 is set, else verbatim
 *
 * The CRC32C covers the member table like any payload.  Each member has its
 * own index entry that points at the group record and names its position.  A sealed pack has an index file `NNNNNNNN.idx`: a 16-byte
 * header ('VMRPIDX1', u32 count, u32 0), count entries sorted by address
 * (struct pack_idx_ent, 48 bytes) and a CRC32C of everything before it.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cas/cas.h"

#define PACK_FILE_MAGIC "VMRPPAK1"
#define PACK_HDR_SIZE 16u
#define PACK_REC_MAGIC 0x43455256u
#define PACK_REC_HDR 52u
#define PACK_FLAG_ZSTD 1u
#define PACK_FLAG_GROUP 2u
#define PACK_GROUP_MAX CAS_GROUP_MAX
#define PACK_GROUP_ENT 36u
#define PACK_IDX_MAGIC "VMRPIDX1"

struct pack_rec {
  uint8_t type, flags;
  uint32_t raw_len, stored_len;
  struct cas_addr addr;
};

struct pack_idx_ent {
  struct cas_addr addr;
  uint32_t off;        /* record offset in the pack */
  uint32_t len;        /* record length, header included */
  uint32_t raw_len;    /* the object's own length (a group member's, not the group's) */
  uint8_t type, flags; /* of the record */
  uint8_t member;      /* 0: the record is the object; k: member k-1 of a group record */
  uint8_t pad;
};
_Static_assert(sizeof(struct pack_idx_ent) == 48, "index entry is 48 bytes on disk");

/* "DIR/packs/NNNNNNNN.pack" / ".idx"; caller frees. */
char *pack_path(const char *packdir, uint32_t id, const char *ext);

/* Writes the record header for rec + payload into hdr_out (PACK_REC_HDR bytes). */
void pack_rec_encode(const struct pack_rec *rec, const void *payload, uint8_t hdr_out[PACK_REC_HDR]);
/* Parses and checks a record of total length len in buf: magic, lengths, CRC32C.
 * 0 or -EIO.  Does not decompress or re-hash. */
int pack_rec_decode(const void *buf, size_t len, struct pack_rec *rec);
/* pack_rec_decode of a record read in two pieces: head (the header and the
 * start of the payload) and tail (the rest of the payload). */
int pack_rec_decode_split(const void *head, size_t head_len, const void *tail, size_t tail_len,
                          struct pack_rec *rec);
/* A group member: its address, length and offset in the group's content. */
struct pack_member {
  struct cas_addr addr;
  uint32_t raw_len, off;
};

/* Parses a checked group record's member table into m (PACK_GROUP_MAX
 * entries); *data_out / *data_len_out = the content section.  0 or -EIO. */
int pack_group_parse(const struct pack_rec *rec, const uint8_t *payload, struct pack_member *m, unsigned *n_out,
                     const uint8_t **data_out, uint32_t *data_len_out);
/* Decompresses (or copies) a group's content section into out (rec->raw_len
 * bytes), checking the zstd content checksum.  0 or -EIO. */
int pack_group_content(const struct pack_rec *rec, const uint8_t *data, uint32_t data_len, void *out);
/* The objects a checked record holds, as index entries at (off, len): one for
 * a plain record, one per member for a group.  out has PACK_GROUP_MAX slots.
 * With rehash, a group's content is decompressed and every member re-hashed
 * (tmp: CAS_MAX_OBJECT bytes).  Returns the count or -EIO. */
int pack_rec_objects(const struct pack_rec *rec, const uint8_t *payload, uint32_t off, uint32_t len, bool rehash,
                     uint8_t *tmp, struct pack_idx_ent *out);
/* Each entry's share of its record's bytes: len for a plain record; for group
 * members len split in proportion to raw_len over the members listed in e.
 * share[n] is filled; 0 or -ENOMEM. */
int pack_idx_shares(const struct pack_idx_ent *e, size_t n, uint64_t *share);

/* Turns a checked plain (non-group) record into content: decompresses if needed (zstd frames
 * carry an XXH64 content checksum, checked here), then, if rehash, re-hashes
 * and compares with the address.  out must hold rec->raw_len bytes.  0 or -EIO. */
int pack_rec_content(const struct pack_rec *rec, const void *payload, void *out, bool rehash);

/* Creates a new pack file with its header, fsyncs it and the directory.  Returns fd or -errno. */
int pack_create(const char *packdir, uint32_t id);
/* Writes the 16-byte file header pack_create writes, and fsyncs. */
int pack_hdr_write(int fd);
/* Checks the pack's 16-byte file header byte for byte: 0, -EIO when any byte
 * differs from what pack_create writes (or the file is shorter), or -errno. */
int pack_hdr_check(int fd);

/* Scans records from PACK_HDR_SIZE to file_size.  For each record whose
 * header and CRC check out, calls fn (with the record's payload) (which may stop the scan by returning
 * non-zero, passed back).  A damaged region is skipped by searching for the
 * next valid record; *bad_out counts them.  *end_out = end of the last valid
 * record (a torn tail starts there).  full_check: also decompress and re-hash
 * (records failing that are counted bad and not passed to fn). */
typedef int (*pack_scan_fn)(void *ctx, const struct pack_rec *rec, const uint8_t *payload, uint32_t off,
                            uint32_t len);
int pack_scan(int fd, uint64_t file_size, bool full_check, pack_scan_fn fn, void *ctx, uint64_t *end_out,
              uint64_t *bad_out);

/* Writes the index file atomically (entries are sorted here). */
int pack_idx_write(const char *packdir, uint32_t id, struct pack_idx_ent *ents, size_t n);
/* Loads an index file; -EIO when its header or CRC32C is wrong. *out malloc'd. */
int pack_idx_read(const char *packdir, uint32_t id, struct pack_idx_ent **out, size_t *n_out);
