/*
 * keycmd.c — `vmrpd keys ...`, the operator's commands on the keyring
 * (docs/encryption.md "Operator commands"), and its opening at start.
 *
 *   keys init --keyring DIR          a new keyring: master key + platform
 *                                    domain; refuses a directory that has
 *                                    a master key (never overwrites one)
 *   keys rotate-master -c CONF       a new master key; safe while daemons
 *                                    run (they hold the unwrapped sets)
 *   keys show -c CONF                every domain and what wraps it (never
 *                                    a key's bytes)
 *   keys disable-key --key URL -c CONF   a customer key may no longer wrap or
 *   keys enable-key --key URL -c CONF    unwrap (its domains: -EKEYREVOKED),
 *                                    or may again
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/keycmd.h"
#include "keys/keys.h"

static struct keys_config keys_config_of(const struct config *c)
{
  return (struct keys_config){.dir = c->keyring, .pkcs11_module = c->pkcs11_module,
                              .pkcs11_pin_file = c->pkcs11_pin_file};
}

int keycmd_open(const struct config *c, struct keys **out)
{
  *out = NULL;
  if (!c->keyring)
    return 0;
  struct keys_config kc = keys_config_of(c);
  int r = keys_open(&kc, out);
  if (r == -ENOKEY)
    log_error("vmrpd", "no master key in %s (a new deployment makes one: vmrpd keys init --keyring %s; an "
              "existing one restores master.key from its backup)", c->keyring, c->keyring);
  else if (r == -EKEYREJECTED)
    log_error("vmrpd", "the master key in %s does not open this deployment's keys (another deployment's key, or a "
              "damaged keyring: restore it from its backup); nothing was changed", c->keyring);
  else if (r < 0)
    log_error("vmrpd", "cannot open the keyring %s: %s", c->keyring, strerror(-r));
  return r;
}

static const char *usable(int r)
{
  switch (r) {
  case 0: return "usable";
  case -ENOKEY: return "KEY MISSING: its domain is unreadable";
  case -EKEYREVOKED: return "KEY DISABLED: its domain is unreadable";
  case -ENODEV: return "token absent or no PKCS#11 module";
  default: return strerror(-r);
  }
}

static int show(struct keys *k)
{
  uint8_t(*ids)[KEYS_ID_LEN] = NULL;
  size_t n = 0;
  int r = keys_domain_list(k, &ids, &n);
  for (size_t i = 0; r == 0 && i < n; i++) {
    char hex[2 * KEYS_ID_LEN + 1], *url = NULL;
    keys_id_to_hex(ids[i], hex);
    r = keys_domain_wrapping(k, ids[i], &url);
    if (r == 0 && !url)
      printf("%s  platform  wrapped by the master key\n", hex);
    else if (r == 0)
      printf("%s  customer  wrapped by %s (%s)\n", hex, url, usable(keys_cmk_check(k, url)));
    free(url);
  }
  free(ids);
  return r;
}

int keycmd_main(struct config *c, const char *key_url, int argc, char **argv)
{
  const char *sub = argc > 1 ? argv[1] : "";
  struct keys_config kc = keys_config_of(c);
  struct keys *k = NULL;
  int r;
  if (!c->keyring) {
    fprintf(stderr, "vmrpd keys: no keyring: --keyring DIR, or -c CONF with [encryption] keyring\n");
    return 2;
  }
  if (!strcmp(sub, "init")) {
    r = keys_create(&kc);
    if (r == -EEXIST)
      fprintf(stderr, "vmrpd keys init: %s already holds a keyring; nothing was changed\n", c->keyring);
    else if (r == 0)
      printf("vmrpd: a new keyring in %s (back up master.key and domains/ together, privately)\n", c->keyring);
    return r < 0;
  }
  if (!strcmp(sub, "rotate-master")) {
    r = keys_rotate_master(&kc);
    if (r == 0)
      printf("vmrpd: the master key of %s was rotated (back up the keyring again)\n", c->keyring);
    else
      fprintf(stderr, "vmrpd keys rotate-master: %s\n", strerror(-r));
    return r < 0;
  }
  bool enable = !strcmp(sub, "enable-key");
  if (strcmp(sub, "show") && !enable && strcmp(sub, "disable-key")) {
    fprintf(stderr, "vmrpd keys: expected init, rotate-master, show, disable-key or enable-key\n");
    return 2;
  }
  if (strcmp(sub, "show") && !key_url) {
    fprintf(stderr, "vmrpd keys %s: --key URL is required\n", sub);
    return 2;
  }
  if (keycmd_open(c, &k) < 0)
    return 1;
  if (!strcmp(sub, "show")) {
    r = show(k);
  } else {
    r = keys_cmk_set_enabled(k, key_url, enable);
    if (r == 0)
      printf("vmrpd: %s %s\n", key_url, enable ? "enabled" : "disabled: the domains it wraps are unreadable");
    else
      fprintf(stderr, "vmrpd keys %s: %s: %s\n", sub, key_url, r == -ENOKEY ? "no such key in the token" : strerror(-r));
  }
  keys_close(k);
  return r < 0;
}
