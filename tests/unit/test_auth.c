/*
 * test_auth.c — src/auth: tokens issued and verified (round trip and
 * claims), refusals (missing, malformed, expired, not yet valid, wrong
 * audience, tampered payload or signature, alg none, HS256 keyed with the
 * public key, unknown issuer or kid), a trusted external issuer through its
 * JWKS file, the verified-token cache (a token sharing a cache slot with a
 * verified one is still checked), and client-secret hashing.
 */
#include <ctype.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <string.h>
#include <time.h>

#include "auth/internal.h"
#include "common/base64url.h"
#include "unit.h"

#define ISSUER "https://h:1/adfs"
#define AUD "https://h:1/"
#define TENANT "11111111-2222-3333-4444-555555555555"

static char dir[] = "/tmp/vmrp-unit-auth.XXXXXX";
static struct auth *a, *peer;
static char peer_jwks[256];

static char *bearer(const char *token)
{
  char *s = NULL;
  return asprintf(&s, "Bearer %s", token) < 0 ? NULL : s;
}

static enum auth_result verify(struct auth *x, const char *token, struct auth_identity *who)
{
  struct auth_identity tmp;
  char *h = bearer(token);
  enum auth_result r = auth_verify(x, h, who ? who : &tmp);
  free(h);
  return r;
}

/* A token with libjwt: alg RS256 with key_pem (or HS256 when hmac), the
 * given issuer, audience and times; kid of this region unless kid is NULL. */
static char *craft(const char *key_pem, size_t key_len, jwt_alg_t alg, const char *iss, const char *aud, long nbf,
                   long exp, const char *kid)
{
  jwt_t *jwt = NULL;
  char *out = NULL;
  if (jwt_new(&jwt) != 0)
    return NULL;
  if (iss)
    jwt_add_grant(jwt, "iss", iss);
  if (aud)
    jwt_add_grant(jwt, "aud", aud);
  jwt_add_grant(jwt, "oid", "oid-1");
  jwt_add_grant(jwt, "appid", "app-1");
  jwt_add_grant(jwt, "tid", TENANT);
  jwt_add_grant_int(jwt, "nbf", nbf);
  jwt_add_grant_int(jwt, "exp", exp);
  if (kid)
    jwt_add_header(jwt, "kid", kid);
  if (jwt_set_alg(jwt, alg, (const unsigned char *)key_pem, (int)key_len) == 0) {
    char *s = jwt_encode_str(jwt);
    out = s ? strdup(s) : NULL;
    free(s);
  }
  jwt_free(jwt);
  return out;
}

static char *craft_ok(long nbf, long exp, const char *iss, const char *aud)
{
  return craft(a->signing_pem, a->signing_pem_len, JWT_ALG_RS256, iss, aud, nbf, exp, a->kid);
}

/* Replaces part `which` (0 header, 1 payload) of token with json. */
static char *with_part(const char *token, int which, const char *json)
{
  const char *d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.');
  char *enc = base64url_encode(json, strlen(json)), *out = NULL;
  if (which == 0)
    (void)!asprintf(&out, "%s%s", enc, d1);
  else
    (void)!asprintf(&out, "%.*s.%s%s", (int)(d1 - token), token, enc, d2);
  free(enc);
  return out;
}

static void issue_and_verify(void **state)
{
  (void)state;
  char *token = NULL;
  int expires = 0;
  CHECK(auth_issue_token(a, "oid-1", "app-1", AUD, &token, &expires) == 0 && token, "issue a token");
  CHECK(expires == 3600, "expires_in is the configured lifetime");
  struct auth_identity who;
  CHECK(verify(a, token, &who) == AUTH_OK, "the issued token verifies");
  CHECK(strcmp(who.oid, "oid-1") == 0 && strcmp(who.appid, "app-1") == 0 && strcmp(who.tid, TENANT) == 0,
        "the identity carries oid, appid and tid");
  CHECK(verify(a, token, &who) == AUTH_OK && strcmp(who.oid, "oid-1") == 0, "verifying again (cache hit) gives the same identity");
  char *h = NULL;
  (void)!asprintf(&h, "bearer   %s", token);
  CHECK(auth_verify(a, h, &who) == AUTH_OK, "the scheme is case-insensitive and extra spaces are skipped");
  free(h);
  char *t2 = NULL;
  CHECK(auth_issue_token(a, "oid-2", "app-2", "https://management.azure.com/", &t2, &expires) == 0 &&
            verify(a, t2, &who) == AUTH_OK && strcmp(who.oid, "oid-2") == 0,
        "a token for another accepted audience verifies");
  free(t2);
  /* the payload names everything a client may read */
  const char *d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.');
  size_t n;
  unsigned char *raw = base64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &n);
  json_t *p = raw ? json_loadb((const char *)raw, n, 0, NULL) : NULL;
  CHECK(p && strcmp(json_string_value(json_object_get(p, "iss")), ISSUER) == 0 &&
            strcmp(json_string_value(json_object_get(p, "aud")), AUD) == 0 &&
            json_is_integer(json_object_get(p, "exp")) && json_is_integer(json_object_get(p, "nbf")) &&
            json_is_integer(json_object_get(p, "iat")) && json_object_get(p, "sub"),
        "claims iss, aud, exp, nbf, iat, sub");
  json_decref(p);
  free(raw);
  free(token);
}

static void refusals(void **state)
{
  (void)state;
  long now = (long)time(NULL);
  struct auth_identity who;
  CHECK(auth_verify(a, NULL, &who) == AUTH_MISSING, "no header: missing");
  CHECK(auth_verify(a, "Basic dXNlcjpw", &who) == AUTH_MISSING, "Basic: missing");
  CHECK(auth_verify(a, "Bearer ", &who) == AUTH_MISSING, "empty bearer: missing");
  CHECK(verify(a, "abc", NULL) == AUTH_MALFORMED, "not a JWT: malformed");
  CHECK(verify(a, "a.b", NULL) == AUTH_MALFORMED, "two parts: malformed");
  CHECK(verify(a, "a.b.c.d", NULL) == AUTH_MALFORMED, "four parts: malformed");
  CHECK(verify(a, "!!.??.**", NULL) == AUTH_MALFORMED, "not base64url: malformed");

  char *t = craft_ok(now, now + 600, ISSUER, AUD);
  CHECK(verify(a, t, NULL) == AUTH_OK, "control: a crafted token with the region's key verifies");
  free(t);
  t = craft_ok(now - 7200, now - 600, ISSUER, AUD);
  CHECK(verify(a, t, NULL) == AUTH_EXPIRED, "expired 10 minutes ago: expired");
  free(t);
  t = craft_ok(now - 7200, now - 30, ISSUER, AUD);
  CHECK(verify(a, t, NULL) == AUTH_OK, "expired 30 s ago: inside the clock skew");
  free(t);
  /* exp is the issuer's number: near the ends of the 64-bit range the
   * expiry check must not overflow (UBSan aborts on it). */
  t = craft_ok(now, INT64_MAX - 10, ISSUER, AUD);
  CHECK(verify(a, t, NULL) == AUTH_OK, "exp 2^63 - 11: valid (no overflow in the expiry check)");
  CHECK(verify(a, t, NULL) == AUTH_OK, "exp 2^63 - 11 again: valid from the cache");
  free(t);
  t = craft_ok(now - 7200, INT64_MIN + 10, ISSUER, AUD);
  CHECK(verify(a, t, NULL) == AUTH_EXPIRED, "exp -2^63 + 10: expired");
  free(t);
  t = craft_ok(now + 3600, now + 7200, ISSUER, AUD);
  CHECK(verify(a, t, NULL) == AUTH_NOT_YET_VALID, "nbf an hour ahead: not yet valid");
  free(t);
  t = craft_ok(now, now + 600, ISSUER, "https://other.example/");
  CHECK(verify(a, t, NULL) == AUTH_WRONG_AUDIENCE, "wrong audience");
  free(t);
  t = craft_ok(now, now + 600, ISSUER, NULL);
  CHECK(verify(a, t, NULL) == AUTH_WRONG_AUDIENCE, "no audience");
  free(t);
  t = craft_ok(now, now + 600, ISSUER, "https://h:1");
  CHECK(verify(a, t, NULL) == AUTH_OK, "audience without the trailing slash");
  free(t);
  t = craft_ok(now, now + 600, "https://evil.example/adfs", AUD);
  CHECK(verify(a, t, NULL) == AUTH_UNKNOWN_ISSUER, "unknown issuer");
  free(t);
  t = craft_ok(now, now + 600, NULL, AUD);
  CHECK(verify(a, t, NULL) == AUTH_MALFORMED, "no issuer: malformed");
  free(t);
  t = craft(a->signing_pem, a->signing_pem_len, JWT_ALG_RS256, ISSUER, AUD, now, now + 600, "no-such-kid");
  CHECK(verify(a, t, NULL) == AUTH_UNKNOWN_ISSUER, "unknown kid");
  free(t);

  /* tampering */
  char *good = craft_ok(now, now + 600, ISSUER, AUD);
  char payload[512];
  snprintf(payload, sizeof payload,
           "{\"iss\":\"%s\",\"aud\":\"%s\",\"oid\":\"oid-admin\",\"tid\":\"%s\",\"nbf\":%ld,\"exp\":%ld}", ISSUER, AUD,
           TENANT, now, now + 600);
  t = with_part(good, 1, payload);
  CHECK(verify(a, t, NULL) == AUTH_BAD_SIGNATURE, "tampered payload: bad signature");
  free(t);
  t = strdup(good);
  char *sig = strrchr(t, '.') + 1;
  sig[5] = sig[5] == 'A' ? 'B' : 'A';
  CHECK(verify(a, t, NULL) == AUTH_BAD_SIGNATURE, "tampered signature: bad signature");
  free(t);
  t = strdup(good);
  strrchr(t, '.')[1] = '\0';
  CHECK(verify(a, t, NULL) != AUTH_OK, "signature stripped: refused");
  free(t);
  char hdr[256];
  snprintf(hdr, sizeof hdr, "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}", a->kid);
  t = with_part(good, 0, hdr);
  CHECK(verify(a, t, NULL) == AUTH_MALFORMED, "alg none (signature kept): refused as malformed");
  strrchr(t, '.')[1] = '\0';
  CHECK(verify(a, t, NULL) == AUTH_MALFORMED, "alg none without signature: refused as malformed");
  free(t);
  const struct auth_key *pub = &a->issuers[0].keys[0];
  t = craft(pub->pem, pub->pem_len, JWT_ALG_HS256, ISSUER, AUD, now, now + 600, a->kid);
  CHECK(t && verify(a, t, NULL) == AUTH_MALFORMED, "HS256 keyed with the public key PEM: refused");
  free(t);
  free(good);
}

static void trusted_issuer(void **state)
{
  (void)state;
  char *t = NULL;
  int expires;
  struct auth_identity who;
  CHECK(auth_issue_token(peer, "oid-p", "app-p", "https://management.azure.com/", &t, &expires) == 0,
        "the peer issues a token");
  CHECK(verify(a, t, &who) == AUTH_OK && strcmp(who.oid, "oid-p") == 0, "a token of the trusted peer verifies here");
  free(t);
  CHECK(auth_issue_token(peer, "oid-p", "app-p", "https://peer:2/", &t, &expires) == 0 &&
            verify(a, t, NULL) == AUTH_WRONG_AUDIENCE,
        "a peer token for an audience this region does not accept is refused");
  free(t);
  long now = (long)time(NULL);
  t = craft(a->signing_pem, a->signing_pem_len, JWT_ALG_RS256, "https://peer:2/adfs", AUD, now, now + 600,
            peer->kid);
  CHECK(verify(a, t, NULL) == AUTH_BAD_SIGNATURE, "the peer's issuer and kid signed with this region's key: bad signature");
  free(t);
  CHECK(auth_issue_token(a, "oid-1", "app-1", "https://management.azure.com/", &t, &expires) == 0 &&
            verify(peer, t, NULL) == AUTH_UNKNOWN_ISSUER,
        "the peer does not trust this region (one-way configuration)");
  free(t);
}

static unsigned slot_of(const char *token)
{
  unsigned char d[32];
  EVP_Digest(token, strlen(token), d, NULL, EVP_sha256(), NULL);
  return (d[0] | (unsigned)d[1] << 8) % AUTH_CACHE_SLOTS;
}

static void cache(void **state)
{
  (void)state;
  long now = (long)time(NULL);
  char *good = craft_ok(now, now + 600, ISSUER, AUD);
  CHECK(verify(a, good, NULL) == AUTH_OK, "a verified token enters the cache");
  unsigned slot = slot_of(good);
  /* Forge variants (other signatures) until one falls into the same slot. */
  char *forged = strdup(good);
  char *sig = strrchr(forged, '.') + 1;
  static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  bool found = false;
  for (int i = 0; i < 64 && !found; i++)
    for (int j = 0; j < 64 && !found; j++)
      for (int k = 0; k < 64 && !found; k++) {
        sig[0] = alpha[i];
        sig[1] = alpha[j];
        sig[2] = alpha[k];
        found = strcmp(forged, good) != 0 && slot_of(forged) == slot;
      }
  CHECK(found, "found a forged token in the cached token's slot");
  CHECK(verify(a, forged, NULL) == AUTH_BAD_SIGNATURE, "the forged token in the same slot is still verified (refused)");
  CHECK(verify(a, good, NULL) == AUTH_OK, "the good token still verifies");
  char *expired = craft_ok(now - 7200, now - 600, ISSUER, AUD);
  CHECK(verify(a, expired, NULL) == AUTH_EXPIRED, "an expired token is not served from the cache");
  free(expired);
  free(forged);
  free(good);
}

static void secrets(void **state)
{
  (void)state;
  unsigned char salt[16], salt2[16], h1[32], h2[32], h3[32];
  memset(salt, 7, sizeof salt);
  memset(salt2, 8, sizeof salt2);
  CHECK(auth_secret_hash("s3cret", salt, h1) == 0 && auth_secret_hash("s3cret", salt, h2) == 0 &&
            memcmp(h1, h2, 32) == 0,
        "hashing is deterministic for a salt");
  CHECK(auth_secret_hash("s3cret", salt2, h3) == 0 && memcmp(h1, h3, 32) != 0, "another salt gives another hash");
  CHECK(auth_secret_matches("s3cret", salt, h1), "the right secret matches");
  CHECK(!auth_secret_matches("s3cret ", salt, h1) && !auth_secret_matches("S3cret", salt, h1) &&
            !auth_secret_matches("", salt, h1),
        "other secrets do not match");
  CHECK(!auth_secret_matches(NULL, salt, h1), "no secret does not match");
  CHECK(!auth_secret_matches("s3cret", salt2, h1), "the right secret with the wrong salt does not match");
  char *s1 = auth_secret_new(), *s2 = auth_secret_new();
  CHECK(s1 && s2 && strlen(s1) == 43 && strcmp(s1, s2) != 0 &&
            strspn(s1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43,
        "new secrets are 256-bit, URL-safe and distinct");
  free(s1);
  free(s2);
  /* one in 32 base64url strings starts with '-' or '_'; 1000 draws miss a
   * regression with probability (31/32)^1000 < 1e-13 */
  bool all_alnum = true;
  for (int i = 0; i < 1000 && all_alnum; i++) {
    char *s = auth_secret_new();
    all_alnum = s && isalnum((unsigned char)s[0]);
    free(s);
  }
  CHECK(all_alnum, "a new secret never starts with '-' or '_' (az login -p would take it for an option)");
}

static void jwks(void **state)
{
  (void)state;
  char *doc = auth_jwks_json(a);
  json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
  json_t *k = json_array_get(json_object_get(j, "keys"), 0);
  CHECK(k && strcmp(json_string_value(json_object_get(k, "kty")), "RSA") == 0 &&
            strcmp(json_string_value(json_object_get(k, "kid")), a->kid) == 0 &&
            strcmp(json_string_value(json_object_get(k, "alg")), "RS256") == 0 && json_object_get(k, "n") &&
            strcmp(json_string_value(json_object_get(k, "e")), "AQAB") == 0,
        "JWKS has the RSA key with kid, alg, n and e");
  json_decref(j);
  free(doc);
  struct auth_key *keys = NULL;
  int n = 0;
  CHECK(auth_jwks_load(peer_jwks, &keys, &n) == 0 && n == 1 && strcmp(keys[0].kid, peer->kid) == 0,
        "a written JWKS file loads back with its kid");
  for (int i = 0; i < n; i++)
    free(keys[i].pem);
  free(keys);
}

int main(void)
{
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char key[256], peer_key[256];
  snprintf(key, sizeof key, "%s/signing.pem", dir);
  snprintf(peer_key, sizeof peer_key, "%s/peer.pem", dir);
  snprintf(peer_jwks, sizeof peer_jwks, "%s/peer-jwks.json", dir);
  const char *peer_auds[] = {"https://peer:2/", "https://management.azure.com", NULL};
  struct auth_config pc = {.key_file = peer_key, .issuer = "https://peer:2/adfs", .tenant_id = TENANT,
                           .audiences = peer_auds, .token_lifetime_s = 3600};
  if (auth_open(&pc, &peer) != 0 || auth_write_jwks(peer, peer_jwks) != 0) {
    fprintf(stderr, "cannot set up the peer\n");
    return 1;
  }
  const char *auds[] = {AUD, "https://management.azure.com/", NULL};
  struct auth_trusted_issuer trusted[] = {{"https://peer:2/adfs", peer_jwks}};
  struct auth_config c = {.key_file = key, .issuer = ISSUER, .tenant_id = TENANT, .audiences = auds,
                          .token_lifetime_s = 3600, .trusted = trusted, .ntrusted = 1};
  if (auth_open(&c, &a) != 0) {
    fprintf(stderr, "cannot open auth\n");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      UNIT_TEST(issue_and_verify), UNIT_TEST(refusals), UNIT_TEST(trusted_issuer),
      UNIT_TEST(cache),            UNIT_TEST(secrets),  UNIT_TEST(jwks),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  auth_close(a);
  auth_close(peer);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return unit_finish(rc);
}
