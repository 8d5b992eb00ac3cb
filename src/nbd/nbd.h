/*
 * nbd.h — the NBD server: serves block devices to QEMU, qemu-img, libnbd
 * clients (nbdcopy, nbdinfo, fio's nbd engine) over a unix socket or TCP.
 *
 * The server is generic, like nbdkit's server/plugin split: it speaks the
 * protocol (fixed newstyle handshake, options, transmission, TLS) and calls
 * a backend through struct nbd_backend_ops for the bytes.  The daemon fills
 * an export registry (nbd_export_add/remove; the region names exports by
 * volume id or image name) and a registry of capabilities that open them
 * (nbd_access_add/remove): a client names an export only by
 * "<id>.<secret>", never by its registered name.
 * src/nbd/vol_backend.c adapts a live volume (src/vol) to the interface.
 *
 * What the server promises:
 *  - Protocol: fixed newstyle only (no oldstyle); options EXPORT_NAME, ABORT,
 *    LIST, STARTTLS, INFO, GO, STRUCTURED_REPLY, LIST_META_CONTEXT,
 *    SET_META_CONTEXT; commands READ, WRITE, DISC, FLUSH, TRIM, CACHE (no-op),
 *    WRITE_ZEROES (NO_HOLE, FAST_ZERO), BLOCK_STATUS (REQ_ONE); FUA on every
 *    write.  Meta contexts: base:allocation (from ops->extents) plus any the
 *    backend lists in ops->meta (e.g. "vmrp:changed").
 *  - Size constraints: minimum block 1, preferred 4096, maximum payload
 *    32 MiB.  A WRITE longer than that is a hard disconnect (its payload
 *    cannot be skipped safely), a longer READ fails with EINVAL.
 *  - Concurrency: each connection in transmission runs `threads_per_conn`
 *    workers that take turns reading requests and then run them in
 *    parallel; replies are serialized per socket and may be out of order.
 *  - Multi-conn: NBD_FLAG_CAN_MULTI_CONN is advertised only when the backend
 *    says a flush through any handle makes every completed write durable
 *    (ops->multi_conn; a file's fdatasync does) or the export is read-only.
 *  - Durability: a reply to a write with FUA, or to FLUSH, is sent only after
 *    the backend call returned 0.  Requests are checked (bounds, flags,
 *    lengths, read-only) before the backend sees them; a hostile client gets
 *    the protocol's error or a hard disconnect, never a partial write of a
 *    request whose payload did not fully arrive.
 *  - Access: an export opens only for a client presenting a registered,
 *    unexpired capability (access.c); every other name is answered like a
 *    missing export; NBD_OPT_LIST lists nothing.  A read-only capability
 *    makes the export read-only for that connection.
 *  - Bounds: a handshake has a total deadline from accept; in transmission
 *    a reply that makes no progress for send_timeout_sec, and (if set) a
 *    connection idle for idle_timeout_sec, are dropped; a connection holds
 *    at most max_buffer_per_conn bytes of payload in flight (one request of
 *    any size when nothing else is); each client (peer uid or address) at
 *    most max_connections_per_client connections.  A watchdog thread checks
 *    the deadlines and shuts the sockets down (server.c).
 *  - TLS (GnuTLS, X.509 cert/key): STARTTLS is offered wherever credentials
 *    are configured; a TCP listener on a non-loopback address refuses to
 *    start without them (-EPERM) and forces TLS (FORCEDTLS mode).
 *
 * Thread-safety: every function may be called from any thread.  Backend
 * operations are called concurrently from many threads; the backend must be
 * thread-safe.  Errors: 0 or -errno.  No function logs except where noted.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nbd_server;
struct volume;

/* Flags passed to backend writes. */
enum {
  NBD_BACKEND_FUA = 1,       /* durable before returning */
  NBD_BACKEND_NO_HOLE = 2,   /* zero: keep the range allocated */
  NBD_BACKEND_FAST_ZERO = 4, /* zero: return -ENOTSUP at once unless it is faster than writing */
};

/* base:allocation flags, as on the wire. */
enum { NBD_EXTENT_HOLE = 1, NBD_EXTENT_ZERO = 2 };

/* Extent callback: consecutive extents from the requested offset; flags are
 * the meta context's (for base:allocation NBD_EXTENT_*).  A nonzero return
 * stops the walk and is returned by the backend's extents function. */
typedef int (*nbd_extent_fn)(void *ctx, uint64_t off, uint64_t len, uint32_t flags);

/* An extra metadata context, e.g. { "vmrp:changed", changed_extents }. */
struct nbd_meta_context {
  const char *name; /* "namespace:leaf", at most 255 bytes */
  int (*extents)(void *handle, uint64_t off, uint64_t len, nbd_extent_fn cb, void *ctx);
};

/* The backend interface.  Every function returns 0 or -errno; offsets and
 * lengths are already checked against size() at connect time.  NULL
 * optional members disable the feature (the flag is not advertised). */
struct nbd_backend_ops {
  uint64_t (*size)(void *handle);                                        /* required */
  bool (*readonly)(void *handle);                                        /* required */
  int (*pread)(void *handle, void *buf, size_t len, uint64_t off);       /* required, reads all */
  int (*pwrite)(void *handle, const void *buf, size_t len, uint64_t off, unsigned flags);
  int (*flush)(void *handle);
  int (*trim)(void *handle, uint64_t off, uint64_t len, unsigned flags);
  int (*zero)(void *handle, uint64_t off, uint64_t len, unsigned flags); /* NULL: written as zeros */
  int (*extents)(void *handle, uint64_t off, uint64_t len, nbd_extent_fn cb, void *ctx); /* base:allocation */
  /* Optional, for READs without copies: does what pread would do before
   * reading, then returns a file descriptor whose bytes at [off, off+len)
   * are the export's (valid until the export is removed), or -errno.  The
   * server splices large READ replies from it; pread stays the fallback
   * (TLS, small reads, a file that cannot be spliced). */
  int (*read_fd)(void *handle, uint64_t off, size_t len);
  /* Optional: pread only if it cannot block (nothing to do before reading,
   * every byte in memory), else -EAGAIN.  The worker that reads requests
   * then answers small READs itself (transmission.c). */
  int (*pread_nowait)(void *handle, void *buf, size_t len, uint64_t off);
  /* Optional, for WRITEs without copies: pwrite of len bytes that all wait
   * in the pipe pipefd (the server spliced them from the socket).  Same
   * flags and errors as pwrite. */
  int (*pwrite_pipe)(void *handle, int pipefd, size_t len, uint64_t off, unsigned flags);
  bool multi_conn; /* flush through one connection covers writes completed on all */
  const struct nbd_meta_context *meta; /* extra meta contexts, table of n_meta */
  size_t n_meta;
};

/* Limits (server.c, transmission.c): what one client can hold.  Each one
 * that bites is logged, rate-limited. */
struct nbd_server_config {
  unsigned threads_per_conn;      /* workers per connection; 0 = 8 */
  unsigned max_connections;       /* 0 = 256; more are accepted and closed at once, unless a client with
                                     more connections has a handshake in progress: that one is closed */
  unsigned max_connections_per_client; /* 0 = 32; per peer uid (unix socket) or address (TCP; IPv6: /64) */
  unsigned handshake_timeout_sec; /* 0 = 10: from accept to transmission, in total (a trickle does not extend it) */
  unsigned idle_timeout_sec;      /* 0 = never: a connection in transmission with no request in flight and
                                     none received for that long is dropped */
  unsigned send_timeout_sec;      /* 0 = 60: a reply that makes no progress that long drops the connection */
  size_t max_buffer_per_conn;     /* 0 = 32 MiB: READ/WRITE payload bytes a connection may have in flight;
                                     past it no request is read until replies have gone out */
  const char *tls_cert;           /* PEM certificate chain; NULL = no TLS */
  const char *tls_key;            /* PEM private key */
  const char *tls_ca;             /* optional: require client certificates signed by this CA */
};

/* Creates a server (no listener yet).  -EINVAL/-EIO if the TLS files cannot
 * be loaded (logged). */
int nbd_server_new(const struct nbd_server_config *cfg, struct nbd_server **out);
/* Stops accepting, disconnects every client (in-flight requests finish),
 * waits for all connection threads, removes unix sockets it created, frees. */
void nbd_server_free(struct nbd_server *s);

enum { NBD_LISTEN_REQUIRE_TLS = 1 };
/* Listens on a unix socket (an existing socket file there is replaced) and
 * starts accepting.  TLS optional unless NBD_LISTEN_REQUIRE_TLS. */
int nbd_server_listen_unix(struct nbd_server *s, const char *path, unsigned flags);
/* Listens on host:port (port "0" = any; the bound port is stored in
 * *bound_port if not NULL).  A non-loopback address requires TLS: -EPERM
 * when the server has no credentials. */
int nbd_server_listen_tcp(struct nbd_server *s, const char *host, const char *port, unsigned flags,
                          uint16_t *bound_port);

/* ---- access: capabilities (access.c) ---- */
#define NBD_ACCESS_HASH_LEN 32 /* SHA-256 of the secret */
#define NBD_ACCESS_ID_MAX 64   /* ids are [A-Za-z0-9_-]{1,64}; the secret follows the first '.' */
/* Lets a client that presents "<id>.<secret>" (SHA-256(secret) == hash)
 * open export_name, read-only if readonly, until expires (unix seconds; 0:
 * never; checked when a connection opens).  The export need not exist yet.
 * -EEXIST (id taken), -EINVAL (bad id or name). */
int nbd_access_add(struct nbd_server *s, const char *id, const uint8_t hash[NBD_ACCESS_HASH_LEN],
                   const char *export_name, bool readonly, int64_t expires);
/* Forgets a capability and disconnects every connection opened through it
 * (in-flight requests finish).  -ENOENT. */
int nbd_access_remove(struct nbd_server *s, const char *id);

/* Registers an export.  ops and handle must stay valid until
 * nbd_export_remove returns 0.  -EEXIST, -EINVAL (name empty or > 4096). */
int nbd_export_add(struct nbd_server *s, const char *name, const struct nbd_backend_ops *ops,
                   void *handle);

enum {
  NBD_REMOVE_WAIT = 1,       /* wait until connections using it have closed */
  NBD_REMOVE_DISCONNECT = 2, /* disconnect them (in-flight requests finish), then wait */
};
/* Unregisters an export and forgets the capabilities that open it.  New
 * connections can no longer open it at once.
 * Without flags: -EBUSY (and the export stays) while a connection uses it.
 * On 0 the backend is never called again for this export.  -ENOENT. */
int nbd_export_remove(struct nbd_server *s, const char *name, unsigned flags);
/* Whether a connection is using the export (for "refuse to delete a disk
 * that is exported"). */
bool nbd_export_in_use(struct nbd_server *s, const char *name);
/* The handle an export was added with, or NULL (to free it after a remove). */
void *nbd_export_handle(struct nbd_server *s, const char *name);
/* Number of connections in transmission on the export. */
unsigned nbd_export_connections(struct nbd_server *s, const char *name);

/* The backend for a live volume: handle is a struct volume *. */
extern const struct nbd_backend_ops nbd_vol_ops;
