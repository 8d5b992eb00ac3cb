/*
 * server.c — listeners, accepting, and the life of a connection.
 *
 * Each listener (unix socket or TCP) has an accept thread.  Each accepted
 * connection gets a detached thread that runs the handshake
 * (CONN_NEGOTIATING, with a receive timeout so a silent client cannot hold
 * a thread forever), then the transmission workers (CONN_TRANSMISSION),
 * then the close (CONN_CLOSING): TLS bye, export reference dropped, socket
 * closed, connection unlinked.  The server keeps every live connection in a
 * list so that nbd_server_free and NBD_REMOVE_DISCONNECT can shut their
 * sockets down; shutdown(2) wakes the thread blocked in recv and the
 * connection drains as on EOF.
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
#include "nbd/internal.h"

const char *conn_state_to_string(enum conn_state st)
{
  switch (st) {
  case CONN_NEGOTIATING: return "negotiating";
  case CONN_TRANSMISSION: return "transmission";
  case CONN_CLOSING: return "closing";
  }
  return "?";
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
  if (!s->cfg.handshake_timeout_sec)
    s->cfg.handshake_timeout_sec = 30;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  ratelog_init(&s->refusals, "refused export names");
  int r = tls_creds_load(s);
  if (r < 0) {
    ratelog_destroy(&s->refusals);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
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
  free(c->inbuf);
  free(c->meta_export);
  free(c->access_id);
  free(c);
}

static void set_timeout(int fd, unsigned sec)
{
  struct timeval tv = {.tv_sec = sec};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
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
  set_timeout(c->fd, s->cfg.handshake_timeout_sec);
  int r = handshake(c);
  if (r == 0 && !atomic_load(&c->closing)) {
    set_timeout(c->fd, 0); /* idle clients are legitimate in transmission */
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

/* Who is at the other end, for the log: the peer's uid on a unix socket
 * (SO_PEERCRED), its address on TCP. */
static void describe_peer(struct nbd_conn *c)
{
  snprintf(c->peer, sizeof c->peer, "an unknown peer");
  if (!c->is_tcp) {
    struct ucred cr;
    socklen_t l = sizeof cr;
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) == 0)
      snprintf(c->peer, sizeof c->peer, "uid %u", (unsigned)cr.uid);
    return;
  }
  struct sockaddr_storage ss;
  socklen_t l = sizeof ss;
  char host[INET6_ADDRSTRLEN];
  if (getpeername(c->fd, (struct sockaddr *)&ss, &l) == 0 &&
      getnameinfo((struct sockaddr *)&ss, l, host, sizeof host, NULL, 0, NI_NUMERICHOST) == 0)
    snprintf(c->peer, sizeof c->peer, "%s", host);
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
  pthread_mutex_init(&c->rlock, NULL);
  pthread_mutex_init(&c->wlock, NULL);
  {
    LOCK_GUARD(&s->lock);
    if (s->stopping || s->nconns >= s->cfg.max_connections) {
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
    for (struct nbd_conn *c = s->conns; c; c = c->next) {
      atomic_store(&c->closing, true);
      conn_shutdown(c);
    }
    while (s->nconns > 0)
      pthread_cond_wait(&s->cond, &s->lock);
    while (s->exports) {
      struct nbd_export *e = s->exports;
      s->exports = e->next;
      free(e->name);
      free(e);
    }
    access_free_all(s);
  }
  tls_creds_free(s);
  ratelog_destroy(&s->refusals);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cond);
  free(s);
}
