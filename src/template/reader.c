/*
 * reader.c — the tolerant JSON reader of deployment bodies (template.h).
 *
 * az 2.45 sends a template as the file's own text after an unquoted
 * `template:` member name, comments and raw newlines included (TEMPLATES.md
 * §0.1, §2.3): a strict reader refuses what Azure accepts.  This one is a
 * recursive descent over the bytes that builds jansson values as it goes
 * and records where each value starts in a hash table keyed by the node's
 * address (the posmap), so that errors found much later (a bad function in
 * resources[3].name) can cite the line and column of the user's own file.
 *
 * Columns count characters (UTF-8 sequences), lines end at LF, CR or CRLF,
 * as Newtonsoft's line positions do; its error wording and JSON path
 * ("properties.template.resources[0]") are what ARM quotes inside
 * InvalidRequestContent, so they are used here too.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/internal.h"
#include "template/template.h"

#define MAX_DEPTH 256

/* ---- the position map: open addressing on the node's address ------------- */
struct slot {
  const json_t *node;
  int line, col;
};

struct tpl_posmap {
  struct slot *v;
  size_t cap, n; /* cap a power of two, at most half full */
};

static size_t slot_of(const struct tpl_posmap *m, const json_t *node)
{
  uint64_t h = (uint64_t)(uintptr_t)node * 0x9E3779B97F4A7C15ull;
  size_t i = (size_t)(h >> 32) & (m->cap - 1);
  while (m->v[i].node && m->v[i].node != node)
    i = (i + 1) & (m->cap - 1);
  return i;
}

static int posmap_put(struct tpl_posmap *m, const json_t *node, int line, int col)
{
  if (2 * (m->n + 1) > m->cap) {
    struct tpl_posmap bigger = {.cap = m->cap ? 2 * m->cap : 1024};
    if (!(bigger.v = calloc(bigger.cap, sizeof *bigger.v)))
      return -ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
      if (m->v[i].node)
        bigger.v[slot_of(&bigger, m->v[i].node)] = m->v[i];
    free(m->v);
    m->v = bigger.v;
    m->cap = bigger.cap;
  }
  size_t i = slot_of(m, node);
  if (!m->v[i].node)
    m->n++;
  m->v[i] = (struct slot){node, line, col};
  return 0;
}

bool tpl_pos_of(const struct tpl_posmap *pos, const json_t *node, struct tpl_pos *out)
{
  if (!pos || !node || pos->cap == 0)
    return false;
  const struct slot *s = &pos->v[slot_of(pos, node)];
  if (!s->node)
    return false;
  *out = (struct tpl_pos){s->line, s->col};
  return true;
}

void tpl_posmap_free(struct tpl_posmap *pos)
{
  if (pos) {
    free(pos->v);
    free(pos);
  }
}

/* ---- the reader ------------------------------------------------------------ */
struct rd {
  const unsigned char *s;
  size_t n, i;
  int line, col;        /* of s[i] */
  bool after_cr;        /* s[i-1] was a CR: an LF now ends no new line */
  struct tpl_posmap *pos;
  struct tpl_error *err;
  char path[256];       /* Newtonsoft's path of the value being read */
  size_t pathlen;
  int depth;
  char *buf;            /* string scratch */
  size_t buflen, bufcap;
};

static int peek(const struct rd *r)
{
  return r->i < r->n ? r->s[r->i] : -1;
}

static void advance(struct rd *r)
{
  unsigned char c = r->s[r->i++];
  if (c == '\n' && r->after_cr) {
    r->after_cr = false;
    return;
  }
  r->after_cr = c == '\r';
  if (c == '\n' || c == '\r') {
    r->line++;
    r->col = 1;
  } else if ((c & 0xC0) != 0x80) {
    r->col++;
  } else {
    /* a continuation byte: the same character */
  }
}

/* Length of the valid UTF-8 sequence at s[i] (1 for ASCII), 0 when invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n, size_t i, uint32_t *cp)
{
  unsigned char c = s[i];
  size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || i + len > n)
    return 0;
  uint32_t v = len == 1 ? c : c & (0x7F >> len);
  for (size_t k = 1; k < len; k++) {
    if ((s[i + k] & 0xC0) != 0x80)
      return 0;
    v = v << 6 | (s[i + k] & 0x3F);
  }
  static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < least[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  if (cp)
    *cp = v;
  return len;
}

__attribute__((format(printf, 2, 3))) static int fail(struct rd *r, const char *fmt, ...)
{
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  r->path[r->pathlen] = '\0';
  tpl_utf8_cut(r->path);
  tpl_fail(r->err, "InvalidRequestContent",
           "The request content was invalid and could not be deserialized: '%s. Path '%s', line %d, position %d.'",
           detail, r->path, r->line, r->col);
  r->err->line = r->line;
  r->err->col = r->col;
  snprintf(r->err->path, sizeof r->err->path, "%s", r->path);
  return -EINVAL;
}

/* The character at s[i] as an error message shows it. */
static const char *shown(const struct rd *r, char out[16])
{
  int c = peek(r);
  uint32_t cp;
  size_t len;
  if (c >= 0x20 && c < 0x7F)
    snprintf(out, 16, "%c", c);
  else if (c >= 0 && (len = utf8_len(r->s, r->n, r->i, &cp)) > 0)
    snprintf(out, 16, "\\u%04X", (unsigned)cp);
  else if (c >= 0)
    snprintf(out, 16, "0x%02X", (unsigned)c);
  else
    snprintf(out, 16, "end of input");
  return out;
}

static int unexpected(struct rd *r, const char *what)
{
  char c[16];
  if (peek(r) < 0)
    return fail(r, "Unexpected end when reading JSON");
  if (peek(r) == 0)
    return fail(r, "Unexpected NUL character");
  return fail(r, "%s: %s", what, shown(r, c));
}

/* Whitespace and comments. */
static int skip_blank(struct rd *r)
{
  for (;;) {
    int c = peek(r);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      advance(r);
    } else if (c == '/' && r->i + 1 < r->n && (r->s[r->i + 1] == '/' || r->s[r->i + 1] == '*')) {
      bool line = r->s[r->i + 1] == '/';
      advance(r);
      advance(r);
      for (;;) {
        if (r->i >= r->n) {
          if (line)
            return 0;
          return fail(r, "Unexpected end while parsing comment");
        }
        if (line && (r->s[r->i] == '\n' || r->s[r->i] == '\r'))
          break;
        if (!line && r->s[r->i] == '*' && r->i + 1 < r->n && r->s[r->i + 1] == '/') {
          advance(r);
          advance(r);
          break;
        }
        if (r->s[r->i] == 0)
          return fail(r, "Unexpected NUL character");
        size_t len = utf8_len(r->s, r->n, r->i, NULL);
        if (len == 0)
          return fail(r, "Invalid UTF-8 byte sequence");
        while (len--)
          advance(r);
      }
    } else {
      return 0;
    }
  }
}

static int buf_put(struct rd *r, const void *p, size_t len)
{
  if (r->buflen + len + 1 > r->bufcap) {
    size_t cap = r->bufcap ? r->bufcap : 256;
    while (cap < r->buflen + len + 1)
      cap *= 2;
    char *b = realloc(r->buf, cap);
    if (!b)
      return -ENOMEM;
    r->buf = b;
    r->bufcap = cap;
  }
  memcpy(r->buf + r->buflen, p, len);
  r->buflen += len;
  r->buf[r->buflen] = '\0';
  return 0;
}

static int hex4(struct rd *r, uint32_t *out)
{
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    int c = peek(r), d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0)
      return unexpected(r, "Invalid Unicode escape sequence character");
    v = v << 4 | (uint32_t)d;
    advance(r);
  }
  *out = v;
  return 0;
}

static int put_code_point(struct rd *r, uint32_t cp)
{
  unsigned char u[4];
  size_t len;
  if (cp < 0x80) {
    u[0] = (unsigned char)cp;
    len = 1;
  } else if (cp < 0x800) {
    u[0] = (unsigned char)(0xC0 | cp >> 6);
    u[1] = (unsigned char)(0x80 | (cp & 0x3F));
    len = 2;
  } else if (cp < 0x10000) {
    u[0] = (unsigned char)(0xE0 | cp >> 12);
    u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    u[2] = (unsigned char)(0x80 | (cp & 0x3F));
    len = 3;
  } else {
    u[0] = (unsigned char)(0xF0 | cp >> 18);
    u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    len = 4;
  }
  return buf_put(r, u, len);
}

/* A "..." (or '...') string into r->buf (r->buflen bytes, valid UTF-8, no
 * NUL). */
static int read_string(struct rd *r)
{
  const unsigned char quote = r->s[r->i];
  int rc = 0;
  r->buflen = 0;
  if ((rc = buf_put(r, "", 0)) < 0)
    return rc;
  advance(r); /* the opening quote */
  for (;;) {
    int c = peek(r);
    if (c < 0)
      return fail(r, "Unterminated string. Expected delimiter: %c", quote);
    if (c == quote) {
      advance(r);
      return 0;
    }
    if (c == 0)
      return fail(r, "Unexpected NUL character");
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t')
      return fail(r, "Invalid control character in string: 0x%02X", (unsigned)c);
    if (c != '\\') {
      /* a run of plain characters at once */
      size_t start = r->i;
      while (r->i < r->n && r->s[r->i] != quote && r->s[r->i] != '\\' && r->s[r->i] >= 0x20) {
        size_t len = utf8_len(r->s, r->n, r->i, NULL);
        if (len == 0)
          return fail(r, "Invalid UTF-8 byte sequence");
        while (len--)
          advance(r);
      }
      if (r->i == start) { /* a raw newline, CR or tab */
        advance(r);
      }
      if ((rc = buf_put(r, r->s + start, r->i - start)) < 0)
        return rc;
      continue;
    }
    advance(r);
    c = peek(r);
    uint32_t cp;
    static const char from[] = "\"'\\/bfnrt", to[] = "\"'\\/\b\f\n\r\t";
    const char *e = c > 0 ? strchr(from, c) : NULL;
    if (e) {
      advance(r);
      rc = buf_put(r, &to[e - from], 1);
    } else if (c == 'u') {
      advance(r);
      if ((rc = hex4(r, &cp)) < 0)
        return rc;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t lo;
        if (peek(r) != '\\' || r->i + 1 >= r->n || r->s[r->i + 1] != 'u')
          return fail(r, "Invalid Unicode escape sequence: a lone surrogate");
        advance(r);
        advance(r);
        if ((rc = hex4(r, &lo)) < 0)
          return rc;
        if (lo < 0xDC00 || lo > 0xDFFF)
          return fail(r, "Invalid Unicode escape sequence: a lone surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fail(r, "Invalid Unicode escape sequence: a lone surrogate");
      } else if (cp == 0) {
        return fail(r, "Unexpected NUL character");
      }
      rc = put_code_point(r, cp);
    } else {
      return unexpected(r, "Bad JSON escape sequence");
    }
    if (rc < 0)
      return rc;
  }
}

static bool ident_char(int c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

/* A member name: a string, or an unquoted identifier; into r->buf. */
static int read_name(struct rd *r)
{
  if (peek(r) == '"' || peek(r) == '\'')
    return read_string(r);
  if (!ident_char(peek(r)))
    return unexpected(r, "Invalid property identifier character");
  size_t start = r->i;
  while (ident_char(peek(r)))
    advance(r);
  r->buflen = 0;
  return buf_put(r, r->s + start, r->i - start);
}

static int read_number(struct rd *r, json_t **out)
{
  size_t start = r->i;
  bool real = false;
  if (peek(r) == '-')
    advance(r);
  if (peek(r) == '0') {
    advance(r);
  } else if (peek(r) >= '1' && peek(r) <= '9') {
    while (peek(r) >= '0' && peek(r) <= '9')
      advance(r);
  } else {
    return unexpected(r, "Unexpected character encountered while parsing number");
  }
  if (peek(r) == '.') {
    real = true;
    advance(r);
    if (!(peek(r) >= '0' && peek(r) <= '9'))
      return unexpected(r, "Unexpected character encountered while parsing number");
    while (peek(r) >= '0' && peek(r) <= '9')
      advance(r);
  }
  if (peek(r) == 'e' || peek(r) == 'E') {
    real = true;
    advance(r);
    if (peek(r) == '+' || peek(r) == '-')
      advance(r);
    if (!(peek(r) >= '0' && peek(r) <= '9'))
      return unexpected(r, "Unexpected character encountered while parsing number");
    while (peek(r) >= '0' && peek(r) <= '9')
      advance(r);
  }
  if (ident_char(peek(r)) || peek(r) == '.')
    return unexpected(r, "Unexpected character encountered while parsing number");
  int rc;
  r->buflen = 0;
  if ((rc = buf_put(r, r->s + start, r->i - start)) < 0)
    return rc;
  if (real) {
    double d = strtod(r->buf, NULL);
    if (!(*out = json_real(d)))
      return fail(r, "JSON number %s is out of range", r->buf);
    return 0;
  }
  errno = 0;
  long long v = strtoll(r->buf, NULL, 10);
  if (errno == ERANGE)
    return fail(r, "JSON integer %s is too large or small for an Int64", r->buf);
  *out = json_integer(v);
  return *out ? 0 : -ENOMEM;
}

static int read_value(struct rd *r, json_t **out);

static void path_restore(struct rd *r, size_t len)
{
  r->pathlen = len;
  r->path[len] = '\0';
}

/* Appends a member name to the path as Newtonsoft writes it. */
static void path_member(struct rd *r, const char *name)
{
  bool plain = *name != '\0';
  for (const char *p = name; *p; p++)
    plain = plain && (ident_char((unsigned char)*p) && *p != '$');
  size_t room = sizeof r->path - r->pathlen;
  int w = plain ? snprintf(r->path + r->pathlen, room, "%s%s", r->pathlen ? "." : "", name)
                : snprintf(r->path + r->pathlen, room, "['%s']", name);
  r->pathlen = w < 0 || (size_t)w >= room ? sizeof r->path - 1 : r->pathlen + (size_t)w;
}

static void path_index(struct rd *r, size_t i)
{
  size_t room = sizeof r->path - r->pathlen;
  int w = snprintf(r->path + r->pathlen, room, "[%zu]", i);
  r->pathlen = w < 0 || (size_t)w >= room ? sizeof r->path - 1 : r->pathlen + (size_t)w;
}

/* After a member or an element: 1 at the closing character (consumed),
 * 0 after a comma (and the blanks after it), or an error. */
static int next_item(struct rd *r, int close, size_t base)
{
  int rc;
  if ((rc = skip_blank(r)) < 0)
    return rc;
  if (peek(r) == close) {
    advance(r);
    path_restore(r, base);
    return 1;
  }
  if (peek(r) != ',')
    return unexpected(r, "After parsing a value an unexpected character was encountered");
  advance(r);
  return skip_blank(r);
}

static int read_object(struct rd *r, json_t *obj)
{
  int rc;
  size_t base = r->pathlen;
  advance(r); /* { */
  if ((rc = skip_blank(r)) < 0)
    return rc;
  if (peek(r) == '}') {
    advance(r);
    return 0;
  }
  for (;;) {
    int line = r->line, col = r->col;
    if ((rc = read_name(r)) < 0)
      return rc;
    CLEANUP_FREE char *name = strdup(r->buf);
    if (!name)
      return -ENOMEM;
    path_restore(r, base);
    path_member(r, name);
    if (json_object_get(obj, name)) {
      r->line = line;
      r->col = col;
      return fail(r, "Can not add property %s to Newtonsoft.Json.Linq.JObject. Property with the same name already "
                     "exists on object",
                  name);
    }
    if ((rc = skip_blank(r)) < 0)
      return rc;
    if (peek(r) != ':')
      return unexpected(r, "Invalid character after parsing property name. Expected ':' but got");
    advance(r);
    json_t *v = NULL;
    if ((rc = read_value(r, &v)) < 0)
      return rc;
    if (json_object_set_new(obj, name, v) < 0)
      return -ENOMEM;
    if ((rc = next_item(r, '}', base)) != 0)
      return rc < 0 ? rc : 0;
  }
}

static int read_array(struct rd *r, json_t *arr)
{
  int rc;
  size_t base = r->pathlen;
  advance(r); /* [ */
  if ((rc = skip_blank(r)) < 0)
    return rc;
  if (peek(r) == ']') {
    advance(r);
    return 0;
  }
  for (size_t i = 0;; i++) {
    path_restore(r, base);
    path_index(r, i);
    json_t *v = NULL;
    if ((rc = read_value(r, &v)) < 0)
      return rc;
    if (json_array_append_new(arr, v) < 0)
      return -ENOMEM;
    if ((rc = next_item(r, ']', base)) != 0)
      return rc < 0 ? rc : 0;
  }
}

static bool literal(struct rd *r, const char *word)
{
  size_t len = strlen(word);
  if (r->n - r->i < len || memcmp(r->s + r->i, word, len) != 0 ||
      (r->i + len < r->n && ident_char(r->s[r->i + len])))
    return false;
  for (size_t k = 0; k < len; k++)
    advance(r);
  return true;
}

static int read_value(struct rd *r, json_t **out)
{
  int rc;
  *out = NULL;
  if ((rc = skip_blank(r)) < 0)
    return rc;
  int line = r->line, col = r->col, c = peek(r);
  if (c == '{' || c == '[') {
    if (r->depth == MAX_DEPTH)
      return fail(r, "The reader's MaxDepth of %d has been exceeded", MAX_DEPTH);
    if (!(*out = c == '{' ? json_object() : json_array()))
      return -ENOMEM;
    r->depth++;
    rc = c == '{' ? read_object(r, *out) : read_array(r, *out);
    r->depth--;
  } else if (c == '"' || c == '\'') {
    if ((rc = read_string(r)) == 0 && !(*out = json_stringn_nocheck(r->buf, r->buflen)))
      rc = -ENOMEM;
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    rc = read_number(r, out);
  } else if (literal(r, "true")) {
    *out = json_true();
    return 0;
  } else if (literal(r, "false")) {
    *out = json_false();
    return 0;
  } else if (literal(r, "null")) {
    *out = json_null();
    return 0;
  } else {
    return unexpected(r, "Unexpected character encountered while parsing value");
  }
  if (rc == 0 && r->pos)
    rc = posmap_put(r->pos, *out, line, col);
  if (rc < 0) {
    json_decref(*out);
    *out = NULL;
  }
  return rc;
}

int tpl_read(const char *text, size_t len, json_t **out, struct tpl_posmap **pos, struct tpl_error *err)
{
  struct rd r = {.s = (const unsigned char *)text, .n = len, .line = 1, .col = 1, .err = err};
  json_t *v = NULL;
  int rc = 0;
  *out = NULL;
  if (pos) {
    *pos = NULL;
    if (!(r.pos = calloc(1, sizeof *r.pos))) {
      rc = -ENOMEM;
      goto out;
    }
  }
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
    r.i = 3;
  if ((rc = read_value(&r, &v)) < 0)
    goto out;
  r.pathlen = 0;
  if ((rc = skip_blank(&r)) < 0)
    goto out;
  if (r.i < r.n) {
    char c[16];
    rc = fail(&r, "Additional text encountered after finished reading JSON content: %s", shown(&r, c));
    goto out;
  }
  *out = v;
  v = NULL;
  if (pos) {
    *pos = r.pos;
    r.pos = NULL;
  }
out:
  if (rc == -ENOMEM)
    tpl_fail(err, "InternalServerError", "Out of memory while reading the request content.");
  json_decref(v);
  tpl_posmap_free(r.pos);
  free(r.buf);
  return rc;
}
