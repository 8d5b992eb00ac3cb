/*
 * transmission.c — the transmission phase: requests in, backend calls,
 * replies out (state CONN_TRANSMISSION until CONN_CLOSING).
 *
 * Threads: a connection runs c->threads workers.  A worker takes rlock,
 * reads one request (header and, for WRITE, the whole payload) from the
 * buffered input, releases rlock and runs the request while the next worker
 * reads the next one; it then takes wlock and writes the whole reply.  So up
 * to `threads` requests of one connection are in the backend at once, a slow
 * FLUSH does not hold up reads, and replies go out in completion order
 * (the protocol allows any order; cookies pair them).
 *
 * Small READs whose data is cached are answered by the worker that read
 * them, without releasing rlock (answer_inline: the backend's pread_nowait,
 * then the reply under wlock; lock order rlock -> wlock, and no one takes
 * rlock while holding wlock).  Handing each to another worker cost a wake-up
 * and a context switch per request, which on a busy machine took CPU from
 * the client: fio 4 KiB random reads QD32 over TCP, 0.38 context switches
 * per request against nbdkit's 0.07, and one worker serving everything
 * inline measured 85-99k IOPS against 8 handing off 67-89k.  A request
 * that could block (not cached, a lazy volume, a write, a flush) releases
 * rlock as before, so a slow one still never holds up the rest.
 *
 * Each worker owns a data buffer that grows to the largest request it has
 * served (≤ 32 MiB), and a pipe through which READ replies and WRITE payloads of
 * NBD_SPLICE_MIN..NBD_PIPE_SIZE bytes go between the backend's file and the
 * socket without being copied (splice.c; the buffer is the fallback and
 * the path for TLS).  A payload left in the pipe by an error reply is
 * dropped with the pipe, so the pipe is empty whenever a request starts.
 *
 * Checking, in this order, before the backend is called: known command
 * (else EINVAL), flags valid for the command (EINVAL), write to a read-only
 * export (EPERM), range inside the export (ENOSPC for WRITE/WRITE_ZEROES,
 * EINVAL for the rest), READ length ≤ 32 MiB (EINVAL), BLOCK_STATUS only
 * with a negotiated meta context (EINVAL).  Backend errors are mapped to
 * the protocol's values in one place (nbd_error).
 *
 * Memory: the READ and WRITE payload bytes a connection has in flight
 * (read, not yet answered; payloads over 64 KiB: smaller ones are bounded
 * by the number of workers) are counted against max_buffer_per_conn before
 * the payload is read or the reply buffered; past it, the worker that
 * holds rlock waits, so no further request of that connection is read until
 * replies have gone out (one request of any size passes when nothing else
 * is in flight).  A client that never reads its replies thus holds one
 * budget of memory until the send timeout drops it (server.c).  Each
 * request read also counts in c->inflight and stamps c->last_ms, which the
 * idle timeout reads.
 *
 * Hard disconnects: bad request magic, a WRITE longer than 32 MiB, EOF in
 * the middle of a request (the partial request is dropped, never run), a
 * reply that cannot be sent.  NBD_CMD_DISC and EOF stop the reading;
 * requests already read still run and reply, then the connection closes.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "nbd/internal.h"

struct worker {
  struct nbd_conn *c;
  uint8_t *buf;
  size_t cap;
  struct nbd_pipe pipe; /* large READ replies and WRITE payloads (splice.c) */
};

struct request {
  uint16_t flags, type;
  uint64_t cookie, off;
  uint32_t len;
  bool piped;       /* a WRITE whose payload waits in the worker's pipe, not its buffer */
  size_t buffered;  /* payload bytes counted against max_buffer_per_conn */
};

/* Waits (rlock held: nothing else is read meanwhile) until n more payload
 * bytes fit in the connection's budget; -ECONNABORTED when it is closed. */
static int budget_take(struct nbd_conn *c, size_t n)
{
  size_t max = c->s->cfg.max_buffer_per_conn;
  int r = 0;
  pthread_mutex_lock(&c->block);
  if (c->buffered > 0 && c->buffered + n > max && ratelog_allow(&c->s->budgets))
    log_warn("nbd", "a connection of %s has %zu bytes of replies and payloads in flight: no more requests "
             "read until they are answered", c->peer, c->buffered);
  while (!atomic_load(&c->closing) && c->buffered > 0 && c->buffered + n > max)
    pthread_cond_wait(&c->bcond, &c->block);
  if (atomic_load(&c->closing))
    r = -ECONNABORTED;
  else
    c->buffered += n;
  pthread_mutex_unlock(&c->block);
  return r;
}

/* The request was answered: its budget back, one fewer in flight. */
static void request_done(struct nbd_conn *c, struct request *rq)
{
  if (rq->buffered) {
    pthread_mutex_lock(&c->block);
    c->buffered -= rq->buffered;
    pthread_cond_broadcast(&c->bcond);
    pthread_mutex_unlock(&c->block);
    rq->buffered = 0;
  }
  atomic_store(&c->last_ms, now_ms());
  atomic_fetch_sub(&c->inflight, 1);
}

/* The single place where backend errors become protocol errors. */
static uint32_t nbd_error(int err)
{
  switch (-err) {
  case EPERM:
  case EROFS:
    return NBD_EPERM;
  case ENOMEM:
    return NBD_ENOMEM;
  case EINVAL:
    return NBD_EINVAL;
  case ENOSPC:
  case EDQUOT:
  case EFBIG:
    return NBD_ENOSPC;
  case EOVERFLOW:
    return NBD_EOVERFLOW;
  case ENOTSUP:
    return NBD_ENOTSUP;
  case ESHUTDOWN:
    return NBD_ESHUTDOWN;
  default:
    return NBD_EIO;
  }
}

static int grow(struct worker *w, size_t n)
{
  if (w->cap >= n)
    return 0;
  size_t cap = w->cap ? w->cap : 65536;
  while (cap < n)
    cap *= 2;
  void *p = malloc(cap);
  if (!p)
    return -ENOMEM;
  free(w->buf);
  w->buf = p;
  w->cap = cap;
  return 0;
}

/* A WRITE's payload (rlock held).  Invariant (2): the whole payload, in the
 * pipe or in the buffer, or an error that closes the connection. */
static int read_payload(struct worker *w, struct request *rq)
{
  struct nbd_conn *c = w->c;
  int r;
  size_t got = 0;
  if (rq->len == 0) /* nothing to read, and a worker's buffer may not exist yet */
    return 0;
  /* Spliced only from unix sockets: from TCP, socket -> pipe -> file was
   * slower than recv into our buffer and pwrite (bench/nbd, fio 1 MiB write
   * QD32 over TCP, servers interleaved: 2769-3909 MiB/s spliced, 4137-4562
   * copied; nbdkit 3194-4399), while over unix it is faster (2734-3116
   * against 2611-2762 copied). */
  if (!c->tls && !c->is_tcp && c->exp->ops->pwrite_pipe && rq->len >= NBD_SPLICE_MIN && rq->len <= NBD_PIPE_SIZE &&
      pipe_reserve(&w->pipe, rq->len) == 0) {
    r = conn_splice_in(c, &w->pipe, rq->len, &got);
    if (r == 0) {
      rq->piped = true;
      return 0;
    }
    if (r != -ENOBUFS)
      return r;
  }
  if ((r = grow(w, rq->len)) < 0)
    return r;
  if (got > 0 && (r = pipe_drain(&w->pipe, w->buf, got)) < 0)
    return r;
  return conn_read(c, w->buf + got, rq->len - got);
}

/* Called with rlock held. */
static int read_request(struct worker *w, struct request *rq)
{
  struct nbd_conn *c = w->c;
  struct nbd_request_wire h;
  int r = conn_read(c, &h, sizeof h);
  if (r < 0)
    return r;
  if (be32toh(h.magic) != NBD_REQUEST_MAGIC)
    return -EPROTO;
  *rq = (struct request){be16toh(h.flags), be16toh(h.type), h.cookie, be64toh(h.offset), be32toh(h.length), false,
                         0};
  if (rq->type == NBD_CMD_DISC)
    return -ECONNABORTED;
  if (rq->type == NBD_CMD_WRITE && rq->len > NBD_MAX_PAYLOAD)
    return -EPROTO; /* the payload cannot be skipped safely: hang up */
  /* A READ longer than the maximum is answered EINVAL without a buffer.
   * Payloads up to NBD_INLINE_MAX are not counted: at most one per worker
   * (threads x 64 KiB), and the 4 KiB requests that make up the IOPS pay
   * no lock for it. */
  size_t payload = (rq->type == NBD_CMD_READ && rq->len <= NBD_MAX_PAYLOAD) || rq->type == NBD_CMD_WRITE ? rq->len : 0;
  if (payload <= NBD_INLINE_MAX)
    payload = 0;
  if (payload && (r = budget_take(c, payload)) < 0)
    return r;
  rq->buffered = payload;
  atomic_fetch_add(&c->inflight, 1);
  atomic_store(&c->last_ms, now_ms());
  if (rq->type != NBD_CMD_WRITE)
    return 0;
  if ((r = read_payload(w, rq)) < 0)
    request_done(c, rq);
  return r;
}

/* iov, then (p non-NULL: a READ reply whose data waits in the worker's
 * pipe) len bytes from p; a failed reply write closes the connection. */
static int send_reply_from(struct nbd_conn *c, struct iovec *iov, int n, struct nbd_pipe *p, size_t len)
{
  pthread_mutex_lock(&c->wlock);
  int r = p ? conn_splicev(c, iov, n, p, len) : conn_writev(c, iov, n);
  pthread_mutex_unlock(&c->wlock);
  if (r < 0)
    conn_abort(c);
  return r;
}

static int send_reply(struct nbd_conn *c, struct iovec *iov, int n) { return send_reply_from(c, iov, n, NULL, 0); }

static void reply_simple(struct nbd_conn *c, const struct request *rq, uint32_t err, void *data, size_t len)
{
  struct nbd_simple_reply_wire h = {htobe32(NBD_SIMPLE_REPLY_MAGIC), htobe32(err), rq->cookie};
  struct iovec iov[2] = {{&h, sizeof h}, {data, err ? 0 : len}};
  send_reply(c, iov, data && !err ? 2 : 1);
}

static void reply_error(struct nbd_conn *c, const struct request *rq, uint32_t err)
{
  if (!c->structured) {
    reply_simple(c, rq, err, NULL, 0);
    return;
  }
  struct __attribute__((packed)) {
    struct nbd_structured_reply_wire h;
    uint32_t err;
    uint16_t msglen;
  } m = {{htobe32(NBD_STRUCTURED_REPLY_MAGIC), htobe16(NBD_REPLY_FLAG_DONE), htobe16(NBD_REPLY_TYPE_ERROR),
          rq->cookie, htobe32(6)},
         htobe32(err),
         0};
  struct iovec iov = {&m, sizeof m};
  send_reply(c, &iov, 1);
}

static void reply_ok(struct nbd_conn *c, const struct request *rq)
{
  /* A simple reply is allowed even with structured replies for requests
   * without payload. */
  reply_simple(c, rq, 0, NULL, 0);
}

/* Whether the READ's data went into the worker's pipe (then it is sent from
 * there); false leaves the request to pread, also for every error. */
static bool read_into_pipe(struct worker *w, const struct request *rq)
{
  struct nbd_conn *c = w->c;
  const struct nbd_backend_ops *ops = c->exp->ops;
  if (c->tls || !ops->read_fd || rq->len < NBD_SPLICE_MIN || rq->len > NBD_PIPE_SIZE)
    return false;
  int fd = ops->read_fd(c->exp->handle, rq->off, rq->len);
  return fd >= 0 && pipe_fill(&w->pipe, fd, rq->off, rq->len) == 0;
}

/* The reply to a READ whose data is in the worker's buffer or (piped) pipe. */
static void send_read_reply(struct worker *w, const struct request *rq, bool piped)
{
  struct nbd_conn *c = w->c;
  struct nbd_simple_reply_wire sh = {htobe32(NBD_SIMPLE_REPLY_MAGIC), 0, rq->cookie};
  struct __attribute__((packed)) {
    struct nbd_structured_reply_wire h;
    uint64_t off;
  } m = {{htobe32(NBD_STRUCTURED_REPLY_MAGIC), htobe16(NBD_REPLY_FLAG_DONE), htobe16(NBD_REPLY_TYPE_OFFSET_DATA),
          rq->cookie, htobe32(rq->len + 8)},
         htobe64(rq->off)};
  if (c->structured && rq->len == 0) { /* OFFSET_DATA must carry a byte: answer with NONE */
    m.h.type = htobe16(NBD_REPLY_TYPE_NONE);
    m.h.length = 0;
  }
  struct iovec iov[2] = {c->structured ? (struct iovec){&m, rq->len ? sizeof m : sizeof m.h}
                                       : (struct iovec){&sh, sizeof sh},
                         {w->buf, rq->len}};
  if (piped)
    send_reply_from(c, iov, 1, &w->pipe, rq->len);
  else
    send_reply(c, iov, rq->len ? 2 : 1);
}

static void do_read(struct worker *w, const struct request *rq)
{
  struct nbd_conn *c = w->c;
  bool piped = read_into_pipe(w, rq);
  int r = piped ? 0 : grow(w, rq->len);
  if (!piped && r == 0 && rq->len > 0)
    r = c->exp->ops->pread(c->exp->handle, w->buf, rq->len, rq->off);
  if (r < 0)
    reply_error(c, rq, nbd_error(r));
  else
    send_read_reply(w, rq, piped);
}

/* The checks every request passes before the backend is called (the order
 * in this file's comment, up to the range): 0, or the error to answer. */
static uint32_t check_request(const struct nbd_conn *c, const struct request *rq)
{
  uint16_t allowed;
  bool writes = false;
  switch (rq->type) {
  case NBD_CMD_READ: allowed = c->structured ? NBD_CMD_FLAG_DF : 0; break;
  case NBD_CMD_WRITE: allowed = 0; writes = true; break;
  case NBD_CMD_FLUSH: allowed = 0; break;
  case NBD_CMD_TRIM: allowed = 0; writes = true; break;
  case NBD_CMD_CACHE: allowed = 0; break;
  case NBD_CMD_WRITE_ZEROES: allowed = NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO; writes = true; break;
  case NBD_CMD_BLOCK_STATUS: allowed = NBD_CMD_FLAG_REQ_ONE; break;
  default: return NBD_EINVAL;
  }
  allowed |= NBD_CMD_FLAG_FUA; /* valid on every command */
  if (rq->flags & ~allowed)
    return NBD_EINVAL;
  if (writes && (c->tflags & NBD_FLAG_READ_ONLY))
    return NBD_EPERM;
  if (rq->type != NBD_CMD_FLUSH && (rq->off > c->size || rq->len > c->size - rq->off))
    return rq->type == NBD_CMD_WRITE || rq->type == NBD_CMD_WRITE_ZEROES ? NBD_ENOSPC : NBD_EINVAL;
  return 0;
}

/* Called with rlock held: answers a small READ at once if the backend can
 * read it without blocking (the data is cached).  True: answered; false:
 * nothing done, the request takes the normal path (handle), which also
 * gives every error its reply. */
static bool answer_inline(struct worker *w, const struct request *rq)
{
  struct nbd_conn *c = w->c;
  const struct nbd_backend_ops *ops = c->exp->ops;
  if (rq->type != NBD_CMD_READ || !ops->pread_nowait || rq->len == 0 || rq->len > NBD_INLINE_MAX ||
      check_request(c, rq) || grow(w, rq->len) < 0 || ops->pread_nowait(c->exp->handle, w->buf, rq->len, rq->off) < 0)
    return false;
  send_read_reply(w, rq, false);
  return true;
}

static int zero_by_writing(struct nbd_conn *c, const struct request *rq, unsigned bflags)
{
  static const uint8_t zeros[65536];
  if (bflags & NBD_BACKEND_FAST_ZERO)
    return -ENOTSUP;
  uint64_t off = rq->off, left = rq->len;
  while (left > 0) {
    size_t n = left < sizeof zeros ? (size_t)left : sizeof zeros;
    int r = c->exp->ops->pwrite(c->exp->handle, zeros, n, off, 0);
    if (r < 0)
      return r;
    off += n;
    left -= n;
  }
  return (bflags & NBD_BACKEND_FUA) ? c->exp->ops->flush(c->exp->handle) : 0;
}

/* Block status: collect descriptors for one context. */
struct extents {
  uint32_t *d; /* pairs (length, flags), big endian */
  size_t n, cap;
  uint64_t pos, end;
  bool one;
};

static int extent_cb(void *ctx, uint64_t off, uint64_t len, uint32_t flags)
{
  struct extents *x = ctx;
  if (off != x->pos || len == 0)
    return off > x->pos ? -EIO : 0; /* a gap is a backend bug; overlaps are skipped */
  if (len > x->end - off)
    len = x->end - off;
  while (len > 0) {
    if (x->n > 0 && be32toh(x->d[2 * x->n - 1]) == flags &&
        (uint64_t)be32toh(x->d[2 * x->n - 2]) + len <= 0xfffff000u) { /* merge */
      x->d[2 * x->n - 2] = htobe32(be32toh(x->d[2 * x->n - 2]) + (uint32_t)len);
      x->pos += len;
      break;
    }
    if (x->n == x->cap || (x->one && x->n == 1))
      return 1; /* enough: the client asks again from where we stopped */
    uint64_t l = len > 0xfffff000u ? 0xfffff000u : len;
    x->d[2 * x->n] = htobe32((uint32_t)l);
    x->d[2 * x->n + 1] = htobe32(flags);
    x->n++;
    x->pos += l;
    len -= l;
  }
  return x->pos >= x->end ? 1 : 0;
}

static void do_block_status(struct worker *w, const struct request *rq)
{
  struct nbd_conn *c = w->c;
  struct extents x[NBD_MAX_META];
  struct __attribute__((packed)) {
    struct nbd_structured_reply_wire h;
    uint32_t id;
  } hdr[NBD_MAX_META];
  struct iovec iov[2 * NBD_MAX_META];
  size_t cap = (rq->flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : 65536;
  int r = 0;
  unsigned k;
  for (k = 0; k < c->nmeta; k++) {
    x[k] = (struct extents){.cap = cap, .pos = rq->off, .end = rq->off + rq->len,
                            .one = rq->flags & NBD_CMD_FLAG_REQ_ONE};
    x[k].d = malloc(cap * 8);
    if (!x[k].d) {
      r = -ENOMEM;
      break;
    }
    r = meta_extents(c->exp, c->meta[k], rq->off, rq->len, extent_cb, &x[k]);
    if (r > 0)
      r = 0;
    if (r == 0 && x[k].n == 0)
      r = -EIO;
    if (r < 0) {
      k++;
      break;
    }
  }
  if (r < 0) {
    reply_error(c, rq, nbd_error(r));
  } else {
    for (unsigned i = 0; i < c->nmeta; i++) {
      hdr[i] = (typeof(hdr[i])){{htobe32(NBD_STRUCTURED_REPLY_MAGIC),
                                  htobe16(i + 1 == c->nmeta ? NBD_REPLY_FLAG_DONE : 0),
                                  htobe16(NBD_REPLY_TYPE_BLOCK_STATUS), rq->cookie,
                                  htobe32((uint32_t)(4 + 8 * x[i].n))},
                                 htobe32(c->meta[i] + 1u)};
      iov[2 * i] = (struct iovec){&hdr[i], sizeof hdr[i]};
      iov[2 * i + 1] = (struct iovec){x[i].d, 8 * x[i].n};
    }
    send_reply(c, iov, (int)(2 * c->nmeta));
  }
  for (unsigned i = 0; i < k; i++)
    free(x[i].d);
}

static void handle(struct worker *w, struct request *rq)
{
  struct nbd_conn *c = w->c;
  const struct nbd_backend_ops *ops = c->exp->ops;
  void *h = c->exp->handle;
  bool ro = c->tflags & NBD_FLAG_READ_ONLY;
  uint32_t bad = check_request(c, rq);
  if (bad) {
    reply_error(c, rq, bad);
    return;
  }
  unsigned bflags = (rq->flags & NBD_CMD_FLAG_FUA) ? NBD_BACKEND_FUA : 0;
  int r = 0;
  switch (rq->type) {
  case NBD_CMD_READ:
    if (rq->len > NBD_MAX_PAYLOAD) {
      reply_error(c, rq, NBD_EINVAL);
      return;
    }
    do_read(w, rq);
    return;
  case NBD_CMD_WRITE:
    if (rq->piped) {
      r = ops->pwrite_pipe(h, w->pipe.fd[0], rq->len, rq->off, bflags);
      rq->piped = r < 0; /* on success the pipe is empty */
    } else if (rq->len > 0) {
      r = ops->pwrite(h, w->buf, rq->len, rq->off, bflags);
    }
    break;
  case NBD_CMD_FLUSH:
    r = ops->flush && !ro ? ops->flush(h) : 0;
    break;
  case NBD_CMD_TRIM:
    if (!ops->trim) {
      reply_error(c, rq, NBD_EINVAL);
      return;
    }
    if (rq->len > 0)
      r = ops->trim(h, rq->off, rq->len, bflags);
    break;
  case NBD_CMD_CACHE:
    break; /* a hint; the page cache does the rest */
  case NBD_CMD_WRITE_ZEROES:
    if (rq->flags & NBD_CMD_FLAG_NO_HOLE)
      bflags |= NBD_BACKEND_NO_HOLE;
    if (rq->flags & NBD_CMD_FLAG_FAST_ZERO)
      bflags |= NBD_BACKEND_FAST_ZERO;
    if (rq->len > 0)
      r = ops->zero ? ops->zero(h, rq->off, rq->len, bflags) : zero_by_writing(c, rq, bflags);
    break;
  case NBD_CMD_BLOCK_STATUS:
    if (!c->structured || c->nmeta == 0 || rq->len == 0) {
      reply_error(c, rq, NBD_EINVAL);
      return;
    }
    do_block_status(w, rq);
    return;
  }
  if (r < 0)
    reply_error(c, rq, nbd_error(r));
  else
    reply_ok(c, rq);
}

static void *worker_main(void *arg)
{
  struct worker *w = arg;
  struct nbd_conn *c = w->c;
  for (;;) {
    struct request rq;
    int r;
    pthread_mutex_lock(&c->rlock);
    for (;;) {
      r = atomic_load(&c->closing) ? -ECONNABORTED : read_request(w, &rq);
      if (r < 0 || !answer_inline(w, &rq))
        break;
      request_done(c, &rq);
    }
    if (r < 0)
      atomic_store(&c->closing, true);
    pthread_mutex_unlock(&c->rlock);
    if (r < 0)
      break;
    handle(w, &rq);
    request_done(c, &rq);
    if (rq.piped) /* a payload not written (error reply) or partly written */
      pipe_close(&w->pipe);
    if (w->cap > (8u << 20)) { /* do not keep a 32 MiB buffer per thread */
      free(w->buf);
      w->buf = NULL;
      w->cap = 0;
    }
  }
  return NULL;
}

void transmission(struct nbd_conn *c)
{
  unsigned n = c->threads ? c->threads : 1;
  struct worker *ws = calloc(n, sizeof *ws);
  pthread_t *tids = calloc(n, sizeof *tids);
  if (!ws || !tids) {
    free(ws);
    free(tids);
    return;
  }
  unsigned started = 1;
  for (unsigned i = 0; i < n; i++)
    ws[i] = (struct worker){.c = c, .pipe = NBD_PIPE_INIT};
  for (unsigned i = 1; i < n; i++) {
    if (pthread_create(&tids[i], NULL, worker_main, &ws[i]) != 0)
      break; /* serve with fewer workers */
    started++;
  }
  worker_main(&ws[0]);
  for (unsigned i = 1; i < started; i++)
    pthread_join(tids[i], NULL);
  for (unsigned i = 0; i < n; i++) {
    free(ws[i].buf);
    pipe_close(&ws[i].pipe);
  }
  free(ws);
  free(tids);
}
