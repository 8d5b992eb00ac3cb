/*
 * test_notify.c — protection policies' webhooks (src/notify/, the outbox in
 * src/meta/notify.c) against a real local HTTPS receiver
 * (tests/lib/webhook_receiver.py, a certificate from scripts/gen-certs' CA):
 * an event delivered once with the documented headers and a signature the
 * receiver verifies; a receiver answering 500 then 200 (retried, same event
 * id, in order); a receiver down then up; a wrong CA (refused, retried, the
 * error recorded) and the pending row delivered by the next start; no secret
 * (recorded, delivered once one is stored); a receiver that never answers
 * not holding up another policy's events; giving up; the per-policy cap;
 * forgetting a policy; bad input refused with nothing queued; an event
 * queued inside the caller's transaction rolled back with it.
 *
 * Why a unit test beside tests/arm/policy_webhooks.sh: it drives the delivery
 * path with short backoffs and give-up times the daemon's configuration
 * does not take (give_up ≥ 60 s), and cases a daemon cannot stage (a
 * receiver that accepts and never answers).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/timefmt.h"
#include "meta/meta.h"
#include "notify/notify.h"
#include "meta_target.h"
#include "unit.h"

#define P1 "/subscriptions/s1/resourceGroups/G/providers/Microsoft.Vmrp/protectionPolicies/Nightly"
#define P2 "/subscriptions/s1/resourceGroups/G/providers/Microsoft.Vmrp/protectionPolicies/NoSecret"
#define P3 "/subscriptions/s1/resourceGroups/G/providers/Microsoft.Vmrp/protectionPolicies/Slow"
#define SECRET "0123456789abcdef0123456789abcdef-webhook"

static char dir[] = "/tmp/vmrp-unit-notify.XXXXXX";
static char rdir[300], url[128];
static int port;
static pid_t receiver = -1;
static struct meta *m;

static void sh(const char *cmd)
{
  if (system(cmd) != 0)
    fprintf(stderr, "command failed: %s\n", cmd);
}

static bool wait_for(bool (*cond)(void *), void *ctx, int ms)
{
  for (int i = 0; i < ms / 20; i++) {
    if (cond(ctx))
      return true;
    usleep(20000);
  }
  return cond(ctx);
}

/* Starts the receiver (on port, 0: any) and waits for its port file. */
static void receiver_start(int want_port)
{
  char portfile[400], p[16], cert[400], key[400], secret[400];
  snprintf(portfile, sizeof portfile, "%s/port", rdir);
  unlink(portfile);
  snprintf(cert, sizeof cert, "%s/tls/server.pem", dir);
  snprintf(key, sizeof key, "%s/tls/server.key", dir);
  snprintf(secret, sizeof secret, "%s/secret", dir);
  snprintf(p, sizeof p, "%d", want_port);
  char script[512];
  snprintf(script, sizeof script, "%s/tests/lib/webhook_receiver.py", getenv("VMRP_SRC"));
  receiver = fork();
  if (receiver == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    execl("/usr/bin/python3", "python3", script, "--cert", cert, "--key", key, "--secret-file", secret, "--dir",
          rdir, "--port", p, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 250 && access(portfile, R_OK) != 0; i++)
    usleep(20000);
  FILE *f = fopen(portfile, "r");
  if (f) {
    if (fscanf(f, "%d", &port) != 1)
      port = 0;
    fclose(f);
  }
  snprintf(url, sizeof url, "https://127.0.0.1:%d/hooks/vmrp?token=abc", port);
}

static void receiver_stop(void)
{
  if (receiver > 0) {
    kill(receiver, SIGTERM);
    waitpid(receiver, NULL, 0);
  }
  receiver = -1;
}

static void receiver_status(int status)
{
  char path[400];
  snprintf(path, sizeof path, "%s/status", rdir);
  FILE *f = fopen(path, "w");
  if (f) {
    fprintf(f, "%d\n", status);
    fclose(f);
  }
}

/* The receiver's records (a new array). */
static json_t *received(void)
{
  char path[400], line[65536];
  snprintf(path, sizeof path, "%s/events.jsonl", rdir);
  json_t *all = json_array();
  FILE *f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f)) {
    json_t *rec = json_loads(line, 0, NULL);
    if (rec)
      json_array_append_new(all, rec);
  }
  if (f)
    fclose(f);
  return all;
}

/* Records of event id answered with status (0: any). */
static int count_of(const char *id, int status)
{
  json_t *all = received(), *rec;
  size_t i;
  int n = 0;
  json_array_foreach(all, i, rec)
  {
    const char *eid = json_string_value(json_object_get(rec, "eventId"));
    if (eid && !strcmp(eid, id) && (!status || json_integer_value(json_object_get(rec, "status")) == status))
      n++;
  }
  json_decref(all);
  return n;
}

static bool delivered(void *id) { return count_of(id, 200) >= 1; }
static bool refused(void *id) { return count_of(id, 500) >= 1; }

static int pending(const char *policy)
{
  int n = -1;
  meta_notify_count(m, policy, &n);
  return n;
}
static bool none_pending(void *policy) { return pending(policy) == 0; }

/* The head row of (policy, url) failed at least twice. */
struct head_ctx {
  const char *policy, *url;
  int attempts;
};
static bool head_failed(void *ctx)
{
  struct head_ctx *h = ctx;
  struct meta_notify_row row;
  if (meta_notify_head(m, h->policy, h->url, &row) != 0)
    return false;
  bool done = row.attempts >= h->attempts;
  meta_notify_row_clear(&row);
  return done;
}
static char *head_error(const char *policy, const char *u)
{
  struct meta_notify_row row;
  if (meta_notify_head(m, policy, u, &row) != 0)
    return strdup("(no row)");
  char *e = strdup(row.last_error ? row.last_error : "(none)");
  meta_notify_row_clear(&row);
  return e;
}

static int event(struct notify *n, const char *policy, const char *id, const char *u)
{
  char body[512];
  snprintf(body, sizeof body, "{\"id\":\"%s\",\"type\":\"RestorePointFailed\",\"policyId\":\"%s\"}", id, policy);
  const char *urls[] = {u};
  return notify_event(n, policy, id, urls, 1, body);
}

static struct notify_config quick = {.timeout_s = 5, .retry_initial_s = 1, .retry_max_s = 2};

/* A port nothing listens on. */
static int closed_port(void)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  bind(s, (struct sockaddr *)&a, sizeof a);
  getsockname(s, (struct sockaddr *)&a, &len);
  close(s);
  return ntohs(a.sin_port);
}

static void delivery(void **state)
{
  (void)state;
  struct notify *n;
  CHECK(notify_start(m, &(struct notify_config){0}, &n) == 0, "starts with the defaults (the system's CA store)");
  notify_stop(n);
  CHECK(notify_start(m, &(struct notify_config){.ca_file = "/nonexistent/ca.pem"}, &n) == -ENOENT,
        "a CA file that cannot be read is refused at the start");

  char ca[400];
  snprintf(ca, sizeof ca, "%s/tls/ca.pem", dir);
  struct notify_config cfg = quick;
  cfg.ca_file = ca;
  CHECK(notify_start(m, &cfg, &n) == 0, "the delivery thread starts");
  int64_t t0 = time_mono_ms();
  CHECK(event(n, P1, "ev-1", url) == 0, "an event is queued");
  CHECK(time_mono_ms() - t0 < 1000, "notify_event returns at once (%lld ms)", (long long)(time_mono_ms() - t0));
  CHECK(wait_for(delivered, "ev-1", 5000), "the receiver gets it");
  json_t *all = received(), *rec = json_array_get(all, 0);
  CHECK(json_is_true(json_object_get(rec, "signatureValid")), "its x-vmrp-signature verifies with the secret");
  CHECK(json_real_value(json_object_get(rec, "age")) < 5, "signed at the attempt's time");
  CHECK(!strcmp(json_string_value(json_object_get(rec, "contentType")) ?: "", "application/json"),
        "Content-Type: application/json");
  CHECK(!strcmp(json_string_value(json_object_get(json_object_get(rec, "body"), "id")) ?: "", "ev-1"),
        "the body is the event as given");
  CHECK(!strcmp(json_string_value(json_object_get(rec, "path")) ?: "", "/hooks/vmrp?token=abc"),
        "to the URL's path and query");
  json_decref(all);
  CHECK(wait_for(none_pending, P1, 2000), "the delivered row is deleted");
  usleep(300000);
  CHECK(count_of("ev-1", 0) == 1, "delivered once");

  /* 500 then 200: retried with the same id, in order */
  receiver_status(500);
  CHECK(event(n, P1, "ev-2a", url) == 0 && event(n, P1, "ev-2b", url) == 0 && event(n, P1, "ev-2c", url) == 0,
        "three events while the receiver answers 500");
  CHECK(wait_for(refused, "ev-2a", 5000), "the first is refused");
  struct head_ctx h = {P1, url, 2};
  CHECK(wait_for(head_failed, &h, 8000), "and retried (backoff 1 s, then 2 s)");
  CHECK(count_of("ev-2b", 0) == 0, "the queue waits behind its head: the second was not sent");
  char *e = head_error(P1, url);
  CHECK(strstr(e, "HTTP 500") && strstr(e, "receiver says no"), "the error is recorded (%s)", e);
  free(e);
  receiver_status(200);
  CHECK(wait_for(delivered, "ev-2c", 8000), "once it answers 200 all three arrive");
  all = received();
  size_t i;
  int order = 0;
  bool valid = true;
  json_array_foreach(all, i, rec)
  {
    const char *id = json_string_value(json_object_get(rec, "eventId"));
    valid = valid && json_is_true(json_object_get(rec, "signatureValid"));
    if (json_integer_value(json_object_get(rec, "status")) == 200 && id && !strncmp(id, "ev-2", 4))
      order = order * 10 + (id[4] - 'a' + 1);
  }
  json_decref(all);
  CHECK(order == 123, "in the order they were queued (%d)", order);
  CHECK(valid, "every attempt's signature verifies");
  CHECK(count_of("ev-2a", 500) >= 2 && count_of("ev-2a", 200) == 1, "the refused one was retried under its id");
  CHECK(wait_for(none_pending, P1, 2000), "their rows are deleted");

  /* receiver down, then up */
  int was = port;
  receiver_stop();
  CHECK(event(n, P1, "ev-3", url) == 0, "an event while the receiver is down");
  h.attempts = 1;
  CHECK(wait_for(head_failed, &h, 5000), "its attempt fails");
  e = head_error(P1, url);
  CHECK(strstr(e, "onnect") != NULL, "a connection error is recorded (%s)", e);
  free(e);
  receiver_start(was);
  CHECK(port == was, "the receiver is back on its port");
  CHECK(wait_for(delivered, "ev-3", 8000), "the retry delivers it");
  CHECK(wait_for(none_pending, P1, 2000), "and its row is deleted");
  notify_stop(n);
}

static void wrong_ca_then_restart(void **state)
{
  (void)state;
  char ca[400];
  snprintf(ca, sizeof ca, "%s/other/ca.pem", dir);
  struct notify_config cfg = quick;
  cfg.ca_file = ca;
  struct notify *n;
  CHECK(notify_start(m, &cfg, &n) == 0, "a thread that trusts another CA");
  CHECK(event(n, P1, "ev-4", url) == 0, "an event");
  struct head_ctx h = {P1, url, 2};
  CHECK(wait_for(head_failed, &h, 8000), "refused and retried");
  char *e = head_error(P1, url);
  CHECK(strstr(e, "certificate") != NULL, "the certificate error is recorded (%s)", e);
  free(e);
  CHECK(count_of("ev-4", 0) == 0, "nothing reached the receiver");
  notify_stop(n);
  CHECK(pending(P1) == 1, "the row outlives the thread");

  snprintf(ca, sizeof ca, "%s/tls/ca.pem", dir);
  CHECK(notify_start(m, &cfg, &n) == 0, "started again, with the right CA");
  CHECK(wait_for(delivered, "ev-4", 5000), "the pending event is delivered");
  CHECK(wait_for(none_pending, P1, 2000), "and its row deleted");

  /* no secret: recorded, then delivered once one is stored */
  CHECK(event(n, P2, "ev-5", url) == 0, "an event of a policy with no secret");
  h = (struct head_ctx){P2, url, 1};
  CHECK(wait_for(head_failed, &h, 5000), "is not sent");
  e = head_error(P2, url);
  CHECK(strstr(e, "no webhook secret") != NULL, "why is recorded (%s)", e);
  free(e);
  CHECK(count_of("ev-5", 0) == 0, "nothing reached the receiver");
  CHECK(meta_secret_put(m, "webhook:/subscriptions/s1/resourcegroups/g/providers/microsoft.vmrp/"
                           "protectionpolicies/nosecret", (const unsigned char *)SECRET, strlen(SECRET), 1) == 0,
        "a secret is stored");
  CHECK(wait_for(delivered, "ev-5", 5000), "the next attempt delivers it");

  /* a receiver that never answers does not hold up another policy */
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  bind(s, (struct sockaddr *)&a, sizeof a);
  listen(s, 16); /* connections complete in the backlog; nothing is ever read */
  getsockname(s, (struct sockaddr *)&a, &len);
  char slow[128];
  snprintf(slow, sizeof slow, "https://127.0.0.1:%d/", ntohs(a.sin_port));
  meta_secret_put(m, "webhook:/subscriptions/s1/resourcegroups/g/providers/microsoft.vmrp/protectionpolicies/slow",
                  (const unsigned char *)SECRET, strlen(SECRET), 1);
  CHECK(event(n, P3, "ev-slow-1", slow) == 0 && event(n, P3, "ev-slow-2", slow) == 0, "two events to a silent receiver");
  usleep(200000);
  int64_t t0 = time_mono_ms();
  CHECK(event(n, P1, "ev-6", url) == 0, "then one to a live receiver");
  CHECK(wait_for(delivered, "ev-6", 3000), "delivered while the silent one hangs (%lld ms)",
        (long long)(time_mono_ms() - t0));
  h = (struct head_ctx){P3, slow, 1};
  CHECK(wait_for(head_failed, &h, 8000), "the silent receiver's attempt times out");
  e = head_error(P3, slow);
  CHECK(strstr(e, "imeout") || strstr(e, "timed out"), "as a timeout (%s)", e);
  free(e);
  CHECK(notify_forget(n, P3) == 0 && pending(P3) == 0, "forgetting a policy drops its rows");
  notify_stop(n);

  /* every slot taken by the silent receiver: the others wait without spinning */
  cfg.concurrency = 1;
  cfg.timeout_s = 3;
  CHECK(notify_start(m, &cfg, &n) == 0, "a thread with one attempt in flight at most");
  CHECK(event(n, P3, "ev-slow-3", slow) == 0, "an event to the silent receiver");
  usleep(200000);
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  t0 = time_mono_ms();
  CHECK(event(n, P1, "ev-11", url) == 0, "then one to a live receiver");
  CHECK(wait_for(delivered, "ev-11", 6000), "delivered once the silent one's attempt timed out (%lld ms)",
        (long long)(time_mono_ms() - t0));
  getrusage(RUSAGE_SELF, &r1);
  double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
               (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
  CHECK(cpu < 0.5, "without spinning meanwhile (%.2f s of CPU)", cpu);
  CHECK(notify_forget(n, P3) == 0, "the silent receiver's policy is forgotten");
  close(s);
  notify_stop(n);
}

static void give_up_cap_bad_input(void **state)
{
  (void)state;
  char ca[400], dead[128];
  snprintf(ca, sizeof ca, "%s/tls/ca.pem", dir);
  snprintf(dead, sizeof dead, "https://127.0.0.1:%d/", closed_port());
  struct notify_config cfg = quick;
  cfg.ca_file = ca;
  cfg.give_up_s = 2;
  struct notify *n;
  CHECK(notify_start(m, &cfg, &n) == 0, "a thread that gives up after 2 s");
  CHECK(event(n, P1, "ev-7a", dead) == 0 && event(n, P1, "ev-7b", dead) == 0 && event(n, P1, "ev-7c", dead) == 0,
        "three events to a dead receiver");
  CHECK(wait_for(none_pending, P1, 6000), "are given up: their rows are gone");
  notify_stop(n);

  cfg = quick;
  cfg.ca_file = ca;
  cfg.retry_initial_s = 60;
  cfg.max_per_policy = 3;
  CHECK(notify_start(m, &cfg, &n) == 0, "a thread keeping 3 rows per policy");
  char id[16];
  int ok = 0;
  for (char c = 'a'; c <= 'e'; c++) {
    snprintf(id, sizeof id, "ev-8%c", c);
    ok += event(n, P1, id, dead) == 0;
  }
  CHECK(ok == 5 && pending(P1) == 3, "five queued, three kept (%d)", pending(P1));
  struct meta_notify_row row;
  CHECK(meta_notify_head(m, P1, dead, &row) == 0 && !strcmp(row.event_id, "ev-8c"), "the oldest were dropped");
  meta_notify_row_clear(&row);

  int before = pending(NULL);
  const char *https[] = {url}, *plain[] = {"http://127.0.0.1:1/"}, *ftp[] = {"ftp://127.0.0.1/"},
             *nohost[] = {"https://:443/x"}, *junk[] = {"not a url"};
  CHECK(notify_event(n, P1, "ev-9", plain, 1, "{}") == -EINVAL, "http:// is refused");
  CHECK(notify_event(n, P1, "ev-9", ftp, 1, "{}") == -EINVAL, "ftp:// is refused");
  CHECK(notify_event(n, P1, "ev-9", nohost, 1, "{}") == -EINVAL, "a URL without a host is refused");
  CHECK(notify_event(n, P1, "ev-9", junk, 1, "{}") == -EINVAL, "junk is refused");
  CHECK(notify_event(n, P1, "ev 9", https, 1, "{}") == -EINVAL, "an event id with a space is refused");
  CHECK(notify_event(n, P1, "ev9\r\nx-evil: 1", https, 1, "{}") == -EINVAL, "an event id with CR LF is refused");
  CHECK(notify_event(n, P1, "", https, 1, "{}") == -EINVAL, "an empty event id is refused");
  char longid[200];
  memset(longid, 'x', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  CHECK(notify_event(n, P1, longid, https, 1, "{}") == -EINVAL, "an event id of 199 bytes is refused");
  const char *mixed[] = {url, "http://127.0.0.1:1/"};
  CHECK(notify_event(n, P1, "ev-9", mixed, 2, "{}") == -EINVAL, "one bad URL among good ones refuses all");
  CHECK(pending(NULL) == before, "nothing was queued");
  CHECK(meta_begin(m) == 0 && event(n, P1, "ev-10", url) == 0, "an event inside the caller's transaction");
  meta_rollback(m);
  CHECK(pending(NULL) == before, "rolls back with it");
  notify_stop(n);
}

int main(void)
{
  if (!mkdtemp(dir))
    return 1;
  char path[400];
  snprintf(path, sizeof path, "\"$VMRP_SRC/scripts/gen-certs\" %s/tls", dir);
  sh(path);
  snprintf(path, sizeof path, "\"$VMRP_SRC/scripts/gen-certs\" %s/other", dir);
  sh(path);
  snprintf(path, sizeof path, "%s/secret", dir);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(SECRET, f);
    fclose(f);
  }
  snprintf(rdir, sizeof rdir, "%s/receiver", dir);
  mkdir(rdir, 0700);
  receiver_start(0);
  meta_target(path, sizeof path, dir, "meta");
  int rc = 1;
  if (meta_open(path, &m) == 0 &&
      meta_secret_put(m, "webhook:/subscriptions/s1/resourcegroups/g/providers/microsoft.vmrp/protectionpolicies/nightly",
                      (const unsigned char *)SECRET, strlen(SECRET), 1) == 0) {
    const struct CMUnitTest tests[] = {UNIT_TEST(delivery), UNIT_TEST(wrong_ca_then_restart),
                                       UNIT_TEST(give_up_cap_bad_input)};
    rc = cmocka_run_group_tests(tests, NULL, NULL);
  }
  receiver_stop();
  meta_close(m);
  snprintf(path, sizeof path, "rm -rf %s", dir);
  sh(path);
  return unit_finish(rc);
}
