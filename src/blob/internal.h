/*
 * internal.h — what the blob/ files share.  Not a public interface.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "blob/blob.h"
#include "blob/vhd.h"
#include "region/region.h"

/* One request's blob: an open disk restore point or disk, and what its
 * answers say. */
struct blob {
  struct region_reader *rd;
  bool disk;                 /* a disk's live volume (else an image) */
  bool writable;             /* a Write grant: an upload */
  bool encrypted;            /* every byte it serves is encrypted at rest */
  uint64_t disk_size;        /* the image's bytes */
  uint64_t size;             /* the VHD: disk_size + the footer */
  uint8_t footer[VHD_FOOTER_LEN];
  char etag[40];             /* quoted, from the tree root: the content's name */
  char last_modified[64];    /* RFC 1123, the restore point's creation */
  char created[64];
};

struct blob_call {
  struct blob_plane *plane;
  const struct http_request *req;
  struct http_response *resp;
  const char *version;       /* x-ms-version answered */
};

/* reply.c */
void blob_error(struct blob_call *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The headers every answer about a blob carries. */
void blob_headers(struct blob_call *c, const struct blob *b);

/* sas.c: verifies a SAS URL's parts and opens its disk restore point (a
 * malloc'd blob that blob_close frees).
 * 0, or an answer was given (AuthenticationFailed, ...) and -1. */
struct blob_sas {
  const char *account, *container, *name; /* path segments */
  const char *si, *sp, *sig;
};
int blob_open(struct blob_call *c, const struct blob_sas *sas, struct blob **out);
void blob_close(struct blob *b);
/* A path's three segments (account, container, name), in the malloc'd
 * buffer returned; NULL when it has another shape. */
char *blob_sas_split_path(const char *raw, struct blob_sas *sas);
/* A full SAS URL (the previous snapshot's), split: false when malformed. */
struct blob_url {
  struct blob_sas sas;     /* points into the strings below */
  char *path, *si, *sp, *sig;
};
bool blob_sas_parse_url(const char *url, struct blob_url *out);
void blob_url_free(struct blob_url *u);

/* read.c */
/* Both take b (closed when the answer is sent or dropped). */
void blob_get(struct blob_call *c, struct blob *b, bool head);
/* write.c: Put Blob, Put Page, Set Blob Properties of an upload */
void blob_put(struct blob_call *c, struct blob *b, const char *comp);
/* pagelist.c */
void blob_page_ranges(struct blob_call *c, struct blob *b);
/* Parses bytes=S-E, bytes=S-, bytes=-N: 1 and [*start, *end] (inclusive,
 * end clipped to total-1) when satisfiable, 0 when absent, -1 when
 * malformed, -2 when it starts beyond the end. */
int blob_range(const char *v, uint64_t total, uint64_t *start, uint64_t *end);
