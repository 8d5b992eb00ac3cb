/*
 * fuzz_auth.c — libFuzzer harness of what src/auth/ reads from outside:
 * bearer tokens and the documents around them.  The first byte picks the
 * surface, the rest is its input:
 *   0  an Authorization header as sent (auth_verify: shape, base64url,
 *      header and payload JSON, issuer and key selection, libjwt);
 *   1  "HEADER\nPAYLOAD": two JSON texts the harness signs (RS256) with the
 *      region's key or a trusted peer issuer's (the second byte says which),
 *      so that the claims checks after the signature (exp, nbf, aud, oid,
 *      identity copies, the verified-token cache) see fuzzed claims;
 *   2  a JWKS document, as a trusted issuer's jwks_file (auth_jwks_load);
 *   3  a token request's client-credentials form body (form_get of each
 *      field, the audience check of resource and scope).
 * The region and peer keys are made once, in a temporary directory.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auth/internal.h"
#include "common/base64url.h"
#include "common/urlcode.h"
#include "support.h"

#define PUBLIC_URL "https://127.0.0.1:8443"
#define PEER_ISSUER "https://127.0.0.1:8453/adfs"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct auth *region, *peer; /* region trusts peer's issuer */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  fuzz_quiet();
  const char *dir = fuzz_tempdir("auth");
  char key[128], peer_key[128], jwks[128];
  fuzz_path(key, sizeof key, dir, "region.pem");
  fuzz_path(peer_key, sizeof peer_key, dir, "peer.pem");
  fuzz_path(jwks, sizeof jwks, dir, "peer-jwks.json");
  const char *auds[] = {PUBLIC_URL, "https://management.azure.com", "https://management.core.windows.net", NULL};
  struct auth_config pc = {.key_file = peer_key, .issuer = PEER_ISSUER, .tenant_id = "t", .audiences = auds};
  if (auth_open(&pc, &peer) < 0 || auth_write_jwks(peer, jwks) < 0)
    fuzz_die("the peer's key");
  struct auth_trusted_issuer trusted = {PEER_ISSUER, jwks};
  struct auth_config rc = {.key_file = key, .issuer = PUBLIC_URL "/adfs", .tenant_id = "t", .audiences = auds,
                           .token_lifetime_s = 3600, .trusted = &trusted, .ntrusted = 1};
  if (auth_open(&rc, &region) < 0)
    fuzz_die("the region's key");
  return 0;
}

static void verify(const char *authorization)
{
  struct auth_identity who;
  auth_verify(region, authorization, &who);
}

/* "Bearer " + b64(header) "." b64(payload) "." RS256 signature by signer. */
static void signed_token(struct auth *signer, const char *header, size_t hlen, const char *payload, size_t plen)
{
  char *h = base64url_encode(header, hlen), *p = base64url_encode(payload, plen);
  char *input = NULL, *sig64 = NULL, *token = NULL;
  unsigned char sig[512];
  size_t siglen = sizeof sig;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!h || !p || !md || asprintf(&input, "%s.%s", h, p) < 0)
    fuzz_die("out of memory");
  if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, signer->signing_key) != 1 ||
      EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1)
    fuzz_die("signing");
  if (!(sig64 = base64url_encode(sig, siglen)) || asprintf(&token, "Bearer %s.%s", input, sig64) < 0)
    fuzz_die("out of memory");
  verify(token);
  verify(token); /* again: the verified-token cache's answer */
  EVP_MD_CTX_free(md);
  free(h);
  free(p);
  free(input);
  free(sig64);
  free(token);
}

static void jwks(const uint8_t *data, size_t size)
{
  int fd = memfd_create("jwks.json", 0);
  if (fd < 0 || write(fd, data, size) != (ssize_t)size)
    fuzz_die("memfd");
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  struct auth_key *keys = NULL;
  int nkeys = 0;
  if (auth_jwks_load(path, &keys, &nkeys) == 0) {
    for (int i = 0; i < nkeys; i++)
      free(keys[i].pem);
    free(keys);
  }
  close(fd);
}

static void form(const char *body)
{
  static const char *const fields[] = {"grant_type", "client_id", "client_secret", "scope", "resource"};
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
    char *v = form_get(body, fields[i]);
    if (v && (i == 3 || i == 4))
      auth_audience_ok(region, v);
    free(v);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  char *text = strndup((const char *)data + 1, size - 1); /* headers and bodies arrive NUL-terminated */
  if (!text)
    fuzz_die("out of memory");
  switch (data[0] & 3) {
  case 0:
    verify(text);
    break;
  case 1: {
    size_t hlen = strcspn(text, "\n");
    const char *payload = text[hlen] ? text + hlen + 1 : "";
    if (*payload) /* the second byte picks the signer */
      signed_token(text[0] & 1 ? peer : region, text + 1, hlen ? hlen - 1 : 0, payload, strlen(payload));
    break;
  }
  case 2:
    jwks(data + 1, size - 1);
    break;
  case 3:
    form(text);
    break;
  }
  free(text);
  return 0;
}
