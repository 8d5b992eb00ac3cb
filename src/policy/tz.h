/*
 * tz.h — IANA time zones (the TZif files of Debian's tzdata under
 * /usr/share/zoneinfo), for schedules and retention buckets in a policy's
 * own zone.  glibc converts only in the process-wide TZ, which a
 * multi-threaded service cannot switch per call; a struct tz is a zone
 * loaded once and converted from any thread.
 *
 * Names are checked before any file is opened (A-Z a-z 0-9 / _ - +, no "..",
 * no leading '/'): a request's zone name never reaches the file system as
 * anything else.  "UTC" (and "Etc/UTC") need no file.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct tz;

/* Loads zone name (e.g. "Europe/Berlin").  0, -EINVAL (not a valid name),
 * -ENOENT (no such zone), -EBADMSG (not a TZif file), -ENOMEM. */
int tz_load(const char *name, struct tz **out);
/* A zone of one fixed offset (seconds east of UTC, |offset| < 26 h), named
 * "+01:00": the calendar of a schedule written with an explicit offset.
 * 0, -EINVAL, -ENOMEM. */
int tz_fixed(int32_t offset_s, struct tz **out);
/* Reads TZif bytes (RFC 8536 versions 1 to 4) as zone name, which is not
 * checked: tz_load's reader, for the tests' own and damaged files.
 * 0, -EBADMSG, -ENOMEM. */
int tz_parse(const char *name, const void *buf, size_t len, struct tz **out);
void tz_free(struct tz *z);
const char *tz_name(const struct tz *z);

/* The broken-down local time of the UTC instant t (tm_gmtoff and tm_isdst
 * set, tm_wday and tm_yday too; tm_zone points into z).  t is clamped to
 * ±2^50 s (±35 million years).  Immutable zones: any thread, no lock. */
void tz_local(const struct tz *z, int64_t t, struct tm *out);
/* The UTC instant of a local wall time (tm_year..tm_sec; the rest ignored;
 * out-of-range fields carry over as mktime's do: tm_mon 12 is January of
 * the next year, tm_mday 0 the previous month's last day).
 * A time skipped by a forward change is moved forward by the gap (02:30 on
 * the spring-forward day is 03:30); a repeated one is its first
 * occurrence. */
int64_t tz_utc(const struct tz *z, const struct tm *local);
/* The wall time as seconds since 1970-01-01T00:00 of the same wall clock
 * (timegm's answer, carries as tz_utc's, no zone involved). */
int64_t tz_wall_seconds(const struct tm *wall);
/* Whether z's UT offset is the same at every instant of [from, to] (then
 * in *off): lets a caller converting many wall times of one day skip
 * tz_utc.  May answer false for a span with a change that keeps the
 * offset (an abbreviation's). */
bool tz_offset_constant(const struct tz *z, int64_t from, int64_t to, int32_t *off);
