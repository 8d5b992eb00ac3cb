/*
 * io.c — the byte transport of a connection: a plain socket or a TLS session
 * over it, with a read buffer in front.
 *
 * Reads go through c->inbuf (CONN_INBUF_SIZE bytes): one recv usually brings
 * in many 28-byte requests, so a connection at queue depth 32 costs about one
 * recv per batch instead of one or two per request.  Reads larger than the
 * buffer (WRITE payloads) go straight into the caller's memory once the
 * buffered bytes are used up; conn_splice_in moves a payload into a pipe
 * instead (splice.c), so the socket's pages reach the file without a copy
 * into our memory.  The buffer belongs to whoever holds
 * c->rlock (in negotiation, the single connection thread).
 *
 * Writes are whole: conn_writev loops until every byte is out (sendmsg with
 * MSG_NOSIGNAL, or the TLS record layer with corking so that a reply header
 * and its data make one record); conn_splicev sends a header and then bytes
 * from a pipe (splice.c).  The caller serializes writes (wlock).  splice(2)
 * has no MSG_NOSIGNAL: connection threads block SIGPIPE (server.c).  Every
 * write records its progress (send_progress), so the watchdog can drop a
 * client that stopped reading its replies (server.c).
 *
 * Errors: -ECONNRESET when the peer closed (EOF), -errno otherwise.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nbd/internal.h"

static long raw_recv(struct nbd_conn *c, void *buf, size_t n)
{
  if (c->tls)
    return tls_recv(c, buf, n);
  for (;;) {
    ssize_t r = recv(c->fd, buf, n, 0);
    if (r >= 0)
      return r;
    if (errno != EINTR)
      return -errno;
  }
}

bool conn_input_pending(const struct nbd_conn *c) { return c->rpos < c->rlen; }

int conn_read(struct nbd_conn *c, void *buf, size_t n)
{
  uint8_t *p = buf;
  while (n > 0) {
    if (c->rpos < c->rlen) {
      size_t k = c->rlen - c->rpos < n ? c->rlen - c->rpos : n;
      memcpy(p, c->inbuf + c->rpos, k);
      c->rpos += k;
      p += k;
      n -= k;
      continue;
    }
    long r;
    if (n >= CONN_INBUF_SIZE) { /* big payload: no copy */
      r = raw_recv(c, p, n);
      if (r > 0) {
        p += r;
        n -= (size_t)r;
        continue;
      }
    } else {
      c->rpos = c->rlen = 0;
      r = raw_recv(c, c->inbuf, CONN_INBUF_SIZE);
      if (r > 0) {
        c->rlen = (size_t)r;
        continue;
      }
    }
    return r == 0 ? -ECONNRESET : (int)r;
  }
  return 0;
}

int conn_splice_in(struct nbd_conn *c, struct nbd_pipe *p, size_t len, size_t *moved)
{
  assert(!c->tls);
  *moved = 0;
  int r = 0;
  /* The buffered bytes are copied in, as conn_read would copy them; the
   * pipe is empty and holds len bytes, so this write cannot block. */
  while (r == 0 && len > 0 && c->rpos < c->rlen) {
    size_t k = c->rlen - c->rpos < len ? c->rlen - c->rpos : len;
    ssize_t n = write(p->fd[1], c->inbuf + c->rpos, k);
    if (n > 0) {
      c->rpos += (size_t)n;
      *moved += (size_t)n;
      len -= (size_t)n;
    } else if (errno != EINTR) {
      r = -errno;
    }
  }
  /* SPLICE_F_NONBLOCK: a full pipe must fail (only we drain it), and on a
   * unix socket it also makes the socket side non-blocking, so EAGAIN means
   * "no input yet" or "pipe full".  After EAGAIN we wait for input; input
   * stays readable until we take it (rlock), so EAGAIN again right after
   * that wait means the pipe is full (nbd_payload sends a payload in
   * 512-byte pieces to get there). */
  bool waited = false;
  while (r == 0 && len > 0) {
    ssize_t n = splice(c->fd, NULL, p->fd[1], NULL, len, SPLICE_F_NONBLOCK);
    if (n > 0) {
      *moved += (size_t)n;
      len -= (size_t)n;
      waited = false;
    } else if (n == 0) {
      r = -ECONNRESET;
    } else if (errno == EAGAIN && waited) {
      r = -ENOBUFS;
    } else if (errno == EAGAIN) {
      struct pollfd pf = {.fd = c->fd, .events = POLLIN};
      if (poll(&pf, 1, -1) < 0 && errno != EINTR)
        r = -errno;
      waited = true;
    } else if (errno != EINTR) {
      r = -errno;
    }
  }
  if (r < 0 && r != -ENOBUFS)
    pipe_close(p);
  return r;
}

int conn_discard(struct nbd_conn *c, uint64_t n)
{
  uint8_t tmp[4096];
  while (n > 0) {
    size_t k = n < sizeof tmp ? (size_t)n : sizeof tmp;
    int r = conn_read(c, tmp, k);
    if (r < 0)
      return r;
    n -= k;
  }
  return 0;
}

static int sendv(struct nbd_conn *c, struct iovec *iov, int n, int flags)
{
  while (n > 0) {
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t r = sendmsg(c->fd, &m, MSG_NOSIGNAL | flags);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    send_progress(c);
    size_t done = (size_t)r;
    while (n > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + done;
      iov->iov_len -= done;
    }
  }
  return 0;
}

int conn_writev(struct nbd_conn *c, struct iovec *iov, int n)
{
  send_progress(c);
  int r = c->tls ? tls_sendv(c, iov, n) : sendv(c, iov, n, 0);
  atomic_store(&c->send_ms, 0);
  return r;
}

int conn_splicev(struct nbd_conn *c, struct iovec *iov, int n, struct nbd_pipe *p, size_t len)
{
  assert(!c->tls);
  send_progress(c);
  int r = sendv(c, iov, n, MSG_MORE); /* the header joins the data on TCP */
  while (r == 0 && len > 0) {
    ssize_t k = splice(p->fd[0], NULL, c->fd, NULL, len, 0);
    if (k > 0) {
      len -= (size_t)k;
      send_progress(c);
    } else if (k == 0 || errno != EINTR) {
      r = k == 0 ? -EPIPE : -errno;
    }
  }
  atomic_store(&c->send_ms, 0);
  if (r < 0)
    pipe_close(p); /* whatever is left in it belongs to no reply */
  return r;
}

int conn_write(struct nbd_conn *c, const void *buf, size_t n)
{
  struct iovec iov = {(void *)buf, n};
  return conn_writev(c, &iov, 1);
}

void conn_shutdown(struct nbd_conn *c) { shutdown(c->fd, SHUT_RDWR); }
