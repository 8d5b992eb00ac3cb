/*
 * objects.c — the server side of POST /vmrp/peer/v1/objects: a stream of
 * frames over the records that hold the requested addresses (repl.h).
 *
 * One record is in memory at a time (at most a group's ~4 MiB), read when
 * the previous one has gone out, so a batch of thousands of objects costs
 * one record of memory and the sender reads no faster than the receiver
 * takes.  The record is read into one buffer kept for the request and goes
 * out from there behind its frame header: no allocation or copy per record
 * (a fresh 1 MiB buffer each time cost the sender a fifth of its CPU in page
 * faults).  A group is sent once however many of its members were asked for
 * (the keys of records sent are kept for the request).  The records go out
 * as stored: no decompression, no recompression; the receiver checks them.
 *
 * Failpoints (tests): repl.corrupt_records=N flips a payload byte of the
 * first N records this process sends (the receiver's re-hash);
 * repl.send_delay_ms=T waits T ms before each record (a copy slow enough to
 * be interrupted).
 */
#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "common/log.h"
#include "repl/repl.h"

struct repl_export {
  struct cas *cas;
  struct cas_addr *addrs;
  size_t n, next;
  uint64_t *sent;        /* keys of records sent: open addressing, 0 free */
  size_t sent_cap;
  uint8_t hdr[REPL_FRAME_HDR]; /* the frame being sent: its header, */
  const uint8_t *payload;      /* then its payload (in rec, or an address) */
  size_t frame_len, frame_pos;
  uint8_t *rec;                /* the record buffer, reused */
  size_t rec_cap;
  bool ended, failed;
  uint64_t records, bytes;
};

static atomic_llong corrupted;

int repl_export_open(struct cas *cas, const void *body, size_t len, struct repl_export **out)
{
  if (len == 0 || len % CAS_ADDR_LEN || len / CAS_ADDR_LEN > REPL_MAX_BATCH)
    return -EINVAL;
  struct repl_export *x = calloc(1, sizeof *x);
  if (!x)
    return -ENOMEM;
  x->cas = cas;
  x->n = len / CAS_ADDR_LEN;
  x->sent_cap = 2 * x->n + 1;
  x->addrs = malloc(len);
  x->sent = calloc(x->sent_cap, sizeof *x->sent);
  if (!x->addrs || !x->sent) {
    repl_export_close(x);
    return -ENOMEM;
  }
  memcpy(x->addrs, body, len);
  *out = x;
  return 0;
}

void repl_export_close(void *p)
{
  struct repl_export *x = p;
  if (!x)
    return;
  free(x->addrs);
  free(x->sent);
  free(x->rec);
  free(x);
}

void repl_export_counts(const struct repl_export *x, uint64_t *records, uint64_t *bytes)
{
  *records = x->records;
  *bytes = x->bytes;
}

/* Marks key sent; false when it was already. */
static bool mark_sent(struct repl_export *x, uint64_t key)
{
  key += 1; /* 0 means free */
  size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull % x->sent_cap);
  while (x->sent[i]) {
    if (x->sent[i] == key)
      return false;
    i = (i + 1) % x->sent_cap;
  }
  x->sent[i] = key;
  return true;
}

static void set_frame(struct repl_export *x, enum repl_frame_kind kind, const void *payload, uint32_t len)
{
  memset(x->hdr, 0, REPL_FRAME_HDR);
  x->hdr[0] = (uint8_t)kind;
  uint32_t le = htole32(len);
  memcpy(x->hdr + 4, &le, 4);
  x->payload = payload;
  x->frame_len = REPL_FRAME_HDR + len;
  x->frame_pos = 0;
}

/* The next frame: a record not sent yet, a missing address, or the end. */
static int next_frame(struct repl_export *x)
{
  while (x->next < x->n) {
    const struct cas_addr *a = &x->addrs[x->next++];
    uint32_t len = 0;
    uint64_t key = 0;
    int r = cas_record_key(x->cas, a, &key);
    if (r == 0 && !mark_sent(x, key)) /* its group went out already: not read again */
      continue;
    if (r == 0)
      r = cas_record_export(x->cas, a, &x->rec, &x->rec_cap, &len);
    if (r == -ENOENT) {
      set_frame(x, REPL_FRAME_MISSING, a->b, CAS_ADDR_LEN);
      return 0;
    }
    if (r < 0) {
      char hex[2 * CAS_ADDR_LEN + 1];
      cas_addr_to_hex(a, hex);
      log_error("repl", "object %s cannot be sent: %s", hex, strerror(-r));
      return r;
    }
    int64_t delay = failpoint_value("repl.send_delay_ms", 0), budget = failpoint_value("repl.corrupt_records", 0);
    if (delay > 0)
      usleep((useconds_t)delay * 1000);
    if (budget > 0 && atomic_fetch_add(&corrupted, 1) < budget) {
      x->rec[len - 1] ^= 0x40;
      log_warn("repl", "failpoint repl.corrupt_records: a damaged record goes out");
    }
    x->records++;
    x->bytes += len;
    set_frame(x, REPL_FRAME_RECORD, x->rec, len);
    return 0;
  }
  x->ended = true;
  set_frame(x, REPL_FRAME_END, NULL, 0);
  return 0;
}

ssize_t repl_export_read(void *p, uint64_t pos, char *buf, size_t max)
{
  struct repl_export *x = p;
  (void)pos;
  size_t done = 0;
  while (done < max) {
    if (x->frame_pos == x->frame_len) {
      if (x->ended)
        break;
      if (x->failed || next_frame(x) < 0) { /* the stream is cut: no end frame */
        x->failed = true;
        return done ? (ssize_t)done : -1;
      }
    }
    bool in_hdr = x->frame_pos < REPL_FRAME_HDR;
    size_t end = in_hdr ? REPL_FRAME_HDR : x->frame_len, k = end - x->frame_pos;
    if (k > max - done)
      k = max - done;
    memcpy(buf + done, in_hdr ? x->hdr + x->frame_pos : x->payload + (x->frame_pos - REPL_FRAME_HDR), k);
    x->frame_pos += k;
    done += k;
  }
  return (ssize_t)done;
}
