/*
 * server.h — the HTTP(S) front end shared by ARM, identity and (later) the
 * blob data plane.
 *
 * libmicrohttpd does the protocol work (HTTP/1.1, keep-alive, TLS through
 * GnuTLS); this module adds what every vmrp front end needs: a request id per
 * request (also set as the logging request id), the body gathered up to a size
 * limit, and a response object the handler fills.  Handlers run on the
 * server's worker threads, several at once, and may block (database, fsync).
 *
 * TLS is on unless plain_http is asked for, and plain HTTP is refused unless
 * the bind address is loopback: nothing listens beyond loopback without TLS.
 *
 * No client can hold the listener: connections from one address (an IPv6
 * /64) are limited; a new connection must finish its TLS handshake and
 * request headers within header_timeout_s, a kept-alive one its next
 * request's headers within timeout_s of the last response, a request's body
 * must arrive within body_timeout_s of its headers, however slowly bytes
 * trickle in, and a streamed response must be taken a block (1 MiB) every
 * send_timeout_s; at max_connections a connection with no request in
 * progress, of the address holding the most, is closed to make room for a
 * new one; and request bodies held at once are limited to body_memory
 * beyond the first 64 KiB of each (past it a request with a larger body is
 * answered 503 ServerBusy with Retry-After).  Each limit is logged, at most
 * every 10 s, when it bites.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct http_request {
  const char *method;     /* "GET", "PUT", ... */
  const char *path;       /* percent-decoded path (for logs and messages) */
  const char *raw_path;   /* the path as sent, still percent-encoded, no query:
                             routers split it at '/' before decoding, so an
                             encoded "%2F" stays inside one segment */
  const char *body;       /* NUL-terminated; NULL when empty */
  size_t body_len;
  bool body_too_large;    /* the body exceeded max_body and was dropped */
  bool tls;
  char client_addr[48];   /* the peer's numeric address, e.g. "127.0.0.1" */
  char client_net[48];    /* what per-client limits count: the IPv4 address, or
                             the IPv6 /64 ("2001:db8:1:2::/64"), which one host
                             or site usually owns whole */
  char request_id[40];    /* generated for this request */
  void *conn_;            /* private: the MHD connection */
  /* A synthetic request (conn_ NULL), made inside the process to run a
   * handler as a client's request would (arm/dispatch.c): its own headers
   * and query, looked up by the same functions. */
  const struct http_pair *headers, *query;
  int nheaders, nquery;
};
struct http_pair {
  const char *name, *value;
};

/* Case-insensitive lookups; NULL when absent.  Valid during the handler. */
const char *http_query(const struct http_request *req, const char *name);
const char *http_header(const struct http_request *req, const char *name);
typedef void (*http_pair_cb)(void *ctx, const char *name, const char *value);
void http_query_each(const struct http_request *req, http_pair_cb cb, void *ctx);

#define HTTP_MAX_HEADERS 24

/* A body produced while it is sent: fills buf with up to max bytes of the
 * body from byte pos on and returns how many (> 0), or -1 to end the
 * response early (the client sees a short body: an error). */
typedef ssize_t (*http_stream_fn)(void *ctx, uint64_t pos, char *buf, size_t max);
#define HTTP_SIZE_UNKNOWN UINT64_MAX /* chunked transfer encoding */

struct http_response {
  int status;
  char *body;             /* owned; freed by the server */
  size_t body_len;
  const char *content_type;
  int nheaders;
  struct {
    char name[48];
    char *value;          /* owned */
  } headers[HTTP_MAX_HEADERS];
  /* a streamed body instead (http_response_stream) */
  http_stream_fn stream;
  void *stream_ctx;
  void (*stream_free)(void *ctx);
  uint64_t stream_size;
};

/* Adds a header (printf-style value); silently ignored past HTTP_MAX_HEADERS. */
void http_response_header(struct http_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets status and body; takes ownership of body (may be NULL). */
void http_response_body(struct http_response *resp, int status, const char *content_type, char *body,
                        size_t len);

/* Sets status and a streamed body of size bytes (HTTP_SIZE_UNKNOWN: sent
 * chunked).  read runs on the connection's thread while the body is sent,
 * never after release(ctx), which the server calls once on every path
 * (sent, aborted, or never sent).  A HEAD answer gets the Content-Length of
 * size and read is never called. */
void http_response_stream(struct http_response *resp, int status, const char *content_type, uint64_t size,
                          http_stream_fn read, void *ctx, void (*release)(void *ctx));
/* Frees what a response owns (body, headers, a stream never sent): for the
 * caller of a handler that is not the server (a synthetic request). */
void http_response_release(struct http_response *resp);

typedef void (*http_handler)(void *ctx, const struct http_request *req, struct http_response *resp);

struct http_server_config {
  const char *name;         /* of the listener in logs: "arm", "dataplane" */
  const char *bind_addr;    /* numeric IPv4/IPv6 address */
  int port;                 /* 0 = pick one (see http_server_port) */
  const char *cert_file;    /* PEM chain; required unless plain_http */
  const char *key_file;
  bool plain_http;          /* development mode, loopback only */
  size_t max_body;          /* bytes */
  size_t body_memory;       /* bodies held at once, beyond 64 KiB of each (0: 256 MiB) */
  unsigned timeout_s;       /* idle (kept-alive, or no byte moving) connection timeout */
  unsigned header_timeout_s; /* TLS handshake + headers of a connection's first request */
  unsigned body_timeout_s;  /* a request's body, from its headers on */
  unsigned send_timeout_s;  /* each 1 MiB block of a streamed response */
  unsigned max_connections; /* beyond it idle connections make room (0: 1000) */
  unsigned per_address;     /* connections from one address (0: no limit) */
  unsigned threads;         /* worker threads of the pool */
  /* a thread per connection instead of a pool: a handler or stream that
   * blocks on storage then delays only its own connection (the data plane,
   * where clients open dozens) */
  bool thread_per_connection;
};

struct http_server;

/* Returns 0, -EINVAL (bad config, e.g. plain HTTP off loopback), -EADDRINUSE,
 * or -errno. */
int http_server_start(const struct http_server_config *cfg, http_handler handler, void *ctx,
                      struct http_server **out);
int http_server_port(const struct http_server *s);
void http_server_stop(struct http_server *s);
