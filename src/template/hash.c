/*
 * hash.c — uniqueString(), guid() and templateHash, bit-exact with ARM
 * (TEMPLATES.md §3.5; reference implementation and vectors in
 * reference/templates/arm-hash.py).
 *
 * All three hash a sequence of pieces (the arguments joined with '-', or the
 * compact template text as jansson writes it), so the hashes are fed
 * incrementally and nothing is joined in memory: MurmurHash64 keeps the
 * unfinished 8-byte block aside, SHA-1 is OpenSSL's.
 *
 * templateHash upper-cases ASCII only (.NET's invariant upper-casing also
 * maps other letters); a template with non-ASCII letters therefore hashes
 * differently from Azure — any stable hash satisfies the clients
 * (TEMPLATES.md §6.4).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "template/template.h"

/* ---- MurmurHash64, ResourceStack's variant: two 32-bit lanes, seed 0 ---- */
struct murmur {
  uint32_t h1, h2;
  unsigned char block[8];
  size_t nblock;
  uint64_t len;
};

static uint32_t rotl(uint32_t x, int r)
{
  return x << r | x >> (32 - r);
}

static uint32_t le32(const unsigned char *p, size_t n)
{
  uint32_t v = 0;
  for (size_t i = n; i-- > 0;)
    v = v << 8 | p[i];
  return v;
}

static uint32_t mix1(uint32_t k)
{
  return rotl(k * 0x239B961Bu, 15) * 0xAB0E9789u;
}

static uint32_t mix2(uint32_t k)
{
  return rotl(k * 0xAB0E9789u, 17) * 0x239B961Bu;
}

static void murmur_block(struct murmur *m, const unsigned char *p)
{
  m->h1 ^= mix1(le32(p, 4));
  m->h1 = (rotl(m->h1, 19) + m->h2) * 5 + 0x561CCD1Bu;
  m->h2 ^= mix2(le32(p + 4, 4));
  m->h2 = (rotl(m->h2, 13) + m->h1) * 5 + 0x0BCAA747u;
}

static void murmur_feed(struct murmur *m, const void *data, size_t len)
{
  const unsigned char *p = data;
  m->len += len;
  if (m->nblock > 0) {
    size_t take = len < 8 - m->nblock ? len : 8 - m->nblock;
    memcpy(m->block + m->nblock, p, take);
    m->nblock += take;
    p += take;
    len -= take;
    if (m->nblock < 8)
      return;
    murmur_block(m, m->block);
    m->nblock = 0;
  }
  for (; len >= 8; p += 8, len -= 8)
    murmur_block(m, p);
  memcpy(m->block, p, len);
  m->nblock = len;
}

static uint32_t fmix(uint32_t h)
{
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  return h ^ h >> 16;
}

static uint64_t murmur_end(struct murmur *m)
{
  if (m->nblock > 0) {
    m->h1 ^= mix1(le32(m->block, m->nblock < 4 ? m->nblock : 4));
    if (m->nblock > 4)
      m->h2 ^= mix2(le32(m->block + 4, m->nblock - 4));
  }
  m->h1 ^= (uint32_t)m->len;
  m->h2 ^= (uint32_t)m->len;
  m->h1 += m->h2;
  m->h2 += m->h1;
  m->h1 = fmix(m->h1);
  m->h2 = fmix(m->h2);
  m->h1 += m->h2;
  m->h2 += m->h1;
  return (uint64_t)m->h2 << 32 | m->h1;
}

uint64_t tpl_murmur64(const void *data, size_t len)
{
  struct murmur m = {0};
  murmur_feed(&m, data, len);
  return murmur_end(&m);
}

/* ---- the functions ------------------------------------------------------ */
void tpl_unique_string(const char *const *args, int n, char out[14])
{
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  struct murmur m = {0};
  for (int i = 0; i < n; i++) {
    if (i > 0)
      murmur_feed(&m, "-", 1);
    murmur_feed(&m, args[i], strlen(args[i]));
  }
  uint64_t h = murmur_end(&m);
  for (int i = 0; i < 13; i++, h <<= 5)
    out[i] = alphabet[h >> 59];
  out[13] = '\0';
}

void tpl_guid(const char *const *args, int n, char out[37])
{
  /* RFC 4122 §4.3: SHA-1 of the namespace's bytes, then the name */
  static const unsigned char ns[16] = {0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd,
                                       0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30};
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, ns, sizeof ns);
  for (int i = 0; ok && i < n; i++)
    ok = (i == 0 || EVP_DigestUpdate(ctx, "-", 1)) && EVP_DigestUpdate(ctx, args[i], strlen(args[i]));
  ok = ok && EVP_DigestFinal_ex(ctx, d, &dlen) && dlen >= 16;
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    out[0] = '\0';
    return;
  }
  d[6] = (unsigned char)((d[6] & 0x0F) | 0x50);
  d[8] = (unsigned char)((d[8] & 0x3F) | 0x80);
  static const char hex[] = "0123456789abcdef";
  char *o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      *o++ = '-';
    *o++ = hex[d[i] >> 4];
    *o++ = hex[d[i] & 15];
  }
  *o = '\0';
}

static int feed_upper(const char *buf, size_t len, void *data)
{
  char up[256];
  while (len > 0) {
    size_t k = len < sizeof up ? len : sizeof up;
    for (size_t i = 0; i < k; i++)
      up[i] = buf[i] >= 'a' && buf[i] <= 'z' ? (char)(buf[i] - 'a' + 'A') : buf[i];
    murmur_feed(data, up, k);
    buf += k;
    len -= k;
  }
  return 0;
}

int tpl_template_hash(const json_t *template, char out[21])
{
  struct murmur m = {0};
  if (json_dump_callback(template, feed_upper, &m, JSON_COMPACT | JSON_ENCODE_ANY) < 0)
    return -ENOMEM;
  snprintf(out, 21, "%llu", (unsigned long long)murmur_end(&m));
  return 0;
}
