/*
 * fn_string.c — the string functions (docs: template-functions-string.md).
 *
 * Strings are UTF-8; lengths and positions count characters (code points:
 * ARM counts UTF-16 units, the same outside the astral planes).  Case
 * changes and the case-insensitive comparisons of indexOf, lastIndexOf,
 * startsWith and endsWith fold ASCII letters only.  format() implements the
 * part of .NET composite formatting templates use: {i}, {i,width},
 * {i:N0}/{i:N2}, {i:D3}, {i:X}, {i:F2}, {i:000}, and {{ }}.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/random.h"
#include "common/urlcode.h"
#include "template/internal.h"

/* concat(): strings, integers and booleans as text (nulls skipped), or
 * arrays when every argument is one (TEMPLATES.md §3.3). */
static int fn_concat(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int arrays = 0, others = 0;
  for (int i = 0; i < n; i++) {
    if (json_is_array(args[i]))
      arrays++;
    else if (!json_is_null(args[i]))
      others++;
    if (json_is_object(args[i]))
      return tpl_type_error(c, i, args[i], "a string, an integer, a boolean or an array");
  }
  if (arrays > 0 && others > 0)
    return tpl_call_fail(c, "The provided parameters for language function 'concat' are invalid. Either all or none "
                            "of the parameters must be an array.");
  if (arrays > 0) {
    size_t total = 0;
    for (int i = 0; i < n; i++)
      total += json_array_size(args[i]);
    int rc = tpl_room_for(c, total);
    if (rc < 0)
      return rc;
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
      if (json_is_array(args[i]) && json_array_extend(a, args[i]) < 0) {
        json_decref(a);
        a = NULL;
      }
    return (*out = a) ? 0 : tpl_no_memory(c->err);
  }
  struct tpl_buf b = {0};
  for (int i = 0; i < n; i++) {
    if (json_is_string(args[i])) {
      tpl_buf_add(&b, json_string_value(args[i]), json_string_length(args[i]));
    } else if (!json_is_null(args[i])) {
      char *t = tpl_to_text(args[i]);
      if (!t)
        b.oom = true;
      else
        tpl_buf_str(&b, t);
      free(t);
    }
  }
  return tpl_buf_done(c, &b, out);
}


/* ---- base64 and data URIs ---------------------------------------------------- */
static json_t *base64_of(const void *data, size_t len)
{
  CLEANUP_FREE char *b = malloc(4 * ((len + 2) / 3) + 1);
  if (!b)
    return NULL;
  int n = EVP_EncodeBlock((unsigned char *)b, data, (int)len);
  return tpl_string_n(b, (size_t)n);
}

/* Standard base64 with its padding; NULL when s is not such a string. */
static unsigned char *base64_decode(const char *s, size_t len, size_t *out_len)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (len % 4)
    return NULL;
  unsigned char *out = malloc(len / 4 * 3 + 1), *o = out;
  if (!out)
    return NULL;
  for (size_t i = 0; i < len; i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (int k = 0; k < 4; k++) {
      const char *p = s[i + k] ? strchr(alphabet, s[i + k]) : NULL;
      if (s[i + k] == '=' && i + 4 == len && k >= 2 && (k == 3 || s[i + 3] == '=')) {
        pad++;
        v <<= 6;
      } else if (p && !pad) {
        v = v << 6 | (uint32_t)(p - alphabet);
      } else {
        free(out);
        return NULL;
      }
    }
    *o++ = (unsigned char)(v >> 16);
    if (pad < 2)
      *o++ = (unsigned char)(v >> 8);
    if (pad < 1)
      *o++ = (unsigned char)v;
  }
  *o = '\0';
  *out_len = (size_t)(o - out);
  return out;
}

static int fn_base64(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s;
  int rc = tpl_arg_string(c, args, 0, &s);
  return rc < 0 ? rc : tpl_done(c, base64_of(s, json_string_length(args[0])), out);
}

/* The text a base64 argument holds (UTF-8), malloc'd. */
static int base64_text(struct tpl_call *c, json_t *const *args, char **text, size_t *len)
{
  if (!json_is_string(args[0]))
    return tpl_type_error(c, 0, args[0], "a string");
  *text = (char *)base64_decode(json_string_value(args[0]), json_string_length(args[0]), len);
  if (!*text)
    return tpl_call_fail(c, "The template language function '%s' expects its parameter to be a valid base64 string.",
                         c->fn->name);
  return 0;
}

static int fn_base64_to_string(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  CLEANUP_FREE char *text = NULL;
  size_t len;
  int rc = base64_text(c, args, &text, &len);
  if (rc < 0)
    return rc;
  if (!(*out = tpl_string_n(text, len)))
    return tpl_call_fail(c, "The template language function 'base64ToString' expects its parameter to encode UTF-8 "
                            "text.");
  return 0;
}

static int fn_base64_to_json(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  CLEANUP_FREE char *text = NULL;
  size_t len;
  struct tpl_error err = {0};
  int rc = base64_text(c, args, &text, &len);
  if (rc < 0)
    return rc;
  if ((rc = tpl_read(text, len, out, NULL, &err)) == -ENOMEM)
    return tpl_no_memory(c->err);
  if (rc < 0)
    return tpl_call_fail(c, "The template language function 'base64ToJson' expects its parameter to encode valid "
                            "JSON; it does not (line %d, position %d).",
                         err.line, err.col);
  return 0;
}

static int fn_data_uri(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s;
  int rc = tpl_arg_string(c, args, 0, &s);
  if (rc < 0)
    return rc;
  json_t *b64 = base64_of(s, json_string_length(args[0]));
  if (!b64)
    return tpl_no_memory(c->err);
  struct tpl_buf b = {0};
  tpl_buf_str(&b, "data:text/plain;charset=utf8;base64,");
  tpl_buf_add(&b, json_string_value(b64), json_string_length(b64));
  json_decref(b64);
  return tpl_buf_done(c, &b, out);
}

/* data:[<mediatype>][;charset=<c>][;base64],<data>: the text, or the JSON
 * value it holds when the media type is application/json. */
static int fn_data_uri_to_string(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s;
  int rc = tpl_arg_string(c, args, 0, &s);
  if (rc < 0)
    return rc;
  const char *comma = strchr(s, ',');
  if (strncasecmp(s, "data:", 5) != 0 || !comma)
    return tpl_call_fail(c, "The template language function 'dataUriToString' expects its parameter to be formatted "
                            "as a valid data URI. The provided value '%s' was not formatted correctly.",
                         s);
  bool base64 = false;
  const char *semi = memchr(s + 5, ';', (size_t)(comma - s - 5));
  size_t mlen = (size_t)((semi ? semi : comma) - s - 5);
  bool json = mlen == 16 && strncasecmp(s + 5, "application/json", 16) == 0;
  for (const char *p = semi; p && p < comma; p = strchr(p + 1, ';')) {
    const char *end = memchr(p + 1, ';', (size_t)(comma - p - 1));
    size_t len = (size_t)((end ? end : comma) - p - 1);
    if (len == 6 && strncasecmp(p + 1, "base64", 6) == 0 && !end)
      base64 = true;
    else if (len > 8 && strncasecmp(p + 1, "charset=", 8) == 0 &&
             !((len == 12 && strncasecmp(p + 9, "utf8", 4) == 0) || (len == 13 && strncasecmp(p + 9, "utf-8", 5) == 0) ||
               (len == 16 && strncasecmp(p + 9, "us-ascii", 8) == 0)))
      return tpl_call_fail(c, "The template language function 'dataUriToString' parameter is not valid. The provided "
                              "charset '%.*s' is not supported.",
                           (int)(len - 8), p + 9);
  }
  size_t len = 0;
  CLEANUP_FREE char *text = base64 ? (char *)base64_decode(comma + 1, strlen(comma + 1), &len)
                                   : url_decode(comma + 1, strlen(comma + 1), 0);
  if (text && !base64)
    len = strlen(text);
  json_t *r = NULL;
  struct tpl_error err = {0};
  if (text && json && tpl_read(text, len, &r, NULL, &err) == -ENOMEM)
    return tpl_no_memory(c->err);
  if (text && !json)
    r = tpl_string_n(text, len);
  if (!r)
    return tpl_call_fail(c, "The template language function 'dataUriToString' expects its parameter to be formatted "
                            "as a valid data URI. The provided value '%s' was not formatted correctly.",
                         s);
  *out = r;
  return 0;
}

/* ---- searching ------------------------------------------------------------- */
static bool ascii_ieq(const char *a, const char *b, size_t len)
{
  return strncasecmp(a, b, len) == 0;
}

static int two_strings(struct tpl_call *c, json_t *const *args, const char **a, const char **b)
{
  if (!json_is_string(args[0]) || !json_is_string(args[1]))
    return tpl_call_fail(c, "The template language function '%s' expects its parameters to be of type string and "
                            "string. The provided value is of type '%s' and '%s'.",
                         c->fn->name, tpl_type_name(args[0]), tpl_type_name(args[1]));
  *a = json_string_value(args[0]);
  *b = json_string_value(args[1]);
  return 0;
}

static int fn_starts_with(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s, *p;
  int rc = two_strings(c, args, &s, &p);
  if (rc < 0)
    return rc;
  size_t sl = json_string_length(args[0]), pl = json_string_length(args[1]);
  return tpl_done(c, json_boolean(pl <= sl && ascii_ieq(s, p, pl)), out);
}

static int fn_ends_with(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s, *p;
  int rc = two_strings(c, args, &s, &p);
  if (rc < 0)
    return rc;
  size_t sl = json_string_length(args[0]), pl = json_string_length(args[1]);
  return tpl_done(c, json_boolean(pl <= sl && ascii_ieq(s + sl - pl, p, pl)), out);
}

/* indexOf() and lastIndexOf(): a string's (case-insensitive, in
 * characters) or an array's (deep equality); -1 when absent. */
static int find(struct tpl_call *c, json_t *const *args, bool last, json_t **out)
{
  int64_t at = -1;
  if (json_is_array(args[0])) {
    size_t i;
    json_t *v;
    json_array_foreach(args[0], i, v) {
      if (tpl_equal(v, args[1])) {
        at = (int64_t)i;
        if (!last)
          break;
      }
    }
    return tpl_done(c, json_integer(at), out);
  }
  const char *s, *p;
  int rc = two_strings(c, args, &s, &p);
  if (rc < 0)
    return rc;
  size_t sl = json_string_length(args[0]), pl = json_string_length(args[1]);
  if (pl == 0) { /* .NET: "" is found first at 0, last at the last character */
    size_t chars = tpl_utf8_chars(s, sl);
    return tpl_done(c, json_integer(last && chars ? (json_int_t)chars - 1 : 0), out);
  }
  for (size_t i = 0; i + pl <= sl; i++)
    if (ascii_ieq(s + i, p, pl) && (((unsigned char)s[i] & 0xC0) != 0x80)) {
      at = (int64_t)tpl_utf8_chars(s, i);
      if (!last)
        break;
    }
  return tpl_done(c, json_integer(at), out);
}

static int fn_index_of(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return find(c, args, false, out);
}

static int fn_last_index_of(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return find(c, args, true, out);
}

/* ---- building strings -------------------------------------------------------- */
/* The arguments of guid() and uniqueString(): strings only, as a malloc'd
 * array of their texts. */
static int hash_args(struct tpl_call *c, json_t *const *args, int n, const char ***out)
{
  const char **v = calloc((size_t)n, sizeof *v);
  if (!v)
    return tpl_no_memory(c->err);
  for (int i = 0; i < n; i++) {
    if (!json_is_string(args[i])) {
      free(v);
      return tpl_type_error(c, i, args[i], "of type 'String'");
    }
    v[i] = json_string_value(args[i]);
  }
  *out = v;
  return 0;
}

static int fn_guid(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  CLEANUP_FREE const char **v = NULL;
  char g[37];
  int rc = hash_args(c, args, n, &v);
  if (rc < 0)
    return rc;
  tpl_guid(v, n, g);
  return g[0] ? tpl_done(c, json_string(g), out) : tpl_no_memory(c->err);
}

static int fn_unique_string(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  CLEANUP_FREE const char **v = NULL;
  char u[14];
  int rc = hash_args(c, args, n, &v);
  if (rc < 0)
    return rc;
  tpl_unique_string(v, n, u);
  return tpl_done(c, json_string(u), out);
}

static int fn_new_guid(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  if (!(c->ev->allow & TPL_ALLOW_NOW))
    return tpl_fail(c->err, "InvalidTemplate",
                    "The template function 'newGuid' is not expected at this location. The function can only be used "
                    "with parameter default value. Please see https://aka.ms/arm-template-expressions for usage "
                    "details.");
  char g[UUID_STR_LEN];
  random_uuid(g);
  return tpl_done(c, json_string(g), out);
}

static int fn_string(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  CLEANUP_FREE char *text = tpl_to_text(args[0]);
  return text ? tpl_done(c, json_string(text), out) : tpl_no_memory(c->err);
}

static int fn_join(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *sep;
  int rc;
  if (!json_is_array(args[0]))
    return tpl_type_error(c, 0, args[0], "of type 'Array'");
  if ((rc = tpl_arg_string(c, args, 1, &sep)) < 0)
    return rc;
  struct tpl_buf b = {0};
  size_t i;
  json_t *v;
  json_array_foreach(args[0], i, v) {
    if (json_is_array(v) || json_is_object(v)) {
      free(b.p);
      return tpl_call_fail(c, "The template language function 'join' expects its first parameter to be an array of "
                              "strings, integers or booleans. The element at index %zu is of type '%s'.",
                           i, tpl_type_name(v));
    }
    CLEANUP_FREE char *t = tpl_to_text(v);
    if (i > 0)
      tpl_buf_str(&b, sep);
    if (!t)
      b.oom = true;
    else
      tpl_buf_str(&b, t);
  }
  return tpl_buf_done(c, &b, out);
}

#define MAX_PAD 16384

static int fn_pad_left(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int64_t width;
  const char *pad = " ";
  int rc;
  if (!json_is_string(args[0]) && !json_is_integer(args[0]))
    return tpl_type_error(c, 0, args[0], "a string or an integer");
  if ((rc = tpl_arg_int(c, args, 1, &width)) < 0 || (n > 2 && (rc = tpl_arg_string(c, args, 2, &pad)) < 0))
    return rc;
  if (tpl_utf8_chars(pad, strlen(pad)) != 1)
    return tpl_call_fail(c, "The template language function 'padLeft' expects its third parameter to be a single "
                            "character. The provided value is '%s'.",
                         pad);
  if (width > MAX_PAD)
    return tpl_call_fail(c, "The template language function 'padLeft' expects its second parameter to be at most "
                            "%d. The provided value is '%lld'.",
                         MAX_PAD, (long long)width);
  CLEANUP_FREE char *text = tpl_to_text(args[0]);
  if (!text)
    return tpl_no_memory(c->err);
  struct tpl_buf b = {0};
  for (int64_t k = (int64_t)tpl_utf8_chars(text, strlen(text)); k < width; k++)
    tpl_buf_str(&b, pad);
  tpl_buf_str(&b, text);
  return tpl_buf_done(c, &b, out);
}

static int fn_replace(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s, *from, *to;
  int rc;
  if ((rc = tpl_arg_string(c, args, 0, &s)) < 0 || (rc = tpl_arg_string(c, args, 1, &from)) < 0 ||
      (rc = tpl_arg_string(c, args, 2, &to)) < 0)
    return rc;
  size_t fl = json_string_length(args[1]);
  if (fl == 0)
    return tpl_call_fail(c, "The template language function 'replace' expects its second parameter to be a non-empty "
                            "string.");
  struct tpl_buf b = {0};
  for (const char *hit; (hit = strstr(s, from)); s = hit + fl) {
    tpl_buf_add(&b, s, (size_t)(hit - s));
    tpl_buf_str(&b, to);
  }
  tpl_buf_str(&b, s);
  return tpl_buf_done(c, &b, out);
}

/* split(s, delimiter | [delimiters]): empty pieces kept (.NET's
 * StringSplitOptions.None). */
static int fn_split(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s;
  int rc = tpl_arg_string(c, args, 0, &s);
  if (rc < 0)
    return rc;
  json_t *delims = json_is_array(args[1]) ? json_incref(args[1]) : json_pack("[O]", args[1]);
  if (!delims)
    return tpl_no_memory(c->err);
  size_t i;
  json_t *d;
  json_array_foreach(delims, i, d) {
    if (!json_is_string(d)) {
      json_decref(delims);
      return tpl_type_error(c, 1, d, "a string or an array of strings");
    }
  }
  json_t *a = json_array();
  const char *start = s, *p = s;
  while (a && *p) {
    size_t hit = 0;
    json_array_foreach(delims, i, d) {
      size_t dl = json_string_length(d);
      if (dl > 0 && strncmp(p, json_string_value(d), dl) == 0) {
        hit = dl;
        break;
      }
    }
    if (!hit) {
      p++;
      continue;
    }
    if ((rc = tpl_room_for(c, json_array_size(a) + 1)) < 0) {
      json_decref(a);
      json_decref(delims);
      return rc;
    }
    if (json_array_append_new(a, tpl_string_n(start, (size_t)(p - start))) < 0) {
      json_decref(a);
      a = NULL;
    }
    p += hit;
    start = p;
  }
  if (a && json_array_append_new(a, tpl_string_n(start, strlen(start))) < 0) {
    json_decref(a);
    a = NULL;
  }
  json_decref(delims);
  return tpl_done(c, a, out);
}

static int fn_substring(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s;
  int64_t start, length = -1;
  int rc;
  if ((rc = tpl_arg_string(c, args, 0, &s)) < 0 || (rc = tpl_arg_int(c, args, 1, &start)) < 0 ||
      (n > 2 && (rc = tpl_arg_int(c, args, 2, &length)) < 0))
    return rc;
  size_t len = json_string_length(args[0]);
  int64_t chars = (int64_t)tpl_utf8_chars(s, len);
  if (n <= 2)
    length = start >= 0 && start <= chars ? chars - start : 0;
  if (start < 0 || length < 0 || start > chars || length > chars - start)
    return tpl_call_fail(c, "The index and length parameters must refer to a location within the string. The index "
                            "parameter: '%lld', the length parameter: '%lld', the length of the string parameter: "
                            "'%lld'.",
                         (long long)start, (long long)length, (long long)chars);
  size_t from = tpl_utf8_offset(s, len, start), to = tpl_utf8_offset(s, len, start + length);
  return tpl_done(c, tpl_string_n(s + from, to - from), out);
}

static int change_case(struct tpl_call *c, json_t *const *args, bool upper, json_t **out)
{
  const char *s;
  int rc = tpl_arg_string(c, args, 0, &s);
  if (rc < 0)
    return rc;
  size_t len = json_string_length(args[0]);
  CLEANUP_FREE char *t = malloc(len + 1);
  if (!t)
    return tpl_no_memory(c->err);
  for (size_t i = 0; i <= len; i++)
    t[i] = upper && s[i] >= 'a' && s[i] <= 'z'   ? (char)(s[i] - 'a' + 'A')
           : !upper && s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a')
                                                 : s[i];
  return tpl_done(c, tpl_string_n(t, len), out);
}

static int fn_to_lower(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return change_case(c, args, false, out);
}

static int fn_to_upper(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return change_case(c, args, true, out);
}

static int fn_trim(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s;
  int rc = tpl_arg_string(c, args, 0, &s);
  if (rc < 0)
    return rc;
  size_t from = 0, to = json_string_length(args[0]);
  while (from < to && strchr(" \t\n\r\v\f", s[from]))
    from++;
  while (to > from && strchr(" \t\n\r\v\f", s[to - 1]))
    to--;
  return tpl_done(c, tpl_string_n(s + from, to - from), out);
}

/* ---- URIs --------------------------------------------------------------------- */
/* uri(base, relative), as .NET's Uri(Uri, string) combines them: an
 * absolute relative wins, "/x" replaces the path, anything else replaces
 * the base's last segment. */
static int fn_uri(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *base, *rel;
  int rc;
  if ((rc = tpl_arg_string(c, args, 0, &base)) < 0 || (rc = tpl_arg_string(c, args, 1, &rel)) < 0)
    return rc;
  const char *scheme = strstr(base, "://");
  if (!scheme)
    return tpl_call_fail(c, "The template language function 'uri' expects its first parameter to be an absolute URI. "
                            "The provided value is '%s'.",
                         base);
  struct tpl_buf b = {0};
  if (strstr(rel, "://")) {
    tpl_buf_str(&b, rel);
  } else {
    const char *path = strchr(scheme + 3, '/');
    const char *keep = rel[0] == '/' || !path ? (path ? path : base + strlen(base)) : strrchr(path, '/') + 1;
    tpl_buf_add(&b, base, (size_t)(keep - base));
    if (!path && rel[0] != '/')
      tpl_buf_str(&b, "/");
    tpl_buf_str(&b, rel);
  }
  return tpl_buf_done(c, &b, out);
}

static int fn_uri_component(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s;
  int rc = tpl_arg_string(c, args, 0, &s);
  if (rc < 0)
    return rc;
  CLEANUP_FREE char *e = url_encode(s);
  return e ? tpl_done(c, json_string(e), out) : tpl_no_memory(c->err);
}

static int fn_uri_component_to_string(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *s;
  int rc = tpl_arg_string(c, args, 0, &s);
  if (rc < 0)
    return rc;
  CLEANUP_FREE char *d = url_decode(s, json_string_length(args[0]), 0);
  json_t *r = d ? json_string(d) : NULL;
  if (!r)
    return tpl_call_fail(c, "The template language function 'uriComponentToString' expects its parameter to be a "
                            "valid encoded URI component. The provided value is '%s'.",
                         s);
  *out = r;
  return 0;
}

/* ---- format() ------------------------------------------------------------------- */
/* digits with a ',' every three from the right */
static void grouped(struct tpl_buf *b, const char *digits)
{
  size_t n = strlen(digits);
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0)
      tpl_buf_str(b, ",");
    tpl_buf_add(b, digits + i, 1);
  }
}

/* One argument under a .NET standard or custom numeric format; false when
 * the format is not one this implements. */
static bool format_number(struct tpl_buf *b, const json_t *v, const char *spec, size_t len)
{
  char kind = len ? spec[0] : 'G';
  int prec = -1;
  if (len > 1) {
    prec = 0;
    for (size_t i = 1; i < len; i++) {
      if (spec[i] < '0' || spec[i] > '9')
        return false;
      prec = prec * 10 + (spec[i] - '0');
      if (prec > 99)
        return false;
    }
  }
  bool zeros = len > 0 && len <= 99;
  for (size_t i = 0; i < len; i++)
    zeros = zeros && spec[i] == '0';
  double d = json_number_value(v);
  bool integer = json_is_integer(v);
  long long i = json_integer_value(v);
  char text[1400];
  if (zeros) { /* custom "000": at least len digits */
    if (!integer)
      return false;
    snprintf(text, sizeof text, "%s%0*llu", i < 0 ? "-" : "", (int)len, i < 0 ? 0ull - (unsigned long long)i : (unsigned long long)i);
  } else if (kind == 'D' || kind == 'd') {
    if (!integer)
      return false;
    snprintf(text, sizeof text, "%s%0*llu", i < 0 ? "-" : "", prec < 0 ? 1 : prec,
             i < 0 ? 0ull - (unsigned long long)i : (unsigned long long)i);
  } else if (kind == 'X' || kind == 'x') {
    if (!integer)
      return false;
    snprintf(text, sizeof text, kind == 'X' ? "%0*llX" : "%0*llx", prec < 0 ? 1 : prec, (unsigned long long)i);
  } else if (kind == 'N' || kind == 'n' || kind == 'F' || kind == 'f') {
    char digits[1400];
    snprintf(digits, sizeof digits, "%.*f", prec < 0 ? 2 : prec, integer ? (double)i : d);
    if (integer && (i > (1ll << 53) || i < -(1ll << 53)) && (prec <= 0))
      snprintf(digits, sizeof digits, "%lld", i);
    if (kind == 'F' || kind == 'f') {
      tpl_buf_str(b, digits);
      return true;
    }
    const char *p = digits;
    if (*p == '-') {
      tpl_buf_str(b, "-");
      p++;
    }
    const char *dot = strchr(p, '.');
    char whole[1400];
    snprintf(whole, sizeof whole, "%.*s", dot ? (int)(dot - p) : (int)strlen(p), p);
    grouped(b, whole);
    if (dot)
      tpl_buf_str(b, dot);
    return true;
  } else if (kind == 'G' || kind == 'g') {
    if (integer)
      snprintf(text, sizeof text, "%lld", i);
    else
      snprintf(text, sizeof text, "%.15g", d);
  } else {
    return false;
  }
  tpl_buf_str(b, text);
  return true;
}

/* An argument as format() writes it into b (before alignment). */
static bool format_value(struct tpl_buf *b, const json_t *v, const char *spec, size_t len)
{
  if (json_is_number(v))
    return format_number(b, v, spec, len);
  CLEANUP_FREE char *t = tpl_to_text(v);
  if (!t) {
    b->oom = true;
    return true;
  }
  if (json_is_object(v) || json_is_array(v))
    for (char *p = t; *p; p++)
      if (*p == '"')
        *p = '\'';
  tpl_buf_str(b, t);
  return true;
}

static int fn_format(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *f;
  int rc = tpl_arg_string(c, args, 0, &f);
  if (rc < 0)
    return rc;
  struct tpl_buf b = {0};
  const char *bad = NULL;
  for (const char *p = f; *p && !bad;) {
    if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
      tpl_buf_add(&b, p, 1);
      p += 2;
      continue;
    }
    if (*p == '}') {
      bad = "Input string was not in a correct format.";
      break;
    }
    if (*p != '{') {
      tpl_buf_add(&b, p++, 1);
      continue;
    }
    /* {index[,alignment][:format]} */
    char *end;
    p++;
    long index = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : -1;
    if (index < 0) {
      bad = "Input string was not in a correct format.";
      break;
    }
    p = end;
    long align = 0;
    if (*p == ',') {
      align = strtol(p + 1, &end, 10);
      if (end == p + 1 || align > MAX_PAD || align < -MAX_PAD) {
        bad = "Input string was not in a correct format.";
        break;
      }
      p = end;
    }
    const char *spec = "";
    size_t speclen = 0;
    if (*p == ':') {
      spec = ++p;
      while (*p && *p != '}')
        p++;
      speclen = (size_t)(p - spec);
    }
    if (*p != '}') {
      bad = "Input string was not in a correct format.";
      break;
    }
    p++;
    if (index + 1 >= n) {
      bad = "Index (zero based) must be greater than or equal to zero and less than the size of the argument list.";
      break;
    }
    struct tpl_buf one = {0};
    if (!format_value(&one, args[index + 1], spec, speclen)) {
      free(one.p);
      bad = "Format specifier was invalid.";
      break;
    }
    size_t width = one.p ? tpl_utf8_chars(one.p, one.len) : 0;
    for (long k = (long)width; align > 0 && k < align; k++)
      tpl_buf_str(&b, " ");
    tpl_buf_add(&b, one.p ? one.p : "", one.len);
    b.oom = b.oom || one.oom;
    for (long k = (long)width; align < 0 && k < -align; k++)
      tpl_buf_str(&b, " ");
    free(one.p);
  }
  if (bad) {
    free(b.p);
    return tpl_call_fail(c, "Unable to evaluate template language function 'format': %s", bad);
  }
  return tpl_buf_done(c, &b, out);
}

const struct tpl_function tpl_fn_string[] = {
    {"base64", fn_base64, 1, 1, 0},
    {"base64ToJson", fn_base64_to_json, 1, 1, 0},
    {"base64ToString", fn_base64_to_string, 1, 1, 0},
    {"concat", fn_concat, 1, -1, 0},
    {"dataUri", fn_data_uri, 1, 1, 0},
    {"dataUriToString", fn_data_uri_to_string, 1, 1, 0},
    {"endsWith", fn_ends_with, 2, 2, 0},
    {"format", fn_format, 1, -1, 0},
    {"guid", fn_guid, 1, -1, 0},
    {"indexOf", fn_index_of, 2, 2, 0},
    {"join", fn_join, 2, 2, 0},
    {"lastIndexOf", fn_last_index_of, 2, 2, 0},
    {"newGuid", fn_new_guid, 0, 0, 0},
    {"padLeft", fn_pad_left, 2, 3, 0},
    {"replace", fn_replace, 3, 3, 0},
    {"split", fn_split, 2, 2, 0},
    {"startsWith", fn_starts_with, 2, 2, 0},
    {"string", fn_string, 1, 1, 0},
    {"substring", fn_substring, 2, 3, 0},
    {"toLower", fn_to_lower, 1, 1, 0},
    {"toUpper", fn_to_upper, 1, 1, 0},
    {"trim", fn_trim, 1, 1, 0},
    {"uniqueString", fn_unique_string, 1, -1, 0},
    {"uri", fn_uri, 2, 2, 0},
    {"uriComponent", fn_uri_component, 1, 1, 0},
    {"uriComponentToString", fn_uri_component_to_string, 1, 1, 0},
    {NULL, NULL, 0, 0, 0},
};
