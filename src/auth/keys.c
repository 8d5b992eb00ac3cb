/*
 * keys.c — RSA signing keys and their JWK form.
 *
 * The region key is an RSA-2048 private key in PEM, created on first start
 * with mode 0600 and written atomically (temp, fsync, rename).  Public keys
 * travel as JWKS ({kty,n,e,kid,use,alg}); kid is the RFC 7638 thumbprint, so
 * the same key always gets the same kid.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/internal.h"
#include "common/base64url.h"
#include "common/cleanup.h"
#include "common/log.h"

static char *bio_to_string(BIO *bio, size_t *len)
{
  char *data;
  long n = BIO_get_mem_data(bio, &data);
  char *out = n > 0 ? malloc((size_t)n + 1) : NULL;
  if (out) {
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    if (len)
      *len = (size_t)n;
  }
  return out;
}

char *auth_pem_public(EVP_PKEY *k, size_t *len)
{
  BIO *bio = BIO_new(BIO_s_mem());
  char *out = NULL;
  if (bio && PEM_write_bio_PUBKEY(bio, k))
    out = bio_to_string(bio, len);
  BIO_free(bio);
  return out;
}

char *auth_pem_private(EVP_PKEY *k, size_t *len)
{
  BIO *bio = BIO_new(BIO_s_mem());
  char *out = NULL;
  if (bio && PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL))
    out = bio_to_string(bio, len);
  BIO_free(bio);
  return out;
}

static int write_key_atomically(const char *path, EVP_PKEY *k)
{
  size_t len;
  CLEANUP_FREE char *pem = auth_pem_private(k, &len);
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (!pem || fd < 0)
    goto fail;
  if (write(fd, pem, len) != (ssize_t)len || fsync(fd) < 0)
    goto fail;
  close(fd);
  fd = -1;
  if (rename(tmp, path) < 0)
    goto fail;
  return 0;
fail:
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  return -EIO;
}

int auth_key_load_or_create(const char *path, EVP_PKEY **out)
{
  FILE *f = fopen(path, "rb");
  if (f) {
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
      log_error("auth", "signing key %s is not an RSA private key", path);
      EVP_PKEY_free(k);
      return -EINVAL;
    }
    *out = k;
    return 0;
  }
  if (errno != ENOENT) {
    log_error("auth", "cannot read signing key %s: %s", path, strerror(errno));
    return -errno;
  }
  EVP_PKEY *k = EVP_RSA_gen(2048);
  if (!k)
    return -ENOMEM;
  if (write_key_atomically(path, k) < 0) {
    log_error("auth", "cannot write signing key %s", path);
    EVP_PKEY_free(k);
    return -EIO;
  }
  log_info("auth", "created signing key %s", path);
  *out = k;
  return 0;
}

static char *bn_b64url(const BIGNUM *bn)
{
  int n = BN_num_bytes(bn);
  unsigned char *buf = malloc((size_t)(n ? n : 1));
  if (!buf)
    return NULL;
  BN_bn2bin(bn, buf);
  char *out = base64url_encode(buf, (size_t)n);
  free(buf);
  return out;
}

int auth_key_jwk_params(EVP_PKEY *k, char **n_out, char **e_out)
{
  BIGNUM *n = NULL, *e = NULL;
  int r = -EINVAL;
  if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) && EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e)) {
    *n_out = bn_b64url(n);
    *e_out = bn_b64url(e);
    r = *n_out && *e_out ? 0 : -ENOMEM;
  }
  BN_free(n);
  BN_free(e);
  return r;
}

int auth_key_thumbprint(EVP_PKEY *k, char out[64])
{
  CLEANUP_FREE char *n = NULL;
  CLEANUP_FREE char *e = NULL;
  int r = auth_key_jwk_params(k, &n, &e);
  if (r < 0)
    return r;
  CLEANUP_FREE char *canon = NULL;
  if (asprintf(&canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n) < 0)
    return -ENOMEM;
  unsigned char digest[32];
  EVP_Digest(canon, strlen(canon), digest, NULL, EVP_sha256(), NULL);
  CLEANUP_FREE char *b64 = base64url_encode(digest, sizeof digest);
  if (!b64)
    return -ENOMEM;
  snprintf(out, 64, "%s", b64);
  return 0;
}

static EVP_PKEY *key_from_jwk(const char *n64, const char *e64)
{
  size_t nl, el;
  CLEANUP_FREE unsigned char *nb = base64url_decode(n64, strlen(n64), &nl);
  CLEANUP_FREE unsigned char *eb = base64url_decode(e64, strlen(e64), &el);
  if (!nb || !eb)
    return NULL;
  BIGNUM *n = BN_bin2bn(nb, (int)nl, NULL), *e = BN_bin2bn(eb, (int)el, NULL);
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM *params = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
  EVP_PKEY *k = NULL;
  if (n && e && bld && ctx && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) && (params = OSSL_PARAM_BLD_to_param(bld)) &&
      EVP_PKEY_fromdata_init(ctx) > 0)
    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  EVP_PKEY_CTX_free(ctx);
  BN_free(n);
  BN_free(e);
  return k;
}

int auth_jwks_load(const char *path, struct auth_key **keys_out, int *nkeys_out)
{
  json_error_t jerr;
  json_t *doc = json_load_file(path, 0, &jerr);
  if (!doc) {
    log_error("auth", "cannot read JWKS %s: %s (line %d)", path, jerr.text, jerr.line);
    return -EINVAL;
  }
  json_t *arr = json_object_get(doc, "keys");
  size_t cap = json_array_size(arr);
  struct auth_key *keys = calloc(cap ? cap : 1, sizeof *keys);
  int nkeys = 0;
  size_t i;
  json_t *jk;
  json_array_foreach(arr, i, jk) {
    const char *kty = json_string_value(json_object_get(jk, "kty"));
    const char *n = json_string_value(json_object_get(jk, "n"));
    const char *e = json_string_value(json_object_get(jk, "e"));
    const char *kid = json_string_value(json_object_get(jk, "kid"));
    if (!kty || strcmp(kty, "RSA") != 0 || !n || !e)
      continue; /* only RSA keys can verify RS256 */
    EVP_PKEY *k = key_from_jwk(n, e);
    if (!k)
      continue;
    keys[nkeys].pem = auth_pem_public(k, &keys[nkeys].pem_len);
    if (kid)
      snprintf(keys[nkeys].kid, sizeof keys[nkeys].kid, "%s", kid);
    else
      auth_key_thumbprint(k, keys[nkeys].kid);
    EVP_PKEY_free(k);
    if (keys[nkeys].pem)
      nkeys++;
  }
  json_decref(doc);
  if (nkeys == 0) {
    log_error("auth", "JWKS %s holds no usable RSA key", path);
    free(keys);
    return -EINVAL;
  }
  *keys_out = keys;
  *nkeys_out = nkeys;
  return 0;
}
