/*
 * fuzz_nbd.c — the NBD server as a client reaches it: a real server
 * (nbd_server_new) listening on a unix socket, exporting a real 1 MiB live
 * volume on a scratch directory and a restore point's tree (read-only, with
 * the "vmrp:changed" context against an older tree), opened through
 * capabilities as the region registers them.  Each input is one
 * connection: its bytes are written as the client's, whatever the server
 * answers is read and dropped, then the client half-closes and waits for
 * the server to hang up.  No TLS credentials: STARTTLS is refused, and the
 * TLS-less paths are the ones a client reaches without a certificate.
 *
 * Input: byte 0 picks the mode.
 *   even  the rest is the whole client side from the greeting on: client
 *         flags, options (export names, INFO, GO, LIST, STARTTLS,
 *         STRUCTURED_REPLY, meta contexts, unknown ones), then requests
 *   odd   the harness negotiates first, as byte 1 says: bits 0-1 the grant
 *         (0, 3 the volume read-write, 1 the volume read-only, 2 the
 *         restore point), bit 2 structured replies, bit 3 both meta contexts
 *         selected, bit 4 EXPORT_NAME instead of GO, bit 5 no zeroes; the
 *         rest is the transmission phase: requests of every type with any
 *         flags, offsets, lengths and payloads
 * The server must hang up within a generous deadline after the client's
 * EOF (a hang is a bug too); sanitizers catch the rest.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "support.h"
#include "nbd/nbd.h"
#include "nbd/proto.h"
#include "nbd/snap_backend.h"
#include "snap/tree.h"
#include "vol/vol.h"

#define VOL_SIZE (1u << 20)
#define IMG_SIZE (256u << 10)
#define DEADLINE_MS 60000

static const char *scratch;
static char sock_path[108];
static struct nbd_server *server;
static struct volume *vol;
static struct cas *cas;
static struct cas_addr older;
static struct nbd_snap snap;
static const char *const names[] = {"fz.secret-rw", "ro.secret-ro", "im.secret-im", "fz.secret-rw"};

static int snap_previous(void *ctx, struct cas_addr *out)
{
  (void)ctx;
  *out = older;
  return 0;
}

static uint8_t image_gen; /* which image the source reads: the older or the newer */
static int image_read(void *ctx, void *buf, size_t len, uint64_t off)
{
  (void)ctx;
  for (size_t i = 0; i < len; i++) {
    uint64_t chunk = (off + i) / 4096;
    ((uint8_t *)buf)[i] = chunk % 5 == 1 ? 0 : (uint8_t)(chunk * 7 + (chunk % 3 == 0 ? image_gen : 0));
  }
  return 0;
}

static void grant(const char *id, const char *secret, const char *export, bool ro)
{
  uint8_t h[NBD_ACCESS_HASH_LEN];
  SHA256((const unsigned char *)secret, strlen(secret), h);
  if (nbd_access_add(server, id, h, export, ro, 0) < 0)
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc, (void)argv;
  fuzz_quiet();
  scratch = fuzz_tempdir("nbd");
  char path[4200], store[4200];
  snprintf(path, sizeof path, "%s/vol", scratch);
  snprintf(store, sizeof store, "%s/store", scratch);
  snprintf(sock_path, sizeof sock_path, "%s/nbd.sock", scratch);
  if (vol_create(path, VOL_SIZE) < 0 || vol_open(path, NULL, 65536, false, false, &vol) < 0)
    abort();
  struct cas_options co = {.create = true, .chunk_shift = 12};
  struct tree_source src = {image_read, NULL, NULL};
  struct tree_opts to = {.threads = 1};
  snap = (struct nbd_snap){.size = IMG_SIZE, .previous = snap_previous};
  if (cas_open(store, &co, &cas) < 0 || tree_build_full(cas, &src, IMG_SIZE, &to, &older, NULL) < 0)
    abort();
  image_gen = 1;
  if (tree_build_full(cas, &src, IMG_SIZE, &to, &snap.root, NULL) < 0 || cas_sync(cas) < 0)
    abort();
  snap.cas = cas;
  struct nbd_server_config cfg = {.threads_per_conn = 2, .max_connections_per_client = 1024,
                                  .handshake_timeout_sec = 30};
  if (nbd_server_new(&cfg, &server) < 0 || nbd_export_add(server, "vol", &nbd_vol_ops, vol) < 0 ||
      nbd_export_add(server, "img", &nbd_snap_ops, &snap) < 0 || nbd_server_listen_unix(server, sock_path, 0) < 0)
    abort();
  grant("fz", "secret-rw", "vol", false);
  grant("ro", "secret-ro", "vol", true);
  grant("im", "secret-im", "img", false);
  return 0;
}

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly n bytes (blocking, under the deadline). */
static void read_exact(int fd, void *buf, size_t n, int64_t deadline)
{
  for (size_t got = 0; got < n;) {
    struct pollfd p = {fd, POLLIN, 0};
    if ((poll(&p, 1, 100) < 0 && errno != EINTR) || now_ms() > deadline) /* libFuzzer's timer interrupts */
      abort();
    if (!p.revents)
      continue;
    ssize_t k = read(fd, (uint8_t *)buf + got, n - got);
    if (k == 0 || (k < 0 && errno != EINTR))
      abort(); /* the server hung up on a correct handshake */
    if (k > 0)
      got += (size_t)k;
  }
}

static void send_option(int fd, uint32_t opt, const void *data, uint32_t len)
{
  struct __attribute__((packed)) {
    uint64_t magic;
    uint32_t opt, len;
  } h = {htobe64(NBD_IHAVEOPT), htobe32(opt), htobe32(len)};
  if (write(fd, &h, sizeof h) != sizeof h || (len && write(fd, data, len) != (ssize_t)len))
    abort();
}

/* Reads option replies up to the ACK; an error reply is a broken setup. */
static void option_acked(int fd, int64_t deadline)
{
  for (;;) {
    struct __attribute__((packed)) {
      uint64_t magic;
      uint32_t opt, type, len;
    } h;
    read_exact(fd, &h, sizeof h, deadline);
    uint8_t data[4096];
    uint32_t len = be32toh(h.len);
    if (len > sizeof data || be32toh(h.type) & (1u << 31))
      abort();
    read_exact(fd, data, len, deadline);
    if (be32toh(h.type) == NBD_REP_ACK)
      return;
  }
}

/* The handshake a correct client makes, as byte b says (header comment). */
static void negotiate(int fd, uint8_t b, int64_t deadline)
{
  uint8_t hello[18];
  read_exact(fd, hello, sizeof hello, deadline);
  bool no_zeroes = b & 32;
  uint32_t cflags = htobe32(NBD_FLAG_C_FIXED_NEWSTYLE | (no_zeroes ? NBD_FLAG_C_NO_ZEROES : 0));
  if (write(fd, &cflags, 4) != 4)
    abort();
  const char *name = names[b & 3];
  uint32_t nlen = (uint32_t)strlen(name);
  if (b & 4) {
    send_option(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
    option_acked(fd, deadline);
  }
  if ((b & 4) && (b & 8)) {
    uint8_t q[256];
    size_t o = 0;
    uint32_t v = htobe32(nlen);
    memcpy(q + o, &v, 4), o += 4;
    memcpy(q + o, name, nlen), o += nlen;
    v = htobe32(2);
    memcpy(q + o, &v, 4), o += 4;
    static const char *const ctx[] = {"base:allocation", "vmrp:changed"};
    for (int i = 0; i < 2; i++) {
      v = htobe32((uint32_t)strlen(ctx[i]));
      memcpy(q + o, &v, 4), o += 4;
      memcpy(q + o, ctx[i], strlen(ctx[i])), o += strlen(ctx[i]);
    }
    send_option(fd, NBD_OPT_SET_META_CONTEXT, q, (uint32_t)o);
    option_acked(fd, deadline);
  }
  if (b & 16) {
    send_option(fd, NBD_OPT_EXPORT_NAME, name, nlen);
    uint8_t rep[134];
    read_exact(fd, rep, no_zeroes ? 10 : sizeof rep, deadline);
    return;
  }
  uint8_t go[64];
  uint32_t v = htobe32(nlen);
  memcpy(go, &v, 4);
  memcpy(go + 4, name, nlen);
  memset(go + 4 + nlen, 0, 2); /* no information requests */
  send_option(fd, NBD_OPT_GO, go, nlen + 6);
  option_acked(fd, deadline);
}

/* Writes data while draining what the server sends, then half-closes and
 * reads until the server hangs up. */
static void pump(int fd, const uint8_t *data, size_t len, int64_t deadline)
{
  static uint8_t sink[1 << 16];
  size_t sent = 0;
  bool closed = false;
  for (;;) {
    if (sent == len && !closed) {
      shutdown(fd, SHUT_WR);
      closed = true;
    }
    struct pollfd p = {fd, POLLIN | (closed ? 0 : POLLOUT), 0};
    if (poll(&p, 1, 100) < 0 && errno != EINTR)
      abort();
    if (now_ms() > deadline) {
      fprintf(stderr, "fuzz_nbd: the server did not hang up within %d ms\n", DEADLINE_MS);
      abort();
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t k = read(fd, sink, sizeof sink);
      if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
        return; /* hung up (or reset) */
    }
    if (!closed && (p.revents & POLLOUT)) {
      ssize_t k = send(fd, data + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (k > 0)
        sent += (size_t)k;
      else if (k < 0 && errno != EAGAIN && errno != EINTR)
        sent = len; /* the server hung up first: nothing more goes in */
    }
  }
}

/* Threads of this process: a connection's thread is gone (and the
 * thread-local caches it freed on the way out with it) when the count is
 * back where it was, so the leak check never looks in the middle of one's
 * exit. */
static int threads(void)
{
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += e->d_name[0] != '.';
  if (d)
    closedir(d);
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || (data[0] % 2 && size < 2))
    return 0;
  int before = threads();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    abort();
  int64_t deadline = now_ms() + DEADLINE_MS;
  if (data[0] % 2) {
    negotiate(fd, data[1], deadline);
    pump(fd, data + 2, size - 2, deadline);
  } else {
    pump(fd, data + 1, size - 1, deadline);
  }
  close(fd);
  while (threads() > before) {
    if (now_ms() > deadline) {
      fprintf(stderr, "fuzz_nbd: a connection's thread did not end within %d ms\n", DEADLINE_MS);
      abort();
    }
    poll(NULL, 0, 1);
  }
  return 0;
}
