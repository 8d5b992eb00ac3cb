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
 *
 * Connection limits.  libmicrohttpd's own timeout is one of inactivity, which
 * every byte resets (a client trickling a byte every few seconds holds a
 * connection forever), and at its connection limit it stops accepting, so
 * idle connections lock everyone out.  So the server keeps its own table of
 * connections (the connection notifications add and remove them; the
 * request callbacks mark when a request is in progress): the accept policy
 * refuses an address past its limit, and at max_connections closes the
 * oldest connection that has no request in progress to make room; a reaper
 * thread closes the connections past their deadlines.  Closing means
 * shutdown(2) on the connection's socket, which libmicrohttpd then sees as
 * the client going away and cleans up on its own thread.  That is safe from
 * another thread because libmicrohttpd sends the "closed" notification,
 * which removes the entry under the table's lock, before it closes the
 * socket, so a shutdown never reaches a reused descriptor.  libmicrohttpd's
 * own limit stays as a backstop above max_connections (room for those being
 * closed), where it would refuse without our accounting.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/random.h"
#include "common/timefmt.h"

/* The connections from one address (an IPv6 /64): a chained hash table. */
struct peer {
  struct peer *next;
  unsigned char addr[NET_KEY_LEN];  /* its network (netaddr.h) */
  unsigned live;           /* connections not closing */
  unsigned refs;           /* entries pointing here, closing ones too */
};

/* One accepted connection (libmicrohttpd's socket context). */
struct conn {
  struct conn *prev, *next;
  int fd;
  struct peer *peer;
  char addr_text[NET_TEXT_LEN];
  int64_t since_ms;        /* accepted, its headers in, or its last response done */
  bool first;              /* no request finished yet */
  bool in_request;         /* headers received, response not done */
  bool handled;            /* body received: the handler has run */
  bool streaming;          /* its response is a stream being sent */
  bool closing;            /* shut down by us, not yet gone */
  int64_t progress_ms;     /* the stream's last block taken */
};

/* What the limits did since the last report (logged at most every 10 s). */
struct bites {
  unsigned per_address, full, evicted, header, idle, body, send, busy, mhd_suppressed;
  char last_addr[48];
};

struct http_server {
  struct MHD_Daemon *daemon;
  http_handler handler;
  void *ctx;
  size_t max_body;
  bool tls;
  char *cert, *key;
  char name[16];
  unsigned max_conns, per_address;
  int64_t header_ms, idle_ms, body_ms, send_ms;
  size_t body_budget, body_held; /* bytes of request bodies, beyond BODY_FREE of each */

  pthread_mutex_t lock;    /* the tables, the counters and the reaper's stop */
  struct conn *head, *tail; /* in accept order: the oldest first */
  unsigned nconns;         /* not closing */
  struct peer **peers;     /* npeers buckets (a power of two) */
  size_t npeers;
  uint64_t seed;           /* of the address hash: no chosen collisions */
  struct bites bites;
  int64_t reported_ms;
  unsigned mhd_logged;     /* libmicrohttpd messages in this report period */
  pthread_cond_t wake;
  bool stopping, reaper_started;
  pthread_t reaper;
};

#define REPORT_MS 10000
#define MHD_LOG_PER_REPORT 10

/* The network of sa (the per-address limits' key) and sa itself as text. */
static void addr_key(const struct sockaddr *sa, unsigned char key[NET_KEY_LEN], char text[NET_TEXT_LEN])
{
  net_key(sa, key);
  socklen_t len = !sa ? 0 : sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                          : sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : 0;
  if (!len || getnameinfo(sa, len, text, NET_TEXT_LEN, NULL, 0, NI_NUMERICHOST) != 0)
    snprintf(text, NET_TEXT_LEN, "?");
}

/* The bucket of key (the caller holds the lock). */
static struct peer **bucket(struct http_server *s, const unsigned char key[NET_KEY_LEN])
{
  uint64_t h = s->seed;
  for (int i = 0; i < 17; i++)
    h = (h ^ key[i]) * 0x100000001b3ULL; /* FNV-1a, seeded */
  return &s->peers[(h ^ h >> 29) & (s->npeers - 1)];
}

/* key's entry; with create, made when absent (NULL: out of memory). */
static struct peer *peer_get(struct http_server *s, const unsigned char key[NET_KEY_LEN], bool create)
{
  struct peer **b = bucket(s, key);
  for (struct peer *p = *b; p; p = p->next)
    if (memcmp(p->addr, key, sizeof p->addr) == 0)
      return p;
  struct peer *p = create ? calloc(1, sizeof *p) : NULL;
  if (p) {
    memcpy(p->addr, key, sizeof p->addr);
    p->next = *b;
    *b = p;
  }
  return p;
}

static void peer_put(struct http_server *s, struct peer *p)
{
  if (--p->refs)
    return;
  struct peer **b = bucket(s, p->addr);
  while (*b != p)
    b = &(*b)->next;
  *b = p->next;
  free(p);
}

/* Closes c (the caller holds the lock): its own thread sees EOF. */
static void close_conn(struct http_server *s, struct conn *c, unsigned *counter)
{
  shutdown(c->fd, SHUT_RDWR);
  c->closing = true;
  c->peer->live--;
  s->nconns--;
  (*counter)++;
  snprintf(s->bites.last_addr, sizeof s->bites.last_addr, "%s", c->addr_text);
}

/* At the cap: closes the idle connection (no request in progress) of the
 * address with the most connections, the oldest of them; an address with
 * one connection loses it last.  Returns false when every one is busy. */
static bool make_room(struct http_server *s)
{
  struct conn *victim = NULL;
  for (struct conn *c = s->head; c; c = c->next)
    if (!c->closing && !c->in_request && (!victim || c->peer->live > victim->peer->live))
      victim = c;
  if (victim)
    close_conn(s, victim, &s->bites.evicted);
  return victim != NULL;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
  struct http_server *s = cls;
  unsigned char key[NET_KEY_LEN];
  char text[NET_TEXT_LEN];
  (void)addrlen;
  addr_key(addr, key, text);
  enum MHD_Result ret = MHD_YES;
  pthread_mutex_lock(&s->lock);
  const struct peer *p = peer_get(s, key, false);
  if (s->per_address && p && p->live >= s->per_address) {
    s->bites.per_address++;
    snprintf(s->bites.last_addr, sizeof s->bites.last_addr, "%s", text);
    ret = MHD_NO;
  } else if (s->nconns >= s->max_conns && !make_room(s)) {
    s->bites.full++;
    ret = MHD_NO;
  }
  pthread_mutex_unlock(&s->lock);
  return ret;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
  struct http_server *s = cls;
  struct conn *c = *socket_context;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *addr = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    unsigned char key[NET_KEY_LEN];
    if (!fd || !(c = calloc(1, sizeof *c)))
      return; /* untracked: only libmicrohttpd's own limits apply to it */
    c->fd = fd->connect_fd;
    addr_key(addr ? addr->client_addr : NULL, key, c->addr_text);
    c->since_ms = time_mono_ms();
    c->first = true;
    pthread_mutex_lock(&s->lock);
    if (!(c->peer = peer_get(s, key, true))) {
      pthread_mutex_unlock(&s->lock);
      free(c);
      return;
    }
    c->peer->refs++;
    c->peer->live++;
    c->prev = s->tail;
    if (s->tail)
      s->tail->next = c;
    else
      s->head = c;
    s->tail = c;
    s->nconns++;
    /* on_accept's checks hold the lock apart from this count: the pool's
     * workers accept in parallel, and two may both have passed them for an
     * address's last slot.  The count taken here is the one that decides. */
    if (s->per_address && c->peer->live > s->per_address)
      close_conn(s, c, &s->bites.per_address);
    pthread_mutex_unlock(&s->lock);
    *socket_context = c;
  } else if (c) {
    pthread_mutex_lock(&s->lock);
    if (c->prev)
      c->prev->next = c->next;
    else
      s->head = c->next;
    if (c->next)
      c->next->prev = c->prev;
    else
      s->tail = c->prev;
    if (!c->closing) {
      s->nconns--;
      c->peer->live--;
    }
    peer_put(s, c->peer);
    pthread_mutex_unlock(&s->lock);
    free(c);
    *socket_context = NULL;
  }
}

/* The connection's entry, or NULL when untracked. */
static struct conn *conn_of(struct MHD_Connection *conn)
{
  const union MHD_ConnectionInfo *i = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return i ? i->socket_context : NULL;
}

/* Marks conn's request phase: headers in (1), body in (2), done (0). */
static void conn_phase(struct http_server *s, struct MHD_Connection *conn, int phase)
{
  struct conn *c = conn_of(conn);
  if (!c)
    return;
  pthread_mutex_lock(&s->lock);
  c->in_request = phase > 0;
  c->handled = phase == 2;
  c->streaming = false;
  if (phase == 0)
    c->first = false;
  if (phase < 2) /* the body's deadline, or the next request's */
    c->since_ms = time_mono_ms();
  pthread_mutex_unlock(&s->lock);
}

/* Logs what the limits did since the last report; the caller holds the lock. */
static void report(struct http_server *s, int64_t now)
{
  struct bites *b = &s->bites;
  if (now - s->reported_ms < REPORT_MS)
    return;
  if (b->per_address + b->full + b->evicted + b->header + b->idle + b->body + b->send + b->busy +
      b->mhd_suppressed)
    log_warn("http",
             "%s: connection limits in the last %d s (last address %s): %u refused over the per-address limit "
             "(%u), %u refused with all %u busy, %u idle closed to make room, %u closed at the header deadline "
             "(%lld s), %u idle past %lld s, %u with a body not in after %lld s, %u not taking a block of their "
             "download in %lld s, %u bodies refused (503) with %zu MiB of bodies held; %u libmicrohttpd messages "
             "suppressed",
             s->name, REPORT_MS / 1000, b->last_addr, b->per_address, s->per_address, b->full, s->max_conns,
             b->evicted, b->header, (long long)s->header_ms / 1000, b->idle, (long long)s->idle_ms / 1000, b->body,
             (long long)s->body_ms / 1000, b->send, (long long)s->send_ms / 1000, b->busy, s->body_budget >> 20,
             b->mhd_suppressed);
  memset(b, 0, sizeof *b);
  s->mhd_logged = 0;
  s->reported_ms = now;
}

/* Closes every connection past its deadline, twice a second. */
static void *reaper(void *arg)
{
  struct http_server *s = arg;
  pthread_mutex_lock(&s->lock);
  while (!s->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 500 * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->wake, &s->lock, &until);
    int64_t now = time_mono_ms();
    for (struct conn *c = s->head; c; c = c->next) {
      if (c->closing)
        continue;
      if (c->handled) { /* a handler or a response: libmicrohttpd's inactivity timeout, and for a stream: */
        if (c->streaming && now - c->progress_ms > s->send_ms)
          close_conn(s, c, &s->bites.send);
      } else if (c->in_request) {
        if (now - c->since_ms > s->body_ms)
          close_conn(s, c, &s->bites.body);
      } else if (now - c->since_ms > (c->first ? s->header_ms : s->idle_ms)) {
        close_conn(s, c, c->first ? &s->bites.header : &s->bites.idle);
      }
    }
    report(s, now);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

struct pending {
  char *body;
  size_t len, cap;
  size_t charged;   /* of cap, held against the server's body memory */
  bool too_large;
  bool busy;        /* the body memory was full: answered 503 */
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

/* A synthetic request's pairs, or the connection's. */
static void pairs_each(const struct http_request *req, enum MHD_ValueKind kind, MHD_KeyValueIterator it, void *cls)
{
  if (req->conn_) {
    MHD_get_connection_values(req->conn_, kind, it, cls);
    return;
  }
  const struct http_pair *p = kind == MHD_HEADER_KIND ? req->headers : req->query;
  int n = kind == MHD_HEADER_KIND ? req->nheaders : req->nquery;
  for (int i = 0; i < n && it(cls, kind, p[i].name, p[i].value) == MHD_YES; i++)
    ;
}

static const char *lookup(const struct http_request *req, enum MHD_ValueKind kind, const char *name)
{
  struct lookup l = {name, NULL};
  pairs_each(req, kind, find_pair, &l);
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
  pairs_each(req, MHD_GET_ARGUMENT_KIND, each_pair, &e);
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

void http_response_release(struct http_response *resp)
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

/* A streamed response, owned by libmicrohttpd once created.  conn is its
 * connection's entry (or NULL): only the reader touches it, and the reader
 * runs while the connection lives, never after its "closed" notification,
 * which frees the entry (the release may come later). */
struct stream {
  http_stream_fn read;
  void *ctx;
  void (*release)(void *ctx);
  uint64_t size;
  struct http_server *server;
  struct conn *conn;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  struct stream *st = cls;
  if (st->conn) { /* a block taken: the client is reading */
    pthread_mutex_lock(&st->server->lock);
    st->conn->progress_ms = time_mono_ms();
    pthread_mutex_unlock(&st->server->lock);
  }
  ssize_t n = st->read(st->ctx, pos, buf, max);
  if (n <= 0)
    return st->size == HTTP_SIZE_UNKNOWN && n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                                                   : MHD_CONTENT_READER_END_WITH_ERROR;
  return n;
}

static void stream_free(void *cls)
{
  struct stream *st = cls;
  if (st->release)
    st->release(st->ctx);
  free(st);
}

static struct MHD_Response *create(struct http_server *s, struct MHD_Connection *conn, struct http_response *resp)
{
  if (!resp->stream) {
    struct MHD_Response *r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
    if (r)
      resp->body = NULL; /* owned by MHD now */
    return r;
  }
  struct stream *st = malloc(sizeof *st);
  if (!st)
    return NULL;
  *st = (struct stream){.read = resp->stream, .ctx = resp->stream_ctx, .release = resp->stream_free,
                        .size = resp->stream_size, .server = s, .conn = conn_of(conn)};
  resp->stream_free = NULL;
  uint64_t size = resp->stream_size == HTTP_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN : resp->stream_size;
  struct MHD_Response *r = MHD_create_response_from_callback(size, STREAM_BLOCK, stream_read, st, stream_free);
  if (!r) {
    stream_free(st);
  } else if (st->conn) { /* from now on it must take a block every send_ms */
    pthread_mutex_lock(&s->lock);
    st->conn->streaming = true;
    st->conn->progress_ms = time_mono_ms();
    pthread_mutex_unlock(&s->lock);
  }
  return r;
}

static enum MHD_Result queue(struct http_server *s, struct MHD_Connection *conn, struct http_response *resp)
{
  struct MHD_Response *r = create(s, conn, resp);
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

/* Of each request body this much is never charged, so small requests (a
 * token, an ARM PUT) are served however many large bodies are held. */
#define BODY_FREE (64 * 1024)

/* Charges p's body buffer growing to cap bytes; false (nothing charged) when
 * the server's body memory would overflow. */
static bool charge(struct http_server *s, struct pending *p, size_t cap)
{
  size_t need = cap > BODY_FREE ? cap - BODY_FREE : 0;
  bool ok = true;
  if (need <= p->charged)
    return true;
  pthread_mutex_lock(&s->lock);
  if (s->body_held + (need - p->charged) > s->body_budget) {
    s->bites.busy++;
    ok = false;
  } else {
    s->body_held += need - p->charged;
    p->charged = need;
  }
  pthread_mutex_unlock(&s->lock);
  return ok;
}

static void drop_body(struct http_server *s, struct pending *p)
{
  free(p->body);
  p->body = NULL;
  p->len = p->cap = 0;
  if (p->charged) {
    pthread_mutex_lock(&s->lock);
    s->body_held -= p->charged;
    pthread_mutex_unlock(&s->lock);
    p->charged = 0;
  }
}

/* 503 ServerBusy (Azure Storage's and ARM's word), without the handler. */
static enum MHD_Result answer_busy(struct http_server *s, struct MHD_Connection *conn, const char *method,
                                   const char *url)
{
  static const char msg[] = "{\"error\":{\"code\":\"ServerBusy\",\"message\":\"The server is holding as many "
                            "request bodies as it may. Retry the request.\"}}";
  struct http_response resp = {.status = 503};
  char *body = strdup(msg);
  http_response_body(&resp, 503, "application/json; charset=utf-8", body, body ? strlen(body) : 0);
  http_response_header(&resp, "Retry-After", "1");
  log_info("http", "%s %s -> 503 (the %s listener's body memory is full)", method, url, s->name);
  enum MHD_Result ret = queue(s, conn, &resp);
  http_response_release(&resp);
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
    conn_phase(s, conn, 1);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > s->max_body)
      p->too_large = true; /* answered below without reading the body */
    else
      return MHD_YES;
  }
  if (*upload_data_size && !p->too_large && !p->busy) {
    if (p->len + *upload_data_size > s->max_body) {
      p->too_large = true;
      drop_body(s, p);
    } else {
      if (p->len + *upload_data_size + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + *upload_data_size + 1)
          cap *= 2;
        if (cap > s->max_body + 1)
          cap = s->max_body + 1;
        if (!charge(s, p, cap)) {
          p->busy = true;
          drop_body(s, p);
          *upload_data_size = 0;
          return MHD_YES;
        }
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
  if (*upload_data_size) { /* discarding an oversized body, or one there is no room for */
    *upload_data_size = 0;
    return MHD_YES;
  }

  conn_phase(s, conn, 2);
  if (p->busy)
    return answer_busy(s, conn, method, url);
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
  const union MHD_ConnectionInfo *peer = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  unsigned char key[NET_KEY_LEN];
  addr_key(peer ? peer->client_addr : NULL, key, req.client_addr);
  net_key_text(key, req.client_net);
  random_uuid(req.request_id);
  log_set_request_id(req.request_id);
  struct http_response resp = {.status = 500};
  s->handler(s->ctx, &req, &resp);
  log_info("http", "%s %s from %s -> %d (%lld ms)", method, url, req.client_addr, resp.status,
           (long long)(time_mono_ms() - p->start_ms));
  log_set_request_id(NULL);
  enum MHD_Result ret = queue(s, conn, &resp);
  http_response_release(&resp);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  (void)toe;
  conn_phase(cls, conn, 0);
  struct pending *p = *con_cls;
  if (p) {
    drop_body(cls, p);
    free(p->raw_path);
    free(p);
    *con_cls = NULL;
  }
}

/* libmicrohttpd logs each refused connection and failed handshake: a flood
 * of them is cut to MHD_LOG_PER_REPORT lines per report period. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
  struct http_server *s = cls;
  pthread_mutex_lock(&s->lock);
  bool quiet = s->mhd_logged >= MHD_LOG_PER_REPORT;
  if (quiet)
    s->bites.mhd_suppressed++;
  else
    s->mhd_logged++;
  pthread_mutex_unlock(&s->lock);
  if (quiet)
    return;
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = strlen(buf);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  log_warn("http", "%s: libmicrohttpd: %s", s->name, buf);
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
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->wake, NULL);
  s->handler = handler;
  s->ctx = ctx;
  s->max_body = cfg->max_body;
  s->tls = !cfg->plain_http;
  snprintf(s->name, sizeof s->name, "%s", cfg->name ? cfg->name : "http");
  s->max_conns = cfg->max_connections ? cfg->max_connections : 1000;
  s->per_address = cfg->per_address;
  s->header_ms = (int64_t)cfg->header_timeout_s * 1000;
  s->idle_ms = (int64_t)cfg->timeout_s * 1000;
  s->body_ms = (int64_t)cfg->body_timeout_s * 1000;
  s->send_ms = (int64_t)cfg->send_timeout_s * 1000;
  s->body_budget = cfg->body_memory ? cfg->body_memory : (size_t)256 << 20;
  s->reported_ms = time_mono_ms();
  /* libmicrohttpd's limit: room above ours for the connections being closed */
  unsigned hard = s->max_conns + s->max_conns / 4 + 16;
  for (s->npeers = 256; s->npeers < 2 * (size_t)hard; s->npeers *= 2)
    ;
  if (!(s->peers = calloc(s->npeers, sizeof *s->peers)) || random_bytes(&s->seed, sizeof s->seed) < 0) {
    http_server_stop(s);
    return -ENOMEM;
  }
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
      {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, s}, /* first, so it sees every message */
      {MHD_OPTION_SOCK_ADDR, 0, &ss},
      {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, NULL},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
      {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
      {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->timeout_s, NULL},
      {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)hard, NULL},
      {cfg->thread_per_connection ? MHD_OPTION_THREAD_STACK_SIZE : MHD_OPTION_THREAD_POOL_SIZE,
       cfg->thread_per_connection ? 512 * 1024 : (intptr_t)(cfg->threads ? cfg->threads : 4), NULL},
      {s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->cert}, /* the last ones: END stops here */
      {s->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->key},
      {MHD_OPTION_END, 0, NULL},
  };
  s->daemon = MHD_start_daemon(flags, 0, on_accept, s, on_request, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
  if (!s->daemon) {
    int err = errno ? errno : EADDRINUSE;
    log_error("http", "cannot listen on %s:%d (%s)", cfg->bind_addr, cfg->port, strerror(err));
    http_server_stop(s);
    return -err;
  }
  int err = pthread_create(&s->reaper, NULL, reaper, s);
  if (err) {
    log_error("http", "cannot start the %s connection reaper: %s", s->name, strerror(err));
    http_server_stop(s);
    return -err;
  }
  s->reaper_started = true;
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
  if (s->reaper_started) {
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->reaper, NULL);
  }
  if (s->daemon)
    MHD_stop_daemon(s->daemon); /* its "closed" notifications empty the table */
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->lock);
  free(s->peers); /* empty: every connection's "closed" came */
  free(s->cert);
  free(s->key);
  free(s);
}
