/*
 * splice.c — large READ replies and WRITE payloads without copying them.
 *
 * The copy path reads a reply's data with pread into the worker's buffer and
 * sends it with sendmsg: the CPU copies every byte twice (page cache ->
 * buffer -> socket buffer).  On 1 MiB reads those two copies were 76 % of the
 * server's samples (perf, fio 1 MiB read QD32 over a unix socket:
 * _copy_to_iter 42 %, _copy_from_iter 34 %), exactly as in nbdkit, so which
 * server came out ahead was decided by the machine's noise.  Here the data
 * goes page cache -> pipe -> socket with splice(2): the pipe, then the socket
 * buffer, hold references to the page-cache pages (unix and TCP sockets take
 * spliced pages since Linux 6.5), and the only copy left is the client's recv.
 *
 * Each worker owns a struct nbd_pipe, opened on its first large READ and
 * sized to NBD_PIPE_SIZE.  A reply goes in two steps:
 *   1. pipe_fill: the whole range is spliced from the backend's file into
 *      the pipe before anything is sent, so a read error is still answered
 *      with an error reply: a header is never followed by less data than it
 *      announces.  Any failure (an I/O error, a short file, a file system
 *      without splice, a range that does not fit the pipe) closes the pipe and
 *      the caller falls back to pread, which then answers exactly as it
 *      would have without splice.
 *   2. conn_splicev (io.c, under wlock like every reply): the header, then
 *      the pipe's bytes to the socket.  A failure there is a failed reply
 *      write: the connection closes.
 *
 * WRITE payloads from a unix socket take the other direction
 * (conn_splice_in in io.c, then the backend's pwrite_pipe): socket -> pipe
 * -> file, which saves the copy out
 * of the socket buffer into ours (perf, fio 1 MiB write QD32 over unix:
 * _copy_to_iter was 23 % of the server's samples, copy_folio_from_iter
 * into the page cache 28 %; only the latter is left).  Invariant (2) of
 * internal.h holds: the whole payload is in the pipe before the backend is
 * called, and EOF before that closes the connection with the pipe.  A
 * client whose payload arrives in many small pieces can fill the pipe's
 * slots (one per piece) before the payload is complete: the bytes already
 * in the pipe are then read out into the worker's buffer and the rest
 * follows with recv, as on the copy path.
 *
 * Memory stays bounded: a pipe holds at most NBD_PIPE_SIZE bytes, one pipe
 * per worker, and is empty between requests.
 *
 * Consistency: the socket buffer holds page-cache pages, not copies, so a
 * write that lands before the client has received the reply changes what
 * the client receives.  Such a write was sent before the READ completed
 * (the client had not received it), i.e. concurrently with it, and the
 * protocol leaves overlapping concurrent requests unordered, as a disk does;
 * a write sent after the reply was received cannot change it.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "nbd/internal.h"

void pipe_close(struct nbd_pipe *p)
{
  if (p->fd[0] >= 0) {
    close(p->fd[0]);
    close(p->fd[1]);
  }
  *p = (struct nbd_pipe)NBD_PIPE_INIT;
}

static int pipe_open(struct nbd_pipe *p)
{
  if (pipe2(p->fd, O_CLOEXEC) < 0) {
    int r = -errno;
    *p = (struct nbd_pipe)NBD_PIPE_INIT;
    return r;
  }
  /* Unprivileged processes get at most /proc/sys/fs/pipe-max-size (1 MiB by
   * default) and less once the user's pipes are over
   * pipe-user-pages-soft: keep what we get, larger reads use pread. */
  (void)fcntl(p->fd[1], F_SETPIPE_SZ, NBD_PIPE_SIZE);
  int cap = fcntl(p->fd[1], F_GETPIPE_SZ);
  p->cap = cap > 0 ? (size_t)cap : 0;
  return 0;
}

int pipe_reserve(struct nbd_pipe *p, size_t len)
{
  int r = p->fd[0] < 0 ? pipe_open(p) : 0;
  return r < 0 ? r : len > p->cap ? -E2BIG : 0;
}

int pipe_fill(struct nbd_pipe *p, int fd, uint64_t off, size_t len)
{
  /* A file's pages take a slot each: an unaligned range needs one more. */
  int r = pipe_reserve(p, off % 4096 + len);
  if (r < 0)
    return r;
  loff_t o = (loff_t)off;
  while (len > 0) {
    /* Non-blocking on the pipe: if it fills up anyway, fail rather than
     * wait for a reader that is ourselves. */
    ssize_t n = splice(fd, &o, p->fd[1], NULL, len, SPLICE_F_NONBLOCK);
    if (n > 0) {
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    r = n == 0 ? -EIO : -errno;
    pipe_close(p); /* drops whatever part of the range got in */
    break;
  }
  return r;
}

int pipe_drain(struct nbd_pipe *p, void *buf, size_t len)
{
  uint8_t *b = buf;
  while (len > 0) {
    ssize_t n = read(p->fd[0], b, len);
    if (n > 0) {
      b += n;
      len -= (size_t)n;
    } else if (n == 0 || errno != EINTR) {
      int r = n == 0 ? -EIO : -errno;
      pipe_close(p);
      return r;
    }
  }
  return 0;
}
