/*
 * agent.c — the qemu-ga client: framing, synchronisation and commands.
 *
 * The channel is a byte stream with no framing of its own; qemu-ga reads
 * JSON objects from it and writes one JSON reply per command.  A reply left
 * over from an earlier client (or from a command that timed out) can still
 * be in the stream, and the guest side may hold half a command, so every
 * connection starts with guest-sync-delimited: a 0xFF byte (the agent drops
 * its parser state when it reads one) and the command with a random id.  The
 * agent answers 0xFF followed by {"return": id}; everything before a 0xFF,
 * and any reply not carrying our id, is skipped.  From then on replies come
 * in command order.
 *
 * Replies are parsed with jansson straight from the receive buffer
 * (JSON_DISABLE_EOF_CHECK tells how many bytes one value took), so no framing
 * is hand-written beyond "skip to the 0xFF".  The socket is non-blocking and
 * every wait is a poll() against the call's deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/random.h"

#define REPLY_MAX (1 << 20) /* guest-info lists every command: a few KiB */

struct agent {
  int fd;
  bool broken;
  char *buf;
  size_t len, cap;
  char error[256];
};

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 3, 4))) static int fail(struct agent *a, int rc, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->error, sizeof a->error, fmt, ap);
  va_end(ap);
  if (rc != -EREMOTEIO)
    a->broken = true; /* the stream's position is unknown from here */
  return rc;
}

const char *agent_error(const struct agent *a) { return a->error; }

/* Waits for events on the socket until deadline: 0, or -ETIMEDOUT. */
static int wait_fd(struct agent *a, short events, int64_t deadline)
{
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0)
      return -ETIMEDOUT;
    struct pollfd p = {.fd = a->fd, .events = events};
    int n = poll(&p, 1, (int)left);
    if (n > 0)
      return 0;
    if (n < 0 && errno != EINTR)
      return -errno;
  }
}

static int send_all(struct agent *a, const char *data, size_t len, int64_t deadline)
{
  while (len > 0) {
    ssize_t n = send(a->fd, data, len, MSG_NOSIGNAL);
    if (n > 0) {
      data += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno != EAGAIN)
      return fail(a, -errno, "sending to the guest agent failed: %s", strerror(errno));
    int rc = wait_fd(a, POLLOUT, deadline);
    if (rc < 0)
      return fail(a, rc, "the guest agent did not take the command in time");
  }
  return 0;
}

/* Appends what the socket has to the buffer, waiting until deadline. */
static int receive(struct agent *a, int64_t deadline)
{
  if (a->len == a->cap) {
    if (a->cap >= REPLY_MAX)
      return fail(a, -EPROTO, "the guest agent sent more than %d bytes without a reply", REPLY_MAX);
    size_t cap = a->cap ? a->cap * 2 : 4096;
    char *b = realloc(a->buf, cap);
    if (!b)
      return fail(a, -ENOMEM, "out of memory");
    a->buf = b;
    a->cap = cap;
  }
  for (;;) {
    ssize_t n = recv(a->fd, a->buf + a->len, a->cap - a->len, 0);
    if (n > 0) {
      a->len += (size_t)n;
      return 0;
    }
    if (n == 0)
      return fail(a, -ECONNRESET, "the guest agent closed the connection");
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN)
      return fail(a, -errno, "reading from the guest agent failed: %s", strerror(errno));
    int rc = wait_fd(a, POLLIN, deadline);
    if (rc < 0)
      return fail(a, rc, "the guest agent did not answer in time");
  }
}

static void consume(struct agent *a, size_t n)
{
  if (n == 0)
    return;
  memmove(a->buf, a->buf + n, a->len - n);
  a->len -= n;
}

/* The next JSON value in the stream (whitespace before it skipped). */
static int next_value(struct agent *a, int64_t deadline, json_t **out)
{
  for (;;) {
    size_t skip = 0;
    while (skip < a->len && (a->buf[skip] == ' ' || a->buf[skip] == '\n' || a->buf[skip] == '\r' ||
                             a->buf[skip] == '\t'))
      skip++;
    consume(a, skip);
    if (a->len > 0) {
      json_error_t err;
      json_t *v = json_loadb(a->buf, a->len, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &err);
      if (v) {
        consume(a, (size_t)err.position);
        *out = v;
        return 0;
      }
      /* Judged once its line is in (replies end in "\n"): a read may cut a token, "tr|ue". */
      if (json_error_code(&err) != json_error_premature_end_of_input && memchr(a->buf, '\n', a->len))
        return fail(a, -EPROTO, "the guest agent's answer is not JSON: %s", err.text);
    }
    int rc = receive(a, deadline);
    if (rc < 0)
      return rc;
  }
}

/* Skips the stream up to and including the next 0xFF. */
static int skip_to_delimiter(struct agent *a, int64_t deadline)
{
  for (;;) {
    char *ff = a->len ? memchr(a->buf, 0xff, a->len) : NULL;
    if (ff) {
      consume(a, (size_t)(ff - a->buf) + 1);
      return 0;
    }
    a->len = 0;
    int rc = receive(a, deadline);
    if (rc < 0)
      return rc;
  }
}

static int sync_stream(struct agent *a, int timeout_ms)
{
  int64_t deadline = now_ms() + timeout_ms;
  uint32_t id;
  if (random_bytes(&id, sizeof id) < 0)
    id = (uint32_t)now_ms();
  id &= 0x7fffffff; /* a JSON integer every parser agrees on */
  char cmd[128];
  int n = snprintf(cmd, sizeof cmd, "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%u}}\n", id);
  int rc = send_all(a, cmd, (size_t)n, deadline);
  while (rc == 0) {
    rc = skip_to_delimiter(a, deadline);
    json_t *v = NULL;
    if (rc == 0)
      rc = next_value(a, deadline, &v);
    if (rc == -EPROTO) {
      a->broken = false; /* garbage after a 0xFF: look for the next one */
      rc = 0;
      continue;
    }
    json_t *ret = json_object_get(v, "return");
    bool ours = json_is_integer(ret) && json_integer_value(ret) == (json_int_t)id;
    json_decref(v);
    if (rc == 0 && ours) {
      a->error[0] = '\0'; /* what resynchronisation skipped is no failure */
      return 0;
    }
  }
  return rc;
}

int agent_open(const char *socket_path, int timeout_ms, struct agent **out)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof sa.sun_path)
    return -ENAMETOOLONG;
  memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
  struct agent *a = calloc(1, sizeof *a);
  if (!a)
    return -ENOMEM;
  int64_t deadline = now_ms() + timeout_ms;
  a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int rc = a->fd < 0 ? -errno : 0;
  /* A unix listener whose backlog is full (QEMU serving another client, more
   * waiting) refuses with EAGAIN, and nothing is in progress: try again. */
  while (rc == 0 && connect(a->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    if (errno != EAGAIN)
      rc = -errno;
    else if (now_ms() >= deadline)
      rc = -ETIMEDOUT;
    else
      poll(NULL, 0, 10);
  }
  if (rc == 0)
    rc = sync_stream(a, (int)(deadline - now_ms()));
  if (rc < 0) {
    agent_close(a);
    return rc;
  }
  *out = a;
  return 0;
}

void agent_close(struct agent *a)
{
  if (!a)
    return;
  if (a->fd >= 0)
    close(a->fd);
  free(a->buf);
  free(a);
}

/* Sends {"execute": cmd} and returns its "return" value (*ret, the caller's)
 * or -EREMOTEIO with the agent's error description. */
static int execute(struct agent *a, const char *cmd, int timeout_ms, json_t **ret)
{
  if (a->broken)
    return -EPIPE;
  a->error[0] = '\0';
  int64_t deadline = now_ms() + timeout_ms;
  char line[128];
  int n = snprintf(line, sizeof line, "{\"execute\":\"%s\"}\n", cmd);
  int rc = send_all(a, line, (size_t)n, deadline);
  json_t *v = NULL;
  if (rc == 0)
    rc = next_value(a, deadline, &v);
  if (rc < 0)
    return rc;
  json_t *err = json_object_get(v, "error");
  json_t *r = json_object_get(v, "return");
  if (err) {
    const char *desc = json_string_value(json_object_get(err, "desc"));
    const char *cls = json_string_value(json_object_get(err, "class"));
    rc = fail(a, -EREMOTEIO, "%s: %s", cls ? cls : "Error", desc ? desc : "(no description)");
  } else if (!r) {
    rc = fail(a, -EPROTO, "the guest agent's answer to %s has neither return nor error", cmd);
  } else if (ret) {
    *ret = json_incref(r);
  }
  json_decref(v);
  return rc;
}

int agent_ping(struct agent *a, int timeout_ms) { return execute(a, "guest-ping", timeout_ms, NULL); }

int agent_info(struct agent *a, int timeout_ms, struct agent_info *out)
{
  memset(out, 0, sizeof *out);
  json_t *r = NULL;
  int rc = execute(a, "guest-info", timeout_ms, &r);
  if (rc < 0)
    return rc;
  const char *v = json_string_value(json_object_get(r, "version"));
  snprintf(out->version, sizeof out->version, "%s", v ? v : "");
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(r, "supported_commands"), i, c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    if (name && !strcmp(name, "guest-fsfreeze-freeze"))
      out->can_freeze = json_is_true(json_object_get(c, "enabled"));
  }
  json_decref(r);
  return 0;
}

int agent_fsfreeze_status(struct agent *a, int timeout_ms, bool *frozen)
{
  json_t *r = NULL;
  int rc = execute(a, "guest-fsfreeze-status", timeout_ms, &r);
  if (rc == 0 && !json_is_string(r))
    rc = fail(a, -EPROTO, "guest-fsfreeze-status did not return a status");
  if (rc == 0)
    *frozen = !strcmp(json_string_value(r), "frozen");
  json_decref(r);
  return rc;
}

static int count_command(struct agent *a, const char *cmd, int timeout_ms, int *count)
{
  json_t *r = NULL;
  int rc = execute(a, cmd, timeout_ms, &r);
  if (rc == 0 && !json_is_integer(r))
    rc = fail(a, -EPROTO, "%s did not return a count", cmd);
  if (rc == 0)
    *count = (int)json_integer_value(r);
  json_decref(r);
  return rc;
}

int agent_fsfreeze_freeze(struct agent *a, int timeout_ms, int *count)
{
  return count_command(a, "guest-fsfreeze-freeze", timeout_ms, count);
}

int agent_fsfreeze_thaw(struct agent *a, int timeout_ms, int *count)
{
  return count_command(a, "guest-fsfreeze-thaw", timeout_ms, count);
}
