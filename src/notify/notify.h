/*
 * notify.h — protection policies' webhooks: a durable outbox in the metadata
 * store and one delivery thread that POSTs each event over HTTPS, signed with
 * the policy's secret, retried with backoff until a receiver answers 2xx.
 *
 * Why an outbox: the scheduler must never wait on a receiver (a dead one
 * would hold a slot for its timeouts), and an event must survive a restart
 * or a kill -9 between the failure it reports and its delivery.  So
 * notify_event only writes rows — one per URL, in one transaction, durable
 * when it returns — and wakes the delivery thread; the network is touched by
 * that thread alone.  A row is deleted when its receiver answered 2xx, or
 * given up (logged) after cfg->give_up_s.
 *
 * Delivery is at least once: a receiver may see an event again (its 2xx was
 * lost, or the process died after the POST and before the row's delete).
 * Every attempt carries the same `x-vmrp-event-id` (the event_id given
 * here), by which receivers deduplicate.  A caller that may emit the same
 * event twice (after a restart) should derive event_id from what the event
 * is about (policy, VM, slot, type), so the copies share it.
 *
 * The wire: `POST url`, body = event_json verbatim, headers
 *   Content-Type: application/json
 *   x-vmrp-event-id: <event_id>
 *   x-vmrp-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 * t is the attempt's time (each attempt is signed afresh, so receivers may
 * refuse old timestamps).  The secret is read at each attempt with
 * meta_secret_get("webhook:<lower-case policy id>"): the bytes stored are
 * the HMAC key as they are (the policy's `notifications.secret` string).
 * https:// only; the server certificate is verified against cfg->ca_file or
 * the system's store; redirects are not followed.
 *
 * Ordering and fairness: each (policy, URL) pair is a queue delivered in
 * order, one attempt in flight at a time; a failure backs that queue off
 * (retry_initial_s doubling to retry_max_s) without delaying other queues.
 * At most cfg->concurrency attempts run at once, all on the one thread
 * (libcurl's multi interface), each bounded by cfg->timeout_s.
 *
 * Memory and disk: at most cfg->max_per_policy rows per policy; beyond it
 * the oldest are dropped (logged).  The thread keeps one small record per
 * queue, never the rows.
 *
 * Layer: below arm/ (which builds the event JSON); uses common/ and meta/,
 * libcurl and OpenSSL.  Thread-safe: notify_event and notify_forget may be
 * called from any thread.  Errors are 0 or -errno.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct meta;

struct notify_config {
  const char *ca_file;   /* CA bundle receivers' certificates are verified against; NULL: the system's */
  int timeout_s;         /* connect + whole exchange of one attempt; 0: 10 */
  int concurrency;       /* attempts in flight at once; 0: 4 */
  int max_per_policy;    /* outbox rows kept per policy; 0: 10000 */
  int retry_initial_s;   /* first backoff after a failed attempt; 0: 5 */
  int retry_max_s;       /* backoff cap; 0: 900 */
  int give_up_s;         /* an event not delivered this long after it was queued is dropped; 0: 86400 */
};

struct notify;

/* Starts the delivery thread over m's outbox (rows a previous process left
 * are delivered first, in order).  cfg is copied (ca_file too).  0 or
 * -ENOMEM, -EIO; -errno of access(2) when ca_file cannot be read (logged). */
int notify_start(struct meta *m, const struct notify_config *cfg, struct notify **out);
/* Stops the thread (attempts in flight are abandoned: their rows stay and
 * are retried by the next process) and frees n.  NULL is a no-op. */
void notify_stop(struct notify *n);

/* Queues event_json (a complete JSON object, sent as it is) for each of
 * urls[0..nurls) of policy_id, durably, and returns without touching the
 * network.  Called inside the caller's meta transaction, the rows commit
 * (or roll back) with it, and their delivery may start up to a minute after
 * the commit.  event_id: the event's stable id (the JSON's "id"; at most 128
 * bytes).  -EINVAL: a URL that is not https://, an empty id; -ENOSPC, -EIO
 * from the store (nothing queued). */
int notify_event(struct notify *n, const char *policy_id, const char *event_id, const char *const *urls, int nurls,
                 const char *event_json);

/* Drops every queued event of policy_id (the policy was deleted: its secret
 * goes with it, so they could not be signed).  0, -EIO. */
int notify_forget(struct notify *n, const char *policy_id);

/* The meta secret name of policy_id's signing key, "webhook:<policy id in
 * lower case>", into out: the one spelling arm/ stores the secret under and
 * the delivery thread reads it by.  false when cap is too small (out is
 * truncated). */
bool notify_secret_name(const char *policy_id, char *out, size_t cap);
