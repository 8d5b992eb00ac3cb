/*
 * notify.c — the webhook delivery thread over the outbox (meta/notify.c).
 *
 * One thread drives every attempt through libcurl's multi interface: up to
 * cfg.concurrency POSTs in flight, none of which can hold up another (a
 * receiver that accepts the connection and never answers costs one slot for
 * timeout_s).  A thread per attempt would do the same with more stacks and
 * a pool to bound; one event loop is enough for a handful of small POSTs.
 *
 * Queues: the rows of one (policy, URL) pair are delivered in order, one
 * attempt at a time; the thread keeps, per queue, only when it may try next
 * and how many attempts in a row failed (the backoff: retry_initial_s
 * doubling up to retry_max_s).  A queue whose head failed waits as a whole,
 * so a dead receiver is tried once per backoff step, not once per event,
 * and its events never delay another queue's.  Queues take turns: the one
 * just started goes to the back of the list.  The rows themselves stay in
 * the store; only the head being sent is in memory.  After a restart every
 * queue is tried at once (the backoff is not persisted: a restart is rare,
 * and one early attempt per receiver is cheap).
 *
 * A queue found empty is forgotten — unless notify_event queued to it
 * meanwhile (its `dirty` mark, set after the row's commit and cleared before
 * the head is read), so a row is never left without its queue.  The one
 * case the mark cannot see — notify_event called inside the caller's own
 * meta transaction, whose rows commit later — is caught by reading the
 * queues from the store again every RESCAN_MS.
 *
 * Giving up: a row older than give_up_s is deleted when it reaches the head
 * or after its failed attempt, with a warning naming the event, the policy
 * and the last error.  Log lines name the receiver by scheme, host, port and
 * path: query strings and user info often carry tokens.  Neither the secret
 * nor the signature is ever logged.
 */
#include "notify/notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"
#include "meta/meta.h"
#include "version.h"

#define MOD "notify"
#define SECRET_MAX 1024
#define EVENT_ID_MAX 128
#define REPLY_KEEP 200 /* bytes of a refusing receiver's answer kept for the log */
#define IDLE_WAKE_MS 60000
#define RESCAN_MS 60000

struct queue {
  struct queue *next;
  char *policy_id, *url;
  int64_t next_ms; /* monotonic: not before */
  int fails;       /* failed attempts in a row */
  bool busy;       /* an attempt in flight */
  bool dirty;      /* a row was queued since the head was last read */
};

struct attempt {
  struct attempt *next;
  struct queue *q;
  struct meta_notify_row row;
  CURL *easy;
  struct curl_slist *headers;
  char error[CURL_ERROR_SIZE];
  char reply[REPLY_KEEP + 1];
  size_t reply_len;
};

struct notify {
  struct meta *m;
  struct notify_config cfg;
  char *ca_file;
  CURLM *multi;
  pthread_t thread;
  pthread_mutex_t lock; /* the queue list's links and dirty marks, stopping */
  struct queue *queues;
  bool stopping;
  struct attempt *attempts; /* in flight: the thread's own */
  int inflight;
  int64_t scanned_ms;       /* when the queues were last read from the store */
};

/* ---- queues ---------------------------------------------------------- */

static struct queue *queue_find(struct notify *n, const char *policy_id, const char *url)
{
  for (struct queue *q = n->queues; q; q = q->next)
    if (!strcasecmp(q->policy_id, policy_id) && !strcmp(q->url, url))
      return q;
  return NULL;
}

static void queue_free(struct queue *q)
{
  free(q->policy_id);
  free(q->url);
  free(q);
}

static struct queue *queue_new(const char *policy_id, const char *url)
{
  struct queue *q = calloc(1, sizeof *q);
  if (q && (!(q->policy_id = strdup(policy_id)) || !(q->url = strdup(url)))) {
    queue_free(q);
    q = NULL;
  }
  return q;
}

/* Marks the queue of fresh (a new queue, taken) as having rows: fresh joins
 * the list when it has no such queue yet, else is freed.  Under lock; cannot
 * fail, so it may follow the rows' commit. */
static void queue_mark(struct notify *n, struct queue *fresh)
{
  struct queue *q = queue_find(n, fresh->policy_id, fresh->url);
  if (q) {
    queue_free(fresh);
  } else {
    struct queue **pp = &n->queues;
    while (*pp)
      pp = &(*pp)->next;
    *pp = q = fresh;
  }
  q->dirty = true;
}

static void queue_unlink(struct notify *n, struct queue *q)
{
  for (struct queue **pp = &n->queues; *pp; pp = &(*pp)->next) {
    if (*pp == q) {
      *pp = q->next;
      q->next = NULL;
      return;
    }
  }
}

/* The next queue due at now_ms, moved to the back of the list (turns), its
 * dirty mark cleared; NULL when none is.  Under lock. */
static struct queue *queue_due(struct notify *n, int64_t now_ms)
{
  struct queue *q = n->queues;
  while (q && (q->busy || q->next_ms > now_ms))
    q = q->next;
  if (!q)
    return NULL;
  queue_unlink(n, q);
  struct queue **pp = &n->queues;
  while (*pp)
    pp = &(*pp)->next;
  *pp = q;
  q->dirty = false;
  return q;
}

static int load_queue(void *ctx, const char *policy_id, const char *url)
{
  struct notify *n = ctx;
  struct queue *q = queue_new(policy_id, url);
  if (!q)
    return -ENOMEM;
  pthread_mutex_lock(&n->lock);
  queue_mark(n, q);
  pthread_mutex_unlock(&n->lock);
  return 0;
}

/* ---- what the log shows ------------------------------------------------ */

/* url without its user info, query and fragment. */
static void url_for_log(const char *url, char *out, size_t cap)
{
  CURLU *h = curl_url();
  char *host = NULL, *port = NULL, *path = NULL;
  snprintf(out, cap, "(unparsable URL)");
  if (h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    curl_url_get(h, CURLUPART_PORT, &port, 0);
    curl_url_get(h, CURLUPART_PATH, &path, 0);
    snprintf(out, cap, "https://%s%s%s%s", host, port ? ":" : "", port ? port : "", path ? path : "/");
  }
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_url_cleanup(h);
}

/* ---- one attempt ------------------------------------------------------- */

static int64_t backoff_ms(const struct notify *n, int fails)
{
  int64_t s = n->cfg.retry_initial_s;
  for (int i = 1; i < fails && s < n->cfg.retry_max_s; i++)
    s *= 2;
  return (s < n->cfg.retry_max_s ? s : n->cfg.retry_max_s) * 1000;
}

static bool expired(const struct notify *n, const struct meta_notify_row *row, int64_t now_us)
{
  return now_us - row->created_us >= (int64_t)n->cfg.give_up_s * 1000000;
}

/* Gives up row (the head of its queue, too old) and with it every row of
 * the queue as old: behind a receiver dead for give_up_s they may be
 * thousands, dropped by one statement and one log line. */
static void give_up(struct notify *n, const struct meta_notify_row *row, const char *why)
{
  char where[512];
  int count = 0;
  int64_t before = time_now_us() - (int64_t)n->cfg.give_up_s * 1000000;
  url_for_log(row->url, where, sizeof where);
  if (meta_notify_expire(n->m, row->policy_id, row->url, before > row->created_us ? before : row->created_us,
                         &count) < 0)
    return; /* the store failed: the next turn of the queue tries again */
  char more[64] = "";
  if (count > 1)
    snprintf(more, sizeof more, " (and %d more of this queue as old)", count - 1);
  log_warn(MOD, "webhook event %s of policy %s to %s given up after %d attempts over %d s%s: %s", row->event_id,
           row->policy_id, where, row->attempts, n->cfg.give_up_s, more, why ? why : "never attempted");
}

/* The head of q failed (why): backs the queue off and records the attempt,
 * or gives the row up when it is too old. */
static void failed(struct notify *n, struct queue *q, struct meta_notify_row *row, const char *why)
{
  q->fails++;
  q->next_ms = time_mono_ms() + backoff_ms(n, q->fails);
  row->attempts++;
  if (expired(n, row, time_now_us())) {
    give_up(n, row, why);
    return;
  }
  char where[512];
  url_for_log(row->url, where, sizeof where);
  log_warn(MOD, "webhook event %s of policy %s to %s: attempt %d failed: %s; next in %" PRId64 " s", row->event_id,
           row->policy_id, where, row->attempts, why, backoff_ms(n, q->fails) / 1000);
  meta_notify_failed(n->m, row->seq, why);
}

static size_t on_reply(char *data, size_t size, size_t nmemb, void *ctx)
{
  struct attempt *a = ctx;
  size_t len = size * nmemb, room = REPLY_KEEP - a->reply_len;
  size_t take = len < room ? len : room;
  for (size_t i = 0; i < take; i++) /* printable ASCII: it goes to a log line and the store */
    a->reply[a->reply_len++] = data[i] >= ' ' && data[i] <= '~' ? data[i] : ' ';
  a->reply[a->reply_len] = '\0';
  return len; /* the rest is read and dropped: the total timeout bounds it */
}

/* "t=<now>,v1=<hex HMAC-SHA256(secret, "<now>.<body>")>" into out. */
static int sign(const unsigned char *secret, size_t secret_len, const char *body, int64_t now_s, char *out,
                size_t cap)
{
  char *msg = NULL;
  int len = asprintf(&msg, "%" PRId64 ".%s", now_s, body);
  if (len < 0)
    return -ENOMEM;
  unsigned char mac[SHA256_DIGEST_LENGTH];
  unsigned maclen = 0;
  bool ok = HMAC(EVP_sha256(), secret, (int)secret_len, (unsigned char *)msg, (size_t)len, mac, &maclen) != NULL;
  free(msg);
  if (!ok)
    return -EIO;
  char hex[2 * SHA256_DIGEST_LENGTH + 1];
  hex_encode(mac, maclen, hex);
  snprintf(out, cap, "t=%" PRId64 ",v1=%s", now_s, hex);
  OPENSSL_cleanse(mac, sizeof mac);
  OPENSSL_cleanse(hex, sizeof hex);
  return 0;
}

static void attempt_free(struct attempt *a)
{
  if (!a)
    return;
  curl_easy_cleanup(a->easy);
  curl_slist_free_all(a->headers);
  meta_notify_row_clear(&a->row);
  free(a);
}

static struct curl_slist *add_header(struct curl_slist *list, const char *h, bool *ok)
{
  struct curl_slist *l = *ok ? curl_slist_append(list, h) : NULL;
  if (!l) {
    *ok = false;
    return list;
  }
  return l;
}

/* Sends row (the head of q) with the policy's secret: 0 when the attempt is
 * in flight (it took row); else why it could not start, in why. */
static int attempt_start(struct notify *n, struct queue *q, struct meta_notify_row *row, const char **why)
{
  unsigned char secret[SECRET_MAX];
  size_t secret_len = 0;
  char name[1024], sig[128], sighdr[160], idh[EVENT_ID_MAX + 32];
  int r = notify_secret_name(row->policy_id, name, sizeof name)
              ? meta_secret_get(n->m, name, secret, sizeof secret, &secret_len)
              : -ENOENT;
  if (r < 0) {
    *why = r == -ENOENT ? "no webhook secret is stored for the policy" : "the policy's secret cannot be read";
    return r;
  }
  r = sign(secret, secret_len, row->body, time_now_us() / 1000000, sig, sizeof sig);
  OPENSSL_cleanse(secret, sizeof secret);
  struct attempt *a = r == 0 ? calloc(1, sizeof *a) : NULL;
  bool ok = a != NULL;
  if (ok) {
    snprintf(sighdr, sizeof sighdr, "x-vmrp-signature: %s", sig);
    snprintf(idh, sizeof idh, "x-vmrp-event-id: %s", row->event_id);
    a->headers = add_header(a->headers, "Content-Type: application/json", &ok);
    a->headers = add_header(a->headers, idh, &ok);
    a->headers = add_header(a->headers, sighdr, &ok);
    a->headers = add_header(a->headers, "Expect:", &ok); /* no 100-continue round trip */
  }
  CURL *c = ok ? a->easy = curl_easy_init() : NULL;
  if (!c) {
    attempt_free(a);
    *why = "out of memory";
    return -ENOMEM;
  }
  curl_easy_setopt(c, CURLOPT_URL, row->url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)n->cfg.timeout_s);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)n->cfg.timeout_s);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "vmrpd/" VMRP_VERSION " webhooks");
  if (n->ca_file)
    curl_easy_setopt(c, CURLOPT_CAINFO, n->ca_file);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, a->headers);
  /* the body's buffer moves into the attempt with the row: its address stays */
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, row->body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(row->body));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, a->error);
  curl_easy_setopt(c, CURLOPT_PRIVATE, a);
  if (curl_multi_add_handle(n->multi, c) != CURLM_OK) {
    attempt_free(a);
    *why = "cannot start the request";
    return -EIO;
  }
  a->q = q;
  a->row = *row;
  memset(row, 0, sizeof *row);
  a->next = n->attempts;
  n->attempts = a;
  q->busy = true;
  n->inflight++;
  return 0;
}

/* An attempt ended (result: curl's): 2xx delivers the row, anything else is
 * a failed attempt. */
static void attempt_done(struct notify *n, struct attempt *a, CURLcode result)
{
  struct queue *q = a->q;
  long status = 0;
  curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_multi_remove_handle(n->multi, a->easy);
  for (struct attempt **pp = &n->attempts; *pp; pp = &(*pp)->next) {
    if (*pp == a) {
      *pp = a->next;
      break;
    }
  }
  q->busy = false;
  n->inflight--;
  char where[512];
  url_for_log(a->row.url, where, sizeof where);
  if (result == CURLE_OK && status >= 200 && status < 300) {
    log_info(MOD, "webhook event %s of policy %s delivered to %s (HTTP %ld, attempt %d)", a->row.event_id,
             a->row.policy_id, where, status, a->row.attempts + 1);
    meta_notify_delete(n->m, a->row.seq);
    q->fails = 0;
    q->next_ms = 0;
  } else {
    char why[CURL_ERROR_SIZE + REPLY_KEEP + 64];
    if (result != CURLE_OK)
      snprintf(why, sizeof why, "%s", *a->error ? a->error : curl_easy_strerror(result));
    else
      snprintf(why, sizeof why, "HTTP %ld%s%s%s", status,
               status >= 300 && status < 400 ? " (redirects are not followed)" : "", *a->reply ? ": " : "", a->reply);
    failed(n, q, &a->row, why);
  }
  attempt_free(a);
}

/* Starts what is due: the heads of due queues, giving up rows too old. */
static void start_due(struct notify *n)
{
  while (n->inflight < n->cfg.concurrency) {
    int64_t now_ms = time_mono_ms();
    pthread_mutex_lock(&n->lock);
    struct queue *q = queue_due(n, now_ms);
    pthread_mutex_unlock(&n->lock);
    if (!q)
      return;
    struct meta_notify_row row;
    int r = meta_notify_head(n->m, q->policy_id, q->url, &row);
    if (r == 0 && expired(n, &row, time_now_us())) {
      give_up(n, &row, row.last_error);
      meta_notify_row_clear(&row);
      r = meta_notify_head(n->m, q->policy_id, q->url, &row);
    }
    if (r == -ENOENT) {
      pthread_mutex_lock(&n->lock);
      if (!q->dirty) {
        queue_unlink(n, q);
        queue_free(q);
      }
      pthread_mutex_unlock(&n->lock);
      continue;
    }
    if (r < 0) { /* the store failed: this queue waits a step */
      q->next_ms = now_ms + backoff_ms(n, 1);
      continue;
    }
    const char *why = NULL;
    if (attempt_start(n, q, &row, &why) < 0)
      failed(n, q, &row, why);
    meta_notify_row_clear(&row);
  }
}

/* Milliseconds until the next queue not in flight is due (≤ IDLE_WAKE_MS). */
static int next_wake_ms(struct notify *n)
{
  int64_t now = time_mono_ms(), wake = now + IDLE_WAKE_MS;
  pthread_mutex_lock(&n->lock);
  for (struct queue *q = n->queues; q; q = q->next)
    if (!q->busy && q->next_ms < wake)
      wake = q->next_ms;
  pthread_mutex_unlock(&n->lock);
  return wake <= now ? 0 : (int)(wake - now);
}

static bool stopping(struct notify *n)
{
  pthread_mutex_lock(&n->lock);
  bool s = n->stopping;
  pthread_mutex_unlock(&n->lock);
  return s;
}

static void *run(void *arg)
{
  struct notify *n = arg;
  while (!stopping(n)) {
    if (time_mono_ms() - n->scanned_ms >= RESCAN_MS) {
      n->scanned_ms = time_mono_ms();
      meta_notify_queues(n->m, load_queue, n);
    }
    start_due(n);
    int running = 0, left = 0;
    curl_multi_perform(n->multi, &running);
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(n->multi, &left))) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      struct attempt *a = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&a);
      attempt_done(n, a, msg->data.result);
    }
    /* A delivered head makes its queue due at once: look again before
     * waiting.  With every slot taken only the transfers (and libcurl's own
     * timeouts, which bound the poll) can change anything. */
    int wait_ms = n->inflight < n->cfg.concurrency ? next_wake_ms(n) : IDLE_WAKE_MS;
    if (wait_ms == 0)
      continue;
    curl_multi_poll(n->multi, NULL, 0, wait_ms, NULL);
  }
  /* attempts in flight are abandoned: their rows stay for the next process */
  while (n->attempts) {
    struct attempt *a = n->attempts;
    n->attempts = a->next;
    curl_multi_remove_handle(n->multi, a->easy);
    attempt_free(a);
  }
  return NULL;
}

/* ---- interface --------------------------------------------------------- */

/* Frees n and its queues: what a failed notify_start and notify_stop (the
 * thread joined, or never started) both leave. */
static void notify_free(struct notify *n)
{
  for (struct queue *q = n->queues, *next; q; q = next) {
    next = q->next;
    queue_free(q);
  }
  curl_multi_cleanup(n->multi);
  pthread_mutex_destroy(&n->lock);
  free(n->ca_file);
  free(n);
}

int notify_start(struct meta *m, const struct notify_config *cfg, struct notify **out)
{
  struct notify *n = calloc(1, sizeof *n);
  if (!n)
    return -ENOMEM;
  n->m = m;
  n->cfg = *cfg;
  n->cfg.timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 10;
  n->cfg.concurrency = cfg->concurrency > 0 ? cfg->concurrency : 4;
  n->cfg.max_per_policy = cfg->max_per_policy > 0 ? cfg->max_per_policy : 10000;
  n->cfg.retry_initial_s = cfg->retry_initial_s > 0 ? cfg->retry_initial_s : 5;
  n->cfg.retry_max_s = cfg->retry_max_s > 0 ? cfg->retry_max_s : 900;
  n->cfg.give_up_s = cfg->give_up_s > 0 ? cfg->give_up_s : 86400;
  n->cfg.ca_file = NULL;
  pthread_mutex_init(&n->lock, NULL);
  int r = -ENOMEM;
  if (cfg->ca_file && access(cfg->ca_file, R_OK) != 0) { /* else every delivery would fail, one by one */
    r = -errno;
    log_error(MOD, "[notifications] ca_file %s cannot be read: %s", cfg->ca_file, strerror(errno));
    goto fail;
  }
  if ((cfg->ca_file && !(n->ca_file = strdup(cfg->ca_file))) || !(n->multi = curl_multi_init()))
    goto fail;
  curl_multi_setopt(n->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)n->cfg.concurrency);
  if ((r = meta_notify_queues(m, load_queue, n)) < 0)
    goto fail;
  n->scanned_ms = time_mono_ms();
  r = -pthread_create(&n->thread, NULL, run, n);
  if (r < 0)
    goto fail;
  *out = n;
  return 0;
fail:
  notify_free(n);
  return r;
}

void notify_stop(struct notify *n)
{
  if (!n)
    return;
  pthread_mutex_lock(&n->lock);
  n->stopping = true;
  pthread_mutex_unlock(&n->lock);
  curl_multi_wakeup(n->multi);
  pthread_join(n->thread, NULL);
  notify_free(n);
}

static bool https_url(const char *url)
{
  CURLU *h = curl_url();
  char *scheme = NULL, *host = NULL;
  bool ok = h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK && !strcmp(scheme, "https") &&
            curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK && *host;
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(h);
  return ok;
}

/* An id that goes into a header as it is: printable ASCII, no spaces. */
static bool good_event_id(const char *id)
{
  size_t len = strlen(id);
  for (size_t i = 0; i < len; i++)
    if (id[i] <= ' ' || id[i] > '~')
      return false;
  return len > 0 && len <= EVENT_ID_MAX;
}

int notify_event(struct notify *n, const char *policy_id, const char *event_id, const char *const *urls, int nurls,
                 const char *event_json)
{
  if (!policy_id || !*policy_id || !event_id || !good_event_id(event_id) || !event_json || nurls < 0)
    return -EINVAL;
  for (int i = 0; i < nurls; i++)
    if (!urls[i] || !https_url(urls[i]))
      return -EINVAL;
  if (nurls == 0)
    return 0;
  /* the queues are made before the commit: nothing may fail after it */
  struct queue **fresh = calloc((size_t)nurls, sizeof *fresh);
  int made = 0;
  while (fresh && made < nurls && (fresh[made] = queue_new(policy_id, urls[made])))
    made++;
  int dropped = 0;
  int r = made < nurls ? -ENOMEM : meta_notify_put(n->m, policy_id, event_id, urls, nurls, event_json, time_now_us(), n->cfg.max_per_policy,
                          &dropped);
  if (r < 0) {
    log_error(MOD, "webhook event %s of policy %s could not be queued (%s)", event_id, policy_id, strerror(-r));
    while (made > 0)
      queue_free(fresh[--made]);
    free(fresh);
    return r;
  }
  if (dropped)
    log_warn(MOD, "policy %s has %d webhook deliveries waiting, the most kept: its %d oldest were dropped",
             policy_id, n->cfg.max_per_policy, dropped);
  pthread_mutex_lock(&n->lock);
  for (int i = 0; i < nurls; i++)
    queue_mark(n, fresh[i]);
  pthread_mutex_unlock(&n->lock);
  free(fresh);
  curl_multi_wakeup(n->multi);
  return 0;
}

bool notify_secret_name(const char *policy_id, char *out, size_t cap)
{
  int w = snprintf(out, cap, "webhook:%s", policy_id);
  for (size_t i = 0; i < cap && out[i]; i++) /* ASCII: the locale must not change a stored name */
    out[i] = (char)(out[i] >= 'A' && out[i] <= 'Z' ? out[i] + 32 : out[i]);
  return w >= 0 && (size_t)w < cap;
}

int notify_forget(struct notify *n, const char *policy_id)
{
  int count = 0;
  int r = meta_notify_forget(n->m, policy_id, &count);
  if (r == 0 && count)
    log_info(MOD, "%d webhook deliveries of policy %s dropped with the policy", count, policy_id);
  return r;
}
