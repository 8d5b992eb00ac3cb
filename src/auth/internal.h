/* internal.h — shared between the auth/ files; not a public interface. */
#pragma once
#include <openssl/evp.h>
#include <pthread.h>

#include "auth/auth.h"

struct auth_key {
  char kid[64];
  char *pem;      /* public key, PEM (what libjwt verifies with) */
  size_t pem_len;
};

struct auth_issuer {
  char *issuer;
  struct auth_key *keys;
  int nkeys;
};

#define AUTH_CACHE_SLOTS 1024

struct auth_cache_entry {
  unsigned char digest[32]; /* SHA-256 of the token */
  long exp;
  struct auth_identity who;
  int valid;
};

struct auth {
  EVP_PKEY *signing_key;
  char *signing_pem;        /* private key PEM for libjwt */
  size_t signing_pem_len;
  char kid[64];
  char *issuer;
  char *tenant_id;
  char **audiences;
  int token_lifetime_s;
  struct auth_issuer *issuers; /* [0] is this region */
  int nissuers;
  pthread_mutex_t cache_lock;
  struct auth_cache_entry cache[AUTH_CACHE_SLOTS];
};

/* keys.c */
int auth_key_load_or_create(const char *path, EVP_PKEY **out);
char *auth_pem_public(EVP_PKEY *k, size_t *len);
char *auth_pem_private(EVP_PKEY *k, size_t *len);
/* RFC 7638 thumbprint of an RSA public key, base64url. */
int auth_key_thumbprint(EVP_PKEY *k, char out[64]);
/* JWK members n and e (base64url, malloc'd). */
int auth_key_jwk_params(EVP_PKEY *k, char **n, char **e);
/* Loads the RSA keys of a JWKS file. */
int auth_jwks_load(const char *path, struct auth_key **keys, int *nkeys);
