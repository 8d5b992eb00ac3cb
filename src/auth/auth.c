/*
 * auth.c — the auth object: configuration, JWKS publication, token issue.
 *
 * Issuers: entry 0 is this region (its own key, kid = thumbprint); the rest
 * come from configured JWKS files.  Audiences are compared without trailing
 * slashes because clients ask for "https://h:p//.default" as well as
 * "https://h:p/.default".
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/internal.h"
#include "common/cleanup.h"
#include "common/log.h"

static void issuer_clear(struct auth_issuer *iss)
{
  for (int i = 0; i < iss->nkeys; i++)
    free(iss->keys[i].pem);
  free(iss->keys);
  free(iss->issuer);
}

void auth_close(struct auth *a)
{
  if (!a)
    return;
  for (int i = 0; i < a->nissuers; i++)
    issuer_clear(&a->issuers[i]);
  free(a->issuers);
  for (char **p = a->audiences; p && *p; p++)
    free(*p);
  free(a->audiences);
  if (a->signing_pem)
    memset(a->signing_pem, 0, a->signing_pem_len);
  free(a->signing_pem);
  EVP_PKEY_free(a->signing_key);
  free(a->issuer);
  free(a->tenant_id);
  pthread_mutex_destroy(&a->cache_lock);
  free(a);
}

int auth_open(const struct auth_config *cfg, struct auth **out)
{
  struct auth *a = calloc(1, sizeof *a);
  if (!a)
    return -ENOMEM;
  pthread_mutex_init(&a->cache_lock, NULL);
  int r = auth_key_load_or_create(cfg->key_file, &a->signing_key);
  if (r < 0)
    goto fail;
  r = -ENOMEM;
  a->signing_pem = auth_pem_private(a->signing_key, &a->signing_pem_len);
  a->issuer = strdup(cfg->issuer);
  a->tenant_id = strdup(cfg->tenant_id);
  a->token_lifetime_s = cfg->token_lifetime_s > 0 ? cfg->token_lifetime_s : 3600;
  int naud = 0;
  while (cfg->audiences && cfg->audiences[naud])
    naud++;
  a->audiences = calloc((size_t)naud + 1, sizeof *a->audiences);
  a->issuers = calloc((size_t)cfg->ntrusted + 1, sizeof *a->issuers);
  if (!a->signing_pem || !a->issuer || !a->tenant_id || !a->audiences || !a->issuers)
    goto fail;
  for (int i = 0; i < naud; i++) {
    a->audiences[i] = strdup(cfg->audiences[i]);
    size_t n = strlen(a->audiences[i]);
    while (n && a->audiences[i][n - 1] == '/')
      a->audiences[i][--n] = '\0';
  }
  if ((r = auth_key_thumbprint(a->signing_key, a->kid)) < 0)
    goto fail;
  r = -ENOMEM;
  struct auth_issuer *self = &a->issuers[a->nissuers++];
  self->issuer = strdup(cfg->issuer);
  self->keys = calloc(1, sizeof *self->keys);
  if (!self->issuer || !self->keys)
    goto fail;
  self->keys[0].pem = auth_pem_public(a->signing_key, &self->keys[0].pem_len);
  snprintf(self->keys[0].kid, sizeof self->keys[0].kid, "%s", a->kid);
  self->nkeys = 1;
  for (int i = 0; i < cfg->ntrusted; i++) {
    struct auth_issuer *iss = &a->issuers[a->nissuers];
    if ((r = auth_jwks_load(cfg->trusted[i].jwks_file, &iss->keys, &iss->nkeys)) < 0)
      goto fail;
    iss->issuer = strdup(cfg->trusted[i].issuer);
    a->nissuers++;
    log_info("auth", "trusting issuer %s (%d key%s)", iss->issuer, iss->nkeys, iss->nkeys == 1 ? "" : "s");
  }
  *out = a;
  return 0;
fail:
  auth_close(a);
  return r;
}

char *auth_jwks_json(struct auth *a)
{
  CLEANUP_FREE char *n = NULL;
  CLEANUP_FREE char *e = NULL;
  if (auth_key_jwk_params(a->signing_key, &n, &e) < 0)
    return NULL;
  json_t *doc = json_pack("{s:[{s:s,s:s,s:s,s:s,s:s,s:s}]}", "keys", "kty", "RSA", "use", "sig", "alg", "RS256",
                          "kid", a->kid, "n", n, "e", e);
  char *out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  return out;
}

int auth_write_jwks(struct auth *a, const char *path)
{
  CLEANUP_FREE char *doc = auth_jwks_json(a);
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = doc ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
  if (fd < 0)
    return -EIO;
  size_t len = strlen(doc);
  int ok = write(fd, doc, len) == (ssize_t)len && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp, path) < 0) {
    unlink(tmp);
    return -EIO;
  }
  return 0;
}

bool auth_audience_ok(const struct auth *a, const char *aud)
{
  if (!aud)
    return false;
  size_t n = strlen(aud);
  while (n && aud[n - 1] == '/')
    n--;
  for (char **p = a->audiences; p && *p; p++)
    if (strlen(*p) == n && strncasecmp(*p, aud, n) == 0)
      return true;
  return false;
}

int auth_issue_token(struct auth *a, const char *object_id, const char *client_id, const char *audience,
                     char **token, int *expires_in)
{
  jwt_t *jwt = NULL;
  long now = (long)time(NULL);
  int r = -ENOMEM;
  if (jwt_new(&jwt) != 0)
    return -ENOMEM;
  if (jwt_add_grant(jwt, "iss", a->issuer) || jwt_add_grant(jwt, "aud", audience) ||
      jwt_add_grant(jwt, "sub", object_id) || jwt_add_grant(jwt, "oid", object_id) ||
      jwt_add_grant(jwt, "appid", client_id) || jwt_add_grant(jwt, "azp", client_id) ||
      jwt_add_grant(jwt, "tid", a->tenant_id) || jwt_add_grant(jwt, "idtyp", "app") ||
      jwt_add_grant_int(jwt, "iat", now) || jwt_add_grant_int(jwt, "nbf", now) ||
      jwt_add_grant_int(jwt, "exp", now + a->token_lifetime_s) || jwt_add_header(jwt, "kid", a->kid) ||
      jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)a->signing_pem, (int)a->signing_pem_len))
    goto out;
  char *s = jwt_encode_str(jwt);
  if (!s)
    goto out;
  *token = strdup(s);
  free(s); /* libjwt 1.10 strings are malloc'd */
  if (!*token)
    goto out;
  *expires_in = a->token_lifetime_s;
  r = 0;
out:
  jwt_free(jwt);
  return r;
}
