/*
 * timefmt.h — wall-clock time in the formats ARM and HTTP use.
 * All functions are thread-safe and write into caller-provided buffers.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TIME_ISO_LEN 64

/* Microseconds since the epoch. */
int64_t time_now_us(void);
/* ISO-8601 UTC with 7 fractional digits, as ARM writes it: 2024-05-01T10:00:00.1234567+00:00 */
void time_iso8601(int64_t us, char out[TIME_ISO_LEN]);
/* RFC 1123 as HTTP dates are written: Tue, 03 Dec 2026 10:00:00 GMT */
void time_rfc1123(int64_t us, char out[TIME_ISO_LEN]);
/* Parses an RFC 1123 date into microseconds; -1 when malformed. */
int64_t time_parse_rfc1123(const char *s);
/* Monotonic milliseconds, for timeouts and durations. */
int64_t time_mono_ms(void);
