/*
 * template.h — the ARM template language: read, check and evaluate a
 * deployment's template into a plan of resource requests.
 *
 * A layer of its own (common, jansson): it never calls a handler, the store
 * or the network.  What it needs from the world (the caller's subscription
 * and resource group, deployment(), reference() of a deployed resource) comes
 * in a struct tpl_world the caller fills; the deployment engine (deploy/)
 * runs the plan it produces through the ARM handlers.
 *
 * Three parts, one file per idea:
 *   reader.c        a tolerant JSON reader (the az CLI's wire form) that keeps
 *                   the line and column of every node;
 *   expr.c, fn_*.c  the expression language: "[...]" strings, parsed and
 *                   evaluated, and the function library;
 *   hash.c          uniqueString, guid and templateHash, bit-exact with ARM;
 *   template.c …    parameters, variables, resources (copy, condition,
 *                   children, dependsOn), outputs, limits: a plan.
 *
 * Errors: functions return 0 or -errno and fill a struct tpl_error with
 * ARM's code and complete message ("Deployment template validation failed:
 * '...'." wording, line and column of the node in the user's file, and the
 * path "properties.template.resources[0]").  -EAGAIN (evaluation) means the
 * value needs a reference() the world cannot answer yet (validate, what-if).
 *
 * Secure parameters (secureString, secureObject): their values live only in
 * the struct tpl_template in memory; nothing here logs them, and every view
 * meant to be stored or returned (tpl_parameters_view, tpl_outputs) leaves
 * them out.
 *
 * Thread-safety: a struct tpl_template is used by one thread at a time;
 * separate templates are independent.
 */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors -------------------------------------------------------------- */
struct tpl_error {
  char code[64];       /* "InvalidTemplate", "InvalidRequestContent", "DeploymentJobSizeExceeded", ... */
  char message[2048];  /* the whole ARM message, ready for {"error":{"code","message"}} */
  int line, col;       /* 1-based position in the text read; 0: unknown */
  char path[256];      /* "properties.template.resources[0]"; "" unknown */
};

/* ---- reader.c: tolerant JSON with positions ------------------------------ */
/* Accepts, beyond strict JSON: a UTF-8 byte-order mark, line (//) and
 * block comments outside strings, unquoted member names (identifiers: letters,
 * digits, _ $), raw control characters (newline, CR, tab) inside strings,
 * and strings in single quotes (with \' escapes), as ARM's Newtonsoft reader
 * does (json('{'a': 1}') relies on it).
 * Rejects: duplicate member names, trailing commas, invalid UTF-8, nesting
 * deeper than 256, NUL bytes; err has code InvalidRequestContent and ARM's
 * "The request content was invalid and could not be deserialized: '...'"
 * message with line and column (and err->path, the JSON path of the
 * failing value: "properties.template.resources[0].name"); *out and *pos
 * are then NULL.  Numbers: integers as JSON_INTEGER (64-bit; larger is an
 * error), others JSON_REAL.  pos may be NULL (no positions kept). */
struct tpl_posmap;
struct tpl_pos {
  int line, col;  /* 1-based */
};
int tpl_read(const char *text, size_t len, json_t **out, struct tpl_posmap **pos, struct tpl_error *err);
/* Where node starts in the text (its value's first character); false when
 * unknown (a node not from this text, or true/false/null, which jansson
 * shares).  pos may be NULL.  The map is keyed by the nodes' addresses: it
 * answers for the tree tpl_read returned while that tree lives (a node
 * freed and another allocated at its address would inherit its position). */
bool tpl_pos_of(const struct tpl_posmap *pos, const json_t *node, struct tpl_pos *out);
void tpl_posmap_free(struct tpl_posmap *pos);

/* ---- the world a template is evaluated in -------------------------------- */
enum tpl_scope { TPL_SCOPE_RESOURCE_GROUP, TPL_SCOPE_SUBSCRIPTION };

struct tpl_world {
  enum tpl_scope scope;
  const char *subscription_id;
  const char *subscription_name;  /* subscription().displayName */
  const char *tenant_id;
  const char *resource_group;     /* NULL at subscription scope */
  const char *rg_location;        /* resourceGroup().location */
  json_t *rg_tags;                /* resourceGroup().tags (borrowed, may be NULL) */
  const char *deployment_name;    /* deployment().name */
  const char *deployment_location;/* subscription scope: the body's location */
  const char *mode;               /* "Incremental" | "Complete" */
  json_t *environment;            /* environment() (borrowed; NULL: environment() fails) */
  /* reference(nameOrId, apiVersion, 'Full'): id is the full resource id
   * (names of resources in the template are resolved first), api_version
   * may be NULL; 0 with *out (a new reference: properties, or the full body
   * when full), -EAGAIN not known yet (validate, what-if; the evaluation then
   * returns -EAGAIN), other -errno with err->message set.  NULL: always
   * -EAGAIN. */
  int (*reference)(void *ctx, const char *id, const char *api_version, bool full, json_t **out,
                   struct tpl_error *err);
  void *reference_ctx;
};

/* ---- expr.c: one expression ---------------------------------------------- */
#define TPL_MAX_EXPRESSION 24576 /* characters, as ARM */
enum tpl_lookup { TPL_PARAMETER, TPL_VARIABLE, TPL_COPY_INDEX, TPL_DEPLOYMENT_OBJECT };
enum tpl_allow {
  TPL_ALLOW_REFERENCE = 1,   /* reference(), in resource properties and outputs */
  TPL_ALLOW_COPY_INDEX = 2,  /* copyIndex(), inside a copy loop */
  TPL_ALLOW_NOW = 4,         /* utcNow(), newGuid(): parameter defaults only */
};
/* What an expression sees: the world and the template's names.  lookup
 * answers parameters('n'), variables('n'), copyIndex(['loop']) (name
 * NULL: the resource's, variable's or output's loop, never a property
 * copy's, as in ARM; the offset is added by the evaluator) and
 * deployment() (name NULL; the whole object, built by the planner): 0
 * with *out (a new reference), or -errno with err->message set; names are
 * matched case-insensitively by the lookup. */
struct tpl_eval {
  const struct tpl_world *world;
  int (*lookup)(void *ctx, enum tpl_lookup what, const char *name, json_t **out, struct tpl_error *err);
  void *ctx;
  unsigned allow;            /* enum tpl_allow */
  /* reference(): the template's own resources by name → full id; NULL when
   * the name is not one of them (then the argument must be an id). */
  const char *(*resource_id_of)(void *ctx, const char *name);
  /* Bytes of JSON the results of the evaluation's function calls may still
   * add up to (the values of parameters(), variables() and deployment(),
   * stored and counted once, are not counted again); decreased by each
   * call.  Past it, or a single value over TPL_MAX_JOB_SIZE, the evaluation
   * fails with -E2BIG and code DeploymentJobSizeExceeded: a few bytes of
   * expression cannot make gigabytes (concat(v, v) of a variable doubled
   * sixty times).  NULL: TPL_MAX_JOB_SIZE for this evaluation. */
  size_t *budget;
};
/* Whether a JSON string value is an expression ("[...]" and not "[[..."). */
bool tpl_is_expression(const char *s);
/* The value of a template string (UTF-8, as a JSON string's value is): an
 * expression's result; "[[x]" → "[x]"; anything else the string itself.  0 with *out (new reference; json null
 * for null()), -EINVAL with err (code InvalidTemplate; message ARM's detail,
 * e.g. "The template function 'x' is not found. Please see ...", without
 * the "Deployment template validation failed: 'The template resource '…'
 * at line … is not valid: …'" frame, which the caller adds with the
 * position), -EAGAIN (see tpl_world.reference), -E2BIG (budget), -ENOMEM.  Errors of the
 * lookup and of world->reference come back as they filled err. */
int tpl_eval_string(const struct tpl_eval *ev, const char *s, json_t **out, struct tpl_error *err);

/* The reference() calls of a template string, found without calling them
 * (the planner's implicit dependencies, TEMPLATES.md §3.4.3): the first
 * argument of each, evaluated with ev (a resource's name or an id), goes to
 * found(ctx, value), in the order they appear; an argument that cannot be
 * evaluated now (it needs reference() itself, an unknown name, ...) is
 * skipped — it names no resource known at plan time, and evaluating the
 * expression later reports its error.  A string that is not an expression
 * has none.  0, or the expression's parse error (-EINVAL), -ENOMEM. */
int tpl_expr_references(const struct tpl_eval *ev, const char *s, void (*found)(void *ctx, const char *name),
                        void *ctx, struct tpl_error *err);

/* ---- hash.c -------------------------------------------------------------- */
uint64_t tpl_murmur64(const void *data, size_t len);   /* ResourceStack's MurmurHash64, seed 0 */
void tpl_unique_string(const char *const *args, int n, char out[14]);
/* out is "" when out of memory (SHA-1's context could not be made). */
void tpl_guid(const char *const *args, int n, char out[37]);
/* templateHash: decimal of tpl_murmur64 of the minified, upper-cased
 * template (members in their order); out holds 21 bytes. */
int tpl_template_hash(const json_t *template, char out[21]);

/* ---- template.c …: a whole template -------------------------------------- */
#define TPL_MAX_PARAMETERS 256
#define TPL_MAX_VARIABLES 256
#define TPL_MAX_RESOURCES 800
#define TPL_MAX_OUTPUTS 64
#define TPL_MAX_COPY 800
/* Bytes of JSON a template may come to once expanded (ARM's 4 MB,
 * DeploymentJobSizeExceeded): the template itself, and the bound of every
 * value an expression makes (below). */
#define TPL_MAX_JOB_SIZE (4u << 20)

struct tpl_input {
  json_t *template;               /* the template object (borrowed) */
  const struct tpl_posmap *pos;   /* its positions (may be NULL) */
  json_t *parameters;             /* {"p": {"value": v}, ...} (borrowed, may be NULL) */
  const char *path;               /* prefix of error paths: "properties.template" */
  const struct tpl_world *world;  /* borrowed for the template's life */
};

enum tpl_kind {
  TPL_RESOURCE,           /* PUT {id}?api-version= with tpl_body */
  TPL_DEPLOYMENT,         /* a nested Microsoft.Resources/deployments: run tpl_nested */
};

struct tpl_resource {
  enum tpl_kind kind;
  const char *id;             /* full id: /subscriptions/s/resourceGroups/rg/providers/Ns/t/n (or a
                                 resource group /subscriptions/s/resourceGroups/n, or a nested
                                 deployment's /subscriptions/s[/resourceGroups/rg]/providers/
                                 Microsoft.Resources/deployments/n) */
  const char *type;           /* full type "Ns/t1/t2" */
  const char *name;           /* full name "n1/n2" */
  const char *api_version;
  const char *subscription;   /* the scope it is deployed in */
  const char *resource_group; /* NULL: subscription scope */
  bool deploy;                /* its condition held */
  const int *depends;         /* plan indexes it waits for (deployed ones only) */
  int ndepends;
  struct tpl_pos pos;         /* where it is declared */
  const char *path;           /* "properties.template.resources[3]" (copy: the declaration's) */
};

struct tpl_template;
/* Checks and plans a template: parameters against their declarations
 * (missing, extra, type, allowedValues, min/max value and length; defaults
 * evaluated), variables (copy included; cycles), resources (copy loops,
 * condition, children declared inside parents, name/type segments,
 * dependsOn by name, by type/name, by id and by loop, implicit dependencies
 * of reference() by name; cycles), outputs, the limits above, and
 * unsupported features (templateLink, Key Vault parameter references,
 * languageVersion 2.0, user functions, ...) refused as InvalidTemplate.
 * $schema must match world->scope.  0 with *out; -EINVAL with err. */
int tpl_load(const struct tpl_input *in, struct tpl_template **out, struct tpl_error *err);
void tpl_free(struct tpl_template *t);
/* The plan, in declaration order (copies expanded in place). */
int tpl_count(const struct tpl_template *t);
const struct tpl_resource *tpl_get(const struct tpl_template *t, int i);
/* The request body of resource i, evaluated now through world (its
 * reference()): the resource minus the template-only members (type,
 * apiVersion, name, dependsOn, condition, copy, comments, metadata,
 * resources, scope; resourceGroup and subscriptionId of deployments),
 * property copies expanded, null members dropped; a nested deployment's
 * properties.template is left as written (tpl_nested plans it).  Every
 * expression of it was parsed at tpl_load, so -EINVAL here is an
 * evaluation error (a missing property, a failed reference()).  0,
 * -EAGAIN, -EINVAL. */
int tpl_body(struct tpl_template *t, int i, const struct tpl_world *world, json_t **out, struct tpl_error *err);
/* A nested deployment (kind TPL_DEPLOYMENT): its template, planned in
 * child_world (the target scope the caller looked up), with the parent's
 * parameters and variables (scope outer, the default) or its own, given by
 * properties.parameters evaluated in the parent (inner).  Its mode must be
 * Incremental; templateLink is refused.  tpl_load already planned it once
 * in a world made from the parent's, so its template errors are found
 * before anything is deployed.  An outer-scope child reads the parent's
 * parameters and variables: free it before the parent, and use the two
 * from one thread at a time. */
int tpl_nested(struct tpl_template *t, int i, const struct tpl_world *child_world, struct tpl_template **out,
               struct tpl_error *err);
/* Outputs once every resource is deployed: {"o": {"type": "String",
 * "value": v}}; secure outputs carry no value. */
int tpl_outputs(struct tpl_template *t, const struct tpl_world *world, json_t **out, struct tpl_error *err);
/* The parameters as a deployment shows them: {"p": {"type": "String",
 * "value": v}} with defaults applied; secure ones have no value. */
json_t *tpl_parameters_view(const struct tpl_template *t);
/* Every secure parameter value (strings, and the strings inside secure
 * objects), so the engine can mask them in what it stores: n strings. */
int tpl_secrets(const struct tpl_template *t, const char *const **out);
/* templateHash of the template (decimal). */
const char *tpl_hash(const struct tpl_template *t);
