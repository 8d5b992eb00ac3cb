/*
 * test_keys.c — src/keys: a keyring made and opened; a missing, wrong,
 * truncated or world-readable master key refused with nothing changed (the
 * directory hashed before and after); a damaged domain file; master-key
 * rotation, and a crash at each of its points (a child process ends at the
 * failpoint keys.rotate.crash=N) after which keys_open finishes or undoes
 * it with the platform set unchanged; volume-key wrapping bound to its
 * domain; key URLs; and customer keys in a private SoftHSM2 token
 * (softhsm2-util, pkcs11-tool): domains created, read, re-wrapped to a new
 * key version (the old one then destroyed), a key disabled (-EKEYREVOKED)
 * and destroyed (-ENOKEY) while the other domains read on, from threads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "common/fsutil.h"
#include "keys/keys.h"
#include "unit.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"

static char top[64];

/* A fresh directory under the test's temporary one. */
static void subdir(const char *name, char *out, size_t size)
{
  snprintf(out, size, "%s/%s", top, name);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  return system(cmd);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
  return strcmp((*a)->d_name, (*b)->d_name);
}

/* SHA-256 over the names, modes and contents of dir's files (and of its
 * subdirectories', one level down). */
static void hash_dir_into(EVP_MD_CTX *c, const char *dir, int depth)
{
  struct dirent **e;
  int n = scandir(dir, &e, NULL, by_name);
  for (int i = 0; i < n; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e[i]->d_name);
    if (e[i]->d_name[0] != '.' && lstat(path, &st) == 0) {
      EVP_DigestUpdate(c, e[i]->d_name, strlen(e[i]->d_name) + 1);
      EVP_DigestUpdate(c, &st.st_mode, sizeof st.st_mode);
      void *data = NULL;
      size_t len = 0;
      if (S_ISDIR(st.st_mode) && depth > 0)
        hash_dir_into(c, path, depth - 1);
      else if (S_ISREG(st.st_mode) && read_file(path, &data, &len) == 0)
        EVP_DigestUpdate(c, data, len);
      free(data);
    }
    free(e[i]);
  }
  free(e);
}

static void hash_dir(const char *dir, unsigned char out[32])
{
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  EVP_DigestInit_ex(c, EVP_sha256(), NULL);
  hash_dir_into(c, dir, 1);
  EVP_DigestFinal_ex(c, out, NULL);
  EVP_MD_CTX_free(c);
}

static bool same_set(const struct keys_set *a, const struct keys_set *b)
{
  return memcmp(a, b, sizeof *a) == 0;
}

static int file_count(const char *dir, const char *suffix)
{
  struct dirent **e;
  int n = scandir(dir, &e, NULL, NULL), count = 0;
  for (int i = 0; i < n; i++) {
    size_t len = strlen(e[i]->d_name), sl = strlen(suffix);
    count += e[i]->d_name[0] != '.' && len > sl && !strcmp(e[i]->d_name + len - sl, suffix);
    free(e[i]);
  }
  free(e);
  return count;
}

static void create_open(void **state)
{
  (void)state;
  char dir[256], path[300];
  subdir("ring-a", dir, sizeof dir);
  struct keys_config cfg = {.dir = dir};
  CHECK(keys_create(&cfg) == 0, "keys_create makes a keyring");
  unsigned char before[32], after[32];
  hash_dir(dir, before);
  CHECK(keys_create(&cfg) == -EEXIST, "keys_create again: -EEXIST");
  hash_dir(dir, after);
  CHECK(memcmp(before, after, 32) == 0, "... and nothing in the keyring changed");
  struct stat st;
  snprintf(path, sizeof path, "%s/master.key", dir);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == KEYS_KEY_LEN,
        "master.key: 32 bytes, mode 0600");
  CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700, "the keyring directory is 0700");
  struct keys *k = NULL, *k2 = NULL;
  CHECK(keys_open(&cfg, &k) == 0 && k, "keys_open opens it");
  CHECK(keys_open(&cfg, &k2) == 0 && k2, "... twice at once");
  struct keys_set a, b, zero;
  memset(&zero, 0, sizeof zero);
  keys_platform(k, &a);
  keys_platform(k2, &b);
  CHECK(same_set(&a, &b) && !same_set(&a, &zero), "both see the same platform set");
  struct keys_set c;
  CHECK(keys_domain_get(k, a.id, &c) == 0 && same_set(&a, &c), "keys_domain_get of the platform id: its set");
  char *url = (char *)"x";
  CHECK(keys_domain_wrapping(k, a.id, &url) == 0 && url == NULL, "the platform domain is wrapped by the master key");
  CHECK(keys_domain_delete(k, a.id) == -EPERM, "the platform domain cannot be deleted");
  uint8_t unknown[KEYS_ID_LEN] = {1, 2, 3};
  CHECK(keys_domain_get(k, unknown, &c) == -ENOENT, "an unknown domain: -ENOENT");
  CHECK(keys_cmk_check(k, "https://vmrp-hsm.local/keys/k/01") == -ENODEV, "no PKCS#11 module: -ENODEV");
  char hex[2 * KEYS_ID_LEN + 1];
  uint8_t back[KEYS_ID_LEN];
  keys_id_to_hex(a.id, hex);
  CHECK(strlen(hex) == 32 && keys_id_from_hex(hex, back) == 0 && !memcmp(back, a.id, KEYS_ID_LEN),
        "ids round-trip through hex (%s)", hex);
  CHECK(keys_id_from_hex("0011", back) == -EINVAL && keys_id_from_hex("zz112233445566778899aabbccddeeff", back) ==
        -EINVAL, "short or non-hex ids: -EINVAL");
  keys_close(k);
  keys_close(k2);
  keys_close(NULL);
}

static void refused(void **state)
{
  (void)state;
  char a[256], b[256], path[300], pb[300];
  subdir("ring-r", a, sizeof a);
  subdir("ring-other", b, sizeof b);
  struct keys_config ca = {.dir = a}, cb = {.dir = b}, none = {.dir = "/nonexistent/vmrp-keys"};
  struct keys *k = (struct keys *)1;
  CHECK(keys_open(&none, &k) == -ENOKEY && k == NULL, "no keyring directory: -ENOKEY");
  CHECK(keys_create(&ca) == 0 && keys_create(&cb) == 0, "two keyrings (two deployments)");
  snprintf(path, sizeof path, "%s/master.key", a);
  snprintf(pb, sizeof pb, "%s/master.key", b);
  unsigned char before[32], after[32];

  CHECK(run("cp -p %s %s.saved && cp -p %s %s", path, path, pb, path) == 0, "the other's master key copied in");
  hash_dir(a, before);
  CHECK(keys_open(&ca, &k) == -EKEYREJECTED && !k, "a wrong master key: -EKEYREJECTED");
  hash_dir(a, after);
  CHECK(memcmp(before, after, 32) == 0, "... and no file changed");
  CHECK(keys_rotate_master(&ca) == -EKEYREJECTED, "rotation with the wrong key: -EKEYREJECTED");
  hash_dir(a, after);
  CHECK(memcmp(before, after, 32) == 0, "... and no file changed");

  CHECK(run("mv %s.saved %s && mv %s %s.saved", path, path, path, path) == 0, "the right key back, then moved away");
  hash_dir(a, before);
  CHECK(keys_open(&ca, &k) == -ENOKEY, "a missing master key: -ENOKEY");
  CHECK(keys_rotate_master(&ca) == -ENOKEY, "rotation without it: -ENOKEY");
  CHECK(keys_create(&ca) == -EEXIST, "keys_create does not replace it (domain files remain)");
  hash_dir(a, after);
  CHECK(memcmp(before, after, 32) == 0, "... and no file changed");
  CHECK(run("cp -p %s.saved %s", path, path) == 0, "the master key back");

  CHECK(chmod(path, 0640) == 0 && keys_open(&ca, &k) == -EPERM, "a master key its group may read: -EPERM");
  CHECK(chmod(path, 0604) == 0 && keys_open(&ca, &k) == -EPERM, "a master key others may read: -EPERM");
  CHECK(chmod(path, 0600) == 0 && keys_open(&ca, &k) == 0, "mode 0600: opens");
  keys_close(k);
  CHECK(truncate(path, 31) == 0 && keys_open(&ca, &k) == -EKEYREJECTED, "a truncated master key: -EKEYREJECTED");
  CHECK(run("cp -p %s.saved %s", path, path) == 0, "the master key back");

  /* A damaged domain file. */
  struct keys *ka = NULL;
  CHECK(keys_open(&ca, &ka) == 0, "the right key opens");
  struct keys_set p;
  keys_platform(ka, &p);
  keys_close(ka);
  char hex[33], dpath[400];
  keys_id_to_hex(p.id, hex);
  snprintf(dpath, sizeof dpath, "%s/domains/%s", a, hex);
  CHECK(run("cp -p %s %s.saved && printf '\\x55' | dd of=%s bs=1 seek=40 conv=notrunc status=none", dpath, dpath,
            dpath) == 0, "a byte of the platform domain file changed");
  CHECK(keys_open(&ca, &ka) == -EKEYREJECTED, "a damaged domain file: -EKEYREJECTED");
  CHECK(run("mv %s.saved %s", dpath, dpath) == 0 && keys_open(&ca, &ka) == 0, "restored: opens");
  keys_close(ka);
}

static void wrap(void **state)
{
  (void)state;
  char a[256], b[256];
  subdir("ring-w1", a, sizeof a);
  subdir("ring-w2", b, sizeof b);
  struct keys_config ca = {.dir = a}, cb = {.dir = b};
  struct keys *ka = NULL, *kb = NULL;
  CHECK(keys_create(&ca) == 0 && keys_create(&cb) == 0 && keys_open(&ca, &ka) == 0 && keys_open(&cb, &kb) == 0,
        "two keyrings");
  struct keys_set sa, sb;
  keys_platform(ka, &sa);
  keys_platform(kb, &sb);
  uint8_t key[64], w[64 + KEYS_WRAP_OVERHEAD], w2[64 + KEYS_WRAP_OVERHEAD], out[64];
  for (int i = 0; i < 64; i++)
    key[i] = (uint8_t)(i * 7 + 1);
  CHECK(keys_wrap(&sa, key, sizeof key, w) == 0 && keys_wrap(&sa, key, sizeof key, w2) == 0,
        "a 64-byte volume key wrapped twice");
  CHECK(memcmp(w, w2, sizeof w) != 0 && !memmem(w, sizeof w, key, 16), "random nonces: two different wrappings, "
        "neither shows the key");
  CHECK(keys_unwrap(&sa, w, sizeof w, out) == 0 && !memcmp(out, key, sizeof key), "unwraps under its domain");
  CHECK(keys_unwrap(&sb, w, sizeof w, out) == -EKEYREJECTED, "under another domain: -EKEYREJECTED");
  struct keys_set same_keys = sa;
  same_keys.id[0] ^= 1;
  CHECK(keys_unwrap(&same_keys, w, sizeof w, out) == -EKEYREJECTED,
        "under another domain id with the same wrap key: -EKEYREJECTED (the id is the AAD)");
  w[20] ^= 4;
  CHECK(keys_unwrap(&sa, w, sizeof w, out) == -EKEYREJECTED, "a flipped bit: -EKEYREJECTED");
  CHECK(keys_unwrap(&sa, w, KEYS_WRAP_OVERHEAD - 1, out) == -EINVAL, "shorter than nonce and tag: -EINVAL");
  keys_close(ka);
  keys_close(kb);
}

static void urls(void **state)
{
  (void)state;
  struct keys_url u;
  CHECK(keys_url_parse("https://vmrp-hsm.vault.local/keys/disk-key/0a1B", &u) == 0 && !strcmp(u.token, "vmrp-hsm") &&
        !strcmp(u.label, "disk-key") && !strcmp(u.version, "0a1B"), "a key URL: token, label, version");
  CHECK(keys_url_parse("https://t.h:8443/keys/k/01", &u) == 0, "a host with a port");
  static const char *const bad[] = {
      "", "http://vmrp-hsm.local/keys/k/01", "https://vmrp-hsm/keys/k/01", "https://.local/keys/k/01",
      "https://vmrp-hsm./keys/k/01", "https://vmrp-hsm..local/keys/k/01", "https://vmrp-hsm.a..b/keys/k/01",
      "https://-x.local/keys/k/01", "https://x-.local/keys/k/01",
      "https://vmrp_hsm.local/keys/k/01", "https://vmrp-hsm.local/key/k/01", "https://vmrp-hsm.local/keys//01",
      "https://vmrp-hsm.local/keys/k/", "https://vmrp-hsm.local/keys/k/1", "https://vmrp-hsm.local/keys/k/0g",
      "https://vmrp-hsm.local/keys/k/01/", "https://vmrp-hsm.local/keys/k/01?x=1", "https://vmrp-hsm.local/keys/k/01#f",
      "https://u@vmrp-hsm.local/keys/k/01", "https://vmrp-hsm.local:/keys/k/01", "https://vmrp-hsm.local:123456/keys/k/01",
      "https://vmrp-hsm.local/keys/k/k2/01", "https://vmrp-hsm.local/keys/../01", "https://vmrp-hsm.local/keys/k k/01",
      "HTTPS://vmrp-hsm.local/keys/k/01", "https://vmrp-hsm.local/keys/k/01\n",
      "https://a23456789012345678901234567890123.local/keys/k/01",
      "https://vmrp-hsm.local/keys/k/"
      "01234567890123456789012345678901234567890123456789012345678901234567"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(keys_url_parse(bad[i], &u) == -EINVAL, "refused: '%s'", bad[i]);
  CHECK(keys_url_parse(NULL, &u) == -EINVAL, "refused: NULL");
  char longlabel[300];
  snprintf(longlabel, sizeof longlabel, "https://t.h/keys/%0128d/01", 0);
  CHECK(keys_url_parse(longlabel, &u) == -EINVAL, "a key label of 128 characters: refused");
  snprintf(longlabel, sizeof longlabel, "https://t.h/keys/%0127d/01", 0);
  CHECK(keys_url_parse(longlabel, &u) == 0, "one of 127: taken");
}

/* Rotates in a child that ends at crash point n; returns its exit status. */
static int rotate_crashing(const struct keys_config *cfg, int n)
{
  pid_t pid = fork();
  if (pid == 0) {
    char fp[64];
    snprintf(fp, sizeof fp, "keys.rotate.crash=%d", n);
    setenv("VMRP_FAILPOINTS", fp, 1);
    failpoint_init();
    _exit(keys_rotate_master(cfg) == 0 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void rotate(void **state)
{
  (void)state;
  char dir[256], mk[300], doms[300];
  subdir("ring-rot", dir, sizeof dir);
  snprintf(mk, sizeof mk, "%s/master.key", dir);
  snprintf(doms, sizeof doms, "%s/domains", dir);
  struct keys_config cfg = {.dir = dir};
  struct keys *k = NULL;
  struct keys_set p0, p;
  CHECK(keys_create(&cfg) == 0 && keys_open(&cfg, &k) == 0, "a keyring");
  keys_platform(k, &p0);
  void *m0 = NULL, *m1 = NULL;
  size_t len = 0;
  read_file(mk, &m0, &len);
  CHECK(keys_rotate_master(&cfg) == 0, "the master key rotates (the keyring open meanwhile)");
  read_file(mk, &m1, &len);
  CHECK(m0 && m1 && len == 32 && memcmp(m0, m1, 32) != 0, "master.key changed");
  struct keys_set held;
  keys_platform(k, &held);
  CHECK(same_set(&held, &p0), "the open keyring keeps its set");
  keys_close(k);
  CHECK(keys_open(&cfg, &k) == 0, "the keyring opens with the new key");
  keys_platform(k, &p);
  CHECK(same_set(&p, &p0), "the platform set did not change");
  keys_close(k);
  free(m0);
  free(m1);

  /* A crash at every point: 1-4 before the commit, 5-7 after. */
  for (int n = 1; n <= 7; n++) {
    m0 = m1 = NULL;
    read_file(mk, &m0, &len);
    int st = rotate_crashing(&cfg, n);
    CHECK(st == 137, "crash point %d reached (exit %d)", n, st);
    int r = keys_open(&cfg, &k);
    CHECK(r == 0, "after a crash at point %d keys_open recovers (%d)", n, r);
    if (r == 0) {
      keys_platform(k, &p);
      CHECK(same_set(&p, &p0), "... the platform set is unchanged");
      keys_close(k);
    }
    read_file(mk, &m1, &len);
    bool changed = m0 && m1 && memcmp(m0, m1, 32) != 0;
    CHECK(changed == (n >= 5), "... the master key is the %s one", n >= 5 ? "new (committed)" : "old (undone)");
    CHECK(file_count(dir, ".new") == 0 && file_count(doms, ".new") == 0 && file_count(dir, ".tmp") == 0 &&
          file_count(doms, ".tmp") == 0, "... no .new or .tmp file is left");
    free(m0);
    free(m1);
  }
  CHECK(rotate_crashing(&cfg, 99) == 0, "a rotation with no crash point reached completes");

  /* Failed I/O at each file the rotation writes: it fails, the old state
   * stays (invariant 1), nothing is left behind, the next one completes. */
  static const char *io[] = {"keys.master.write=enospcx1", "keys.domain.write=shortx1", "keys.rotate.commit=eiox1"};
  for (size_t i = 0; i < sizeof io / sizeof io[0]; i++) {
    m0 = m1 = NULL;
    read_file(mk, &m0, &len);
    CHECK(failpoint_arm(io[i]) == 0 && keys_rotate_master(&cfg) < 0, "%s: the rotation fails", io[i]);
    failpoint_arm("");
    read_file(mk, &m1, &len);
    CHECK(m0 && m1 && memcmp(m0, m1, 32) == 0, "... master.key is the old one");
    CHECK(file_count(dir, ".new") == 0 && file_count(doms, ".new") == 0 && file_count(dir, ".tmp") == 0 &&
          file_count(doms, ".tmp") == 0, "... no .new or .tmp file is left");
    CHECK(keys_open(&cfg, &k) == 0, "... the keyring opens");
    keys_platform(k, &p);
    CHECK(same_set(&p, &p0), "... the platform set is unchanged");
    keys_close(k);
    free(m0);
    free(m1);
  }
  CHECK(keys_rotate_master(&cfg) == 0, "then a rotation completes");

  /* Recovery refuses a wrong key: crashed before the commit, another key copied in. */
  char other[256];
  subdir("ring-rot-other", other, sizeof other);
  struct keys_config co = {.dir = other};
  CHECK(keys_create(&co) == 0 && rotate_crashing(&cfg, 3) == 137, "a rotation crashed before its commit");
  CHECK(run("cp -p %s %s.saved && cp -p %s/master.key %s", mk, mk, other, mk) == 0, "a wrong key copied in");
  unsigned char before[32], after[32];
  hash_dir(dir, before);
  CHECK(keys_open(&cfg, &k) == -EKEYREJECTED, "keys_open: -EKEYREJECTED");
  hash_dir(dir, after);
  CHECK(memcmp(before, after, 32) == 0 && file_count(doms, ".new") == 1, "... nothing changed, the .new file kept");
  CHECK(run("mv %s.saved %s", mk, mk) == 0 && keys_open(&cfg, &k) == 0, "the right key: recovered and open");
  keys_platform(k, &p);
  CHECK(same_set(&p, &p0), "... the platform set is unchanged");
  keys_close(k);
}

/* ---- customer keys in a private SoftHSM2 token ---- */

static char hsm_pin_file[300];

static int hsm_key(const char *label, const char *id)
{
  return run("pkcs11-tool --module " MODULE " --token-label vmrp-hsm --login --pin 246810 --keygen "
             "--key-type AES:32 --label %s --id %s --sensitive --usage-decrypt >/dev/null 2>&1", label, id);
}

static int hsm_delete(const char *label, const char *id)
{
  return run("pkcs11-tool --module " MODULE " --token-label vmrp-hsm --login --pin 246810 --delete-object "
             "--type secrkey --label %s --id %s >/dev/null 2>&1", label, id);
}

static int hsm_setup(void)
{
  char conf[300], tokens[300];
  snprintf(tokens, sizeof tokens, "%s/tokens", top);
  snprintf(conf, sizeof conf, "%s/softhsm2.conf", top);
  snprintf(hsm_pin_file, sizeof hsm_pin_file, "%s/pin", top);
  mkdir(tokens, 0700);
  FILE *f = fopen(conf, "w");
  if (!f)
    return -1;
  fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens);
  fclose(f);
  setenv("SOFTHSM2_CONF", conf, 1);
  f = fopen(hsm_pin_file, "w");
  if (!f)
    return -1;
  fputs("246810\n", f);
  fclose(f);
  chmod(hsm_pin_file, 0600);
  return run("softhsm2-util --init-token --free --label vmrp-hsm --so-pin 13579135 --pin 246810 >/dev/null");
}

/* The test binary run again (a fresh process: its own C_Initialize) to
 * disable or enable a key, as an operator's command would. */
static int set_enabled_elsewhere(const struct keys_config *cfg, const char *url, bool enabled)
{
  return run("/proc/%d/exe --set-enabled '%s' '%s' '%s' %d", (int)getpid(), cfg->dir, cfg->pkcs11_pin_file, url,
             enabled);
}

static int set_enabled_main(char **argv)
{
  struct keys_config cfg = {.dir = argv[2], .pkcs11_module = MODULE, .pkcs11_pin_file = argv[3]};
  struct keys *k = NULL;
  int r = keys_open(&cfg, &k);
  if (r == 0)
    r = keys_cmk_set_enabled(k, argv[4], atoi(argv[5]));
  keys_close(k);
  return r == 0 ? 0 : 1;
}

struct reader {
  struct keys *k;
  uint8_t id[KEYS_ID_LEN];
  struct keys_set want;
  int bad;
};

static void *read_loop(void *arg)
{
  struct reader *rd = arg;
  for (int i = 0; i < 20; i++) {
    struct keys_set s;
    if (keys_domain_get(rd->k, rd->id, &s) != 0 || !same_set(&s, &rd->want))
      rd->bad++;
  }
  return NULL;
}

static void cmk(void **state)
{
  (void)state;
  CHECK(hsm_setup() == 0, "a private SoftHSM2 token 'vmrp-hsm'");
  CHECK(hsm_key("cmk1", "01") == 0 && hsm_key("cmk1", "03") == 0 && hsm_key("cmk2", "02") == 0,
        "keys cmk1/01, cmk1/03 and cmk2/02 generated in it (pkcs11-tool)");
  const char *u1 = "https://vmrp-hsm.vault.local/keys/cmk1/01", *u1b = "https://vmrp-hsm.vault.local/keys/cmk1/03",
             *u2 = "https://vmrp-hsm.vault.local/keys/cmk2/02";
  char dir[256], doms[300];
  subdir("ring-cmk", dir, sizeof dir);
  snprintf(doms, sizeof doms, "%s/domains", dir);
  struct keys_config cfg = {.dir = dir, .pkcs11_module = MODULE, .pkcs11_pin_file = hsm_pin_file};
  struct keys *k = NULL;
  CHECK(keys_create(&cfg) == 0, "a keyring");
  chmod(hsm_pin_file, 0644);
  CHECK(keys_open(&cfg, &k) == -EPERM && !k, "a pin file others may read: -EPERM");
  chmod(hsm_pin_file, 0600);
  struct keys_config nomod = cfg;
  nomod.pkcs11_module = "/nonexistent/libpkcs11.so";
  CHECK(keys_open(&nomod, &k) == -ENODEV && !k, "a module that does not load: -ENODEV");
  CHECK(keys_open(&cfg, &k) == 0, "keys_open with the module and the pin file");
  if (!k)
    return;
  CHECK(keys_cmk_check(k, u1) == 0, "keys_cmk_check of cmk1/01: usable");
  CHECK(keys_cmk_check(k, "https://vmrp-hsm.vault.local/keys/cmk1/09") == -ENOKEY, "a version the token lacks: -ENOKEY");
  CHECK(keys_cmk_check(k, "https://other-hsm.vault.local/keys/cmk1/01") == -ENODEV, "a token that is absent: -ENODEV");
  CHECK(keys_cmk_check(k, "https://vmrp-hsm.vault.local/keys/cmk1") == -EINVAL, "a malformed URL: -EINVAL");
  uint8_t id1[KEYS_ID_LEN], id2[KEYS_ID_LEN], idx[KEYS_ID_LEN];
  CHECK(keys_domain_create(k, "https://vmrp-hsm.vault.local/keys/nokey/01", idx) == -ENOKEY &&
        file_count(doms, "") == 1, "a domain under a missing key: -ENOKEY, no file");
  CHECK(keys_domain_create(k, u1, id1) == 0 && keys_domain_create(k, u2, id2) == 0, "domains under cmk1/01, cmk2/02");
  struct keys_set s1, s2, s, plat;
  keys_platform(k, &plat);
  CHECK(keys_domain_get(k, id1, &s1) == 0 && keys_domain_get(k, id2, &s2) == 0 && !same_set(&s1, &s2) &&
        !same_set(&s1, &plat) && !memcmp(s1.id, id1, KEYS_ID_LEN), "their sets: distinct, ids as created");
  char *w = NULL;
  CHECK(keys_domain_wrapping(k, id1, &w) == 0 && w && !strcmp(w, u1), "domain 1 is wrapped by %s", w ? w : "?");
  free(w);
  uint8_t (*ids)[KEYS_ID_LEN] = NULL;
  size_t n = 0;
  CHECK(keys_domain_list(k, &ids, &n) == 0 && n == 3 && !memcmp(ids[0], plat.id, KEYS_ID_LEN),
        "keys_domain_list: 3 domains, the platform's first");
  free(ids);

  /* Volume keys under different domains. */
  uint8_t vk[64] = {9}, wr[64 + KEYS_WRAP_OVERHEAD], out[64];
  CHECK(keys_wrap(&s2, vk, sizeof vk, wr) == 0 && keys_unwrap(&s1, wr, sizeof wr, out) == -EKEYREJECTED,
        "a key wrapped under domain 2 does not unwrap under domain 1");

  /* Rotation of the customer key: re-wrapped to cmk1/03, then cmk1/01 destroyed. */
  CHECK(keys_domain_rewrap(k, id1, "https://vmrp-hsm.vault.local/keys/cmk1/07") == -ENOKEY,
        "re-wrap to a missing version: -ENOKEY");
  CHECK(keys_domain_rewrap(k, plat.id, u1b) == -EINVAL, "the platform domain is not re-wrapped by a customer key");
  CHECK(keys_domain_rewrap(k, id1, u1b) == 0, "domain 1 re-wrapped to cmk1/03");
  CHECK(hsm_delete("cmk1", "01") == 0, "cmk1/01 destroyed");
  CHECK(keys_cmk_check(k, u1) == -ENOKEY, "keys_cmk_check of cmk1/01: -ENOKEY");
  CHECK(keys_domain_get(k, id1, &s) == 0 && same_set(&s, &s1), "domain 1 reads on, the same set");
  CHECK(keys_domain_wrapping(k, id1, &w) == 0 && w && !strcmp(w, u1b), "now wrapped by cmk1/03");
  free(w);

  /* Master rotation leaves customer domains alone. */
  char p1[400];
  unsigned char h0[32], h1[32];
  snprintf(p1, sizeof p1, "%s", doms);
  hash_dir(p1, h0);
  CHECK(keys_rotate_master(&cfg) == 0, "the master key rotates");
  hash_dir(p1, h1);
  keys_close(k);
  CHECK(keys_open(&cfg, &k) == 0 && keys_domain_get(k, id1, &s) == 0 && same_set(&s, &s1) &&
        keys_domain_get(k, id2, &s) == 0 && same_set(&s, &s2), "reopened: both customer domains read the same");
  CHECK(memcmp(h0, h1, 32) != 0, "(the platform domain file was re-wrapped)");

  /* Readers on threads while another domain's key is disabled. */
  struct reader rd[3] = {{k, {0}, s2, 0}, {k, {0}, s2, 0}, {k, {0}, plat, 0}};
  memcpy(rd[0].id, id2, KEYS_ID_LEN);
  memcpy(rd[1].id, id2, KEYS_ID_LEN);
  memcpy(rd[2].id, plat.id, KEYS_ID_LEN);
  pthread_t t[3];
  for (int i = 0; i < 3; i++)
    pthread_create(&t[i], NULL, read_loop, &rd[i]);
  CHECK(set_enabled_elsewhere(&cfg, u1b, false) == 0,
        "cmk1/03 disabled (CKA_ENCRYPT, CKA_DECRYPT false) by another process (as vmrpd keys disable-key)");
  for (int i = 0; i < 3; i++)
    pthread_join(t[i], NULL);
  CHECK(rd[0].bad == 0 && rd[1].bad == 0 && rd[2].bad == 0, "3 threads read domain 2 and the platform meanwhile");
  CHECK(keys_domain_get(k, id1, &s) == -EKEYREVOKED, "domain 1: -EKEYREVOKED");
  CHECK(keys_cmk_check(k, u1b) == -EKEYREVOKED, "keys_cmk_check: -EKEYREVOKED");
  CHECK(keys_domain_get(k, id2, &s) == 0 && same_set(&s, &s2), "domain 2 is untouched");
  CHECK(keys_cmk_set_enabled(k, u1b, true) == 0 && keys_domain_get(k, id1, &s) == 0 && same_set(&s, &s1),
        "enabled again (in this process): domain 1 reads");
  CHECK(keys_cmk_set_enabled(k, u1b, false) == 0 && keys_domain_get(k, id1, &s) == -EKEYREVOKED &&
        keys_cmk_set_enabled(k, u1b, true) == 0 && keys_domain_get(k, id1, &s) == 0,
        "disabled and enabled again in this process: -EKEYREVOKED, then it reads");
  CHECK(hsm_delete("cmk1", "03") == 0, "cmk1/03 destroyed (crypto-erase)");
  CHECK(keys_domain_get(k, id1, &s) == -ENOKEY, "domain 1: -ENOKEY");
  CHECK(keys_domain_rewrap(k, id1, u2) == -ENOKEY, "and it cannot be re-wrapped any more");
  CHECK(keys_domain_get(k, id2, &s) == 0 && same_set(&s, &s2), "domain 2 is untouched");
  keys_platform(k, &s);
  CHECK(same_set(&s, &plat), "the platform domain is untouched");
  char hex[2 * KEYS_ID_LEN + 1], dpath[400];
  keys_id_to_hex(id2, hex);
  snprintf(dpath, sizeof dpath, "%s/%s", doms, hex);
  keys_close(k);
  CHECK(run("cp -p %s %s.saved && printf '\\x55' | dd of=%s bs=1 seek=40 conv=notrunc status=none", dpath, dpath,
            dpath) == 0, "a byte of domain 2's file changed");
  CHECK(keys_open(&cfg, &k) == 0, "a damaged customer domain file does not stop keys_open");
  CHECK(keys_domain_get(k, id2, &s) == -EKEYREJECTED, "domain 2: -EKEYREJECTED");
  CHECK(run("mv %s.saved %s", dpath, dpath) == 0 && keys_domain_get(k, id2, &s) == 0 && same_set(&s, &s2),
        "restored: domain 2 reads");
  CHECK(keys_domain_delete(k, id1) == 0 && keys_domain_get(k, id1, &s) == -ENOENT, "domain 1 deleted: -ENOENT");
  CHECK(keys_domain_delete(k, id1) == -ENOENT, "deleted twice: -ENOENT");
  keys_close(k);
}

int main(int argc, char **argv)
{
  if (argc == 6 && !strcmp(argv[1], "--set-enabled"))
    return set_enabled_main(argv);
  snprintf(top, sizeof top, "/tmp/unit-keys.XXXXXX");
  if (!mkdtemp(top))
    return 1;
  umask(022); /* the keyring must be private whatever the umask */
  const struct CMUnitTest tests[] = {UNIT_TEST(create_open), UNIT_TEST(refused), UNIT_TEST(wrap),
                                     UNIT_TEST(urls), UNIT_TEST(rotate), UNIT_TEST(cmk)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  run("rm -rf %s", top);
  return unit_finish(rc);
}
