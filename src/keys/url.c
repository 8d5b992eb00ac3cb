/*
 * url.c — key URLs, the names of customer keys.  Azure names a key version
 * https://<vault>.vault.azure.net/keys/<name>/<version>; vmrp reads the same
 * shape as token, key label and CKA_ID:
 *
 *   https://<token label>.<host>/keys/<key label>/<hex version>
 *
 * The parse is strict (a URL is stored in domain files and compared as
 * text): lower-case scheme, a token label of DNS-label characters (at most
 * 32, a PKCS#11 token label's size), a host of letters, digits, dots and
 * dashes with an optional :port, a key label of letters, digits and dashes
 * (1-127, as Key Vault's key names), an even number (2-64) of hex digits,
 * and nothing after them: no query, fragment, user or trailing slash.
 */
#include <errno.h>
#include <string.h>

#include "keys/internal.h"

static bool is_alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The length of the run of alnum-or-dash characters at s (dashes not at
 * either end), or 0. */
static size_t label_span(const char *s)
{
  size_t n = 0;
  while (is_alnum(s[n]) || s[n] == '-')
    n++;
  return n && s[0] != '-' && s[n - 1] != '-' ? n : 0;
}

int keys_url_parse(const char *url, struct keys_url *out)
{
  static const char scheme[] = "https://";
  if (!url || strncmp(url, scheme, sizeof scheme - 1) || strlen(url) > KEYS_WRAPPING_MAX)
    return -EINVAL;
  const char *p = url + sizeof scheme - 1;
  size_t tok = label_span(p);
  if (tok == 0 || tok >= sizeof out->token || p[tok] != '.')
    return -EINVAL;
  const char *host = p + tok + 1;
  size_t h = 0;
  while (is_alnum(host[h]) || host[h] == '-' || (host[h] == '.' && h > 0 && host[h - 1] != '.'))
    h++;
  if (h == 0 || host[h - 1] == '.')
    return -EINVAL;
  if (host[h] == ':') {
    size_t digits = 0;
    for (h++; host[h] >= '0' && host[h] <= '9'; h++)
      digits++;
    if (digits == 0 || digits > 5)
      return -EINVAL;
  }
  const char *path = host + h;
  if (strncmp(path, "/keys/", 6))
    return -EINVAL;
  const char *label = path + 6;
  size_t lab = label_span(label);
  if (lab == 0 || lab >= sizeof out->label || label[lab] != '/')
    return -EINVAL;
  const char *version = label + lab + 1;
  size_t v = 0;
  while (is_hex(version[v]))
    v++;
  if (version[v] || v == 0 || v % 2 || v >= sizeof out->version)
    return -EINVAL;
  memcpy(out->token, p, tok);
  out->token[tok] = '\0';
  memcpy(out->label, label, lab);
  out->label[lab] = '\0';
  memcpy(out->version, version, v + 1);
  return 0;
}
