/*
 * peer.c — the client side of a call to a peer region (repl.h).
 *
 * Every request is signed afresh (sign.c) just before it is sent: a curl
 * handle that is reused for several requests (the objects streams) gets new
 * headers each time, since a signature is good for one request.  The
 * peer's certificate is verified against the peer CA.  A call that gets no
 * answer (refused, reset, timed out) is -EHOSTUNREACH, which the copy job
 * treats as "retry later"; any answer, even an error status, is the peer's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timefmt.h"
#include "repl/internal.h"

#define MAX_REPLY (16u << 20)

CURL *repl_curl(const struct repl_peer *p, const char *path)
{
  CURL *c = curl_easy_init();
  char *url = NULL;
  if (!c || asprintf(&url, "%s%s", p->endpoint, path) < 0) {
    curl_easy_cleanup(c);
    return NULL;
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* the path signed is the path sent */
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  /* a stream that stalls for 30 s is broken; a long one that moves is not */
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
  if (p->ca_file)
    curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file);
  free(url); /* curl copies the URL */
  return c;
}

int repl_curl_sign(CURL *c, const struct repl_peer *p, const struct repl_caller *who, const char *method,
                   const char *path, const void *body, size_t body_len, const char *content_type,
                   struct curl_slist **hdrs)
{
  struct repl_signature sig;
  char h[1024];
  int rc = repl_sign(p->credential, p->self, p->name, method, path, body, body_len, who, time_now_us() / 1000, &sig);
  *hdrs = NULL;
  if (rc < 0) {
    log_error("repl", "cannot sign a request to region %s (%s): is its credential configured?", p->name,
              strerror(-rc));
    return rc;
  }
  struct curl_slist *l = NULL;
  snprintf(h, sizeof h, "Authorization: %s", sig.authorization);
  l = curl_slist_append(l, h);
  snprintf(h, sizeof h, REPL_HEADER_PEER ": %s", p->self);
  l = l ? curl_slist_append(l, h) : NULL;
  if (sig.caller[0]) {
    snprintf(h, sizeof h, REPL_HEADER_CALLER ": %s", sig.caller);
    l = l ? curl_slist_append(l, h) : NULL;
  }
  if (content_type) {
    snprintf(h, sizeof h, "Content-Type: %s", content_type);
    l = l ? curl_slist_append(l, h) : NULL;
  }
  l = l ? curl_slist_append(l, "Expect:") : NULL;
  if (!l)
    return -ENOMEM; /* curl_slist_append freed the list */
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
  *hdrs = l;
  return 0;
}

int repl_curl_error(const struct repl_peer *p, const char *path, CURLcode cr)
{
  log_warn("repl", "%s at region %s: %s", path, p->name, curl_easy_strerror(cr));
  return -EHOSTUNREACH;
}

struct buf {
  char *p;
  size_t len, cap;
  bool too_big;
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
  struct buf *b = ctx;
  size_t k = size * n;
  if (b->len + k + 1 > MAX_REPLY) {
    b->too_big = true;
    return 0;
  }
  if (b->len + k + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + k + 1)
      cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np)
      return 0;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, k);
  b->len += k;
  b->p[b->len] = 0;
  return k;
}

int repl_call(const struct repl_peer *p, const struct repl_caller *who, const char *method, const char *path,
              const char *body, size_t body_len, long *status, char **reply, size_t *reply_len)
{
  struct curl_slist *hdrs = NULL;
  struct buf b = {0};
  CURL *c = repl_curl(p, path);
  int rc = c ? repl_curl_sign(c, p, who, method, path, body, body ? body_len : 0,
                              body ? "application/json" : NULL, &hdrs)
             : -ENOMEM;
  if (rc == 0) {
    if (body) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode cr = curl_easy_perform(c);
    if (cr != CURLE_OK)
      rc = b.too_big ? -EFBIG : repl_curl_error(p, path, cr);
    else
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  }
  if (rc == 0 && !b.p && !(b.p = calloc(1, 1)))
    rc = -ENOMEM;
  if (rc == 0) {
    *reply = b.p;
    *reply_len = b.len;
  } else {
    free(b.p);
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return rc;
}
