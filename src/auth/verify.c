/*
 * verify.c — bearer-token verification.
 *
 * Order of checks: shape (three base64url parts, header alg RS256) → issuer
 * (the unverified "iss" only selects which keys to try; nothing from the
 * payload is believed before the signature holds) → signature (libjwt with
 * the issuer's key for the header's kid) → exp/nbf with 60 s of clock skew →
 * audience.  Tokens without "alg":"RS256" are refused before libjwt sees
 * them, which closes the "alg":"none" and HMAC-with-public-key confusions.
 *
 * Cache: an RSA verification costs tens of microseconds, more than the rest of
 * an ARM GET.  A verified token's SHA-256 is kept in a small direct-mapped
 * cache with its identity and expiry; a hit skips the signature check but
 * still checks expiry.  Only verified tokens enter it, and a lookup compares
 * the full 32-byte digest, so a forged token can only hit by a SHA-256
 * collision.
 *
 * Expiry compares now - skew with exp, never exp + skew: exp is the
 * issuer's, and a signed exp near 2^63 must not overflow.
 */
#include <stdio.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/internal.h"
#include "common/base64url.h"
#include "common/cleanup.h"

#define CLOCK_SKEW_S 60

const char *auth_result_to_string(enum auth_result r)
{
  switch (r) {
  case AUTH_OK: return "ok";
  case AUTH_MISSING: return "missing";
  case AUTH_MALFORMED: return "malformed";
  case AUTH_UNKNOWN_ISSUER: return "unknown issuer";
  case AUTH_BAD_SIGNATURE: return "bad signature";
  case AUTH_EXPIRED: return "expired";
  case AUTH_NOT_YET_VALID: return "not yet valid";
  case AUTH_WRONG_AUDIENCE: return "wrong audience";
  }
  return "?";
}

static json_t *decode_part(const char *start, size_t len)
{
  size_t n;
  CLEANUP_FREE unsigned char *raw = base64url_decode(start, len, &n);
  return raw ? json_loadb((const char *)raw, n, 0, NULL) : NULL;
}

static const struct auth_key *find_key(const struct auth *a, const char *iss, const char *kid)
{
  for (int i = 0; i < a->nissuers; i++) {
    const struct auth_issuer *is = &a->issuers[i];
    if (strcmp(is->issuer, iss) != 0)
      continue;
    for (int k = 0; k < is->nkeys; k++)
      if (!kid || strcmp(is->keys[k].kid, kid) == 0)
        return &is->keys[k];
    return NULL;
  }
  return NULL;
}

static bool audience_claim_ok(const struct auth *a, json_t *aud)
{
  if (json_is_string(aud))
    return auth_audience_ok(a, json_string_value(aud));
  size_t i;
  json_t *v;
  json_array_foreach(aud, i, v) if (auth_audience_ok(a, json_string_value(v))) return true;
  return false;
}

static void copy_claim(json_t *payload, const char *name, char *dst, size_t cap)
{
  const char *s = json_string_value(json_object_get(payload, name));
  snprintf(dst, cap, "%s", s ? s : "");
}

static bool cache_lookup(struct auth *a, const unsigned char digest[32], long now, struct auth_identity *who)
{
  unsigned slot = (digest[0] | (unsigned)digest[1] << 8) % AUTH_CACHE_SLOTS;
  bool hit = false;
  pthread_mutex_lock(&a->cache_lock);
  struct auth_cache_entry *e = &a->cache[slot];
  if (e->valid && memcmp(e->digest, digest, 32) == 0 && now - CLOCK_SKEW_S <= e->exp) {
    *who = e->who;
    hit = true;
  }
  pthread_mutex_unlock(&a->cache_lock);
  return hit;
}

static void cache_store(struct auth *a, const unsigned char digest[32], long exp, const struct auth_identity *who)
{
  unsigned slot = (digest[0] | (unsigned)digest[1] << 8) % AUTH_CACHE_SLOTS;
  pthread_mutex_lock(&a->cache_lock);
  struct auth_cache_entry *e = &a->cache[slot];
  memcpy(e->digest, digest, 32);
  e->exp = exp;
  e->who = *who;
  e->valid = 1;
  pthread_mutex_unlock(&a->cache_lock);
}

enum auth_result auth_verify(struct auth *a, const char *authorization, struct auth_identity *who)
{
  if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
    return AUTH_MISSING;
  const char *token = authorization + 7;
  while (*token == ' ')
    token++;
  size_t len = strlen(token);
  if (len == 0)
    return AUTH_MISSING;
  long now = (long)time(NULL);
  unsigned char digest[32];
  EVP_Digest(token, len, digest, NULL, EVP_sha256(), NULL);
  if (cache_lookup(a, digest, now, who))
    return AUTH_OK;

  const char *dot1 = strchr(token, '.');
  const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  if (!dot1 || !dot2 || strchr(dot2 + 1, '.'))
    return AUTH_MALFORMED;
  json_t *header = decode_part(token, (size_t)(dot1 - token));
  json_t *payload = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
  enum auth_result res = AUTH_MALFORMED;
  jwt_t *jwt = NULL;
  const char *alg = json_string_value(json_object_get(header, "alg"));
  const char *iss = json_string_value(json_object_get(payload, "iss"));
  if (!header || !payload || !alg || strcmp(alg, "RS256") != 0 || !iss)
    goto out;
  const struct auth_key *key = find_key(a, iss, json_string_value(json_object_get(header, "kid")));
  if (!key) {
    res = AUTH_UNKNOWN_ISSUER;
    goto out;
  }
  if (jwt_decode(&jwt, token, (const unsigned char *)key->pem, (int)key->pem_len) != 0 ||
      jwt_get_alg(jwt) != JWT_ALG_RS256) {
    res = AUTH_BAD_SIGNATURE;
    goto out;
  }
  /* The signature holds: the payload parsed above is the signed one. */
  json_t *exp = json_object_get(payload, "exp"), *nbf = json_object_get(payload, "nbf");
  if (!json_is_integer(exp) || now - CLOCK_SKEW_S > json_integer_value(exp)) {
    res = AUTH_EXPIRED;
    goto out;
  }
  if (json_is_integer(nbf) && now + CLOCK_SKEW_S < json_integer_value(nbf)) {
    res = AUTH_NOT_YET_VALID;
    goto out;
  }
  if (!audience_claim_ok(a, json_object_get(payload, "aud"))) {
    res = AUTH_WRONG_AUDIENCE;
    goto out;
  }
  memset(who, 0, sizeof *who);
  copy_claim(payload, "oid", who->oid, sizeof who->oid);
  if (!who->oid[0])
    copy_claim(payload, "sub", who->oid, sizeof who->oid);
  copy_claim(payload, "appid", who->appid, sizeof who->appid);
  if (!who->appid[0])
    copy_claim(payload, "azp", who->appid, sizeof who->appid);
  copy_claim(payload, "tid", who->tid, sizeof who->tid);
  if (!who->oid[0]) {
    res = AUTH_MALFORMED;
    goto out;
  }
  cache_store(a, digest, (long)json_integer_value(exp), who);
  res = AUTH_OK;
out:
  jwt_free(jwt);
  json_decref(header);
  json_decref(payload);
  return res;
}
