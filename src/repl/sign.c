/*
 * sign.c — signed requests between regions (repl.h): the signature, its
 * check, and the receiver's memory of the nonces it accepted.
 *
 * The credential is only ever an HMAC key: what travels is a MAC over the
 * request as the receiver sees it, so a captured request proves nothing
 * about another request, and the same request is accepted once (its nonce)
 * and only while it is fresh (its timestamp).  Each field of the canonical
 * string is one line and no field may hold a line break (the caller's
 * identity is percent-encoded), so two different requests never share a
 * canonical string.
 *
 * The nonce memory is two generations of a fixed open-addressing table: a
 * nonce is kept at least 2 × REPL_WINDOW_MS after it was accepted, longer
 * than any request bearing it can stay fresh, and a full table refuses
 * (-ENOBUFS) rather than forget a nonce that could still be replayed.  Only
 * requests whose MAC matched are remembered, so nobody without the
 * credential can fill it.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/random.h"
#include "common/urlcode.h"
#include "repl/repl.h"

#define NONCE_LEN 16 /* 128 bits */
#define SLOTS (1u << 17) /* per generation: 2 MiB */
#define MAX_FILL (SLOTS / 4 * 3)

/* ---- the canonical string --------------------------------------------------- */

static bool one_line(const char *s)
{
  for (; s && *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return false;
  return s != NULL;
}

static void lower(char *s)
{
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'Z')
      *s = (char)(*s - 'A' + 'a');
}

/* HMAC-SHA256 with the credential over the canonical string, into mac. */
static int mac_of(const char *credential, const char *from, const char *to, const char *method, const char *target,
                  int64_t ts, const char *nonce, const void *body, size_t body_len, const char *caller,
                  unsigned char mac[32])
{
  if (!credential || !*credential || !one_line(from) || !one_line(to) || !one_line(method) || !one_line(target) ||
      !one_line(caller))
    return -EINVAL;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  char body_hex[2 * SHA256_DIGEST_LENGTH + 1];
  SHA256(body ? body : (const void *)"", body ? body_len : 0, digest);
  hex_encode(digest, sizeof digest, body_hex);
  char *msg = NULL, *f = strdup(from), *t = strdup(to);
  int n = f && t ? (lower(f), lower(t), asprintf(&msg, REPL_SIG_SCHEME "\n%s\n%s\n%s\n%s\n%" PRId64 "\n%s\n%s\n%s", f,
                                                 t, method, target, ts, nonce, body_hex, caller))
                 : -1;
  free(f);
  free(t);
  if (n < 0)
    return -ENOMEM;
  unsigned len = 0;
  bool ok = HMAC(EVP_sha256(), credential, (int)strlen(credential), (unsigned char *)msg, (size_t)n, mac, &len) &&
            len == 32;
  free(msg);
  return ok ? 0 : -EIO;
}

static int caller_text(const struct repl_caller *who, char *out, size_t cap)
{
  *out = '\0';
  if (!who || !who->oid[0])
    return 0;
  if (!one_line(who->oid) || !one_line(who->appid) || !one_line(who->tid))
    return -EINVAL;
  char *o = url_encode(who->oid), *a = url_encode(who->appid), *t = url_encode(who->tid);
  int rc = o && a && t ? 0 : -ENOMEM;
  if (rc == 0 && (size_t)snprintf(out, cap, "%s %s %s", o, a, t) >= cap)
    rc = -EINVAL;
  free(o);
  free(a);
  free(t);
  return rc;
}

int repl_sign(const char *credential, const char *from, const char *to, const char *method, const char *target,
              const void *body, size_t body_len, const struct repl_caller *who, int64_t now_ms,
              struct repl_signature *out)
{
  unsigned char nonce[NONCE_LEN], mac[32];
  char nonce_hex[2 * NONCE_LEN + 1], mac_hex[65];
  int rc = caller_text(who, out->caller, sizeof out->caller);
  if (rc == 0)
    rc = random_bytes(nonce, sizeof nonce);
  if (rc == 0) {
    hex_encode(nonce, sizeof nonce, nonce_hex);
    rc = mac_of(credential, from, to, method, target, now_ms, nonce_hex, body, body_len, out->caller, mac);
  }
  if (rc == 0) {
    hex_encode(mac, sizeof mac, mac_hex);
    snprintf(out->authorization, sizeof out->authorization, REPL_SIG_SCHEME " t=%" PRId64 ",n=%s,s=%s", now_ms,
             nonce_hex, mac_hex);
  }
  OPENSSL_cleanse(mac, sizeof mac);
  return rc;
}

/* ---- the receiver -------------------------------------------------------------- */

struct generation {
  uint8_t (*slots)[NONCE_LEN]; /* all zero: free (a zero nonce is refused) */
  unsigned used;
};

struct repl_guard {
  pthread_mutex_t lock;
  int64_t start_ms, gen_start_ms;
  uint64_t salt;
  struct generation gen[2]; /* [0] current, [1] previous */
};

int repl_guard_open(int64_t start_ms, struct repl_guard **out)
{
  struct repl_guard *g = calloc(1, sizeof *g);
  int rc = g ? 0 : -ENOMEM;
  if (g)
    pthread_mutex_init(&g->lock, NULL);
  for (int i = 0; rc == 0 && i < 2; i++)
    if (!(g->gen[i].slots = calloc(SLOTS, NONCE_LEN)))
      rc = -ENOMEM;
  if (rc == 0)
    rc = random_bytes(&g->salt, sizeof g->salt);
  if (rc < 0) {
    repl_guard_close(g);
    return rc;
  }
  g->start_ms = g->gen_start_ms = start_ms;
  *out = g;
  return 0;
}

void repl_guard_close(struct repl_guard *g)
{
  if (!g)
    return;
  pthread_mutex_destroy(&g->lock);
  free(g->gen[0].slots);
  free(g->gen[1].slots);
  free(g);
}

static void gen_clear(struct generation *gen)
{
  memset(gen->slots, 0, (size_t)SLOTS * NONCE_LEN);
  gen->used = 0;
}

/* The slot of nonce n in gen: where it is, or the free slot where it goes. */
static uint8_t *slot_of(const struct repl_guard *g, const struct generation *gen, const uint8_t n[NONCE_LEN])
{
  static const uint8_t zero[NONCE_LEN];
  uint64_t h;
  memcpy(&h, n, sizeof h);
  h = (h ^ g->salt) * 0x9e3779b97f4a7c15ull;
  for (uint32_t i = (uint32_t)(h >> 32) & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1))
    if (!memcmp(gen->slots[i], n, NONCE_LEN) || !memcmp(gen->slots[i], zero, NONCE_LEN))
      return gen->slots[i];
}

/* Remembers n: 0, -EALREADY seen within the window, -ENOBUFS full. */
static int remember(struct repl_guard *g, const uint8_t n[NONCE_LEN], int64_t now_ms)
{
  pthread_mutex_lock(&g->lock);
  int64_t age = now_ms - g->gen_start_ms;
  if (age >= 4 * (int64_t)REPL_WINDOW_MS) { /* nothing in either is fresh enough to replay */
    gen_clear(&g->gen[0]);
    gen_clear(&g->gen[1]);
    g->gen_start_ms = now_ms;
  } else if (age >= 2 * (int64_t)REPL_WINDOW_MS) {
    struct generation old = g->gen[1];
    g->gen[1] = g->gen[0];
    g->gen[0] = old;
    gen_clear(&g->gen[0]);
    g->gen_start_ms = now_ms;
  }
  int rc = 0;
  uint8_t *prev = slot_of(g, &g->gen[1], n), *cur = slot_of(g, &g->gen[0], n);
  if (!memcmp(prev, n, NONCE_LEN) || !memcmp(cur, n, NONCE_LEN)) {
    rc = -EALREADY;
  } else if (g->gen[0].used >= MAX_FILL) {
    rc = -ENOBUFS;
  } else {
    memcpy(cur, n, NONCE_LEN);
    g->gen[0].used++;
  }
  pthread_mutex_unlock(&g->lock);
  return rc;
}

static int nibble(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/* n bytes from 2n lower-case hex digits. */
static int unhex(const char *s, size_t n, uint8_t *out)
{
  for (size_t i = 0; i < n; i++) {
    int hi = nibble(s[2 * i]), lo = hi < 0 ? -1 : nibble(s[2 * i + 1]);
    if (lo < 0)
      return -EBADMSG;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

/* Splits "SCHEME t=<ms>,n=<32 hex>,s=<64 hex>" (lower-case hex, nothing else). */
static int parse(const char *auth, int64_t *ts, char nonce_hex[2 * NONCE_LEN + 1], uint8_t nonce[NONCE_LEN],
                 uint8_t mac[32])
{
  size_t sl = strlen(REPL_SIG_SCHEME " t=");
  if (!auth || strncmp(auth, REPL_SIG_SCHEME " t=", sl) != 0)
    return -EBADMSG;
  const char *p = auth + sl, *q = p;
  while (*q >= '0' && *q <= '9')
    q++;
  if (q == p || q - p > 15 || (*p == '0' && q - p > 1) || strncmp(q, ",n=", 3) != 0)
    return -EBADMSG;
  *ts = strtoll(p, NULL, 10);
  q += 3;
  if (strlen(q) != 2 * NONCE_LEN + 3 + 64 || strncmp(q + 2 * NONCE_LEN, ",s=", 3) != 0 ||
      unhex(q, NONCE_LEN, nonce) < 0 || unhex(q + 2 * NONCE_LEN + 3, 32, mac) < 0)
    return -EBADMSG;
  memcpy(nonce_hex, q, 2 * NONCE_LEN);
  nonce_hex[2 * NONCE_LEN] = '\0';
  static const uint8_t zero[NONCE_LEN];
  return memcmp(nonce, zero, NONCE_LEN) ? 0 : -EBADMSG;
}

/* Decodes "oid appid tid" (each percent-encoded) into who. */
static int parse_caller(const char *text, struct repl_caller *who)
{
  memset(who, 0, sizeof *who);
  if (!text || !*text)
    return 0;
  char *field[3] = {who->oid, who->appid, who->tid};
  const char *p = text;
  for (int i = 0; i < 3; i++) {
    size_t n = strcspn(p, " ");
    char *v = url_decode(p, n, 0);
    bool ok = v && strlen(v) < sizeof who->oid && one_line(v) && (i > 0 || *v);
    if (ok)
      strcpy(field[i], v);
    free(v);
    if (!ok || (i < 2 && p[n] != ' ') || (i == 2 && p[n]))
      return -EBADMSG;
    p += n + 1;
  }
  return 0;
}

int repl_verify(struct repl_guard *g, const char *credential, const struct repl_signed_request *r, int64_t now_ms,
                struct repl_caller *who)
{
  int64_t ts = 0;
  char nonce_hex[2 * NONCE_LEN + 1];
  uint8_t nonce[NONCE_LEN], mac[32], want[32];
  int rc = parse(r->authorization, &ts, nonce_hex, nonce, mac);
  if (rc == 0 && (ts < g->start_ms || ts < now_ms - REPL_WINDOW_MS || ts > now_ms + REPL_WINDOW_MS))
    rc = -ETIME;
  if (rc == 0)
    rc = mac_of(credential, r->from, r->to, r->method, r->target, ts, nonce_hex, r->body, r->body_len,
                r->caller ? r->caller : "", want);
  if (rc == -EINVAL)
    rc = -EBADMSG;
  if (rc == 0 && CRYPTO_memcmp(mac, want, sizeof mac) != 0)
    rc = -EACCES;
  if (rc == 0)
    rc = parse_caller(r->caller, who);
  if (rc == 0)
    rc = remember(g, nonce, now_ms);
  OPENSSL_cleanse(want, sizeof want);
  return rc;
}

const char *repl_verify_error(int rc)
{
  switch (rc) {
  case -EBADMSG: return "no well-formed peer signature";
  case -EACCES: return "the signature does not match";
  case -ETIME: return "the timestamp is outside the window or older than this process";
  case -EALREADY: return "the nonce was used before (a replay)";
  case -ENOBUFS: return "too many requests in the window to remember their nonces";
  default: return "the signature cannot be checked";
  }
}
