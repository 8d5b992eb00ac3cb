/*
 * admin.c — `vmrpd sp ...`, `vmrpd sas rotate-key` and `vmrpd jwks`.
 *
 * Service principals: create prints {clientId, clientSecret, objectId,
 * tenantId} as JSON once — the secret is stored only as a salted PBKDF2 hash
 * and cannot be shown again (rotate makes a new one).  --client-id/--secret
 * let a deployment give two regions the same principal.
 *
 * sas rotate-key: a new SAS signing key, which revokes every grant (its
 * URL stops verifying), in a running daemon too (it reads the key from the
 * metadata at each use).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "auth/auth.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"
#include "daemon/admin.h"
#include "meta/meta.h"
#include "region/region.h"

static bool role_valid(const char *role)
{
  return !strcasecmp(role, "Reader") || !strcasecmp(role, "Contributor") || !strcasecmp(role, "Owner");
}

static int open_meta(struct config *c, struct meta **m)
{
  mkdir(c->data_dir, 0700);
  int r = meta_open(c->metadata, m);
  if (r < 0) { /* a server's connection string may hold a password: not printed */
    const char *file = meta_target_file(c->metadata);
    fprintf(stderr, "vmrpd: cannot open the metadata store %s\n", file ? file : "([store] metadata)");
  }
  return r;
}

/* A given secret guards an Owner as well as a generated one (64 hex
 * digits): at least SECRET_MIN characters, not a repetition of a few. */
#define SECRET_MIN 16
#define SECRET_MIN_DISTINCT 8

static bool secret_strong(const char *secret)
{
  bool seen[256] = {false};
  int distinct = 0;
  for (const unsigned char *c = (const unsigned char *)secret; *c; c++)
    if (!seen[*c]) {
      seen[*c] = true;
      distinct++;
    }
  return strlen(secret) >= SECRET_MIN && distinct >= SECRET_MIN_DISTINCT;
}

static int set_secret(struct meta_principal *p, const char *given, char **secret_out)
{
  if (given && !secret_strong(given)) {
    fprintf(stderr, "vmrpd sp: --secret is too weak: it needs at least %d characters, %d of them different "
                    "(leave --secret out to get a generated 256-bit one)\n",
            SECRET_MIN, SECRET_MIN_DISTINCT);
    return -EINVAL;
  }
  char *secret = given ? strdup(given) : auth_secret_new();
  if (!secret || random_bytes(p->salt, sizeof p->salt) < 0 || auth_secret_hash(secret, p->salt, p->hash) < 0) {
    free(secret);
    return -EIO;
  }
  *secret_out = secret;
  return 0;
}

static void print_principal(struct config *c, const struct meta_principal *p, const char *secret)
{
  printf("{\"clientId\": \"%s\", \"objectId\": \"%s\", \"name\": \"%s\", \"tenantId\": \"%s\"", p->client_id,
         p->object_id, p->name, c->tenant_id);
  if (secret)
    printf(", \"clientSecret\": \"%s\"", secret);
  printf("}\n");
}

static int sp_create(struct config *c, struct meta *m, const struct admin_args *a)
{
  const char *role = a->role ? a->role : "Contributor";
  if (!a->name || !role_valid(role)) {
    fprintf(stderr, "vmrpd sp create: --name is required and --role must be Reader, Contributor or Owner\n");
    return 2;
  }
  struct meta_principal p = {.name = (char *)a->name, .created_us = time_now_us()};
  if (a->client_id) {
    struct meta_principal old;
    if (meta_principal_get(m, a->client_id, &old) == 0) {
      fprintf(stderr, "vmrpd sp create: client id %s already exists (use sp rotate)\n", a->client_id);
      meta_principal_clear(&old);
      return 1;
    }
    snprintf(p.client_id, sizeof p.client_id, "%s", a->client_id);
    snprintf(p.object_id, sizeof p.object_id, "%s", a->client_id); /* stable across regions */
  } else {
    random_uuid(p.client_id);
    random_uuid(p.object_id);
  }
  CLEANUP_FREE char *secret = NULL;
  int r = set_secret(&p, a->secret, &secret);
  if (r == -EINVAL)
    return 2;
  if (r < 0 || meta_principal_put(m, &p) < 0 ||
      meta_role_set(m, p.object_id, a->scope ? a->scope : "*", role) < 0) {
    fprintf(stderr, "vmrpd sp create: failed\n");
    return 1;
  }
  print_principal(c, &p, secret);
  return 0;
}

static int print_role(void *ctx, const char *oid, const char *scope, const char *role)
{
  (void)ctx;
  (void)oid;
  printf("    role %s on %s\n", role, strcmp(scope, "*") ? scope : "every subscription");
  return 0;
}

static int print_one(void *ctx, const struct meta_principal *p)
{
  struct meta *m = ctx;
  printf("%s  %s  (object id %s)\n", p->client_id, p->name, p->object_id);
  meta_role_list(m, p->object_id, print_role, NULL);
  return 0;
}

static int sp_rotate(struct config *c, struct meta *m, const struct admin_args *a)
{
  struct meta_principal p;
  if (!a->client_id || meta_principal_get(m, a->client_id, &p) < 0) {
    fprintf(stderr, "vmrpd sp rotate: no such --client-id\n");
    return 1;
  }
  CLEANUP_FREE char *secret = NULL;
  int r = set_secret(&p, a->secret, &secret) == 0 && meta_principal_put(m, &p) == 0 ? 0 : 1;
  if (r == 0)
    print_principal(c, &p, secret);
  meta_principal_clear(&p);
  return r;
}

static int sp_role(struct meta *m, const struct admin_args *a)
{
  struct meta_principal p;
  if (!a->client_id || !a->role || (strcasecmp(a->role, "none") && !role_valid(a->role)) ||
      meta_principal_get(m, a->client_id, &p) < 0) {
    fprintf(stderr, "vmrpd sp role: --client-id of an existing principal and --role Reader|Contributor|Owner|none\n");
    return 2;
  }
  int r = meta_role_set(m, p.object_id, a->scope ? a->scope : "*", strcasecmp(a->role, "none") ? a->role : NULL);
  meta_principal_clear(&p);
  return r < 0;
}

int admin_main(struct config *c, const struct admin_args *a, int argc, char **argv)
{
  if (!strcmp(argv[0], "jwks")) {
    struct auth *auth = NULL;
    const char *auds[] = {c->public_url, NULL};
    char issuer[1024];
    snprintf(issuer, sizeof issuer, "%s/adfs", c->public_url);
    struct auth_config ac = {.key_file = c->signing_key, .issuer = issuer, .tenant_id = c->tenant_id, .audiences = auds};
    char keys[4096];
    snprintf(keys, sizeof keys, "%s/keys", c->data_dir);
    mkdir(c->data_dir, 0700);
    mkdir(keys, 0700);
    if (auth_open(&ac, &auth) < 0)
      return 1;
    char *doc = auth_jwks_json(auth);
    printf("%s\n", doc ? doc : "");
    free(doc);
    auth_close(auth);
    return 0;
  }
  const char *sub = argc > 1 ? argv[1] : "";
  struct meta *m = NULL;
  if (open_meta(c, &m) < 0)
    return 1;
  int r = 2;
  if (!strcmp(argv[0], "sas")) {
    if (!strcmp(sub, "rotate-key")) {
      r = region_sas_rotate_key(m) < 0;
      if (!r)
        printf("vmrpd: the SAS signing key was rotated; every active grant is revoked\n");
    } else {
      fprintf(stderr, "vmrpd sas: expected rotate-key\n");
    }
  } else if (!strcmp(sub, "create"))
    r = sp_create(c, m, a);
  else if (!strcmp(sub, "list"))
    r = meta_principal_list(m, print_one, m) < 0;
  else if (!strcmp(sub, "rotate"))
    r = sp_rotate(c, m, a);
  else if (!strcmp(sub, "role"))
    r = sp_role(m, a);
  else if (!strcmp(sub, "delete")) {
    r = a->client_id && meta_principal_delete(m, a->client_id) == 0 ? 0 : 1;
    if (r)
      fprintf(stderr, "vmrpd sp delete: no such --client-id\n");
  } else
    fprintf(stderr, "vmrpd sp: expected create, list, rotate, role or delete\n");
  meta_close(m);
  return r;
}
