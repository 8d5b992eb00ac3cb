/*
 * expr.c — one template expression, "[...]": parsed, then evaluated
 * (template.h; the syntax is TEMPLATES.md §3.3).
 *
 *   expr    := primary { '.' name | '[' expr ']' }
 *   primary := name '(' [ expr { ',' expr } ] ')' | 'string' | integer
 *
 * A string is parsed once, by hand (no regular expressions), into a small
 * tree of nodes held in an arena that lives on the stack for ordinary
 * expressions and grows onto the heap for long ones; the tree is evaluated
 * at once and dropped.  Function names are resolved while parsing, so an
 * unknown function fails the whole expression even inside the branch of an
 * if() that is not taken, as in ARM.  Nesting is limited (MAX_NESTING) so
 * that a hostile 24,576-character expression cannot exhaust a thread's
 * stack.
 *
 * tpl_expr_references walks the same tree without evaluating it, to give
 * the planner the targets of reference() (implicit dependencies).
 *
 * Errors carry ARM's detail ("The template function 'x' is not found. ...")
 * in err->message without the "Deployment template validation failed"
 * frame, which the planner adds with the position in the file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/internal.h"

#define MAX_NESTING 128

/* ---- the tree, in an arena --------------------------------------------- */
enum node_kind { N_STRING, N_INT, N_CALL, N_MEMBER, N_INDEX };

struct node {
  enum node_kind kind;
  int nargs;               /* N_CALL */
  const char *s;           /* N_STRING: its value; N_MEMBER: the name (NUL-terminated) */
  size_t len;              /* of s */
  int64_t i;               /* N_INT */
  const struct tpl_function *fn; /* N_CALL */
  struct node *base;       /* N_MEMBER, N_INDEX: the value accessed */
  struct node *arg;        /* N_CALL: the first argument; N_INDEX: the index */
  struct node *next;       /* the next argument of a call */
};

struct block {
  struct block *next;
  char data[];
};

struct arena {
  char *p;
  size_t left;
  struct block *blocks;
};

static void *arena_alloc(struct arena *a, size_t size)
{
  size = (size + 15) & ~(size_t)15;
  if (size > a->left) {
    size_t cap = size > 16384 ? size : 16384;
    struct block *b = malloc(sizeof *b + cap);
    if (!b)
      return NULL;
    b->next = a->blocks;
    a->blocks = b;
    a->p = b->data;
    a->left = cap;
  }
  void *r = a->p;
  a->p += size;
  a->left -= size;
  return r;
}

static void arena_free(struct arena *a)
{
  while (a->blocks) {
    struct block *b = a->blocks;
    a->blocks = b->next;
    free(b);
  }
}

/* ---- the tokenizer ---------------------------------------------------- */
enum tok { T_END, T_NAME, T_STRING, T_INT, T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA, T_DOT, T_BAD };

static const char *tok_name(enum tok t)
{
  static const char *const names[] = {"EndOfData",         "Identifier",         "String", "Integer",
                                      "LeftParenthesis",   "RightParenthesis",   "LeftSquareBracket",
                                      "RightSquareBracket", "Comma",             "Dot",    "Unknown"};
  return names[t];
}

struct parser {
  const char *s; /* the expression, between the brackets */
  size_t n, i;
  enum tok tok;       /* the current token */
  size_t start, end;  /* its text */
  struct arena *arena;
  struct tpl_error *err;
  int nesting;
};

static bool name_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

/* The expression as error messages quote it (cut when very long, at a
 * character's start). */
static int quote_len(const struct parser *p)
{
  size_t n = p->n > 600 ? 600 : p->n;
  while (n < p->n && n > 0 && ((unsigned char)p->s[n] & 0xC0) == 0x80)
    n--;
  return (int)n;
}

/* The length of the UTF-8 character at s[i] (1 for ASCII or a stray byte). */
static int char_len(const struct parser *p, size_t i)
{
  int len = 1;
  while (i + (size_t)len < p->n && len < 4 && ((unsigned char)p->s[i + (size_t)len] & 0xC0) == 0x80)
    len++;
  return len;
}

__attribute__((format(printf, 2, 3))) static int syntax_error(struct parser *p, const char *fmt, ...)
{
  char detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return tpl_fail(p->err, "InvalidTemplate", "Unable to parse language expression '%.*s%s': %s", quote_len(p), p->s,
                  p->n > 600 ? "..." : "", detail);
}

static int next(struct parser *p)
{
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
    p->i++;
  p->start = p->i;
  if (p->i == p->n) {
    p->tok = T_END;
  } else {
    char c = p->s[p->i];
    static const char single[] = "()[],.";
    const char *k = strchr(single, c);
    if (k && c) {
      static const enum tok kinds[] = {T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA, T_DOT};
      p->tok = kinds[k - single];
      p->i++;
    } else if (c == '\'') {
      p->i++;
      for (;;) {
        if (p->i == p->n)
          return syntax_error(p, "the string literal starting at position '%zu' is not terminated.", p->start);
        if (p->s[p->i] == '\'') {
          if (p->i + 1 < p->n && p->s[p->i + 1] == '\'') {
            p->i += 2;
            continue;
          }
          p->i++;
          break;
        }
        p->i++;
      }
      p->tok = T_STRING;
    } else if ((c >= '0' && c <= '9') || (c == '-' && p->i + 1 < p->n && p->s[p->i + 1] >= '0' &&
                                          p->s[p->i + 1] <= '9')) {
      p->i++;
      while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
        p->i++;
      p->tok = T_INT;
      if (p->i < p->n && (name_char(p->s[p->i]) || p->s[p->i] == '.'))
        return syntax_error(p, "the character '%c' is not expected after a number.", p->s[p->i]);
    } else if (name_char(c)) {
      while (p->i < p->n && name_char(p->s[p->i]))
        p->i++;
      p->tok = T_NAME;
    } else {
      return syntax_error(p, "the character '%.*s' at position '%zu' is not expected.", char_len(p, p->i), p->s + p->i,
                          p->i);
    }
  }
  p->end = p->i;
  return 0;
}

static int expect(struct parser *p, enum tok t)
{
  if (p->tok != t)
    return syntax_error(p, "expected token '%s' and actual '%s'.", tok_name(t), tok_name(p->tok));
  return next(p);
}

static struct node *new_node(struct parser *p, enum node_kind kind)
{
  struct node *n = arena_alloc(p->arena, sizeof *n);
  if (n)
    *n = (struct node){.kind = kind};
  return n;
}

/* The text of the current token, NUL-terminated, in the arena; for a
 * string literal its value ('' → '). */
static char *token_text(struct parser *p, size_t *len)
{
  size_t from = p->start, to = p->end;
  if (p->tok == T_STRING) {
    from++;
    to--;
  }
  char *t = arena_alloc(p->arena, to - from + 1);
  if (!t)
    return NULL;
  size_t k = 0;
  for (size_t i = from; i < to; i++) {
    t[k++] = p->s[i];
    if (p->s[i] == '\'' && p->tok == T_STRING)
      i++;
  }
  t[k] = '\0';
  *len = k;
  return t;
}

static int parse_expr(struct parser *p, struct node **out);

static int parse_call(struct parser *p, struct node *call, const char *name, size_t len)
{
  int rc;
  if ((rc = next(p)) < 0) /* the name */
    return rc;
  if (p->tok == T_DOT) /* namespace.function( */
    return tpl_fail(p->err, "InvalidTemplate",
                    "The template function '%s.…' is a user-defined function; user-defined functions are not "
                    "supported. Please see https://aka.ms/arm-functions for usage details.",
                    name);
  if ((rc = expect(p, T_LPAREN)) < 0)
    return rc;
  if (!(call->fn = tpl_function_find(name, len))) {
    if (len > 4 && strncasecmp(name, "list", 4) == 0)
      return tpl_fail(p->err, "InvalidTemplate",
                      "The template function '%s' is not supported: list*() functions call a resource provider's "
                      "action, which this service does not offer. Please see https://aka.ms/arm-functions for "
                      "usage details.",
                      name);
    return tpl_fail(p->err, "InvalidTemplate",
                    "The template function '%s' is not found. Please see https://aka.ms/arm-functions for usage "
                    "details.",
                    name);
  }
  struct node **tail = &call->arg;
  if (p->tok == T_RPAREN)
    return next(p);
  for (;;) {
    if ((rc = parse_expr(p, tail)) < 0)
      return rc;
    tail = &(*tail)->next;
    call->nargs++;
    if (p->tok == T_RPAREN)
      return next(p);
    if (p->tok != T_COMMA)
      return syntax_error(p, "expected token '%s' and actual '%s'.", tok_name(T_RPAREN), tok_name(p->tok));
    if ((rc = next(p)) < 0)
      return rc;
  }
}

static int parse_primary(struct parser *p, struct node **out)
{
  int rc;
  size_t len;
  char *text;
  struct node *n = NULL;
  switch (p->tok) {
  case T_STRING:
  case T_INT:
    if (!(n = new_node(p, p->tok == T_STRING ? N_STRING : N_INT)) || !(text = token_text(p, &len)))
      return tpl_no_memory(p->err);
    n->s = text;
    n->len = len;
    if (n->kind == N_INT) {
      errno = 0;
      n->i = strtoll(text, NULL, 10);
      if (errno == ERANGE)
        return syntax_error(p, "the integer '%s' is too large or small for an Int64.", text);
    }
    *out = n;
    return next(p);
  case T_NAME:
    if (!(n = new_node(p, N_CALL)) || !(text = token_text(p, &len)))
      return tpl_no_memory(p->err);
    n->s = text;
    n->len = len;
    *out = n;
    rc = parse_call(p, n, text, len);
    return rc;
  default:
    return syntax_error(p, "expected a function call, a string or an integer, and actual '%s'.", tok_name(p->tok));
  }
}

static int parse_expr(struct parser *p, struct node **out)
{
  int rc;
  if (++p->nesting > MAX_NESTING) {
    return syntax_error(p, "the expression is nested more than %d levels deep.", MAX_NESTING);
  }
  if ((rc = parse_primary(p, out)) < 0)
    return rc;
  for (;;) {
    if (p->tok == T_DOT) {
      if ((rc = next(p)) < 0)
        return rc;
      if (p->tok != T_NAME)
        return syntax_error(p, "expected token '%s' and actual '%s'.", tok_name(T_NAME), tok_name(p->tok));
      struct node *m = new_node(p, N_MEMBER);
      if (!m || !(m->s = token_text(p, &m->len)))
        return tpl_no_memory(p->err);
      m->base = *out;
      *out = m;
      if ((rc = next(p)) < 0)
        return rc;
    } else if (p->tok == T_LBRACK) {
      struct node *x = new_node(p, N_INDEX);
      if (!x)
        return tpl_no_memory(p->err);
      x->base = *out;
      *out = x;
      if ((rc = next(p)) < 0 || (rc = parse_expr(p, &x->arg)) < 0 || (rc = expect(p, T_RBRACK)) < 0)
        return rc;
    } else {
      p->nesting--;
      return 0;
    }
  }
}

/* ---- evaluation --------------------------------------------------------- */
struct ctx {
  const struct tpl_eval *ev;
  struct tpl_error *err;
  size_t *left; /* the budget (tpl_eval.budget) */
};

static int eval(struct ctx *x, const struct node *n, json_t **out);

int tpl_call_arg(struct tpl_call *c, int i, json_t **out)
{
  const struct node *call = c->frame, *a = call->arg;
  while (i-- > 0)
    a = a->next;
  struct ctx x = {c->ev, c->err, c->left};
  return eval(&x, a, out);
}

static int arity_error(struct ctx *x, const struct tpl_function *fn, int n)
{
  const char *name = fn->name;
  if (fn->max < 0 && fn->min == 1)
    return tpl_fail(x->err, "InvalidTemplate",
                    "Unable to evaluate template language function '%s'. At least one parameter should be provided. "
                    "Please see https://aka.ms/arm-template-expressions for usage details.",
                    name);
  char need[64];
  if (fn->max < 0)
    snprintf(need, sizeof need, "at least %d", fn->min);
  else if (fn->min != fn->max)
    snprintf(need, sizeof need, "between %d and %d", fn->min, fn->max);
  else
    snprintf(need, sizeof need, "%d", fn->min);
  return tpl_fail(x->err, "InvalidTemplate",
                  "Unable to evaluate template language function '%s': function requires %s argument(s) while %d "
                  "were provided. Please see https://aka.ms/arm-template-expressions/#%s for usage details.",
                  name, need, n, name);
}

static int eval_call(struct ctx *x, const struct node *n, json_t **out)
{
  const struct tpl_function *fn = n->fn;
  if (n->nargs < fn->min || (fn->max >= 0 && n->nargs > fn->max))
    return arity_error(x, fn, n->nargs);
  struct tpl_call c = {.ev = x->ev, .err = x->err, .fn = fn, .frame = (void *)n, .left = x->left};
  json_t *small[8], **args = small;
  int rc = 0, done = 0;
  if (fn->flags & TPL_FN_LAZY) {
    rc = fn->impl(&c, NULL, n->nargs, out);
  } else {
    if (n->nargs > 8 && !(args = calloc((size_t)n->nargs, sizeof *args)))
      return tpl_no_memory(x->err);
    for (const struct node *a = n->arg; a && rc == 0; a = a->next)
      if ((rc = eval(x, a, &args[done])) == 0)
        done++;
    if (rc == 0)
      rc = fn->impl(&c, args, n->nargs, out);
  }
  while (done > 0)
    json_decref(args[--done]);
  if (args != small)
    free(args);
  if (rc == 0 && !(fn->flags & TPL_FN_STORED)) {
    size_t size = tpl_json_size(*out, *x->left);
    if (size > *x->left) {
      json_decref(*out);
      *out = NULL;
      char what[128];
      snprintf(what, sizeof what, "What the template language expression makes, up to function '%s',", fn->name);
      return tpl_too_big(x->err, what, *x->left);
    }
    *x->left -= size;
  }
  return rc;
}

static int property_error(struct ctx *x, const json_t *obj, const char *name)
{
  char avail[1024];
  size_t used = 0;
  avail[0] = '\0';
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    int w = snprintf(avail + used, sizeof avail - used, "%s%s", used ? ", " : "", key);
    if (w < 0 || (size_t)w >= sizeof avail - used)
      break;
    used += (size_t)w;
  }
  return tpl_fail(x->err, "InvalidTemplate",
                  "The language expression property '%s' doesn't exist, available properties are '%s'.", name, avail);
}

static int member(struct ctx *x, const json_t *base, const char *name, json_t **out)
{
  if (!json_is_object(base))
    return tpl_fail(x->err, "InvalidTemplate",
                    "The language expression property '%s' can't be evaluated, the value is of type '%s' (not an "
                    "object).",
                    name, tpl_type_name(base));
  json_t *v = tpl_member(base, name, NULL);
  if (!v)
    return property_error(x, base, name);
  *out = json_incref(v);
  return 0;
}

static int index_of(struct ctx *x, const json_t *base, const json_t *idx, json_t **out)
{
  if (json_is_string(idx))
    return member(x, base, json_string_value(idx), out);
  if (!json_is_array(base) || !json_is_integer(idx))
    return tpl_fail(x->err, "InvalidTemplate",
                    "The language expression property array index can't be evaluated: a value of type '%s' can't "
                    "be indexed by a value of type '%s'.",
                    tpl_type_name(base), tpl_type_name(idx));
  json_int_t i = json_integer_value(idx);
  if (i < 0 || (size_t)i >= json_array_size(base))
    return tpl_fail(x->err, "InvalidTemplate", "The language expression property array index '%lld' is out of bounds.",
                    (long long)i);
  *out = json_incref(json_array_get(base, (size_t)i));
  return 0;
}

static int eval(struct ctx *x, const struct node *n, json_t **out)
{
  int rc = 0;
  json_t *base = NULL, *idx = NULL;
  *out = NULL;
  switch (n->kind) {
  case N_STRING:
    *out = tpl_string_n(n->s, n->len);
    break;
  case N_INT:
    *out = json_integer(n->i);
    break;
  case N_CALL:
    return eval_call(x, n, out);
  case N_MEMBER:
    if ((rc = eval(x, n->base, &base)) == 0)
      rc = member(x, base, n->s, out);
    json_decref(base);
    return rc;
  case N_INDEX:
    if ((rc = eval(x, n->base, &base)) == 0 && (rc = eval(x, n->arg, &idx)) == 0)
      rc = index_of(x, base, idx, out);
    json_decref(base);
    json_decref(idx);
    return rc;
  }
  return *out ? 0 : tpl_no_memory(x->err);
}

/* ---- the entry points -------------------------------------------------- */
bool tpl_is_expression(const char *s)
{
  size_t n = strlen(s);
  return n >= 2 && s[0] == '[' && s[n - 1] == ']' && s[1] != '[';
}

/* Parses the expression s (n characters, brackets included) into *root. */
static int parse(const char *s, size_t n, struct arena *arena, struct node **root, struct tpl_error *err)
{
  if (n - 2 > TPL_MAX_EXPRESSION)
    return tpl_fail(err, "InvalidTemplate",
                    "The template language expression is %zu characters long, more than the limit of '%d' "
                    "characters. Please see https://aka.ms/arm-template-expressions for usage details.",
                    n - 2, TPL_MAX_EXPRESSION);
  struct parser p = {.s = s + 1, .n = n - 2, .arena = arena, .err = err};
  int rc;
  if ((rc = next(&p)) < 0)
    return rc;
  if (p.tok == T_END)
    return tpl_fail(err, "InvalidTemplate",
                    "The language expression '' is not valid: the expression is empty. Please see "
                    "https://aka.ms/arm-template-expressions for usage details.");
  if ((rc = parse_expr(&p, root)) < 0)
    return rc;
  return expect(&p, T_END);
}

int tpl_eval_string(const struct tpl_eval *ev, const char *s, json_t **out, struct tpl_error *err)
{
  size_t n = strlen(s);
  *out = NULL;
  if (!tpl_is_expression(s)) {
    bool escaped = n >= 3 && s[0] == '[' && s[1] == '[' && s[n - 1] == ']';
    *out = escaped ? tpl_string_n(s + 1, n - 1) : tpl_string_n(s, n);
    return *out ? 0 : tpl_no_memory(err);
  }
  _Alignas(16) char first[8192];
  struct arena arena = {.p = first, .left = sizeof first};
  struct node *root = NULL;
  int rc = parse(s, n, &arena, &root, err);
  if (rc == 0) {
    size_t own = TPL_MAX_JOB_SIZE;
    struct ctx x = {ev, err, ev->budget ? ev->budget : &own};
    rc = eval(&x, root, out);
  }
  arena_free(&arena);
  return rc;
}

/* Every reference() call under n (n's siblings included). */
static int walk_references(struct ctx *x, const struct node *n, void (*found)(void *ctx, const char *name), void *ctx)
{
  int rc = 0;
  for (; n && rc == 0; n = n->next) {
    if (n->kind == N_CALL && strcasecmp(n->fn->name, "reference") == 0 && n->arg) {
      json_t *v = NULL;
      struct tpl_error ignored = {0};
      struct ctx quiet = {x->ev, &ignored, x->left};
      if ((rc = eval(&quiet, n->arg, &v)) == 0 && json_is_string(v))
        found(ctx, json_string_value(v));
      json_decref(v);
      if (rc == -ENOMEM)
        rc = tpl_no_memory(x->err);
      else
        rc = 0; /* an argument not known now names no resource known now */
    }
    if (rc == 0 && n->base)
      rc = walk_references(x, n->base, found, ctx);
    if (rc == 0 && n->arg)
      rc = walk_references(x, n->arg, found, ctx);
  }
  return rc;
}

int tpl_expr_references(const struct tpl_eval *ev, const char *s, void (*found)(void *ctx, const char *name),
                        void *ctx, struct tpl_error *err)
{
  if (!tpl_is_expression(s))
    return 0;
  _Alignas(16) char first[8192];
  struct arena arena = {.p = first, .left = sizeof first};
  struct node *root = NULL;
  int rc = parse(s, strlen(s), &arena, &root, err);
  if (rc == 0) {
    size_t own = TPL_MAX_JOB_SIZE;
    struct ctx x = {ev, err, ev->budget ? ev->budget : &own};
    rc = walk_references(&x, root, found, ctx);
  }
  arena_free(&arena);
  return rc;
}
