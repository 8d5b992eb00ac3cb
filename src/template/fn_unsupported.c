/*
 * fn_unsupported.c — ARM functions this engine knows and refuses
 * (TEMPLATES.md §3.2 tier 2): a template using one fails at validation with
 * a clear InvalidTemplate naming the function, never with "not found" and
 * never half-deployed.  (list*() functions, an open family, are refused by
 * the parser.)
 *
 *   pickZones, providers          need a resource provider's catalogue;
 *   managementGroup, …ResourceId  vmrp has no management groups;
 *   filter, map, reduce, sort, …  lambdas (languageVersion 2.0 territory);
 *   references                    languageVersion 2.0;
 *   parseCidr, cidrSubnet, …      not implemented.
 */
#include <errno.h>

#include "template/internal.h"

static int fn_refused(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return tpl_call_fail(c, "The template function '%s' is not supported by this service.", c->fn->name);
}

const struct tpl_function tpl_fn_unsupported[] = {
    {"cidrHost", fn_refused, 0, -1, 0},
    {"cidrSubnet", fn_refused, 0, -1, 0},
    {"filter", fn_refused, 0, -1, TPL_FN_LAZY},
    {"groupBy", fn_refused, 0, -1, TPL_FN_LAZY},
    {"lambda", fn_refused, 0, -1, TPL_FN_LAZY},
    {"lambdaVariables", fn_refused, 0, -1, 0},
    {"managementGroup", fn_refused, 0, -1, 0},
    {"managementGroupResourceId", fn_refused, 0, -1, 0},
    {"map", fn_refused, 0, -1, TPL_FN_LAZY},
    {"mapValues", fn_refused, 0, -1, TPL_FN_LAZY},
    {"parseCidr", fn_refused, 0, -1, 0},
    {"pickZones", fn_refused, 0, -1, 0},
    {"providers", fn_refused, 0, -1, 0},
    {"reduce", fn_refused, 0, -1, TPL_FN_LAZY},
    {"references", fn_refused, 0, -1, 0},
    {"sort", fn_refused, 0, -1, TPL_FN_LAZY},
    {"toObject", fn_refused, 0, -1, TPL_FN_LAZY},
    {NULL, NULL, 0, 0, 0},
};
