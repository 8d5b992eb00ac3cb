/*
 * server.c — see server.h.
 *
 * Request life cycle in libmicrohttpd: the access handler is called once with
 * the headers (we allocate a struct pending and reject an announced oversized
 * body at once), then once per body fragment (appended while under the
 * limit), then a last time with no data: only then is the vmrp handler run and
 * its response queued.  The completion callback frees the pending state on
 * every path, including aborted connections.
 *
 * libmicrohttpd hands the access handler a percent-decoded path, in which
 * "a%2Fb" and "a/b" look alike.  The URI log callback, which sees the request
 * line as sent, allocates the pending state and keeps the raw path for
 * routers that must split segments before decoding them.
 *
 * A streamed body (http_response_stream) is a libmicrohttpd callback
 * response: its reader runs on the connection's thread as the socket drains,
 * so a multi-gigabyte download holds one block in memory, not the body.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"

struct http_server {
  struct MHD_Daemon *daemon;
  http_handler handler;
  void *ctx;
  size_t max_body;
  bool tls;
  char *cert, *key;
};

struct pending {
  char *body;
  size_t len, cap;
  bool too_large;
  bool started;     /* the access handler has seen the headers */
  char *raw_path;   /* path as sent (no query), or NULL */
  int64_t start_ms;
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
  (void)cls;
  (void)conn;
  struct pending *p = calloc(1, sizeof *p);
  if (p && uri) {
    p->raw_path = strndup(uri, strcspn(uri, "?#"));
    p->start_ms = time_mono_ms();
  }
  return p;
}

struct lookup {
  const char *name;
  const char *value;
};

static enum MHD_Result find_pair(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  struct lookup *l = cls;
  (void)kind;
  if (key && strcasecmp(key, l->name) == 0) {
    l->value = value ? value : "";
    return MHD_NO;
  }
  return MHD_YES;
}

static const char *lookup(const struct http_request *req, enum MHD_ValueKind kind, const char *name)
{
  struct lookup l = {name, NULL};
  MHD_get_connection_values(req->conn_, kind, find_pair, &l);
  return l.value;
}

const char *http_query(const struct http_request *req, const char *name)
{
  return lookup(req, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const struct http_request *req, const char *name)
{
  return lookup(req, MHD_HEADER_KIND, name);
}

struct each {
  http_pair_cb cb;
  void *ctx;
};

static enum MHD_Result each_pair(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  struct each *e = cls;
  (void)kind;
  e->cb(e->ctx, key, value ? value : "");
  return MHD_YES;
}

void http_query_each(const struct http_request *req, http_pair_cb cb, void *ctx)
{
  struct each e = {cb, ctx};
  MHD_get_connection_values(req->conn_, MHD_GET_ARGUMENT_KIND, each_pair, &e);
}

void http_response_header(struct http_response *resp, const char *name, const char *fmt, ...)
{
  if (resp->nheaders >= HTTP_MAX_HEADERS)
    return;
  va_list ap;
  va_start(ap, fmt);
  char *value = NULL;
  int n = vasprintf(&value, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  snprintf(resp->headers[resp->nheaders].name, sizeof resp->headers[0].name, "%s", name);
  resp->headers[resp->nheaders++].value = value;
}

void http_response_body(struct http_response *resp, int status, const char *content_type, char *body, size_t len)
{
  free(resp->body);
  resp->status = status;
  resp->content_type = content_type;
  resp->body = body;
  resp->body_len = body ? len : 0;
}

void http_response_stream(struct http_response *resp, int status, const char *content_type, uint64_t size,
                          http_stream_fn read, void *ctx, void (*release)(void *ctx))
{
  free(resp->body);
  resp->body = NULL;
  resp->body_len = 0;
  if (resp->stream_free)
    resp->stream_free(resp->stream_ctx);
  resp->status = status;
  resp->content_type = content_type;
  resp->stream = read;
  resp->stream_ctx = ctx;
  resp->stream_free = release;
  resp->stream_size = size;
}

static void response_clear(struct http_response *resp)
{
  free(resp->body);
  for (int i = 0; i < resp->nheaders; i++)
    free(resp->headers[i].value);
  if (resp->stream_free) /* never handed to MHD */
    resp->stream_free(resp->stream_ctx);
}

/* 1 MiB: a block of a download from offset 0 is then one whole group of the
 * store (1 MiB of 64 KiB chunks), which the tree reader decompresses straight
 * into MHD's buffer; 256 KiB blocks went through the reader's group cache and
 * a copy, and cost the SAS data plane 0.87 CPU-s per GiB against 0.75 now
 * (bench/README.md "sas").  Memory: one block per streaming connection. */
#define STREAM_BLOCK (1024 * 1024)

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  struct http_response *s = cls;
  ssize_t n = s->stream(s->stream_ctx, pos, buf, max);
  if (n <= 0)
    return s->stream_size == HTTP_SIZE_UNKNOWN && n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                                                         : MHD_CONTENT_READER_END_WITH_ERROR;
  return n;
}

static void stream_free(void *cls)
{
  struct http_response *s = cls;
  if (s->stream_free)
    s->stream_free(s->stream_ctx);
  free(s);
}

static struct MHD_Response *create(struct http_response *resp)
{
  if (!resp->stream) {
    struct MHD_Response *r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
    if (r)
      resp->body = NULL; /* owned by MHD now */
    return r;
  }
  struct http_response *s = malloc(sizeof *s); /* the stream's part, owned by MHD from here */
  if (!s)
    return NULL;
  *s = (struct http_response){.stream = resp->stream, .stream_ctx = resp->stream_ctx,
                              .stream_free = resp->stream_free, .stream_size = resp->stream_size};
  resp->stream_free = NULL;
  uint64_t size = resp->stream_size == HTTP_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN : resp->stream_size;
  struct MHD_Response *r = MHD_create_response_from_callback(size, STREAM_BLOCK, stream_read, s, stream_free);
  if (!r)
    stream_free(s);
  return r;
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct http_response *resp)
{
  struct MHD_Response *r = create(resp);
  if (!r)
    return MHD_NO;
  if (resp->content_type)
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
  for (int i = 0; i < resp->nheaders; i++)
    MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
  struct http_server *s = cls;
  struct pending *p = *con_cls;
  (void)version;

  if (!p || !p->started) {
    if (!p && !(p = calloc(1, sizeof *p)))
      return MHD_NO;
    if (!p->start_ms)
      p->start_ms = time_mono_ms();
    p->started = true;
    *con_cls = p;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > s->max_body)
      p->too_large = true; /* answered below without reading the body */
    else
      return MHD_YES;
  }
  if (*upload_data_size && !p->too_large) {
    if (p->len + *upload_data_size > s->max_body) {
      p->too_large = true;
      free(p->body);
      p->body = NULL;
      p->len = p->cap = 0;
    } else {
      if (p->len + *upload_data_size + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + *upload_data_size + 1)
          cap *= 2;
        char *nb = realloc(p->body, cap);
        if (!nb)
          return MHD_NO;
        p->body = nb;
        p->cap = cap;
      }
      memcpy(p->body + p->len, upload_data, *upload_data_size);
      p->len += *upload_data_size;
      p->body[p->len] = '\0';
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (*upload_data_size) { /* discarding an oversized body */
    *upload_data_size = 0;
    return MHD_YES;
  }

  struct http_request req = {
      .method = method,
      .path = url,
      .raw_path = p->raw_path,
      .body = p->body,
      .body_len = p->len,
      .body_too_large = p->too_large,
      .tls = s->tls,
      .conn_ = conn,
  };
  random_uuid(req.request_id);
  log_set_request_id(req.request_id);
  struct http_response resp = {.status = 500};
  s->handler(s->ctx, &req, &resp);
  log_info("http", "%s %s -> %d (%lld ms)", method, url, resp.status, (long long)(time_mono_ms() - p->start_ms));
  log_set_request_id(NULL);
  enum MHD_Result ret = queue(conn, &resp);
  response_clear(&resp);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  (void)cls;
  (void)conn;
  (void)toe;
  struct pending *p = *con_cls;
  if (p) {
    free(p->body);
    free(p->raw_path);
    free(p);
    *con_cls = NULL;
  }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
  (void)cls;
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = strlen(buf);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  log_warn("http", "libmicrohttpd: %s", buf);
}

static char *slurp(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  char chunk[4096];
  size_t n;
  while (mem && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
    fwrite(chunk, 1, n, mem);
  if (mem)
    fclose(mem);
  fclose(f);
  return buf;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
  if (ss->ss_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
  if (ss->ss_family == AF_INET6)
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
  return false;
}

int http_server_start(const struct http_server_config *cfg, http_handler handler, void *ctx,
                      struct http_server **out)
{
  struct sockaddr_storage ss = {0};
  socklen_t sslen;
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                   (cfg->thread_per_connection ? MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL : MHD_USE_EPOLL);
  if (inet_pton(AF_INET, cfg->bind_addr, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)cfg->port);
    sslen = sizeof *sin;
  } else if (inet_pton(AF_INET6, cfg->bind_addr, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)cfg->port);
    sslen = sizeof *sin6;
    flags |= MHD_USE_IPv6;
  } else {
    log_error("http", "bind address '%s' is not a numeric IP address", cfg->bind_addr);
    return -EINVAL;
  }
  (void)sslen;
  if (cfg->plain_http && !is_loopback(&ss)) {
    log_error("http", "plain HTTP is only allowed on a loopback address, not %s", cfg->bind_addr);
    return -EINVAL;
  }

  struct http_server *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  s->handler = handler;
  s->ctx = ctx;
  s->max_body = cfg->max_body;
  s->tls = !cfg->plain_http;
  if (s->tls) {
    s->cert = slurp(cfg->cert_file);
    s->key = slurp(cfg->key_file);
    if (!s->cert || !s->key) {
      log_error("http", "cannot read TLS certificate '%s' or key '%s'", cfg->cert_file, cfg->key_file);
      http_server_stop(s);
      return -ENOENT;
    }
    flags |= MHD_USE_TLS;
  }
  struct MHD_OptionItem opts[] = {
      {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL}, /* first, so it sees every message */
      {MHD_OPTION_SOCK_ADDR, 0, &ss},
      {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, NULL},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
      {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->timeout_s, NULL},
      {cfg->thread_per_connection ? MHD_OPTION_CONNECTION_LIMIT : MHD_OPTION_THREAD_POOL_SIZE,
       (intptr_t)(cfg->threads ? cfg->threads : 4), NULL},
      {cfg->thread_per_connection ? MHD_OPTION_THREAD_STACK_SIZE : MHD_OPTION_CONNECTION_LIMIT,
       cfg->thread_per_connection ? 512 * 1024 : 1000, NULL},
      {s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->cert},
      {s->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->key},
      {MHD_OPTION_END, 0, NULL},
  };
  s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
  if (!s->daemon) {
    int err = errno ? errno : EADDRINUSE;
    log_error("http", "cannot listen on %s:%d (%s)", cfg->bind_addr, cfg->port, strerror(err));
    http_server_stop(s);
    return -err;
  }
  *out = s;
  return 0;
}

int http_server_port(const struct http_server *s)
{
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  return info ? info->port : -1;
}

void http_server_stop(struct http_server *s)
{
  if (!s)
    return;
  if (s->daemon)
    MHD_stop_daemon(s->daemon);
  free(s->cert);
  free(s->key);
  free(s);
}
