/*
 * plan.h — what the planner's files share (template.c, params.c,
 * variables.c, resources.c, deps.c, body.c, outputs.c, nested.c); not part of
 * template.h's promise.
 *
 * A struct tpl_template owns everything it computed: parameter values,
 * variable values (evaluated once, on first use), the plan's resources and
 * their strings.  Nodes of the template itself are borrowed (the caller keeps
 * the template alive).  An evaluation runs in a struct plan_ctx: the
 * template, the world, the copy loops it is inside (innermost last) and what
 * the expression may use (enum tpl_allow).
 */
#pragma once
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>

#include "template/internal.h"
#include "template/template.h"

#define PLAN_MAX_FRAMES 16 /* copy loops one value may sit in (resource, property copies) */
#define PLAN_MAX_WORK (64u << 20) /* bytes of values a template and its nested ones may make (16 job sizes) */
#define PLAN_MAX_TREE 8000        /* resources a template and its nested ones may plan together */

/* What a template and the nested templates its load plans may still spend,
 * shared by them (a nested deployment planned at run has its own): bytes
 * of values made by expressions (tpl_eval.budget) and resources planned,
 * so that neither a short expression nor nested copy loops (800 nested
 * deployments of 800 nested deployments ...) can take the daemon's memory
 * or time. */
struct plan_budget {
  size_t work;
  long long resources;
};

struct plan_frame {
  const char *name; /* the loop's name (borrowed) */
  int index;
};

struct plan_param {
  const char *name;   /* as declared (borrowed key) */
  json_t *decl;       /* its declaration (borrowed) */
  int type;           /* plan_type() */
  json_t *value;      /* owned; NULL until resolved */
  bool secure, resolving;
};

struct plan_var {
  const char *name;   /* borrowed */
  json_t *decl;       /* the value as written, or the copy loop {name,count,input} */
  bool loop;          /* declared in "copy": [...] */
  json_t *value;      /* owned; NULL until evaluated */
  bool resolving;
  char *path;         /* "properties.template.variables.x" */
};

struct plan_res {
  struct tpl_resource pub;
  json_t *decl;              /* the declaration (borrowed) */
  int parent;                /* plan index of the parent it is declared in, or -1 */
  struct plan_frame loop;    /* its copy loop (name NULL: none); children inherit their root's */
  bool own_loop;             /* the loop is its own declaration's (not a parent's) */
  int first;                 /* own loop: plan index of the loop's first instance */
  int batch;                 /* own serial loop: batchSize; 0 parallel */
  int *deps;                 /* owned: pub.depends */
  char *id, *type, *name, *api_version, *sub, *rg, *path; /* owned: pub's strings */
};

/* ---- index.c: keys → plan entries, sorted ------------------------------------ */
struct plan_key {
  char *key; /* owned */
  int res;
};
struct plan_index {
  struct plan_key *v;
  int n, cap;
};
int plan_index_add(struct plan_index *x, const char *key, int res); /* key copied; 0 or -ENOMEM */
void plan_index_sort(struct plan_index *x);                         /* before plan_index_find */
/* The first entry whose key equals key (case-insensitive): its position, entries with the same key follow
 * in plan order; -1 when none. */
int plan_index_find(const struct plan_index *x, const char *key);
void plan_index_free(struct plan_index *x);

struct tpl_template {
  json_t *tmpl;                     /* borrowed */
  const struct tpl_posmap *pos;
  const struct tpl_world *world;
  char *path;                       /* "properties.template" */
  struct tpl_template *outer;       /* scope outer: parameters and variables are this one's */
  struct plan_param *params;
  int nparams;
  struct plan_var *vars;
  int nvars;
  struct plan_res *res;
  int nres, capres;
  struct plan_index names;          /* full names, once the plan is complete */
  json_t *deployment;               /* deployment(), built on first use */
  struct plan_budget own, *budget;  /* budget: own, or the template's whose load planned this one */
  size_t var_bytes;                 /* the variables' values so far (tpl_json_size) */
  bool params_done;                 /* every parameter resolved */
  const char **secrets;
  int nsecrets;
  char hash[21];
};

struct plan_ctx {
  struct tpl_template *t;
  const struct tpl_world *world;
  unsigned allow;                   /* enum tpl_allow */
  bool no_variables;                /* a parameter's default: variables() is not allowed there */
  size_t left;                      /* bytes the context's evaluations may still make (tpl_eval.budget) */
  struct plan_frame frames[PLAN_MAX_FRAMES];
  int nframes;
  /* resource_id_of answers; while set, every name resolved is added here
   * (implicit dependencies of reference()). */
  int *found;
  int nfound;
};

/* ---- template.c: loading, errors, evaluation ------------------------------------ */
/* tpl_load; outer: the template whose parameters and variables a nested
 * template of scope outer sees (its own are not read); nested: no $schema
 * or size check (the root's covered them); budget: the one to spend (a
 * parent's), NULL a fresh one. */
int plan_load(const struct tpl_input *in, struct tpl_template *outer, bool nested, struct plan_budget *budget,
              struct tpl_template **out, struct tpl_error *err);
/* " at line 'L' and column 'C'" for node, or "" when its position is unknown;
 * buf holds 64 bytes. */
const char *plan_at(const struct tpl_template *t, const json_t *node, char buf[64]);
/* err: InvalidTemplate, "Deployment template validation failed: '<fmt>'.",
 * node's position and path.  Returns -EINVAL. */
int plan_fail(const struct tpl_template *t, const json_t *node, const char *path, struct tpl_error *err,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* An evaluation error (err filled by the evaluator) of the thing named by
 * what ("The template resource 'x'"): wrapped in ARM's wording with node's
 * position and path.  Returns r. */
int plan_eval_failed(const struct tpl_template *t, const json_t *node, const char *path, const char *what, int r,
                     struct tpl_error *err);
/* Evaluates one template string in c: 0 with *out, -EINVAL / -EAGAIN with
 * err as the evaluator left it (no position). */
int plan_eval(struct plan_ctx *c, const char *s, json_t **out, struct tpl_error *err);
/* Spends v's size from c's budget, for values a copy loop builds of the
 * template's own text (its expressions' results are charged as they are
 * made): 0, or -E2BIG with err (what names the values). */
int plan_charge(struct plan_ctx *c, const json_t *v, const char *what, struct tpl_error *err);
/* The reference() targets of s (tpl_expr_references) in c. */
int plan_references(struct plan_ctx *c, const char *s, void (*found)(void *ctx, const char *name), void *ctx,
                    struct tpl_error *err);
/* A context for t in world, allowing allow; its evaluations together may
 * make TPL_MAX_JOB_SIZE bytes of values (at most what t's budget has left). */
void plan_ctx_init(struct plan_ctx *c, struct tpl_template *t, const struct tpl_world *world, unsigned allow);
/* Pushes a copy loop frame: 0 or -EINVAL (too deep). */
int plan_push(struct plan_ctx *c, const char *name, int index, struct tpl_error *err);
/* Case-insensitive member lookup. */
json_t *plan_member(const json_t *obj, const char *name);
/* A JSON integer, or a string holding one (copy counts): 0 with *out or -EINVAL. */
int plan_integer(const json_t *v, long long *out);
/* names[0..n) (declared in node at path: parameters, variables, outputs)
 * pairwise distinct case-insensitively, as ARM's dictionaries keep them;
 * else InvalidTemplate naming the two ("The template <kind> 'x' is <verb>
 * more than once").  Two spellings
 * of one name would let parameters('PW') read the secure 'pw'. */
int plan_names_unique(const struct tpl_template *t, const char *const *names, int n, const json_t *node,
                      const char *path, const char *kind, const char *verb, struct tpl_error *err);
/* "prefix.name" / "prefix[i]", malloc'd (NULL on ENOMEM). */
char *plan_path(const char *prefix, const char *member, int index);
/* The template whose parameters and variables t's expressions see. */
struct tpl_template *plan_scope(struct tpl_template *t);

/* ---- params.c ------------------------------------------------------------ */
/* Declarations and supplied values checked; values resolved (defaults
 * evaluated).  0 or -EINVAL/-ENOMEM with err. */
int params_load(struct tpl_template *t, json_t *supplied, struct tpl_error *err);
/* parameters('name') */
int params_get(struct tpl_template *t, const char *name, json_t **out, struct tpl_error *err);
void params_free(struct tpl_template *t);
/* Declared types (parameters and outputs): the index of a type name
 * (case-insensitive), or -1; its name in views ("SecureString"); whether a
 * value is of it (strictly: no coercion); Newtonsoft's name of the JSON type
 * it wants ("Integer") and of a value's. */
int plan_type(const char *declared);
const char *plan_type_view(int type);
bool plan_type_secure(int type);
bool plan_type_matches(int type, const json_t *v);
const char *plan_type_token(int type);
const char *plan_token_name(const json_t *v);

/* ---- variables.c ----------------------------------------------------------- */
int vars_load(struct tpl_template *t, struct tpl_error *err);
int vars_get(struct tpl_template *t, const char *name, json_t **out, struct tpl_error *err);
void vars_free(struct tpl_template *t);

/* ---- resources.c ----------------------------------------------------------- */
/* The plan: declarations flattened, copies expanded, conditions, names,
 * types, ids, targets of nested deployments. */
int resources_load(struct tpl_template *t, struct tpl_error *err);
void resources_free(struct tpl_template *t);
/* A context for evaluating resource i: its copy loop pushed. */
int resources_ctx(struct tpl_template *t, int i, const struct tpl_world *world, unsigned allow, struct plan_ctx *c,
                  struct tpl_error *err);
/* The plan index of a resource named name (full name, case-insensitive), or -1. */
int resources_by_name(const struct tpl_template *t, const char *name);

/* ---- deps.c ------------------------------------------------------------------ */
/* dependsOn, serial loops, implicit reference() dependencies, cycles. */
int deps_load(struct tpl_template *t, struct tpl_error *err);

/* ---- body.c ------------------------------------------------------------------- */
/* Deep evaluation of node: strings evaluated, member names not, property
 * copies expanded; drop_null: null members left out.  Errors cite the
 * innermost node at path (what names the thing being evaluated). */
int body_eval(struct plan_ctx *c, json_t *node, const char *path, const char *what, bool drop_null, json_t **out,
              struct tpl_error *err);

/* ---- outputs.c ------------------------------------------------------------------ */
int outputs_check(struct tpl_template *t, struct tpl_error *err);

/* ---- nested.c ---------------------------------------------------------------------- */
/* Checks what a nested deployment declares (inline template, mode, scope). */
int nested_check(struct tpl_template *t, int i, struct tpl_error *err);
