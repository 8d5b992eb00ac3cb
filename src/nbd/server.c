/*
 * server.c — listeners, accepting, and the life of a connection.
 *
 * Each listener (unix socket or TCP) has an accept thread.  Each accepted
 * connection gets a detached thread that runs the handshake
 * (CONN_NEGOTIATING), then the transmission workers (CONN_TRANSMISSION),
 * then the close (CONN_CLOSING): TLS bye, export reference dropped, socket
 * closed, connection unlinked.  The server keeps every live connection in a
 * list so that nbd_server_free and NBD_REMOVE_DISCONNECT can shut their
 * sockets down; shutdown(2) wakes the thread blocked in recv and the
 * connection drains as on EOF.
 *
 * Bounds.  A connection is refused at accept past
 * max_connections_per_client for its client (the peer's uid on a unix
 * socket, SO_PEERCRED; its address on TCP), so one client's idle
 * handshakes cannot lock the others out; at max_connections it is refused
 * too, unless a client holding more connections than it has a handshake
 * in progress, which is closed to make room (make_room), so many clients
 * cannot either.  A watchdog thread looks at every
 * connection each WATCHDOG_MS and shuts down (conn_abort) one whose
 * handshake passed its deadline (counted from accept: a client trickling a
 * byte at a time does not extend it, as a per-read timeout would), one
 * whose reply has made no progress for send_timeout_sec (a client that does
 * not read; in any state after the handshake, so a client that sent DISC
 * cannot hold the closing thread either), and, when idle_timeout_sec is
 * set, one in transmission with nothing in flight and no request for that
 * long.  Each refusal and drop is logged, rate-limited (ratelog.c).
 *
 * TLS policy per listener: unix sockets and loopback TCP addresses allow
 * STARTTLS when credentials exist (TLS_ALLOW); any other address forces it
 * (TLS_REQUIRE) and cannot be opened without credentials (-EPERM).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "nbd/internal.h"

#define WATCHDOG_MS 250

const char *conn_state_to_string(enum conn_state st)
{
  switch (st) {
  case CONN_NEGOTIATING: return "negotiating";
  case CONN_TRANSMISSION: return "transmission";
  case CONN_CLOSING: return "closing";
  }
  return "?";
}

void conn_abort(struct nbd_conn *c)
{
  atomic_store(&c->closing, true);
  conn_shutdown(c);
  pthread_mutex_lock(&c->block); /* a worker waiting for payload room */
  pthread_cond_broadcast(&c->bcond);
  pthread_mutex_unlock(&c->block);
}

/* Drops c for what a limit of sec seconds saw (server->lock held), logged once. */
static void drop(struct nbd_server *s, struct nbd_conn *c, const char *what, unsigned sec)
{
  if (c->dropped)
    return;
  c->dropped = true;
  if (ratelog_allow(&s->timeouts))
    log_warn("nbd", "dropped a connection of %s: %s (limit %u s)", c->peer, what, sec);
  conn_abort(c);
}

/* The deadlines of every connection, each WATCHDOG_MS (server.c's comment). */
static void *watchdog_main(void *arg)
{
  struct nbd_server *s = arg;
  LOCK_GUARD(&s->lock);
  while (!s->watchdog_stop) {
    int64_t now = now_ms();
    for (struct nbd_conn *c = s->conns; c; c = c->next) {
      int st = atomic_load(&c->state);
      int64_t send = atomic_load(&c->send_ms);
      if (st == CONN_NEGOTIATING && now > c->deadline_ms)
        drop(s, c, "its handshake did not end in time", s->cfg.handshake_timeout_sec);
      else if (st != CONN_NEGOTIATING && send && now - send > 1000 * (int64_t)s->cfg.send_timeout_sec)
        drop(s, c, "a reply made no progress (the client does not read)", s->cfg.send_timeout_sec);
      else if (st == CONN_TRANSMISSION && s->cfg.idle_timeout_sec && atomic_load(&c->inflight) == 0 &&
               now - atomic_load(&c->last_ms) > 1000 * (int64_t)s->cfg.idle_timeout_sec)
        drop(s, c, "idle in transmission", s->cfg.idle_timeout_sec);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += WATCHDOG_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->watchdog_cond, &s->lock, &ts);
  }
  return NULL;
}

int nbd_server_new(const struct nbd_server_config *cfg, struct nbd_server **out)
{
  struct nbd_server *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  if (cfg)
    s->cfg = *cfg;
  if (!s->cfg.threads_per_conn)
    s->cfg.threads_per_conn = 8;
  if (s->cfg.threads_per_conn > 64)
    s->cfg.threads_per_conn = 64;
  if (!s->cfg.max_connections)
    s->cfg.max_connections = 256;
  if (!s->cfg.max_connections_per_client)
    s->cfg.max_connections_per_client = 32;
  if (!s->cfg.handshake_timeout_sec)
    s->cfg.handshake_timeout_sec = 10;
  if (!s->cfg.send_timeout_sec)
    s->cfg.send_timeout_sec = 60;
  if (!s->cfg.max_buffer_per_conn)
    s->cfg.max_buffer_per_conn = NBD_MAX_PAYLOAD;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->watchdog_cond, &ca);
  pthread_condattr_destroy(&ca);
  ratelog_init(&s->refusals, "refused export names");
  ratelog_init(&s->limits, "connections refused by a connection limit");
  ratelog_init(&s->timeouts, "connections dropped by a timeout");
  ratelog_init(&s->budgets, "connections waiting for their replies to go out");
  int r = tls_creds_load(s);
  if (r == 0 && (r = -pthread_create(&s->watchdog, NULL, watchdog_main, s)) < 0)
    tls_creds_free(s);
  if (r < 0) {
    ratelog_destroy(&s->refusals);
    ratelog_destroy(&s->limits);
    ratelog_destroy(&s->timeouts);
    ratelog_destroy(&s->budgets);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    pthread_cond_destroy(&s->watchdog_cond);
    free(s);
    return r;
  }
  *out = s;
  return 0;
}

static void conn_free(struct nbd_conn *c)
{
  pthread_mutex_destroy(&c->rlock);
  pthread_mutex_destroy(&c->wlock);
  pthread_mutex_destroy(&c->block);
  pthread_cond_destroy(&c->bcond);
  free(c->inbuf);
  free(c->meta_export);
  free(c->access_id);
  free(c);
}

static void *conn_main(void *arg)
{
  struct nbd_conn *c = arg;
  struct nbd_server *s = c->s;
  /* splice(2) to a closed socket raises SIGPIPE (it has no MSG_NOSIGNAL).
   * Blocked here and in the workers this thread starts, it stays pending on
   * the thread and dies with it; the write fails with EPIPE. */
  sigset_t pipe_sig;
  sigemptyset(&pipe_sig);
  sigaddset(&pipe_sig, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
  int r = handshake(c);
  if (r == 0 && !atomic_load(&c->closing)) {
    atomic_store(&c->last_ms, now_ms());
    atomic_store(&c->state, CONN_TRANSMISSION);
    transmission(c);
  }
  atomic_store(&c->state, CONN_CLOSING);
  tls_stop(c);
  struct nbd_export *e = c->exp;
  if (e) {
    export_set_transmission(s, e, -1);
    export_put(s, e);
  }
  /* Last, under the lock (so no one shuts down a reused descriptor): once
   * nconns drops, nbd_server_free may free s. */
  LOCK_GUARD(&s->lock);
  close(c->fd);
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->nconns--;
  conn_free(c);
  pthread_cond_broadcast(&s->cond);
  return NULL;
}

/* Who is at the other end: the peer's uid on a unix socket (SO_PEERCRED),
 * its address on TCP, for the log; and the client the per-client limit
 * counts: the same, but an IPv6 address as its /64 (one host's share). */
static void describe_peer(struct nbd_conn *c)
{
  snprintf(c->peer, sizeof c->peer, "an unknown peer");
  struct sockaddr_storage ss;
  socklen_t l = sizeof ss;
  char host[NET_TEXT_LEN];
  if (!c->is_tcp) {
    struct ucred cr;
    socklen_t cl = sizeof cr;
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
      snprintf(c->peer, sizeof c->peer, "uid %u", (unsigned)cr.uid);
  } else if (getpeername(c->fd, (struct sockaddr *)&ss, &l) == 0 &&
             getnameinfo((struct sockaddr *)&ss, l, host, sizeof host, NULL, 0, NI_NUMERICHOST) == 0) {
    snprintf(c->peer, sizeof c->peer, "%s", host);
    unsigned char key[NET_KEY_LEN];
    net_key((struct sockaddr *)&ss, key);
    net_key_text(key, c->client);
    return;
  }
  snprintf(c->client, sizeof c->client, "%s", c->peer);
}

/* At the global limit: closes the handshake of the client holding the most
 * connections (its oldest), if that client holds more than the newcomer
 * (mine), so that clients with many addresses or uids cannot fill the
 * server with idle handshakes either.  Connections in transmission are
 * never closed for room.  At most MAX_EVICTING closed ones may still be
 * on their way out (nconns exceeds the limit by that much at most).
 * server->lock held; whether room was made. */
#define MAX_EVICTING 16
static bool make_room(struct nbd_server *s, unsigned mine)
{
  unsigned leaving = 0, most = 0;
  struct nbd_conn *victim = NULL;
  for (struct nbd_conn *c = s->conns; c; c = c->next)
    leaving += c->dropped;
  if (leaving >= MAX_EVICTING)
    return false;
  for (struct nbd_conn *c = s->conns; c; c = c->next) {
    if (c->dropped || atomic_load(&c->state) != CONN_NEGOTIATING)
      continue;
    unsigned n = 0;
    for (struct nbd_conn *o = s->conns; o; o = o->next)
      n += strcmp(o->client, c->client) == 0;
    if (n > most || (n == most && victim && c->deadline_ms < victim->deadline_ms)) {
      most = n;
      victim = c;
    }
  }
  if (!victim || most <= mine + 1)
    return false;
  victim->dropped = true;
  if (ratelog_allow(&s->limits))
    log_warn("nbd", "closed a handshake of %s (%u connections) to make room: the server's connection limit (%u) "
             "is reached", victim->peer, most, s->cfg.max_connections);
  conn_abort(victim);
  return true;
}

static void start_conn(struct nbd_listener *l, int fd)
{
  struct nbd_server *s = l->s;
  if (l->is_tcp) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  } else {
    /* A unix socket's send buffer (212 KiB by default) is all the reply
     * data that can wait for the client: a 1 MiB reply went out in five
     * rounds of "buffer full, sleep, client drains, wake up".  Room for a
     * few whole replies lets the client always find the next one waiting
     * (1 MiB reads over unix: 2400-2600 -> 3400-4200 MiB/s).  TCP keeps its
     * auto-tuning, which a fixed size would switch off (slower here). */
    int sz = NBD_UNIX_SNDBUF;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  }
  struct nbd_conn *c = calloc(1, sizeof *c);
  if (!c || !(c->inbuf = malloc(CONN_INBUF_SIZE))) {
    free(c);
    close(fd);
    return;
  }
  c->s = s;
  c->fd = fd;
  c->is_tcp = l->is_tcp;
  describe_peer(c);
  c->tls_mode = s->tls_creds ? l->tls : TLS_OFF;
  c->threads = s->cfg.threads_per_conn;
  atomic_init(&c->state, CONN_NEGOTIATING);
  atomic_init(&c->closing, false);
  c->deadline_ms = now_ms() + 1000 * (int64_t)s->cfg.handshake_timeout_sec;
  atomic_init(&c->last_ms, 0);
  atomic_init(&c->send_ms, 0);
  atomic_init(&c->inflight, 0);
  pthread_mutex_init(&c->rlock, NULL);
  pthread_mutex_init(&c->wlock, NULL);
  pthread_mutex_init(&c->block, NULL);
  pthread_cond_init(&c->bcond, NULL);
  {
    LOCK_GUARD(&s->lock);
    unsigned mine = 0;
    for (struct nbd_conn *o = s->conns; o; o = o->next)
      mine += strcmp(o->client, c->client) == 0;
    const char *whose = NULL;
    unsigned limit = 0;
    if (s->nconns >= s->cfg.max_connections && mine < s->cfg.max_connections_per_client && make_room(s, mine)) {
      /* a handshake of a heavier client was closed for this one */
    } else if (s->nconns >= s->cfg.max_connections) {
      whose = "the server's";
      limit = s->cfg.max_connections;
    } else if (mine >= s->cfg.max_connections_per_client) {
      whose = "its own";
      limit = s->cfg.max_connections_per_client;
    }
    if (s->stopping || whose) {
      if (whose && ratelog_allow(&s->limits))
        log_warn("nbd", "refused a connection of %s: %s connection limit (%u) is reached", c->peer, whose, limit);
      close(fd);
      conn_free(c);
      return;
    }
    c->next = s->conns;
    if (s->conns)
      s->conns->prev = c;
    s->conns = c;
    s->nconns++;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int r = pthread_create(&t, &attr, conn_main, c);
  pthread_attr_destroy(&attr);
  if (r != 0) { /* unlink and drop */
    LOCK_GUARD(&s->lock);
    if (c->prev)
      c->prev->next = c->next;
    else
      s->conns = c->next;
    if (c->next)
      c->next->prev = c->prev;
    s->nconns--;
    close(fd);
    conn_free(c);
  }
}

static void *accept_main(void *arg)
{
  struct nbd_listener *l = arg;
  for (;;) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        if (errno == EMFILE || errno == ENFILE)
          usleep(10000);
        bool stop;
        {
          LOCK_GUARD(&l->s->lock);
          stop = l->s->stopping;
        }
        if (!stop)
          continue;
      }
      return NULL; /* shutdown(2) of the listening socket ends us */
    }
    start_conn(l, fd);
  }
}

static int add_listener(struct nbd_server *s, int fd, const char *unix_path, bool is_tcp, enum tls_mode tls)
{
  struct nbd_listener *l = calloc(1, sizeof *l);
  if (!l)
    return -ENOMEM;
  l->s = s;
  l->fd = fd;
  l->is_tcp = is_tcp;
  l->tls = tls;
  if (unix_path && !(l->unix_path = strdup(unix_path))) {
    free(l);
    return -ENOMEM;
  }
  int r = pthread_create(&l->thread, NULL, accept_main, l);
  if (r != 0) {
    free(l->unix_path);
    free(l);
    return -r;
  }
  LOCK_GUARD(&s->lock);
  l->next = s->listeners;
  s->listeners = l;
  return 0;
}

int nbd_server_listen_unix(struct nbd_server *s, const char *path, unsigned flags)
{
  if ((flags & NBD_LISTEN_REQUIRE_TLS) && !s->tls_creds)
    return -EPERM;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path)
    return -ENAMETOOLONG;
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
    unlink(path);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 128) < 0) {
    int r = -errno;
    close(fd);
    return r;
  }
  int r = add_listener(s, fd, path, false, (flags & NBD_LISTEN_REQUIRE_TLS) ? TLS_REQUIRE : TLS_ALLOW);
  if (r < 0) {
    close(fd);
    unlink(path);
  }
  return r;
}

static bool is_loopback(const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a))
      return true;
    return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
  }
  return false;
}

int nbd_server_listen_tcp(struct nbd_server *s, const char *host, const char *port, unsigned flags,
                          uint16_t *bound_port)
{
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *res;
  int g = getaddrinfo(host && *host ? host : NULL, port, &hints, &res);
  if (g != 0)
    return g == EAI_SYSTEM ? -errno : -EINVAL;
  int r = -EADDRNOTAVAIL;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    bool loop = is_loopback(ai->ai_addr);
    enum tls_mode tls = (!loop || (flags & NBD_LISTEN_REQUIRE_TLS)) ? TLS_REQUIRE : TLS_ALLOW;
    if (tls == TLS_REQUIRE && !s->tls_creds) {
      log_error("nbd", "refusing to listen on non-loopback address %s without TLS credentials",
                host ? host : "*");
      r = -EPERM;
      break;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      r = -errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
      r = -errno;
      close(fd);
      continue;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    uint16_t p = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    r = add_listener(s, fd, NULL, true, tls);
    if (r < 0) {
      close(fd);
      continue;
    }
    if (bound_port)
      *bound_port = p;
    break; /* the first address that works */
  }
  freeaddrinfo(res);
  return r;
}

void nbd_server_free(struct nbd_server *s)
{
  if (!s)
    return;
  struct nbd_listener *ls;
  {
    LOCK_GUARD(&s->lock);
    s->stopping = true;
    ls = s->listeners;
    s->listeners = NULL;
  }
  for (struct nbd_listener *l = ls; l; l = l->next)
    shutdown(l->fd, SHUT_RDWR);
  while (ls) {
    struct nbd_listener *l = ls;
    ls = l->next;
    pthread_join(l->thread, NULL);
    close(l->fd);
    if (l->unix_path)
      unlink(l->unix_path);
    free(l->unix_path);
    free(l);
  }
  {
    LOCK_GUARD(&s->lock);
    for (struct nbd_conn *c = s->conns; c; c = c->next)
      conn_abort(c);
    while (s->nconns > 0)
      pthread_cond_wait(&s->cond, &s->lock);
    s->watchdog_stop = true;
    pthread_cond_signal(&s->watchdog_cond);
    while (s->exports) {
      struct nbd_export *e = s->exports;
      s->exports = e->next;
      free(e->name);
      free(e);
    }
    access_free_all(s);
  }
  pthread_join(s->watchdog, NULL);
  tls_creds_free(s);
  ratelog_destroy(&s->refusals);
  ratelog_destroy(&s->limits);
  ratelog_destroy(&s->timeouts);
  ratelog_destroy(&s->budgets);
  pthread_cond_destroy(&s->watchdog_cond);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cond);
  free(s);
}
