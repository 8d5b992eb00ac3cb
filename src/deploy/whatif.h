/*
 * whatif.h — what a deployment would change: one resource's predicted state
 * against its current one, in Azure's what-if shapes (WhatIfChange,
 * WhatIfPropertyChange).
 *
 * A resource's request body only says what the template sets; the resource
 * provider keeps or computes the rest (read-only members, defaults).  So a
 * member present now and absent from the request is no change, and values
 * compare as the providers read them: strings case-insensitively (enums and
 * ids), an integral numeric string equal to its number, "true"/"false" equal
 * to the boolean (templates send "1024" where the provider stores 1024).
 */
#pragma once
#include <jansson.h>
#include <stdbool.h>

/* The property changes from before (the resource now; NULL: absent) to the
 * request body after: a new array of {path, propertyChangeType, before?,
 * after?, children?} (empty when nothing changes); NULL on ENOMEM. */
json_t *whatif_delta(const json_t *before, const json_t *after);
/* after laid over before (objects merged member by member, the rest
 * replaced): the resource as the request would leave it; NULL on ENOMEM. */
json_t *whatif_predict(const json_t *before, const json_t *after);
/* Whether two values are equal as a resource provider reads them. */
bool whatif_equal(const json_t *a, const json_t *b);
