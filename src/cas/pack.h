/*
 * pack.h — pack files and their index files (internal to cas/): their
 * format, encoded and checked here; their bytes live in the pack store
 * (pack_store.h; files under packs/ in the directory back end).
 *
 * A pack `packs/NNNNNNNN.pack` is a 16-byte file header ('VMRPPAK1', u32
 * version, u32 0; version 1 in a plaintext store, 2 in an encrypted one; no
 * CRC: it holds no data, and verify checks every one of its bytes against
 * these constants) followed by records:
 *
 *     offset size
 *      0      4   magic 'VREC' (0x43455256 little-endian)
 *      4      1   type (enum cas_type)
 *      5      1   flags: bit 0 = body is zstd-compressed, bit 1 = group,
 *                 bit 2 = sealed (format 2 below)
 *      6      2   reserved, 0
 *      8      4   raw_len: uncompressed length
 *     12      4   stored_len: payload length in the file
 *     16     32   address of the object (zero for a group)
 *     48      4   CRC32C over bytes 0..47 and the payload
 *     52      -   payload (stored_len bytes)
 *
 * so a pack can be scanned and recovered without any index.  All integers are
 * little-endian.
 *
 * Format 1 (a plaintext store): the payload is the body — the content,
 * compressed or not — and the address is SHA-256(type || content).
 *
 * Format 2 (an encrypted store; every record has bit 2 set, a record without
 * it is damage there, as a sealed one is in a plaintext store):
 *
 *      0     16   the store's key domain id
 *     16     16   salt: random, fresh for every record
 *     32      -   the body (as in format 1) encrypted with AES-256-GCM under
 *                 the key HMAC-SHA256(enc key, salt), nonce 12 zero bytes
 *      -     16   GCM tag; authenticated data: header bytes 0..47 || the
 *                 store's domain id
 *
 * and the address is HMAC-SHA256(addr key, type || content) (crypt.h).  The
 * CRC32C still covers the whole record: recovery and scans find record
 * boundaries and torn tails without keys, and verify tells a flipped bit
 * from a record of another key domain only by the tag.  A record keeps its
 * salt and ciphertext when copied verbatim (GC moves, copies between stores
 * of one domain); a rebuilt group is sealed afresh.  Why AES-256-GCM and this
 * nonce scheme: docs/encryption.md, "Chunk store".
 *
 * A group record (flags bit 1) holds several chunks compressed together, so
 * that zstd can use back-references across chunk boundaries (per-chunk frames
 * of 64 KiB lose them: the benchmark image stores 1859 MiB that way against
 * 1629 MiB in 1 MiB groups at the same speed class; numbers in
 * docs/storage.md).  Its type is CAS_CHUNK, its address field is zero, raw_len
 * is the sum of the members' lengths, and its body is
 *
 *      0      4   count (1..PACK_GROUP_MAX; 1 only in GC rewrites)
 *      4   36×n   per member: address (32), raw_len (4), in content order
 *      -      -   the members' contents concatenated: one zstd frame when
 *                 bit 0 is set, else verbatim
 *
 * The member table is part of the body, so in format 2 it is encrypted with
 * the contents.  Each member has its own index entry that points at the group
 * record and names its position.  A sealed pack has an index file
 * `NNNNNNNN.idx`: a 16-byte header ('VMRPIDX1', u32 count, u32 0), count
 * entries sorted by address (struct pack_idx_ent, 48 bytes) and a CRC32C of
 * everything before it.  It holds addresses and lengths, no content: in an
 * encrypted store the addresses are keyed and reveal nothing of it.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>

#include "cas/cas.h"
#include "cas/crypt.h"
#include "cas/pack_store.h"

#define PACK_FILE_MAGIC "VMRPPAK1"
#define PACK_HDR_SIZE 16u
#define PACK_REC_MAGIC 0x43455256u
#define PACK_REC_HDR 52u
#define PACK_FLAG_ZSTD 1u
#define PACK_FLAG_GROUP 2u
#define PACK_FLAG_SEALED 4u
#define PACK_SEAL_PRE (CRYPT_ID_LEN + CRYPT_SALT_LEN) /* payload bytes before a sealed body */
#define PACK_SEAL_OVERHEAD (PACK_SEAL_PRE + CRYPT_TAG_LEN)
#define PACK_VERSION_PLAIN 1u
#define PACK_VERSION_SEALED 2u
#define PACK_GROUP_MAX CAS_GROUP_MAX
#define PACK_GROUP_ENT 36u
#define PACK_IDX_MAGIC "VMRPIDX1"

struct pack_rec {
  uint8_t type, flags;
  uint32_t raw_len, stored_len;
  uint32_t body_len; /* stored_len less the seal's bytes (decode sets it) */
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

/* Writes the record header for rec + payload into hdr_out (PACK_REC_HDR bytes). */
void pack_rec_encode(const struct pack_rec *rec, const void *payload, uint8_t hdr_out[PACK_REC_HDR]);
/* Parses and checks a record of total length len in buf: magic, lengths, CRC32C.
 * 0 or -EIO.  Does not decompress or re-hash. */
int pack_rec_decode(const void *buf, size_t len, struct pack_rec *rec);
/* pack_rec_decode of a record read in n pieces, the first holding at least
 * the header. */
int pack_rec_decode_iov(const struct iovec *iov, int n, struct pack_rec *rec);

/* Seals a record of an encrypted store in place (format 2): payload holds
 * PACK_SEAL_PRE free bytes, the body (rec->body_len bytes, which the caller
 * set along with type, flags, raw_len and addr) and CRYPT_TAG_LEN free bytes.
 * Sets the sealed flag and stored_len; pack_rec_encode follows.  0 or -ENOMEM. */
int pack_rec_seal(struct cas_crypt *cc, struct pack_rec *rec, uint8_t *payload);
/* The body of a decoded record: with cc (an encrypted store), a sealed
 * record of this domain whose tag checks, decrypted into buf (rec->body_len
 * bytes; buf may be payload + PACK_SEAL_PRE: in place); without, a plain
 * record's payload itself.  *body points at it.  -EIO for anything else (a
 * plaintext record in an encrypted store, another domain's, a bad tag). */
int pack_rec_open(struct cas_crypt *cc, const struct pack_rec *rec, const uint8_t *payload, uint8_t *buf,
                  const uint8_t **body);
/* pack_rec_open of a sealed record whose body lies in n pieces, decrypted in
 * place; pre is the payload's first PACK_SEAL_PRE bytes, tag its last
 * CRYPT_TAG_LEN. */
int pack_rec_open_iov(struct cas_crypt *cc, const struct pack_rec *rec, const uint8_t *pre, const struct iovec *body,
                      int n, const uint8_t *tag);
/* A group member: its address, length and offset in the group's content. */
struct pack_member {
  struct cas_addr addr;
  uint32_t raw_len, off;
};

/* Below, body is a record's body (pack_rec_open). */
/* Parses a checked group record's member table into m (PACK_GROUP_MAX
 * entries); *data_out / *data_len_out = the content section.  0 or -EIO. */
int pack_group_parse(const struct pack_rec *rec, const uint8_t *body, struct pack_member *m, unsigned *n_out,
                     const uint8_t **data_out, uint32_t *data_len_out);
/* Decompresses (or copies) a group's content section into out (rec->raw_len
 * bytes), checking the zstd content checksum.  0 or -EIO. */
int pack_group_content(const struct pack_rec *rec, const uint8_t *data, uint32_t data_len, void *out);
/* The objects a checked record holds, as index entries at (off, len): one for
 * a plain record, one per member for a group.  out has PACK_GROUP_MAX slots.
 * With rehash, a group's content is decompressed and every member re-hashed
 * (tmp: CAS_MAX_OBJECT bytes).  Returns the count or -EIO. */
int pack_rec_objects(struct cas_crypt *cc, const struct pack_rec *rec, const uint8_t *body, uint32_t off,
                     uint32_t len, bool rehash, uint8_t *tmp, struct pack_idx_ent *out);
/* Each entry's share of its record's bytes: len for a plain record; for group
 * members len split in proportion to raw_len over the members listed in e.
 * share[n] is filled; 0 or -ENOMEM. */
int pack_idx_shares(const struct pack_idx_ent *e, size_t n, uint64_t *share);

/* Turns a checked plain (non-group) record into content: decompresses if needed (zstd frames
 * carry an XXH64 content checksum, checked here), then, if rehash, re-hashes
 * (crypt_addr under cc) and compares with the address.  out must hold
 * rec->raw_len bytes.  0 or -EIO. */
int pack_rec_content(struct cas_crypt *cc, const struct pack_rec *rec, const void *body, void *out, bool rehash);

/* The 16-byte file header of a pack of version. */
void pack_hdr_encode(uint8_t h[PACK_HDR_SIZE], uint32_t version);
/* Creates pack id in s with its header (of version), durably (pack_store.h). */
int pack_create(struct cas_pack_store *s, uint32_t id, uint32_t version, struct pack_obj **out);
/* Checks the pack's 16-byte file header byte for byte: 0, -EIO when any byte
 * differs from what pack_create writes (or the pack is shorter), or -errno. */
int pack_hdr_check(struct pack_obj *h, uint32_t version);

/* Scans records from PACK_HDR_SIZE to file_size.  For each record whose
 * header and CRC check out and that opens under cc (pack_rec_open), calls fn
 * with the record's body (it may stop the scan by returning non-zero, passed
 * back).  A damaged region is skipped by searching for the
 * next valid record; *bad_out counts them.  *end_out = end of the last valid
 * record (a torn tail starts there).  full_check: also decompress and re-hash
 * (records failing that are counted bad and not passed to fn). */
typedef int (*pack_scan_fn)(void *ctx, const struct pack_rec *rec, const uint8_t *body, uint32_t off,
                            uint32_t len);
int pack_scan(struct pack_obj *h, uint64_t file_size, struct cas_crypt *cc, bool full_check, pack_scan_fn fn,
              void *ctx, uint64_t *end_out, uint64_t *bad_out);

/* Puts pack id's index file (entries are sorted here), atomically (idx_put). */
int pack_idx_write(struct cas_pack_store *s, uint32_t id, struct pack_idx_ent *ents, size_t n);
/* Loads an index file; -EIO when its header or CRC32C is wrong, -ENOENT
 * when there is none. *out malloc'd. */
int pack_idx_read(struct cas_pack_store *s, uint32_t id, struct pack_idx_ent **out, size_t *n_out);
