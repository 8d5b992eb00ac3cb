/*
 * log.c — see log.h.  The level is a relaxed atomic so changing it needs no
 * lock; the request id lives in thread-local storage.
 *
 * Messages carry what clients sent (paths, client ids), so the message is
 * escaped here, in the one place every line passes: a CR or LF from a request
 * would otherwise start a forged line, and a quote would end msg="..." early.
 */
#include "common/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level_now = LOG_INFO;
static _Thread_local char log_request_id[64];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level) { atomic_store_explicit(&log_level_now, level, memory_order_relaxed); }

int log_parse_level(const char *s, enum log_level *out)
{
  for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
    if (strcasecmp(s, level_names[i]) == 0) {
      *out = (enum log_level)i;
      return 0;
    }
  }
  return -EINVAL;
}

void log_set_request_id(const char *id)
{
  snprintf(log_request_id, sizeof log_request_id, "%s", id ? id : "");
}

size_t log_escape(const char *in, char *out, size_t size)
{
  static const char hex[] = "0123456789abcdef";
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p && size; p++) {
    char esc[4] = {'\\', 0, 0, 0};
    size_t len = 2;
    if (*p == '"' || *p == '\\')
      esc[1] = (char)*p;
    else if (*p == '\n')
      esc[1] = 'n';
    else if (*p == '\r')
      esc[1] = 'r';
    else if (*p == '\t')
      esc[1] = 't';
    else if (*p < 0x20 || *p == 0x7f)
      esc[1] = 'x', esc[2] = hex[*p >> 4], esc[3] = hex[*p & 15], len = 4;
    else
      esc[0] = (char)*p, len = 1;
    if (n + len >= size) /* an escape is never cut in half */
      break;
    memcpy(out + n, esc, len);
    n += len;
  }
  if (size)
    out[n] = '\0';
  return n;
}

void log_msg(enum log_level level, const char *mod, const char *fmt, ...)
{
  if ((int)level < atomic_load_explicit(&log_level_now, memory_order_relaxed))
    return;
  int saved_errno = errno;
  char line[2048];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s mod=%s ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000, level_names[level], mod);
  if (log_request_id[0] && n < (int)sizeof line)
    n += snprintf(line + n, sizeof line - n, "req=%s ", log_request_id);
  if (n < (int)sizeof line)
    n += snprintf(line + n, sizeof line - n, "msg=\"");
  char msg[sizeof line];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof line - 3)
    n = (int)sizeof line - 3;
  n += (int)log_escape(msg, line + n, sizeof line - 2 - (size_t)n);
  line[n++] = '"';
  line[n++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
  errno = saved_errno;
}
