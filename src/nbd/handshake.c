/*
 * handshake.c — the fixed newstyle handshake (state CONN_NEGOTIATING).
 *
 *   S: NBDMAGIC IHAVEOPT flags(FIXED_NEWSTYLE|NO_ZEROES)
 *   C: client flags
 *   repeat: C: IHAVEOPT option length data   S: option replies
 *   until GO is acknowledged or EXPORT_NAME is answered (→ TRANSMISSION),
 *   or ABORT / a protocol violation / the handshake timeout (→ close).
 *
 * Every option is read whole (≤ 64 KiB; up to 1 MiB is skipped and answered
 * NBD_REP_ERR_TOO_BIG; more, or a bad magic, or more than NBD_MAX_OPTIONS
 * options, is a hard disconnect: the protocol lets a server drop a client
 * that violates a MUST or looks like a denial of service).  Malformed
 * options get NBD_REP_ERR_INVALID, unknown ones NBD_REP_ERR_UNSUP; the client
 * may go on.
 *
 * Export names are capabilities (access.c): INFO, GO, EXPORT_NAME and the
 * meta context options open what the name proves, or answer like a missing
 * export; LIST lists nothing.
 *
 * TLS modes (proto.md "TLS support"): TLS_OFF answers STARTTLS with
 * NBD_REP_ERR_POLICY; TLS_ALLOW (loopback and unix listeners with
 * credentials) upgrades on request and opens the same exports either way;
 * TLS_REQUIRE (FORCEDTLS: any non-loopback listener) answers every option
 * but STARTTLS and ABORT with NBD_REP_ERR_TLS_REQD and drops an EXPORT_NAME
 * sent in plain text.  A successful STARTTLS forgets structured replies and
 * the meta context selection, as the protocol requires.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "nbd/internal.h"

int opt_reply(struct nbd_conn *c, uint32_t opt, uint32_t type, const void *a, uint32_t alen, const void *b,
              uint32_t blen)
{
  struct nbd_option_reply_wire h = {
      .magic = htobe64(NBD_REP_MAGIC), .option = htobe32(opt), .type = htobe32(type),
      .length = htobe32(alen + blen)};
  struct iovec iov[3] = {{&h, sizeof h}, {(void *)a, alen}, {(void *)b, blen}};
  return conn_writev(c, iov, 3);
}

static int reply_err(struct nbd_conn *c, uint32_t opt, uint32_t type, const char *msg)
{
  return opt_reply(c, opt, type, msg, (uint32_t)strlen(msg), NULL, 0);
}

static uint16_t transmission_flags(const struct nbd_conn *c, const struct nbd_export *e, bool ro_grant)
{
  const struct nbd_backend_ops *ops = e->ops;
  bool ro = ro_grant || ops->readonly(e->handle);
  uint16_t f = NBD_FLAG_HAS_FLAGS;
  if (c->structured)
    f |= NBD_FLAG_SEND_DF;
  if (ro)
    return f | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN;
  f |= NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
  if (ops->flush) /* FUA is emulated with a flush where the backend lacks it */
    f |= NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA;
  if (ops->trim)
    f |= NBD_FLAG_SEND_TRIM;
  if (ops->multi_conn && ops->flush)
    f |= NBD_FLAG_CAN_MULTI_CONN;
  return f;
}

/* Enters transmission on the opened export (its reference and the grant's
 * id move to c). */
static void bind_export(struct nbd_conn *c, struct access_open *o, const char *name, size_t namelen)
{
  struct nbd_export *e = o->export;
  c->exp = e;
  c->size = e->ops->size(e->handle);
  c->tflags = transmission_flags(c, e, o->readonly);
  {
    LOCK_GUARD(&c->s->lock); /* nbd_access_remove reads it */
    c->access_id = o->access_id;
  }
  o->access_id = NULL;
  access_open_clear(o);
  export_set_transmission(c->s, e, +1);
  /* BLOCK_STATUS only with a selection made for this very export. */
  if (!c->meta_export || strlen(c->meta_export) != namelen || memcmp(c->meta_export, name, namelen) != 0)
    c->nmeta = 0;
}

/* Lists nothing: what a client may open is what it has proven (access.c). */
static int opt_list(struct nbd_conn *c, uint32_t len)
{
  if (len != 0)
    return reply_err(c, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
  return opt_reply(c, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0, NULL, 0);
}

/* NBD_OPT_INFO and NBD_OPT_GO.  Returns 1 when GO entered transmission. */
static int opt_info_go(struct nbd_conn *c, uint32_t opt, const uint8_t *d, uint32_t len)
{
  uint32_t namelen;
  uint16_t nreq;
  if (len < 6)
    return reply_err(c, opt, NBD_REP_ERR_INVALID, "option too short");
  memcpy(&namelen, d, 4);
  namelen = be32toh(namelen);
  if (namelen > len - 6 || namelen > NBD_MAX_STRING)
    return reply_err(c, opt, NBD_REP_ERR_INVALID, "bad export name length");
  memcpy(&nreq, d + 4 + namelen, 2);
  nreq = be16toh(nreq);
  if ((uint64_t)6 + namelen + 2u * nreq != len)
    return reply_err(c, opt, NBD_REP_ERR_INVALID, "bad information request list");
  const char *name = (const char *)d + 4;
  bool want_name = false;
  for (uint16_t i = 0; i < nreq; i++) {
    uint16_t t;
    memcpy(&t, d + 6 + namelen + 2 * i, 2);
    if (be16toh(t) == NBD_INFO_NAME)
      want_name = true;
  }
  struct access_open o;
  if (access_open(c, name, namelen, &o) < 0)
    return reply_err(c, opt, NBD_REP_ERR_UNKNOWN, "no such export");
  struct nbd_export *e = o.export;

  struct __attribute__((packed)) {
    uint16_t type;
    uint64_t size;
    uint16_t flags;
  } info = {htobe16(NBD_INFO_EXPORT), htobe64(e->ops->size(e->handle)),
            htobe16(transmission_flags(c, e, o.readonly))};
  struct __attribute__((packed)) {
    uint16_t type;
    uint32_t min, pref, max;
  } bs = {htobe16(NBD_INFO_BLOCK_SIZE), htobe32(1), htobe32(4096), htobe32(NBD_MAX_PAYLOAD)};
  uint16_t nt = htobe16(NBD_INFO_NAME);
  int r = opt_reply(c, opt, NBD_REP_INFO, &info, sizeof info, NULL, 0);
  if (r == 0) /* default constraints: sent whether asked for or not (clients ignore what they did not ask) */
    r = opt_reply(c, opt, NBD_REP_INFO, &bs, sizeof bs, NULL, 0);
  if (r == 0 && want_name) /* the name it was opened by: the registered one is none of its business */
    r = opt_reply(c, opt, NBD_REP_INFO, &nt, 2, name, namelen);
  if (r == 0)
    r = opt_reply(c, opt, NBD_REP_ACK, NULL, 0, NULL, 0);
  if (r < 0 || opt == NBD_OPT_INFO) {
    export_put(c->s, e);
    access_open_clear(&o);
    return r;
  }
  bind_export(c, &o, name, namelen);
  return 1;
}

/* NBD_OPT_EXPORT_NAME: no error reply exists, so failure hangs up. */
static int opt_export_name(struct nbd_conn *c, const uint8_t *d, uint32_t len)
{
  struct access_open o;
  if (len > NBD_MAX_STRING || access_open(c, (const char *)d, len, &o) < 0)
    return -ENOENT;
  bind_export(c, &o, (const char *)d, len);
  struct __attribute__((packed)) {
    uint64_t size;
    uint16_t flags;
    uint8_t zeroes[124];
  } rep = {htobe64(c->size), htobe16(c->tflags), {0}};
  int r = conn_write(c, &rep, c->no_zeroes ? 10 : sizeof rep);
  return r < 0 ? r : 1;
}

static int opt_starttls(struct nbd_conn *c, uint32_t len)
{
  if (len != 0)
    return reply_err(c, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "NBD_OPT_STARTTLS takes no data");
  if (c->tls)
    return reply_err(c, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "TLS already negotiated");
  if (c->tls_mode == TLS_OFF || !c->s->tls_creds)
    return reply_err(c, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY, "TLS is not configured");
  /* Anything already buffered would be plain text sent before our ACK. */
  if (conn_input_pending(c))
    return -EPROTO;
  int r = opt_reply(c, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0, NULL, 0);
  if (r < 0)
    return r;
  r = tls_start(c);
  if (r < 0)
    return r;
  c->structured = false;
  c->nmeta = 0;
  free(c->meta_export);
  c->meta_export = NULL;
  return 0;
}

/* Returns 1 to enter transmission, 0 to read the next option, <0 to close. */
static int option(struct nbd_conn *c, uint32_t opt, const uint8_t *d, uint32_t len)
{
  if (opt == NBD_OPT_ABORT) {
    opt_reply(c, opt, NBD_REP_ACK, NULL, 0, NULL, 0);
    return -ECONNABORTED;
  }
  if (opt == NBD_OPT_STARTTLS)
    return opt_starttls(c, len);
  if (c->tls_mode == TLS_REQUIRE && !c->tls) {
    if (opt == NBD_OPT_EXPORT_NAME)
      return -EPERM;
    return reply_err(c, opt, NBD_REP_ERR_TLS_REQD, "TLS is required");
  }
  switch (opt) {
  case NBD_OPT_EXPORT_NAME:
    return opt_export_name(c, d, len);
  case NBD_OPT_LIST:
    return opt_list(c, len);
  case NBD_OPT_INFO:
  case NBD_OPT_GO:
    return opt_info_go(c, opt, d, len);
  case NBD_OPT_STRUCTURED_REPLY:
    if (len != 0)
      return reply_err(c, opt, NBD_REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data");
    c->structured = true;
    return opt_reply(c, opt, NBD_REP_ACK, NULL, 0, NULL, 0);
  case NBD_OPT_LIST_META_CONTEXT:
  case NBD_OPT_SET_META_CONTEXT:
    return meta_option(c, opt, d, len);
  default:
    return reply_err(c, opt, NBD_REP_ERR_UNSUP, "unknown option");
  }
}

int handshake(struct nbd_conn *c)
{
  struct __attribute__((packed)) {
    uint64_t magic, ihaveopt;
    uint16_t flags;
  } hello = {htobe64(NBD_MAGIC), htobe64(NBD_IHAVEOPT), htobe16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)};
  int r = conn_write(c, &hello, sizeof hello);
  uint32_t cflags;
  if (r < 0 || (r = conn_read(c, &cflags, 4)) < 0)
    return r;
  cflags = be32toh(cflags);
  if (cflags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
    return -EPROTO; /* "the server MUST drop the TCP connection" */
  c->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;
  if (!(cflags & NBD_FLAG_C_FIXED_NEWSTYLE)) {
    /* TLS needs fixed newstyle: such a client gets NOTLS semantics. */
    if (c->tls_mode == TLS_REQUIRE)
      return -EPERM;
    c->tls_mode = TLS_OFF;
  }
  for (unsigned n = 0;; n++) {
    if (n == NBD_MAX_OPTIONS)
      return -EPROTO;
    struct nbd_option_wire h;
    if ((r = conn_read(c, &h, sizeof h)) < 0)
      return r;
    if (be64toh(h.magic) != NBD_IHAVEOPT)
      return -EPROTO;
    uint32_t opt = be32toh(h.option), len = be32toh(h.length);
    if (len > NBD_MAX_OPTION_LEN) {
      if (len > NBD_MAX_OPTION_SKIP || opt == NBD_OPT_EXPORT_NAME)
        return -EPROTO;
      if ((r = conn_discard(c, len)) < 0 || (r = reply_err(c, opt, NBD_REP_ERR_TOO_BIG, "option too long")) < 0)
        return r;
      continue;
    }
    CLEANUP_FREE uint8_t *data = malloc(len + 1u);
    if (!data)
      return -ENOMEM;
    if ((r = conn_read(c, data, len)) < 0)
      return r;
    data[len] = 0;
    r = option(c, opt, data, len);
    if (r != 0)
      return r < 0 ? r : 0;
  }
}
