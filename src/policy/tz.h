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
#include <stdint.h>
#include <time.h>

struct tz;

/* Loads zone name (e.g. "Europe/Berlin").  0, -EINVAL (not a valid name),
 * -ENOENT (no such zone), -EBADMSG (not a TZif file), -ENOMEM. */
int tz_load(const char *name, struct tz **out);
void tz_free(struct tz *z);
const char *tz_name(const struct tz *z);

/* The broken-down local time of the UTC instant t (tm_gmtoff and tm_isdst
 * set, tm_wday and tm_yday too). */
void tz_local(const struct tz *z, int64_t t, struct tm *out);
/* The UTC instant of a local wall time (tm_year..tm_sec; the rest ignored).
 * A time skipped by a forward change is moved forward by the gap (02:30 on
 * the spring-forward day is 03:30); a repeated one is its first
 * occurrence. */
int64_t tz_utc(const struct tz *z, const struct tm *local);
