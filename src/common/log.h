/*
 * log.h — structured logging.
 *
 * One line per event on stderr: time, level, module, optional request id, then
 * the message, as `ts=... level=info mod=http req=<id> msg="..."`.  Lines are
 * written with a single write(2), so lines from different threads never
 * interleave.  The request id is thread-local: the HTTP front end sets it for
 * the duration of a request so every line logged on its behalf carries it.
 * The message is escaped (log_escape), so text from a request cannot forge a
 * line or a key.  Thread-safe.
 */
#pragma once
#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* Parses "debug|info|warn|error"; returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
/* Thread-local request id ("" clears it); the string is copied. */
void log_set_request_id(const char *id);

/* Copies in to out (size bytes, NUL-terminated) with '"' and '\\' escaped by
 * a backslash, CR, LF and tab as \r \n \t and other control bytes as \xNN;
 * cuts at a whole character.  Returns the length written. */
size_t log_escape(const char *in, char *out, size_t size);

void log_msg(enum log_level level, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)
