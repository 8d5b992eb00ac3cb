/*
 * hostile.c — a deliberately bad NBD client.  Speaks the protocol by hand
 * over a unix socket and checks that each violation gets the protocol's
 * error or a clean disconnect, and that the server keeps serving.  It never
 * completes a valid write to the writable export, so the caller can check
 * that the volume's bytes are unchanged afterwards.
 *
 *   nbd-hostile SOCKET RW_EXPORT RO_EXPORT
 *
 * Prints "ok - ..." / "not ok - ..." lines and "N passed, M failed"; exit 0
 * iff nothing failed.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "rawnbd.h"

static const char *sock_path, *rw_name, *ro_name;
static int passed, failed;

static void check(int cond, const char *what)
{
  printf("%s - %s\n", cond ? "ok" : "not ok", what);
  if (cond)
    passed++;
  else
    failed++;
}

static int dial(void)
{
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strncpy(sa.sun_path, sock_path, sizeof sa.sun_path - 1);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    perror("connect");
    exit(1);
  }
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static void wr(int fd, const void *buf, size_t n) { (void)!send(fd, buf, n, MSG_NOSIGNAL); }

static int greet(int fd, uint32_t cflags)
{
  uint8_t h[18];
  if (rd(fd, h, sizeof h) < 0)
    return -1;
  uint64_t m1, m2;
  memcpy(&m1, h, 8);
  memcpy(&m2, h + 8, 8);
  if (be64toh(m1) != 0x4e42444d41474943ULL || be64toh(m2) != 0x49484156454f5054ULL)
    return -1;
  cflags = htobe32(cflags);
  wr(fd, &cflags, 4);
  return 0;
}

static void send_opt(int fd, uint32_t opt, const void *data, uint32_t len)
{
  struct __attribute__((packed)) {
    uint64_t magic;
    uint32_t opt, len;
  } h = {htobe64(0x49484156454f5054ULL), htobe32(opt), htobe32(len)};
  wr(fd, &h, sizeof h);
  if (len)
    wr(fd, data, len);
}

/* Reads one option reply; returns its type (0 on EOF) and skips its data. */
static uint32_t opt_reply(int fd, uint8_t *data, uint32_t *len_out)
{
  struct __attribute__((packed)) {
    uint64_t magic;
    uint32_t opt, type, len;
  } h;
  if (rd(fd, &h, sizeof h) < 0 || be64toh(h.magic) != 0x3e889045565a9ULL)
    return 0;
  uint32_t len = be32toh(h.len);
  uint8_t *tmp = malloc(len + 1);
  if (rd(fd, tmp, len) < 0) {
    free(tmp);
    return 0;
  }
  if (data)
    memcpy(data, tmp, len < 256 ? len : 256);
  if (len_out)
    *len_out = len;
  free(tmp);
  return be32toh(h.type);
}

#define ACK 1u
#define ERR(n) ((1u << 31) + (n))

/* GO; returns the final reply type. */
static uint32_t go(int fd, const char *name)
{
  uint32_t nl = (uint32_t)strlen(name);
  uint8_t buf[512];
  uint32_t be = htobe32(nl);
  memcpy(buf, &be, 4);
  memcpy(buf + 4, name, nl);
  memset(buf + 4 + nl, 0, 2);
  send_opt(fd, 7, buf, nl + 6);
  for (;;) {
    uint32_t t = opt_reply(fd, NULL, NULL);
    if (t != 3)
      return t;
  }
}

static int open_export(const char *name, int structured)
{
  int fd = dial();
  if (greet(fd, 3) < 0)
    return -1;
  if (structured) {
    send_opt(fd, 8, NULL, 0);
    if (opt_reply(fd, NULL, NULL) != ACK)
      return -1;
  }
  if (go(fd, name) != ACK) {
    close(fd);
    return -1;
  }
  return fd;
}

static void req(int fd, uint16_t flags, uint16_t type, uint64_t cookie, uint64_t off, uint32_t len)
{
  struct nbd_req_wire r = nbd_req(flags, type, cookie, off, len);
  wr(fd, &r, sizeof r);
}

/* Reads a simple reply; returns its error or -1 on EOF/garbage. */
static long simple(int fd, uint64_t *cookie, void *data, size_t len)
{
  struct __attribute__((packed)) {
    uint32_t magic, err;
    uint64_t cookie;
  } h;
  if (rd(fd, &h, sizeof h) < 0 || be32toh(h.magic) != 0x67446698)
    return -1;
  if (cookie)
    *cookie = h.cookie;
  if (h.err == 0 && len && rd(fd, data, len) < 0)
    return -1;
  return be32toh(h.err);
}

static long cmd(int fd, uint16_t flags, uint16_t type, uint64_t off, uint32_t len)
{
  req(fd, flags, type, 7, off, len);
  return simple(fd, NULL, NULL, 0);
}

static int still_serves(void)
{
  int fd = open_export(rw_name, 0);
  if (fd < 0)
    return 0;
  uint8_t buf[4096];
  req(fd, 0, 0, 1, 0, sizeof buf);
  int ok = simple(fd, NULL, buf, sizeof buf) == 0;
  req(fd, 0, 2, 2, 0, 0); /* DISC */
  ok = ok && closed(fd);
  close(fd);
  return ok;
}

int main(int argc, char **argv)
{
  if (argc != 4) {
    fprintf(stderr, "usage: nbd-hostile SOCKET RW_EXPORT RO_EXPORT\n");
    return 2;
  }
  sock_path = argv[1];
  rw_name = argv[2];
  ro_name = argv[3];
  int fd;
  uint32_t t;

  /* --- handshake phase --- */
  fd = dial();
  greet(fd, 0x80);
  check(closed(fd), "unknown client flags: disconnect");
  close(fd);

  fd = dial();
  greet(fd, 3);
  wr(fd, "GARBAGE!GARBAGE!GARBAGE!", 24);
  check(closed(fd), "bad option magic: disconnect");
  close(fd);

  fd = dial();
  greet(fd, 3);
  req(fd, 0, 0, 1, 0, 4096);
  check(closed(fd), "request before negotiation: disconnect");
  close(fd);

  fd = dial();
  greet(fd, 3);
  send_opt(fd, 99, "0123456789", 10);
  check(opt_reply(fd, NULL, NULL) == ERR(1), "unknown option: NBD_REP_ERR_UNSUP");
  send_opt(fd, 3, "x", 1);
  check(opt_reply(fd, NULL, NULL) == ERR(3), "NBD_OPT_LIST with data: NBD_REP_ERR_INVALID");
  send_opt(fd, 5, NULL, 0);
  t = opt_reply(fd, NULL, NULL);
  check(t == ERR(2), "NBD_OPT_STARTTLS without TLS configured: NBD_REP_ERR_POLICY");
  send_opt(fd, 5, "x", 1);
  check(opt_reply(fd, NULL, NULL) == ERR(3), "NBD_OPT_STARTTLS with data: NBD_REP_ERR_INVALID");
  {
    uint8_t bad[10] = {0, 0, 1, 0, 'a', 'b', 0, 0, 0, 0}; /* name length 256 > option */
    send_opt(fd, 7, bad, sizeof bad);
    check(opt_reply(fd, NULL, NULL) == ERR(3), "GO with a name longer than the option: NBD_REP_ERR_INVALID");
    send_opt(fd, 6, bad, 3);
    check(opt_reply(fd, NULL, NULL) == ERR(3), "INFO shorter than 6 bytes: NBD_REP_ERR_INVALID");
  }
  check(go(fd, "no-such-disk") == ERR(6), "GO on an unknown export: NBD_REP_ERR_UNKNOWN");
  {
    uint8_t q[8] = {0};
    send_opt(fd, 10, q, sizeof q);
    check(opt_reply(fd, NULL, NULL) == ERR(3), "SET_META_CONTEXT before STRUCTURED_REPLY: NBD_REP_ERR_INVALID");
  }
  send_opt(fd, 8, "zz", 2);
  check(opt_reply(fd, NULL, NULL) == ERR(3), "STRUCTURED_REPLY with data: NBD_REP_ERR_INVALID");
  send_opt(fd, 8, NULL, 0);
  check(opt_reply(fd, NULL, NULL) == ACK, "STRUCTURED_REPLY: ACK");
  {
    uint8_t q[12] = {0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 99}; /* 5 queries, first 99 bytes long: beyond the data */
    send_opt(fd, 9, q, sizeof q);
    check(opt_reply(fd, NULL, NULL) == ERR(3), "LIST_META_CONTEXT with a query past the end: NBD_REP_ERR_INVALID");
  }
  {
    size_t big = 200 << 10;
    uint8_t *junk = calloc(1, big);
    send_opt(fd, 7, junk, (uint32_t)big);
    free(junk);
    check(opt_reply(fd, NULL, NULL) == ERR(9), "200 KiB option: NBD_REP_ERR_TOO_BIG, connection kept");
  }
  check(go(fd, rw_name) == ACK, "after all that, GO still works on the same connection");
  req(fd, 0, 2, 1, 0, 0);
  check(closed(fd), "DISC: disconnect");
  close(fd);

  fd = dial();
  greet(fd, 3);
  send_opt(fd, 7, NULL, 0xffffffffu);
  check(closed(fd), "option length 4 GiB: disconnect");
  close(fd);

  fd = dial();
  greet(fd, 3);
  send_opt(fd, 1, "no-such-disk", 12);
  check(closed(fd), "EXPORT_NAME of an unknown export: disconnect");
  close(fd);

  fd = dial();
  greet(fd, 3);
  wr(fd, "IHAVE", 5);
  close(fd); /* truncated option header then close */
  check(still_serves(), "truncated option then close: server still serves");

  /* --- transmission phase --- */
  fd = open_export(rw_name, 0);
  check(fd >= 0, "GO on the writable export");
  check(cmd(fd, 0, 0, 0, 64u << 20) == 22, "READ of 64 MiB: EINVAL");
  check(cmd(fd, 0, 0, 1ull << 50, 4096) == 22, "READ past the end: EINVAL");
  check(cmd(fd, 0, 0, UINT64_MAX - 511, 1024) == 22, "READ with offset+length overflowing: EINVAL");
  check(cmd(fd, 0, 4, 1ull << 50, 4096) == 22, "TRIM past the end: EINVAL");
  check(cmd(fd, 0, 6, 1ull << 50, 4096) == 28, "WRITE_ZEROES past the end: ENOSPC");
  {
    uint8_t junk[4096];
    memset(junk, 0xEE, sizeof junk);
    req(fd, 0, 1, 7, 1ull << 50, sizeof junk);
    wr(fd, junk, sizeof junk);
    check(simple(fd, NULL, NULL, 0) == 28, "WRITE past the end: ENOSPC, payload consumed");
  }
  check(cmd(fd, 0, 42, 0, 4096) == 22, "unknown command 42: EINVAL");
  check(cmd(fd, 0x100, 0, 0, 4096) == 22, "unknown command flag: EINVAL");
  check(cmd(fd, 2, 0, 0, 4096) == 22, "NO_HOLE on READ: EINVAL");
  check(cmd(fd, 0, 7, 0, 4096) == 22, "BLOCK_STATUS without a meta context: EINVAL");
  check(cmd(fd, 0, 3, 0, 0) == 0, "FLUSH: ok");
  {
    /* 64 pipelined reads: every cookie comes back once. */
    for (uint64_t i = 0; i < 64; i++)
      req(fd, 0, 0, 1000 + i, i * 4096, 4096);
    uint64_t seen = 0;
    int ok = 1;
    uint8_t buf[4096];
    for (int i = 0; i < 64; i++) {
      uint64_t c;
      if (simple(fd, &c, buf, sizeof buf) != 0 || c < 1000 || c >= 1064 || (seen & (1ull << (c - 1000))))
        ok = 0;
      else
        seen |= 1ull << (c - 1000);
    }
    check(ok && seen == UINT64_MAX, "64 pipelined READs: 64 replies, each cookie once");
  }
  req(fd, 0, 1, 9, 0, 64u << 20); /* no payload follows */
  check(closed(fd), "WRITE of 64 MiB: disconnect");
  close(fd);

  fd = open_export(rw_name, 0);
  wr(fd, "\x25\x60\x95\x13\0\0\0", 7);
  close(fd);
  check(still_serves(), "truncated request header then close: server still serves");

  fd = open_export(rw_name, 0);
  {
    uint8_t part[100];
    memset(part, 0xEE, sizeof part);
    req(fd, 0, 1, 5, 8192, 4096);
    wr(fd, part, sizeof part); /* 100 of 4096 payload bytes, then close */
    shutdown(fd, SHUT_WR);
    check(closed(fd), "truncated WRITE payload then half-close: disconnect");
    close(fd);
  }
  check(still_serves(), "after the truncated WRITE: server still serves");

  fd = open_export(rw_name, 0);
  wr(fd, "NOTAREQUESTNOTAREQUESTNOTAREQ", 28);
  check(closed(fd), "bad request magic: disconnect");
  close(fd);

  fd = open_export(rw_name, 1);
  {
    struct __attribute__((packed)) {
      uint32_t magic;
      uint16_t flags, type;
      uint64_t cookie;
      uint32_t len, err;
      uint16_t msglen;
    } e;
    req(fd, 0, 0, 3, 1ull << 50, 4096);
    int ok = rd(fd, &e, sizeof e) == 0 && be32toh(e.magic) == 0x668e33ef && be16toh(e.type) == 32769 &&
             be32toh(e.err) == 22 && (be16toh(e.flags) & 1);
    check(ok, "structured READ past the end: NBD_REPLY_TYPE_ERROR EINVAL, done");
    if (ok && be16toh(e.msglen)) {
      char skip[4096];
      rd(fd, skip, be16toh(e.msglen));
    }
    req(fd, 0, 2, 4, 0, 0);
    check(closed(fd), "structured connection: DISC");
  }
  close(fd);

  fd = open_export(ro_name, 0);
  check(fd >= 0, "GO on the read-only export");
  {
    uint8_t junk[4096] = {0};
    req(fd, 0, 1, 7, 0, sizeof junk);
    wr(fd, junk, sizeof junk);
    check(simple(fd, NULL, NULL, 0) == 1, "WRITE to a read-only export: EPERM");
  }
  check(cmd(fd, 0, 4, 0, 4096) == 1, "TRIM on a read-only export: EPERM");
  check(cmd(fd, 0, 6, 0, 4096) == 1, "WRITE_ZEROES on a read-only export: EPERM");
  check(cmd(fd, 0, 3, 0, 0) == 0, "FLUSH on a read-only export: ok");
  close(fd);

  check(still_serves(), "server still serves at the end");
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
