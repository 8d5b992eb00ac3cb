/*
 * tz.c — IANA time zones from the TZif files of tzdata (RFC 8536), converted
 * without glibc's process-wide TZ so any thread can use any zone.
 *
 * A struct tz is immutable once loaded: the transition instants (ascending),
 * each transition's time type, the types (UT offset, DST flag,
 * abbreviation) and, from the footer of a version 2+ file, the POSIX TZ
 * rule ("CET-1CEST,M3.5.0,M10.5.0/3") that governs every instant at or after
 * the last transition.  Debian ships "fat" files whose tables reach 2037 and
 * may ship "slim" ones whose tables stop at the zone's last rule change, so
 * the rule is not an afterthought: for most zones it decides every slot a
 * policy takes after 2037 or after its last table entry.
 *
 * What this reader trusts: nothing.  A zone name is checked before it
 * reaches the file system (tz.h); every count, index, offset and the
 * footer of the file are checked before use; transitions must ascend.
 * Files with leap-second records ("right/…") are refused: slots are POSIX
 * seconds, and a zone that counts leap seconds would shift every one.
 *
 * Lookups: an instant before the first transition has type 0 (RFC 8536
 * 3.2); one at or after the last uses the rule (as glibc does), or the last
 * type when the footer is empty or the file is version 1.  The rule is
 * evaluated per year: the year of the instant in local standard time picks
 * the year's start and end of DST (Mm.w.d, Jn, n with their times, which
 * RFC 8536 lets run from -167 to 167 hours), and a start later in the year
 * than the end (the southern hemisphere) means DST outside [end, start).
 *
 * tz_utc resolves a wall time by walking the segments of constant offset
 * that can hold it (offsets are below 26 hours, so those starting 27 hours
 * before it): the first segment whose offset maps the wall time inside
 * itself gives the first occurrence of a repeated time; a wall time that
 * falls between two segments (skipped by a forward change) is read with the
 * offset before the change, which lands it after the change moved forward
 * by the gap — 02:30 on a spring-forward night in Berlin is 03:30 CEST.
 *
 * Instants are clamped to ±2^50 seconds (±35 million years), which keeps
 * every sum below int64's range; callers use years 1..9999.
 */
#include "policy/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "policy/calendar.h"

#define TZ_DIR "/usr/share/zoneinfo/"
#define TZ_NAME_MAX 64
#define TZ_FILE_MAX (1 << 20)       /* real zone files are under 5 KiB */
#define TZ_MAX_TIMES 100000
#define TZ_MAX_TYPES 256
#define TZ_MAX_CHARS 1024
#define TZ_MAX_OFFSET (26 * 3600)   /* |UT offset| below this, so tz_utc's window holds */
#define TZ_CLAMP ((int64_t)1 << 50)

struct tz_type {
  int32_t off;                      /* seconds east of UTC */
  bool dst;
  const char *abbr;                 /* into tz->chars or the rule's names */
};

/* One end of DST in a POSIX TZ rule. */
struct tz_date {
  char kind;                        /* 'J' Julian 1..365 without Feb 29, 'D' 0..365, 'M' Mm.w.d */
  int n, m, w, d;
  int32_t secs;                     /* local time of day of the change, -167h..167h */
};

struct tz_rule {
  struct tz_type std, dst;
  bool has_dst;
  struct tz_date start, end;
  char std_abbr[16], dst_abbr[16];
};

struct tz {
  char name[TZ_NAME_MAX + 1];
  int64_t *at;                      /* transition instants, ascending */
  uint8_t *idx;                     /* the type from each transition on */
  size_t nat;
  struct tz_type *types;
  int ntypes;
  char *chars;                      /* the abbreviations, NUL-terminated each */
  bool has_rule;
  struct tz_rule rule;
  char fixed_abbr[12];              /* a tz_fixed zone's "+01:00" */
};

/* ---- the civil calendar (proleptic Gregorian, days since 1970-01-01) ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = floor_div(y, 400);
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
  z += 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int64_t clamp_t(int64_t t)
{
  return t < -TZ_CLAMP ? -TZ_CLAMP : t > TZ_CLAMP ? TZ_CLAMP : t;
}

/* ---- the POSIX TZ rule of the footer ---- */

static const char *parse_abbr(const char *p, char *out, size_t outlen)
{
  size_t n = 0;
  if (*p == '<') {
    p++;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '+' ||
           *p == '-') {
      if (n + 1 >= outlen)
        return NULL;
      out[n++] = *p++;
    }
    if (*p++ != '>')
      return NULL;
  } else {
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
      if (n + 1 >= outlen)
        return NULL;
      out[n++] = *p++;
    }
  }
  out[n] = '\0';
  return n >= 3 ? p : NULL;
}

/* [+-]h[hh][:mm[:ss]] with hours up to maxh; a number of seconds. */
static const char *parse_hms(const char *p, int maxh, int32_t *out)
{
  int sign = 1;
  if (*p == '+' || *p == '-')
    sign = *p++ == '-' ? -1 : 1;
  int part[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    if (i > 0) {
      if (*p != ':')
        break;
      p++;
    }
    int digits = 0, v = 0;
    while (*p >= '0' && *p <= '9' && digits < 3) {
      v = v * 10 + (*p++ - '0');
      digits++;
    }
    if (digits == 0 || (i > 0 && (digits > 2 || v > 59)) || (i == 0 && v > maxh))
      return NULL;
    part[i] = v;
  }
  *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
  return p;
}

static const char *parse_num(const char *p, int lo, int hi, int *out)
{
  int v = 0, digits = 0;
  while (*p >= '0' && *p <= '9' && digits < 4) {
    v = v * 10 + (*p++ - '0');
    digits++;
  }
  if (digits == 0 || v < lo || v > hi)
    return NULL;
  *out = v;
  return p;
}

static const char *parse_date(const char *p, struct tz_date *d)
{
  *d = (struct tz_date){.secs = 2 * 3600};
  if (*p == 'J') {
    d->kind = 'J';
    p = parse_num(p + 1, 1, 365, &d->n);
  } else if (*p == 'M') {
    d->kind = 'M';
    if (!(p = parse_num(p + 1, 1, 12, &d->m)) || *p++ != '.' || !(p = parse_num(p, 1, 5, &d->w)) ||
        *p++ != '.')
      return NULL;
    p = parse_num(p, 0, 6, &d->d);
  } else {
    d->kind = 'D';
    p = parse_num(p, 0, 365, &d->n);
  }
  if (p && *p == '/')
    p = parse_hms(p + 1, 167, &d->secs);
  return p;
}

static int parse_rule(const char *s, struct tz_rule *r)
{
  *r = (struct tz_rule){0};
  int32_t off;
  const char *p = parse_abbr(s, r->std_abbr, sizeof r->std_abbr);
  if (!p || !(p = parse_hms(p, 24, &off)))
    return -EBADMSG;
  r->std = (struct tz_type){.off = -off, .dst = false, .abbr = r->std_abbr};
  if (*p == '\0')
    return 0;
  if (!(p = parse_abbr(p, r->dst_abbr, sizeof r->dst_abbr)))
    return -EBADMSG;
  r->has_dst = true;
  r->dst = (struct tz_type){.off = r->std.off + 3600, .dst = true, .abbr = r->dst_abbr};
  if (*p && *p != ',') {
    if (!(p = parse_hms(p, 24, &off)))
      return -EBADMSG;
    r->dst.off = -off;
  }
  if (*p == '\0')
    p = ",M3.2.0,M11.1.0";          /* POSIX leaves it to the implementation; glibc's (US) rule */
  if (*p++ != ',' || !(p = parse_date(p, &r->start)) || *p++ != ',' || !(p = parse_date(p, &r->end)) || *p)
    return -EBADMSG;
  return 0;
}

/* The local (wall, as if UTC) instant of a rule date in year y. */
static int64_t rule_local(const struct tz_date *d, int64_t y)
{
  int64_t day;
  if (d->kind == 'J')
    day = days_from_civil(y, 1, 1) + d->n - 1 + (is_leap(y) && d->n >= 60);
  else if (d->kind == 'D')
    day = days_from_civil(y, 1, 1) + d->n;
  else {
    int64_t first = days_from_civil(y, d->m, 1);
    int wday1 = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int mday = 1 + (d->d - wday1 + 7) % 7 + (d->w - 1) * 7;
    if (mday > month_days(y, d->m - 1))
      mday -= 7;
    day = first + mday - 1;
  }
  return day * 86400 + d->secs;
}

static void rule_year(const struct tz_rule *r, int64_t y, int64_t *start, int64_t *end)
{
  *start = rule_local(&r->start, y) - r->std.off;  /* the start is in standard time */
  *end = rule_local(&r->end, y) - r->dst.off;      /* the end in DST */
}

static int64_t year_of(int64_t t)
{
  int64_t y;
  int m, d;
  civil_from_days(floor_div(t, 86400), &y, &m, &d);
  return y;
}

static const struct tz_type *rule_type(const struct tz_rule *r, int64_t t)
{
  if (!r->has_dst)
    return &r->std;
  int64_t s, e;
  rule_year(r, year_of(t + r->std.off), &s, &e);
  bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);
  return dst ? &r->dst : &r->std;
}

/* The first change of the rule strictly after t (INT64_MAX: none). */
static int64_t rule_next(const struct tz_rule *r, int64_t t)
{
  if (!r->has_dst)
    return INT64_MAX;
  int64_t best = INT64_MAX, y = year_of(t + r->std.off);
  for (int64_t k = y - 1; k <= y + 1; k++) {
    int64_t s, e;
    rule_year(r, k, &s, &e);
    if (s > t && s < best)
      best = s;
    if (e > t && e < best)
      best = e;
  }
  return best;
}

/* ---- lookups ---- */

static const struct tz_type *type_at(const struct tz *z, int64_t t)
{
  if (z->nat == 0 || t >= z->at[z->nat - 1]) {
    if (z->has_rule)
      return rule_type(&z->rule, t);
    return z->nat == 0 ? &z->types[0] : &z->types[z->idx[z->nat - 1]];
  }
  if (t < z->at[0])
    return &z->types[0];
  size_t lo = 0, hi = z->nat - 1;  /* at[lo] <= t < at[hi] */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (z->at[mid] <= t)
      lo = mid;
    else
      hi = mid;
  }
  return &z->types[z->idx[lo]];
}

/* The first instant after t at which the offset may change. */
static int64_t next_change(const struct tz *z, int64_t t)
{
  if (z->nat > 0 && t < z->at[z->nat - 1]) {
    size_t lo = 0, hi = z->nat - 1;  /* the first at[i] > t is in [lo, hi] */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (z->at[mid] > t)
        hi = mid;
      else
        lo = mid + 1;
    }
    return z->at[lo];
  }
  return z->has_rule ? rule_next(&z->rule, t) : INT64_MAX;
}

void tz_local(const struct tz *z, int64_t t, struct tm *out)
{
  t = clamp_t(t);
  const struct tz_type *ty = type_at(z, t);
  int64_t l = t + ty->off, days = floor_div(l, 86400), secs = l - days * 86400, y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  *out = (struct tm){
      .tm_year = (int)(y - 1900),
      .tm_mon = m - 1,
      .tm_mday = d,
      .tm_hour = (int)(secs / 3600),
      .tm_min = (int)(secs / 60 % 60),
      .tm_sec = (int)(secs % 60),
      .tm_wday = (int)((days % 7 + 11) % 7),
      .tm_yday = (int)(days - days_from_civil(y, 1, 1)),
      .tm_isdst = ty->dst,
      .tm_gmtoff = ty->off,
      .tm_zone = ty->abbr,
  };
}

int64_t tz_wall_seconds(const struct tm *wall)
{
  /* Out-of-range fields carry (month 13 is January of the next year, day 0
   * the last of the previous month), as mktime's do: schedules step
   * calendars by adding to them. */
  int64_t mon = wall->tm_mon, y = (int64_t)wall->tm_year + 1900 + floor_div(mon, 12);
  mon -= floor_div(mon, 12) * 12;
  return clamp_t((days_from_civil(y, (int)mon + 1, 1) + wall->tm_mday - 1) * 86400 + (int64_t)wall->tm_hour * 3600 +
                 (int64_t)wall->tm_min * 60 + wall->tm_sec);
}

int64_t tz_utc(const struct tz *z, const struct tm *local)
{
  int64_t w = tz_wall_seconds(local);
  int64_t seg = w - TZ_MAX_OFFSET - 3600;
  int32_t off = type_at(z, seg)->off;
  for (int i = 0; i < 64; i++) {
    int64_t next = next_change(z, seg), u = w - off;
    if (u < next)
      return u;
    int32_t off2 = type_at(z, next)->off;
    if (w - off2 < next)
      return u;                     /* in the gap: moved forward by it */
    seg = next;
    off = off2;
  }
  return w - off;
}

bool tz_offset_constant(const struct tz *z, int64_t from, int64_t to, int32_t *off)
{
  from = clamp_t(from);
  *off = type_at(z, from)->off;
  return next_change(z, from) > to;
}

/* ---- loading ---- */

static bool name_ok(const char *name)
{
  size_t n = strlen(name);
  if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/' || strstr(name, "//"))
    return false;
  for (const char *p = name; *p; p++) {
    char c = *p;
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '_' ||
          c == '-' || c == '+'))
      return false;
  }
  /* No dots at all, so no ".."; "localtime" is the host's zone, not a name. */
  return strcmp(name, "localtime") != 0 && strcmp(name, "posixrules") != 0;
}

static uint32_t be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
  return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
  uint32_t isut, isstd, leap, time, type, chars;
};

static int read_header(const uint8_t *p, size_t len, int *version, struct tzif_counts *c)
{
  if (len < 44 || memcmp(p, "TZif", 4) != 0)
    return -EBADMSG;
  if (p[4] == 0)
    *version = 1;
  else if (p[4] >= '2' && p[4] <= '4')
    *version = p[4] - '0';
  else
    return -EBADMSG;
  *c = (struct tzif_counts){be32(p + 20), be32(p + 24), be32(p + 28), be32(p + 32), be32(p + 36), be32(p + 40)};
  if (c->time > TZ_MAX_TIMES || c->type == 0 || c->type > TZ_MAX_TYPES || c->chars > TZ_MAX_CHARS ||
      c->leap > TZ_MAX_TIMES || (c->isut != 0 && c->isut != c->type) || (c->isstd != 0 && c->isstd != c->type))
    return -EBADMSG;
  return 0;
}

static size_t block_len(const struct tzif_counts *c, size_t tsize)
{
  return c->time * tsize + c->time + c->type * 6 + c->chars + c->leap * (tsize + 4) + c->isstd + c->isut;
}

/* Reads one data block (tsize 4: version 1's, 8: version 2+'s) into z. */
static int read_block(struct tz *z, const uint8_t *p, const struct tzif_counts *c, size_t tsize)
{
  if (c->leap != 0)
    return -EBADMSG;                /* leap-second zones: see the head comment */
  if (c->chars == 0)
    return -EBADMSG;
  z->nat = c->time;
  z->ntypes = (int)c->type;
  z->at = calloc(c->time + 1, sizeof *z->at);
  z->idx = calloc(c->time + 1, 1);
  z->types = calloc(c->type, sizeof *z->types);
  z->chars = calloc(c->chars + 1, 1);
  if (!z->at || !z->idx || !z->types || !z->chars)
    return -ENOMEM;
  for (size_t i = 0; i < c->time; i++, p += tsize) {
    z->at[i] = tsize == 8 ? be64(p) : (int32_t)be32(p);
    if (i > 0 && z->at[i] <= z->at[i - 1])
      return -EBADMSG;
  }
  for (size_t i = 0; i < c->time; i++) {
    z->idx[i] = *p++;
    if (z->idx[i] >= c->type)
      return -EBADMSG;
  }
  const uint8_t *types = p;
  p += c->type * 6;
  memcpy(z->chars, p, c->chars);
  for (size_t i = 0; i < c->type; i++, types += 6) {
    int32_t off = (int32_t)be32(types);
    uint8_t ai = types[5];
    if (off <= -TZ_MAX_OFFSET || off >= TZ_MAX_OFFSET || types[4] > 1 || ai >= c->chars ||
        !memchr(z->chars + ai, '\0', c->chars - ai))
      return -EBADMSG;
    z->types[i] = (struct tz_type){.off = off, .dst = types[4], .abbr = z->chars + ai};
  }
  for (size_t i = 0; i < z->nat; i++)
    z->at[i] = clamp_t(z->at[i]);
  return 0;
}

static int read_footer(struct tz *z, const uint8_t *p, size_t len)
{
  if (len < 2 || p[0] != '\n')
    return -EBADMSG;
  const uint8_t *nl = memchr(p + 1, '\n', len - 1);
  if (!nl || nl - p - 1 >= 128)
    return -EBADMSG;
  char s[128];
  memcpy(s, p + 1, (size_t)(nl - p - 1));
  s[nl - p - 1] = '\0';
  if (s[0] == '\0')
    return 0;
  int rc = parse_rule(s, &z->rule);
  if (rc == 0) {
    z->has_rule = true;
    if (z->rule.std.off <= -TZ_MAX_OFFSET || z->rule.std.off >= TZ_MAX_OFFSET ||
        z->rule.dst.off <= -TZ_MAX_OFFSET || z->rule.dst.off >= TZ_MAX_OFFSET)
      rc = -EBADMSG;
  }
  return rc;
}

static int parse_tzif(struct tz *z, const uint8_t *buf, size_t len)
{
  int version;
  struct tzif_counts c;
  int rc = read_header(buf, len, &version, &c);
  if (rc < 0)
    return rc;
  size_t n = block_len(&c, 4);
  if (len - 44 < n)
    return -EBADMSG;
  if (version == 1)
    return read_block(z, buf + 44, &c, 4);
  /* Version 2+: the 32-bit block is only for old readers; the 64-bit one
   * follows with its own header, then the footer. */
  buf += 44 + n;
  len -= 44 + n;
  if ((rc = read_header(buf, len, &version, &c)) < 0)
    return rc;
  n = block_len(&c, 8);
  if (len - 44 < n)
    return -EBADMSG;
  if ((rc = read_block(z, buf + 44, &c, 8)) < 0)
    return rc;
  return read_footer(z, buf + 44 + n, len - 44 - n);
}

static int read_zone_file(const char *name, uint8_t **buf, size_t *len)
{
  char path[sizeof TZ_DIR + TZ_NAME_MAX];
  snprintf(path, sizeof path, "%s%s", TZ_DIR, name);
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -errno;
  if (!S_ISREG(st.st_mode))
    return -ENOENT;                 /* a directory ("Europe") is no zone */
  if (st.st_size > TZ_FILE_MAX || st.st_size < 44)
    return -EBADMSG;
  *len = (size_t)st.st_size;
  if (!(*buf = malloc(*len)))
    return -ENOMEM;
  size_t got = 0;
  while (got < *len) {
    ssize_t r = read(fd, *buf + got, *len - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      int rc = r < 0 ? -errno : -EBADMSG;
      free(*buf);
      *buf = NULL;
      return rc;
    }
    got += (size_t)r;
  }
  return 0;
}

static struct tz *tz_new(const char *name)
{
  struct tz *z = calloc(1, sizeof *z);
  if (z)
    snprintf(z->name, sizeof z->name, "%s", name);
  return z;
}

/* A zone of one type and no transitions. */
static int tz_single(const char *name, int32_t off, struct tz **out)
{
  struct tz *z = tz_new(name);
  if (!z)
    return -ENOMEM;
  z->types = calloc(1, sizeof *z->types);
  if (!z->types) {
    free(z);
    return -ENOMEM;
  }
  if (off == 0)
    snprintf(z->fixed_abbr, sizeof z->fixed_abbr, "UTC");
  else
    snprintf(z->fixed_abbr, sizeof z->fixed_abbr, "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 3600,
             abs(off) / 60 % 60);
  z->types[0] = (struct tz_type){.off = off, .abbr = z->fixed_abbr};
  z->ntypes = 1;
  *out = z;
  return 0;
}

int tz_load(const char *name, struct tz **out)
{
  *out = NULL;
  if (!name || !name_ok(name))
    return -EINVAL;
  if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC"))
    return tz_single(name, 0, out);
  CLEANUP_FREE uint8_t *buf = NULL;
  size_t len = 0;
  int rc = read_zone_file(name, &buf, &len);
  if (rc < 0)
    return rc;
  return tz_parse(name, buf, len, out);
}

int tz_parse(const char *name, const void *buf, size_t len, struct tz **out)
{
  *out = NULL;
  struct tz *z = tz_new(name);
  if (!z)
    return -ENOMEM;
  int rc = parse_tzif(z, buf, len);
  if (rc < 0) {
    tz_free(z);
    return rc;
  }
  *out = z;
  return 0;
}

int tz_fixed(int32_t offset_s, struct tz **out)
{
  *out = NULL;
  if (offset_s <= -TZ_MAX_OFFSET || offset_s >= TZ_MAX_OFFSET)
    return -EINVAL;
  char name[16];
  snprintf(name, sizeof name, "%c%02d:%02d", offset_s < 0 ? '-' : '+', abs(offset_s) / 3600,
           abs(offset_s) / 60 % 60);
  return tz_single(name, offset_s, out);
}

void tz_free(struct tz *z)
{
  if (!z)
    return;
  free(z->at);
  free(z->idx);
  free(z->types);
  free(z->chars);
  free(z);
}

const char *tz_name(const struct tz *z)
{
  return z->name;
}
