/*
 * internal.h — the NBD server's data structures, shared by its files.
 *
 * struct nbd_server owns the export registry, the listeners and the list of
 * live connections, all under server->lock.  A connection moves through
 * three states, never backwards:
 *
 *   CONN_NEGOTIATING  one thread (the connection's) runs the handshake: the
 *                     greeting, then options until GO/EXPORT_NAME succeeds.
 *                     The connection holds no export reference except
 *                     briefly while answering INFO/GO/META options.
 *   CONN_TRANSMISSION the export is referenced (export->conns counts it);
 *                     `threads` workers take turns on the read side (rlock)
 *                     and run requests in parallel; replies go out whole
 *                     under wlock.
 *   CONN_CLOSING      no new request is read; requests already read finish
 *                     and reply (NBD_CMD_DISC: "handle all outstanding
 *                     requests"), then TLS is shut down, the export
 *                     reference dropped and the socket closed.
 *
 * Invariants:
 *  (1) The backend is called only between a successful export_get() and the
 *      matching export_put(); nbd_export_remove waits for that count.
 *  (2) A WRITE's payload is read completely before the backend sees it; a
 *      short payload closes the connection without calling pwrite.
 *  (3) A reply is written with one conn_writev (or conn_splicev) under
 *      wlock, so replies never interleave on the socket.
 */
#pragma once
#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "nbd/nbd.h"
#include "nbd/proto.h"

enum tls_mode { TLS_OFF, TLS_ALLOW, TLS_REQUIRE };

struct nbd_export {
  struct nbd_export *next;
  char *name;
  const struct nbd_backend_ops *ops;
  void *handle;
  unsigned refs;  /* handshake lookups + connections in transmission */
  unsigned conns; /* connections in transmission */
  bool removed;   /* unregistered: no new lookups */
};

struct nbd_listener {
  struct nbd_listener *next;
  struct nbd_server *s;
  int fd;
  char *unix_path;
  enum tls_mode tls;
  bool is_tcp;
  pthread_t thread;
};

/* ratelog.c: at most a few lines a minute per kind of event a client can
 * cause at will; the next allowed line counts the ones left out. */
struct ratelog {
  pthread_mutex_t lock;
  const char *what; /* "refused export names" */
  int64_t window; /* when the current window began (monotonic s) */
  unsigned n, dropped;
};
void ratelog_init(struct ratelog *rl, const char *what);
void ratelog_destroy(struct ratelog *rl);
bool ratelog_allow(struct ratelog *rl);

struct nbd_access;

struct nbd_server {
  struct nbd_server_config cfg;
  pthread_mutex_t lock;
  pthread_cond_t cond; /* signalled when a connection or export ref goes away */
  struct nbd_export *exports;
  struct nbd_access *access; /* access.c: the capabilities that open exports */
  struct nbd_listener *listeners;
  struct nbd_conn *conns;
  unsigned nconns;
  bool stopping;
  void *tls_creds; /* gnutls_certificate_credentials_t or NULL */
  bool tls_verify_client;
  struct ratelog refusals; /* export names that opened nothing */
  struct ratelog limits;   /* connections refused by a connection limit */
  struct ratelog timeouts; /* connections dropped by a deadline or timeout */
  struct ratelog budgets;  /* connections whose reading waits for replies to go out */
  pthread_t watchdog;      /* server.c: handshake deadlines, idle and send timeouts */
  pthread_cond_t watchdog_cond;
  bool watchdog_stop;
};

enum conn_state { CONN_NEGOTIATING, CONN_TRANSMISSION, CONN_CLOSING };

struct nbd_conn {
  struct nbd_conn *prev, *next; /* server->conns */
  struct nbd_server *s;
  int fd;
  bool is_tcp;
  char peer[64];   /* "uid 1000" (unix) or "127.0.0.1" (TCP), for the log */
  char client[64]; /* what the per-client limit counts: the peer, an IPv6 address as its /64 */
  enum tls_mode tls_mode;
  void *tls; /* gnutls_session_t once STARTTLS succeeded */
  _Atomic int state;
  atomic_bool closing;
  bool dropped;                /* closed by the watchdog or make_room (server->lock) */
  int64_t deadline_ms;         /* the handshake's end (monotonic ms) */
  _Atomic int64_t last_ms;     /* the last request read or reply sent */
  _Atomic int64_t send_ms;     /* while a reply is being written: its last progress; else 0 */
  atomic_uint inflight;        /* requests read and not yet answered */
  /* Payload bytes in flight (transmission.c), under block. */
  pthread_mutex_t block;
  pthread_cond_t bcond;
  size_t buffered;

  /* Read side: the buffered input, owned by whoever holds rlock. */
  pthread_mutex_t rlock;
  uint8_t *inbuf;
  size_t rpos, rlen;
  /* Write side. */
  pthread_mutex_t wlock;

  /* Negotiated during the handshake, fixed in transmission. */
  bool structured;
  bool no_zeroes;
  struct nbd_export *exp;
  char *access_id; /* the grant it was opened through (nbd_access_remove drops it) */
  uint64_t size;
  uint16_t tflags;
  unsigned nmeta;
  uint8_t meta[NBD_MAX_META]; /* selected context indices; id on the wire = index + 1 */
  char *meta_export;          /* export name the selection was made for */
  unsigned threads;
};

#define CONN_INBUF_SIZE (128u << 10)
#define NBD_UNIX_SNDBUF (2 << 20) /* SO_SNDBUF of unix connections; the kernel doubles it (and caps it at wmem_max) */

/* splice.c: a worker's pipe for READ replies and WRITE payloads that are
 * not copied through our memory. */
#define NBD_PIPE_SIZE (1u << 20)   /* the largest READ/WRITE spliced */
#define NBD_INLINE_MAX (64u << 10) /* larger READs are never answered inline (transmission.c) */
#define NBD_SPLICE_MIN (64u << 10) /* smaller ones are copied: their copy costs less than the pipe's extra calls */
struct nbd_pipe {
  int fd[2]; /* -1 until the first large request */
  size_t cap;
};
#define NBD_PIPE_INIT {{-1, -1}, 0}
/* Opens the (empty) pipe if needed: 0 if it can hold len bytes, else -E2BIG. */
int pipe_reserve(struct nbd_pipe *p, size_t len);
/* Puts [off, off+len) of fd into the pipe, whole, or fails with nothing in it. */
int pipe_fill(struct nbd_pipe *p, int fd, uint64_t off, size_t len);
/* Reads len bytes out of the pipe into buf (a payload that must be copied after all). */
int pipe_drain(struct nbd_pipe *p, void *buf, size_t len);
void pipe_close(struct nbd_pipe *p);

static inline int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
/* A write made progress (io.c, tls.c): the send timeout counts from here. */
static inline void send_progress(struct nbd_conn *c) { atomic_store(&c->send_ms, now_ms()); }
/* server.c: ends a connection from outside its threads (revoke, a limit):
 * no new request is read, blocked reads and writes fail at once. */
void conn_abort(struct nbd_conn *c);

/* io.c: transport (plain socket or TLS) and buffered reads. */
int conn_read(struct nbd_conn *c, void *buf, size_t n);   /* exact; -ECONNRESET at EOF */
int conn_discard(struct nbd_conn *c, uint64_t n);
/* The next len bytes of input into the empty pipe p (pipe_reserve'd for
 * len), whole: 0; -ENOBUFS if the pipe filled first (its *moved bytes are
 * the first of the len, the rest is still to read); -ECONNRESET at EOF;
 * -errno (the pipe is then closed).  Plain sockets only. */
int conn_splice_in(struct nbd_conn *c, struct nbd_pipe *p, size_t len, size_t *moved);
int conn_writev(struct nbd_conn *c, struct iovec *iov, int n); /* whole; caller serializes */
/* iov, then len bytes from the pipe p, whole; plain sockets only; caller serializes. */
int conn_splicev(struct nbd_conn *c, struct iovec *iov, int n, struct nbd_pipe *p, size_t len);
int conn_write(struct nbd_conn *c, const void *buf, size_t n);
void conn_shutdown(struct nbd_conn *c); /* wakes a blocked reader; idempotent */
bool conn_input_pending(const struct nbd_conn *c);

/* tls.c */
int tls_creds_load(struct nbd_server *s);
void tls_creds_free(struct nbd_server *s);
int tls_start(struct nbd_conn *c);          /* server side handshake on c->fd */
void tls_stop(struct nbd_conn *c);          /* bye (best effort) and free the session */
long tls_recv(struct nbd_conn *c, void *buf, size_t n);       /* >0, 0 at EOF, -errno */
int tls_sendv(struct nbd_conn *c, struct iovec *iov, int n);  /* whole, or -errno */

/* access.c: a capability ("<id>.<secret>") resolved to its export.  On 0
 * the caller holds a reference on export (export_put) and owns the strings
 * (access_open_clear); -ENOENT for every failure, logged (rate-limited). */
struct access_open {
  struct nbd_export *export;
  char *access_id;
  char *export_name;
  bool readonly; /* the grant is read-only (the export may be anyway) */
};
int access_open(struct nbd_conn *c, const char *name, size_t len, struct access_open *out);
void access_open_clear(struct access_open *o);
void access_forget_export(struct nbd_server *s, const char *export_name); /* server->lock held */
void access_free_all(struct nbd_server *s);                               /* server->lock held */

/* export.c */
struct nbd_export *export_get(struct nbd_server *s, const char *name, size_t len);
void export_put(struct nbd_server *s, struct nbd_export *e);
void export_set_transmission(struct nbd_server *s, struct nbd_export *e, int delta);

/* meta.c: the metadata context table of an export. */
unsigned meta_count(const struct nbd_export *e);
const char *meta_name(const struct nbd_export *e, unsigned i);
int meta_extents(const struct nbd_export *e, unsigned i, uint64_t off, uint64_t len, nbd_extent_fn cb,
                 void *ctx);
int meta_option(struct nbd_conn *c, uint32_t opt, const uint8_t *data, uint32_t len);

/* handshake.c */
int handshake(struct nbd_conn *c);
int opt_reply(struct nbd_conn *c, uint32_t opt, uint32_t type, const void *a, uint32_t alen, const void *b,
              uint32_t blen);

/* transmission.c */
void transmission(struct nbd_conn *c);

const char *conn_state_to_string(enum conn_state st);
