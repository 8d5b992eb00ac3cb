/*
 * nbd-serve — serves volume files with the real NBD server (src/nbd) over
 * the real volume code (src/vol), for the tests and the benchmark until
 * vmrpd exports disks itself.
 *
 *   nbd-serve [--unix PATH] [--tcp HOST:PORT] [--port-file FILE]
 *             [--threads N] [--tls-cert F --tls-key F [--tls-ca F]]
 *             [--require-tls] [--create SIZE] --export NAME=FILE[:ro] ...
 *             [--grant ID.SECRET=NAME[:ro]] ...
 *             [--max-conns N] [--max-conns-per-client N] [--handshake-timeout S]
 *             [--idle-timeout S] [--send-timeout S] [--buffer-mib N]
 *             [--xts-key FILE]
 *
 * Clients open an export only through a grant (src/nbd/access.c): with
 * --grant d.s3cret=d, the export d is opened by the name "d.s3cret"
 * (nbd+unix:///d.s3cret?socket=…), read-only with :ro.
 * --create makes each missing FILE with vol_create (SIZE in bytes, K/M/G
 * suffixes).  Once listening it writes the TCP port (or 0) to --port-file
 * (atomically) and serves until SIGTERM/SIGINT, then frees the server and
 * closes the volumes.  Exit 0 on a clean stop, 1 on setup errors (with the
 * error printed).
 * --xts-key: every volume is encrypted (src/vol/crypt.c) with the 64-byte
 * key in FILE; a writable FILE still (partly) plaintext is converted in
 * place before serving, its conversion state in FILE.xts (kept: the next
 * start finds it done).
 */
#include <errno.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nbd/nbd.h"
#include "vol/vol.h"

static uint64_t parse_size(const char *s)
{
  char *end;
  uint64_t v = strtoull(s, &end, 10);
  switch (*end) {
  case 'K': case 'k': v <<= 10; break;
  case 'M': case 'm': v <<= 20; break;
  case 'G': case 'g': v <<= 30; break;
  default: break;
  }
  return v;
}

static void die(const char *what, int r)
{
  fprintf(stderr, "nbd-serve: %s: %s\n", what, strerror(-r));
  exit(1);
}

/* Attaches the key to v, converting a writable file first. */
static void encrypt(struct volume *v, const uint8_t *key, const char *file, bool ro)
{
  char state[4200];
  snprintf(state, sizeof state, "%s.xts", file);
  int r = vol_crypt_attach(v, key, ro ? NULL : state, !ro);
  while (r == 0)
    r = vol_crypt_step(v, UINT64_MAX);
  if (r < 0)
    die("encrypting", r);
}

int main(int argc, char **argv)
{
  struct nbd_server_config cfg = {0};
  const char *unix_path = NULL, *tcp = NULL, *port_file = NULL;
  unsigned flags = 0;
  uint64_t create = 0;
  const char *key_file = NULL;
  enum { MAXE = 16 };
  const char *exports[MAXE], *grants[MAXE];
  int nexp = 0, ngrant = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--require-tls")) { flags |= NBD_LISTEN_REQUIRE_TLS; continue; }
    if (!v) { fprintf(stderr, "nbd-serve: %s needs a value\n", a); return 2; }
    i++;
    if (!strcmp(a, "--unix")) unix_path = v;
    else if (!strcmp(a, "--tcp")) tcp = v;
    else if (!strcmp(a, "--port-file")) port_file = v;
    else if (!strcmp(a, "--threads")) cfg.threads_per_conn = (unsigned)atoi(v);
    else if (!strcmp(a, "--max-conns")) cfg.max_connections = (unsigned)atoi(v);
    else if (!strcmp(a, "--max-conns-per-client")) cfg.max_connections_per_client = (unsigned)atoi(v);
    else if (!strcmp(a, "--handshake-timeout")) cfg.handshake_timeout_sec = (unsigned)atoi(v);
    else if (!strcmp(a, "--idle-timeout")) cfg.idle_timeout_sec = (unsigned)atoi(v);
    else if (!strcmp(a, "--send-timeout")) cfg.send_timeout_sec = (unsigned)atoi(v);
    else if (!strcmp(a, "--buffer-mib")) cfg.max_buffer_per_conn = (size_t)atoi(v) << 20;
    else if (!strcmp(a, "--tls-cert")) cfg.tls_cert = v;
    else if (!strcmp(a, "--tls-key")) cfg.tls_key = v;
    else if (!strcmp(a, "--tls-ca")) cfg.tls_ca = v;
    else if (!strcmp(a, "--create")) create = parse_size(v);
    else if (!strcmp(a, "--xts-key")) key_file = v;
    else if (!strcmp(a, "--export") && nexp < MAXE) exports[nexp++] = v;
    else if (!strcmp(a, "--grant") && ngrant < MAXE) grants[ngrant++] = v;
    else { fprintf(stderr, "nbd-serve: unknown argument %s\n", a); return 2; }
  }
  if (nexp == 0 || (!unix_path && !tcp)) {
    fprintf(stderr, "usage: nbd-serve [--unix PATH] [--tcp HOST:PORT] --export NAME=FILE[:ro] ...\n");
    return 2;
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread inherits it; main waits below */
  signal(SIGPIPE, SIG_IGN);

  struct nbd_server *srv;
  int r = nbd_server_new(&cfg, &srv);
  if (r < 0)
    die("server", r);
  uint8_t key[VOL_KEY_LEN];
  FILE *kf = key_file ? fopen(key_file, "rb") : NULL;
  if (key_file && (!kf || fread(key, 1, sizeof key, kf) != sizeof key))
    die(key_file, -EINVAL);
  if (kf)
    fclose(kf);
  struct volume *vols[MAXE];
  char *names[MAXE];
  for (int i = 0; i < nexp; i++) {
    char *spec = strdup(exports[i]);
    char *eq = strchr(spec, '=');
    if (!eq) { fprintf(stderr, "nbd-serve: bad --export %s\n", exports[i]); return 2; }
    *eq = 0;
    char *file = eq + 1;
    size_t fl = strlen(file);
    bool ro = fl > 3 && !strcmp(file + fl - 3, ":ro");
    if (ro)
      file[fl - 3] = 0;
    if (create && access(file, F_OK) != 0 && (r = vol_create(file, create)) < 0)
      die("vol_create", r);
    char cbt[4200];
    snprintf(cbt, sizeof cbt, "%s.cbt", file);
    if ((r = vol_open(file, ro ? NULL : cbt, 1u << 20, false, ro, &vols[i])) < 0)
      die(file, r);
    if (key_file)
      encrypt(vols[i], key, file, ro);
    names[i] = spec;
    if ((r = nbd_export_add(srv, spec, &nbd_vol_ops, vols[i])) < 0)
      die("nbd_export_add", r);
  }
  for (int i = 0; i < ngrant; i++) {
    char *spec = strdup(grants[i]), *eq = strchr(spec, '='), *dot = strchr(spec, '.');
    if (!eq || !dot || dot > eq) { fprintf(stderr, "nbd-serve: bad --grant %s\n", grants[i]); return 2; }
    *eq = *dot = 0;
    char *name = eq + 1;
    size_t nl = strlen(name);
    bool ro = nl > 3 && !strcmp(name + nl - 3, ":ro");
    if (ro)
      name[nl - 3] = 0;
    uint8_t hash[NBD_ACCESS_HASH_LEN];
    SHA256((const unsigned char *)dot + 1, strlen(dot + 1), hash);
    if ((r = nbd_access_add(srv, spec, hash, name, ro, 0)) < 0)
      die("nbd_access_add", r);
    free(spec);
  }
  if (unix_path && (r = nbd_server_listen_unix(srv, unix_path, flags)) < 0)
    die("listen unix", r);
  uint16_t port = 0;
  if (tcp) {
    char *hp = strdup(tcp), *colon = strrchr(hp, ':');
    if (!colon) { fprintf(stderr, "nbd-serve: --tcp HOST:PORT\n"); return 2; }
    *colon = 0;
    char *host = hp;
    if (host[0] == '[') { host++; host[strlen(host) - 1] = 0; }
    if ((r = nbd_server_listen_tcp(srv, host, colon + 1, flags, &port)) < 0)
      die("listen tcp", r);
    free(hp);
  }
  if (port_file) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0)
      die("port file", -errno);
  }
  int sig;
  sigwait(&sigs, &sig);
  nbd_server_free(srv);
  int rc = 0;
  for (int i = 0; i < nexp; i++) {
    if ((r = vol_close(vols[i])) < 0) {
      fprintf(stderr, "nbd-serve: vol_close %s: %s\n", names[i], strerror(-r));
      rc = 1;
    }
    free(names[i]);
  }
  return rc;
}
