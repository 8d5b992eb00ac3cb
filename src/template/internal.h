/*
 * internal.h — what the files of template/ share and nothing outside it
 * sees: filling a struct tpl_error, and the contract between the
 * expression evaluator (expr.c) and the function library (fn_*.c).
 *
 * A function is a row of a family's table (struct tpl_function): its name
 * as Microsoft documents it, its arity and its implementation.  The
 * evaluator checks the arity, evaluates the arguments (left to right) and
 * calls the implementation with borrowed argument values; the
 * implementation returns 0 with *out (a new reference) or -errno with the
 * error filled through the helpers below, in ARM's words.  A lazy function
 * (if) gets no values and evaluates the arguments it needs itself
 * (tpl_call_arg).
 */
#pragma once
#include <stdarg.h>
#include <stdint.h>

#include "common/cleanup.h"
#include "template/template.h"

/* Fills err with code and the printf-formatted message (truncated to fit)
 * and clears its position and path; returns -EINVAL, so that an error path
 * reads `return tpl_fail(err, ...)`.  err may be NULL. */
__attribute__((format(printf, 3, 4))) int tpl_fail(struct tpl_error *err, const char *code, const char *fmt, ...);
/* Drops an incomplete UTF-8 sequence at the end of s (left by a cut). */
void tpl_utf8_cut(char *s);

/* ---- the function library ------------------------------------------------ */
struct tpl_call;
typedef int tpl_impl(struct tpl_call *c, json_t *const *args, int n, json_t **out);

enum {
  TPL_FN_LAZY = 1,   /* impl gets args NULL and calls tpl_call_arg */
  TPL_FN_STORED = 2, /* returns a value stored and measured once (parameters()): not charged to the budget */
};

struct tpl_function {
  const char *name; /* as documented ("base64ToString"); matched case-insensitively */
  tpl_impl *impl;
  int min, max;     /* arguments; max -1: no limit */
  unsigned flags;
};

/* One call being evaluated. */
struct tpl_call {
  const struct tpl_eval *ev;
  struct tpl_error *err;
  const struct tpl_function *fn;
  void *frame; /* the evaluator's (lazy arguments) */
  size_t *left; /* the evaluation's budget (tpl_eval.budget): bytes its results may still add up to */
};

/* The families (fn_*.c), each a table ending with a row whose name is NULL. */
extern const struct tpl_function tpl_fn_string[], tpl_fn_array[], tpl_fn_object[], tpl_fn_compare[],
    tpl_fn_logic[], tpl_fn_numeric[], tpl_fn_date[], tpl_fn_resource[], tpl_fn_deployment[], tpl_fn_scope[],
    tpl_fn_unsupported[];

/* The function called name (case-insensitive), NULL when there is none
 * (functions.c). */
const struct tpl_function *tpl_function_find(const char *name, size_t len);

/* Lazy functions: the value of argument i (a new reference). */
int tpl_call_arg(struct tpl_call *c, int i, json_t **out);

/* ---- argument checks, in ARM's words --------------------------------------- */
/* ARM's name of a value's type: 'String', 'Integer', 'Boolean', 'Array',
 * 'Object', 'Null', 'Float'. */
const char *tpl_type_name(const json_t *v);
/* "The template language function 'f' expects its [first ]parameter to be
 * of type 'T'. The provided value is of type 'U'. Please see ..." — what
 * names the expected type(s) in ARM's phrase: "of type 'String'", "an
 * array or a string". */
int tpl_type_error(struct tpl_call *c, int i, const json_t *got, const char *what);
/* Argument i as a string / integer / boolean, or the type error. */
int tpl_arg_string(struct tpl_call *c, json_t *const *args, int i, const char **out);
int tpl_arg_int(struct tpl_call *c, json_t *const *args, int i, int64_t *out);
int tpl_arg_bool(struct tpl_call *c, json_t *const *args, int i, bool *out);
/* Any other refusal of function f: "... Please see ...#f for usage details." */
__attribute__((format(printf, 2, 3))) int tpl_call_fail(struct tpl_call *c, const char *fmt, ...);
/* -ENOMEM with the error said. */
int tpl_no_memory(struct tpl_error *err);
/* How a function returns a value it just made: 0 with *out = v, or
 * -ENOMEM when v is NULL (the allocation failed). */
int tpl_done(struct tpl_call *c, json_t *v, json_t **out);

/* ---- values ------------------------------------------------------------- */
#define TPL_MAX_DEPTH 512 /* nesting of a value (tpl_json_size) */

/* A growing string; after a failed allocation, or once it would pass
 * TPL_MAX_JOB_SIZE bytes (big), every add is ignored and oom stays set, so a
 * sequence of adds is checked once at the end. */
struct tpl_buf {
  char *p;
  size_t len, cap;
  bool oom, big;
};
void tpl_buf_add(struct tpl_buf *b, const char *s, size_t len);
void tpl_buf_str(struct tpl_buf *b, const char *s);
/* The text as a JSON string (a new reference) and the buffer emptied;
 * NULL when out of memory or too big. */
json_t *tpl_buf_json(struct tpl_buf *b);
/* How a function returns the string it built: tpl_done, or the size error
 * (tpl_too_big) when it grew past TPL_MAX_JOB_SIZE. */
int tpl_buf_done(struct tpl_call *c, struct tpl_buf *b, json_t **out);
/* The length of v as compact JSON text (close to it: escapes count one
 * byte), counted only up to limit: a value larger than limit, or nested
 * deeper than TPL_MAX_DEPTH, answers limit + 1.  Shared nodes count each
 * time they appear, as they would be written, so the walk is bounded by
 * limit even for a value built of one node referenced 2^60 times. */
size_t tpl_json_size(const json_t *v, size_t limit);
/* Whether a result of n elements (or members) could fit the call's budget
 * (each at least two bytes of JSON); else the size error (-E2BIG), so that
 * concat() of a big array repeated cannot allocate before it is measured. */
int tpl_room_for(struct tpl_call *c, size_t n);
/* DeploymentJobSizeExceeded for a value of what (a function's result, a
 * variable...) larger than limit bytes; returns -E2BIG. */
int tpl_too_big(struct tpl_error *err, const char *what, size_t limit);

/* A member of an object by name, case-insensitively (an exact match first);
 * NULL when absent.  The member's key (as stored, or name itself on an
 * exact match) goes to *key when key is not NULL. */
json_t *tpl_member(const json_t *obj, const char *name, const char **key);
/* A string value of len bytes (a new reference; NULL when out of memory). */
json_t *tpl_string_n(const char *s, size_t len);
/* Characters (code points) in len bytes of UTF-8. */
size_t tpl_utf8_chars(const char *s, size_t len);
/* The byte offset of character i (clamped to 0..len). */
size_t tpl_utf8_offset(const char *s, size_t len, int64_t i);
/* Whether a equals b, as equals() and union() compare: deeply, integers
 * and floats by value, member names exactly. */
bool tpl_equal(const json_t *a, const json_t *b);
/* Value as concat() and string() write it: strings as they are, integers in
 * decimal, booleans True/False (.NET), null as "", others compact JSON.
 * Returns a malloc'd string (NULL when out of memory). */
char *tpl_to_text(const json_t *v);
