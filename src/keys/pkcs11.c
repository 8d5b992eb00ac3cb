/*
 * pkcs11.c — customer keys in a PKCS#11 token (SoftHSM2 by default, an HSM
 * in production): the module named in the configuration is dlopen'ed (no
 * link-time dependency: p11-kit's pkcs11.h gives the types), initialised
 * with CKF_OS_LOCKING_OK; a session on the token whose label the key URL
 * names is opened and logged in with the user PIN once, and kept (SoftHSM
 * rewrites its token file at every login, and another process reading it
 * meanwhile may fail: fewer logins, fewer such races).  Each call finds the
 * secret key by CKA_LABEL and CKA_ID (so a key destroyed or disabled since
 * is seen at once) and seals or opens the domain set
 * with CKM_AES_GCM inside the token (SoftHSM 2.6 does AES-GCM through
 * C_Encrypt/C_Decrypt), so the customer key never leaves it.  The nonce is
 * ours (random, 96 bits), the layout that of aead.c.
 *
 * What the token answers becomes keys.h's errors: no token with the label
 * -ENODEV, no such key object -ENOKEY (destroyed: crypto-erase), a key whose
 * CKA_ENCRYPT/CKA_DECRYPT is false -EKEYREVOKED (disabled), a tag that does
 * not verify -EKEYREJECTED, a PIN the token refuses -EACCES.
 *
 * C_Initialize is per process: a module used by two struct keys at once
 * (tests, a command beside the daemon's code) is initialised by the first
 * and finalised by the last (a counter per module, under a lock).  Calls
 * on one struct p11 are serialised by its mutex, which guards its session.
 * A session the token no longer knows (token removed, re-inserted) is
 * opened again once; a token label not found is looked for eight times
 * over about two seconds, backing off from 25 ms (SoftHSM may read a token
 * file another process is rewriting; three tries 50 ms apart were not
 * enough on a loaded machine while another process generated and destroyed
 * keys five times a second: arm_encryption_rotation's copy failed once).
 * The PIN is read once (the file must be its owner's alone), kept in
 * memory and cleansed at close; it is never logged.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/random.h"
#include "keys/internal.h"

#define PIN_MAX 256

struct p11 {
  void *dl;
  CK_FUNCTION_LIST *f;
  pthread_mutex_t lock;  /* guards the session */
  bool has_session;
  CK_SESSION_HANDLE session;
  char session_token[sizeof ((struct keys_url *)0)->token]; /* the label of its token */
  char pin[PIN_MAX];
  size_t pin_len;
};

/* Modules this process initialised, and how many struct p11 use each. */
static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  CK_FUNCTION_LIST *f;
  int users;
} modules[4];

static int module_init(CK_FUNCTION_LIST *f)
{
  LOCK_GUARD(&modules_lock);
  int free_slot = -1;
  for (int i = 0; i < 4; i++) {
    if (modules[i].f == f) {
      modules[i].users++;
      return 0;
    }
    if (!modules[i].f && free_slot < 0)
      free_slot = i;
  }
  if (free_slot < 0)
    return -EMFILE;
  CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
  CK_RV rv = f->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    log_error("keys", "the PKCS#11 module does not initialise (CKR 0x%lx)", (unsigned long)rv);
    return -ENODEV;
  }
  modules[free_slot].f = f;
  modules[free_slot].users = 1;
  return 0;
}

static void module_fini(CK_FUNCTION_LIST *f)
{
  LOCK_GUARD(&modules_lock);
  for (int i = 0; i < 4; i++)
    if (modules[i].f == f && --modules[i].users == 0) {
      f->C_Finalize(NULL);
      modules[i].f = NULL;
    }
}

static int read_pin(const char *path, char pin[PIN_MAX], size_t *len)
{
  CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    log_error("keys", "cannot read the PKCS#11 pin file %s: %s", path, strerror(errno));
    return -errno;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    log_error("keys", "the PKCS#11 pin file %s is open to other users (mode %04o); refusing it. Fix: chmod 600 %s",
              path, (unsigned)(st.st_mode & 07777), path);
    return -EPERM;
  }
  ssize_t n = pread(fd, pin, PIN_MAX - 1, 0);
  if (n < 0)
    return -errno;
  while (n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r'))
    n--;
  if (n == 0) {
    log_error("keys", "the PKCS#11 pin file %s is empty", path);
    return -EINVAL;
  }
  pin[n] = '\0';
  *len = (size_t)n;
  return 0;
}

static void session_drop(struct p11 *p)
{
  if (p->has_session)
    p->f->C_CloseSession(p->session);
  p->has_session = false;
}

void p11_close(struct p11 *p)
{
  if (!p)
    return;
  if (p->f)
    session_drop(p);
  if (p->f)
    module_fini(p->f);
  if (p->dl)
    dlclose(p->dl);
  pthread_mutex_destroy(&p->lock);
  OPENSSL_cleanse(p, sizeof *p);
  free(p);
}

int p11_open(const char *module, const char *pin_file, struct p11 **out)
{
  struct p11 *p = calloc(1, sizeof *p);
  int r = -ENOMEM;
  *out = NULL;
  if (!p)
    return r;
  pthread_mutex_init(&p->lock, NULL);
  if ((r = read_pin(pin_file, p->pin, &p->pin_len)) < 0)
    goto out;
  r = -ENODEV;
  CK_C_GetFunctionList get = NULL;
  if (!(p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL))) {
    log_error("keys", "cannot load the PKCS#11 module %s: %s", module, dlerror());
    goto out;
  }
  *(void **)&get = dlsym(p->dl, "C_GetFunctionList");
  CK_FUNCTION_LIST *f = NULL;
  if (!get || get(&f) != CKR_OK || !f) {
    log_error("keys", "%s is not a PKCS#11 module (no C_GetFunctionList)", module);
    goto out;
  }
  if ((r = module_init(f)) < 0)
    goto out;
  p->f = f;
out:
  if (r < 0) {
    p11_close(p);
    p = NULL;
  }
  *out = p;
  return r;
}

static int ckr_to_errno(CK_RV rv)
{
  switch (rv) {
  case CKR_OK: return 0;
  case CKR_KEY_FUNCTION_NOT_PERMITTED: return -EKEYREVOKED;
  case CKR_ENCRYPTED_DATA_INVALID: case CKR_ENCRYPTED_DATA_LEN_RANGE: return -EKEYREJECTED;
  case CKR_PIN_INCORRECT: case CKR_PIN_LOCKED: case CKR_PIN_EXPIRED: return -EACCES;
  case CKR_SLOT_ID_INVALID: return -ENODEV;
  case CKR_HOST_MEMORY: case CKR_DEVICE_MEMORY: return -ENOMEM;
  case CKR_OBJECT_HANDLE_INVALID: case CKR_KEY_HANDLE_INVALID: return -ENOKEY;
  case CKR_SESSION_HANDLE_INVALID: case CKR_SESSION_CLOSED: case CKR_USER_NOT_LOGGED_IN:
  case CKR_TOKEN_NOT_PRESENT: case CKR_DEVICE_REMOVED: return -ESTALE; /* open a session again */
  default: return -EIO;
  }
}

/* A logged-in session on the token labelled u->token. */
static int session_open(struct p11 *p, const struct keys_url *u, CK_SESSION_HANDLE *s)
{
  CK_ULONG n = 0;
  CK_SLOT_ID *slots = NULL;
  CK_RV rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
  int r = -ENODEV;
  if (rv == CKR_OK && n > 0 && !(slots = calloc(n, sizeof *slots)))
    return -ENOMEM;
  if (rv == CKR_OK && n > 0)
    rv = p->f->C_GetSlotList(CK_TRUE, slots, &n);
  char want[32];
  memset(want, ' ', sizeof want);
  memcpy(want, u->token, strlen(u->token));
  for (CK_ULONG i = 0; rv == CKR_OK && i < n && r == -ENODEV; i++) {
    CK_TOKEN_INFO ti;
    if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK || memcmp(ti.label, want, sizeof want))
      continue;
    rv = p->f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
    r = ckr_to_errno(rv);
  }
  free(slots);
  if (r < 0)
    return r;
  rv = p->f->C_Login(*s, CKU_USER, (CK_UTF8CHAR *)p->pin, p->pin_len);
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    log_error("keys", "the PKCS#11 token '%s' refuses the PIN of pkcs11_pin_file (CKR 0x%lx)", u->token,
              (unsigned long)rv);
    p->f->C_CloseSession(*s);
    return ckr_to_errno(rv) == -EACCES ? -EACCES : -EIO;
  }
  return 0;
}

/* The session on u->token, opened and logged in if need be. */
static int session_get(struct p11 *p, const struct keys_url *u)
{
  if (p->has_session && !strcmp(p->session_token, u->token))
    return 0;
  session_drop(p);
  int r = -ENODEV;
  useconds_t wait_us = 25 * 1000;
  for (int attempt = 0; attempt < 8 && r == -ENODEV; attempt++) {
    if (attempt) {
      usleep(wait_us);
      wait_us = wait_us < 400 * 1000 ? 2 * wait_us : wait_us;
    }
    r = session_open(p, u, &p->session);
  }
  if (r == -ENODEV)
    log_error("keys", "no PKCS#11 token labelled '%s'", u->token);
  if (r == 0) {
    p->has_session = true;
    snprintf(p->session_token, sizeof p->session_token, "%s", u->token);
  }
  return r;
}

/* The secret key CKA_LABEL u->label, CKA_ID the bytes of u->version;
 * -ENOKEY when there is none. */
static int find_key(struct p11 *p, CK_SESSION_HANDLE s, const struct keys_url *u, CK_OBJECT_HANDLE *key)
{
  uint8_t id[sizeof u->version / 2];
  size_t id_len = strlen(u->version) / 2;
  if (hex_decode(u->version, id, id_len) < 0)
    return -EINVAL;
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                         {CKA_LABEL, (void *)u->label, strlen(u->label)},
                         {CKA_ID, id, id_len}};
  CK_ULONG found = 0;
  CK_RV rv = p->f->C_FindObjectsInit(s, tmpl, 3);
  if (rv == CKR_OK) {
    rv = p->f->C_FindObjects(s, key, 1, &found);
    p->f->C_FindObjectsFinal(s);
  }
  if (rv != CKR_OK)
    return ckr_to_errno(rv);
  return found ? 0 : -ENOKEY;
}

/* -EKEYREVOKED unless the key may encrypt (want_encrypt) and/or decrypt. */
static int key_usable(struct p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, bool encrypt, bool decrypt)
{
  CK_BBOOL enc = CK_FALSE, dec = CK_FALSE;
  CK_ATTRIBUTE a[] = {{CKA_ENCRYPT, &enc, sizeof enc}, {CKA_DECRYPT, &dec, sizeof dec}};
  CK_RV rv = p->f->C_GetAttributeValue(s, key, a, 2);
  if (rv != CKR_OK)
    return ckr_to_errno(rv);
  return (encrypt && !enc) || (decrypt && !dec) ? -EKEYREVOKED : 0;
}

enum p11_op { OP_SEAL, OP_OPEN, OP_CHECK, OP_ENABLE, OP_DISABLE };

/* One operation on the session s; -ESTALE when the session is no more. */
static int op_once(struct p11 *p, CK_SESSION_HANDLE s, const struct keys_url *u, enum p11_op op, const uint8_t *aad,
                   size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out)
{
  CK_OBJECT_HANDLE key;
  int r = find_key(p, s, u, &key);
  if (r < 0)
    goto out;
  if (op == OP_ENABLE || op == OP_DISABLE) {
    CK_BBOOL v = op == OP_ENABLE ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE a[] = {{CKA_ENCRYPT, &v, sizeof v}, {CKA_DECRYPT, &v, sizeof v}};
    r = ckr_to_errno(p->f->C_SetAttributeValue(s, key, a, 2));
    goto out;
  }
  if ((r = key_usable(p, s, key, op != OP_OPEN, op != OP_SEAL)) < 0 || op == OP_CHECK)
    goto out;
  uint8_t iv[KEYS_NONCE_LEN];
  if (op == OP_SEAL && RAND_bytes(iv, sizeof iv) != 1) {
    r = -EIO;
    goto out;
  }
  CK_GCM_PARAMS gcm = {.pIv = op == OP_SEAL ? iv : (CK_BYTE *)in, .ulIvLen = KEYS_NONCE_LEN,
                       .ulIvBits = 8 * KEYS_NONCE_LEN, .pAAD = (CK_BYTE *)aad, .ulAADLen = aad_len,
                       .ulTagBits = 8 * KEYS_TAG_LEN};
  CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof gcm};
  if (op == OP_SEAL) {
    CK_ULONG n = in_len + KEYS_TAG_LEN;
    CK_RV rv = p->f->C_EncryptInit(s, &mech, key);
    if (rv == CKR_OK)
      rv = p->f->C_Encrypt(s, (CK_BYTE *)in, in_len, out + KEYS_NONCE_LEN, &n);
    r = ckr_to_errno(rv);
    if (r == 0 && n != in_len + KEYS_TAG_LEN)
      r = -EIO;
    if (r == 0)
      memcpy(out, iv, sizeof iv);
  } else {
    if (in_len < KEYS_NONCE_LEN + KEYS_TAG_LEN) {
      r = -EINVAL;
      goto out;
    }
    CK_ULONG n = in_len; /* room for the tag too: some tokens want it */
    uint8_t *plain = malloc(n);
    if (!plain) {
      r = -ENOMEM;
      goto out;
    }
    CK_RV rv = p->f->C_DecryptInit(s, &mech, key);
    if (rv == CKR_OK)
      rv = p->f->C_Decrypt(s, (CK_BYTE *)in + KEYS_NONCE_LEN, in_len - KEYS_NONCE_LEN, plain, &n);
    r = ckr_to_errno(rv);
    if (rv == CKR_FUNCTION_FAILED || rv == CKR_GENERAL_ERROR)
      r = -EKEYREJECTED; /* SoftHSM's answer to a tag that does not verify */
    if (r == 0 && n != in_len - KEYS_NONCE_LEN - KEYS_TAG_LEN)
      r = -EKEYREJECTED;
    if (r == 0)
      memcpy(out, plain, n);
    OPENSSL_cleanse(plain, in_len);
    free(plain);
  }
out:
  return r;
}

static int p11_call(struct p11 *p, const struct keys_url *u, enum p11_op op, const uint8_t *aad, size_t aad_len,
                    const uint8_t *in, size_t in_len, uint8_t *out)
{
  LOCK_GUARD(&p->lock);
  int r = -ESTALE;
  for (int attempt = 0; attempt < 2 && r == -ESTALE; attempt++) {
    if (attempt)
      session_drop(p);
    if ((r = session_get(p, u)) == 0)
      r = op_once(p, p->session, u, op, aad, aad_len, in, in_len, out);
  }
  return r == -ESTALE ? -ENODEV : r;
}

int p11_seal(struct p11 *p, const struct keys_url *u, const uint8_t *aad, size_t aad_len, const uint8_t *in,
             size_t len, uint8_t *out)
{
  return p11_call(p, u, OP_SEAL, aad, aad_len, in, len, out);
}

int p11_open_sealed(struct p11 *p, const struct keys_url *u, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                    size_t in_len, uint8_t *out)
{
  return p11_call(p, u, OP_OPEN, aad, aad_len, in, in_len, out);
}

int p11_check(struct p11 *p, const struct keys_url *u)
{
  return p11_call(p, u, OP_CHECK, NULL, 0, NULL, 0, NULL);
}

int p11_set_enabled(struct p11 *p, const struct keys_url *u, bool enabled)
{
  return p11_call(p, u, enabled ? OP_ENABLE : OP_DISABLE, NULL, 0, NULL, 0, NULL);
}
