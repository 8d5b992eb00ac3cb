/*
 * auth.h — vmrpd as its own OAuth2 identity provider, and bearer-token checks.
 *
 * Tokens are RS256 JWTs (libjwt) signed with the region's key and carrying
 * iss, aud, exp, nbf, iat, tid, oid, appid, sub.  Verification trusts a list
 * of issuers: this region's own, plus any configured external OIDC issuer
 * (each with a JWKS file), so a site can bring Keycloak or a peer region.
 * Signatures are checked by OpenSSL through libjwt; secrets are compared with
 * CRYPTO_memcmp (constant time).
 *
 * Thread-safety: after auth_open() everything is read-only except the
 * verified-token cache, which has its own lock; all calls are thread-safe.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct auth;

struct auth_trusted_issuer {
  const char *issuer;     /* exact "iss" value */
  const char *jwks_file;  /* path to a JWKS document with its signing keys */
};

struct auth_config {
  const char *key_file;        /* RSA private key (PEM); generated when absent */
  const char *issuer;          /* this region's issuer, e.g. https://h:p/adfs */
  const char *tenant_id;       /* GUID */
  const char **audiences;      /* accepted "aud" values (NULL-terminated) */
  int token_lifetime_s;
  const struct auth_trusted_issuer *trusted; /* extra issuers */
  int ntrusted;
};

int auth_open(const struct auth_config *cfg, struct auth **out);
void auth_close(struct auth *a);

/* This region's public keys as a JWKS JSON document (malloc'd). */
char *auth_jwks_json(struct auth *a);
/* Writes the JWKS document to path atomically (for peers and tests). */
int auth_write_jwks(struct auth *a, const char *path);

/* Normalises an audience/resource for comparison (drops trailing slashes) and
 * says whether it is accepted. */
bool auth_audience_ok(const struct auth *a, const char *aud);

/* Issues a token for a principal; *token is malloc'd. */
int auth_issue_token(struct auth *a, const char *object_id, const char *client_id, const char *audience,
                     char **token, int *expires_in);

enum auth_result {
  AUTH_OK,
  AUTH_MISSING,        /* no bearer token */
  AUTH_MALFORMED,      /* not a JWT, or unsupported algorithm */
  AUTH_UNKNOWN_ISSUER,
  AUTH_BAD_SIGNATURE,
  AUTH_EXPIRED,
  AUTH_NOT_YET_VALID,
  AUTH_WRONG_AUDIENCE,
};
const char *auth_result_to_string(enum auth_result r);

struct auth_identity {
  char oid[64];     /* object id: the key for role assignments */
  char appid[64];
  char tid[64];
};

/* Verifies "Bearer <jwt>" (the whole Authorization header value, may be NULL). */
enum auth_result auth_verify(struct auth *a, const char *authorization, struct auth_identity *who);

/* Client secrets: PBKDF2-HMAC-SHA256 with a per-principal salt. */
#define AUTH_SECRET_ITERATIONS 10000
int auth_secret_hash(const char *secret, const unsigned char salt[16], unsigned char hash[32]);
bool auth_secret_matches(const char *secret, const unsigned char salt[16], const unsigned char hash[32]);
/* A new random client secret (malloc'd, URL-safe). */
char *auth_secret_new(void);
