/*
 * payload.c — large requests against nbd-serve, spoken by hand: WRITE
 * payloads larger than the server's 128 KiB input buffer (spliced into the
 * volume's file, or copied when they do not fit the pipe or arrive in many
 * small pieces), READ replies sent from the page cache by splice to a
 * reader too slow to take them whole, and clients that disconnect in the
 * middle of a payload or of a reply.  The client keeps a model of the
 * export's bytes and checks every READ against it, and the model against
 * the file itself at the end.
 *
 *   nbd-payload unix:PATH|tcp:PORT EXPORT MODEL_OUT
 *
 * The export must be 16 MiB and is overwritten.  MODEL_OUT receives the
 * model (the caller compares it with the volume file once the server has
 * stopped).  Prints "ok - ..." / "not ok - ..." and "N passed, M failed";
 * exit 0 iff nothing failed.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "rawnbd.h"

#define SIZE (16u << 20)
#define MIB (1u << 20)
enum { CMD_READ = 0, CMD_WRITE = 1, CMD_DISC = 2, CMD_FLUSH = 3, FLAG_FUA = 1 };

static const char *where, *export_name;
static uint8_t *model;
static int passed, failed;

static void check(int cond, const char *what)
{
  printf("%s - %s: %s\n", cond ? "ok" : "not ok", where, what);
  if (cond)
    passed++;
  else
    failed++;
}

/* Sends n bytes in pieces of at most `piece` bytes (one send each). */
static int wr(int fd, const void *buf, size_t n, size_t piece)
{
  const uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = send(fd, p, n < piece ? n : piece, MSG_NOSIGNAL);
    if (r <= 0)
      return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int dial(void)
{
  int fd;
  if (!strncmp(where, "unix:", 5)) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strncpy(sa.sun_path, where + 5, sizeof sa.sun_path - 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
      return -1;
  } else {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(where + 4))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* small pieces stay small */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
      return -1;
  }
  struct timeval tv = {.tv_sec = 20};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/* Fixed newstyle, NO_ZEROES, optionally structured replies, then GO. */
static int open_export(int structured)
{
  int fd = dial();
  uint8_t greet[18];
  if (fd < 0 || rd(fd, greet, sizeof greet) < 0)
    return -1;
  uint32_t cflags = htobe32(3);
  wr(fd, &cflags, 4, 4);
  struct __attribute__((packed)) {
    uint64_t magic;
    uint32_t opt, len;
  } h = {htobe64(0x49484156454f5054ULL), 0, 0};
  struct __attribute__((packed)) {
    uint64_t magic;
    uint32_t opt, type, len;
  } rep;
  uint8_t discard[1024];
  if (structured) {
    h.opt = htobe32(8);
    wr(fd, &h, sizeof h, sizeof h);
    if (rd(fd, &rep, sizeof rep) < 0 || be32toh(rep.type) != 1)
      return -1;
  }
  uint32_t nl = (uint32_t)strlen(export_name), benl = htobe32(nl);
  h.opt = htobe32(7);
  h.len = htobe32(nl + 6);
  uint16_t ninfo = 0;
  wr(fd, &h, sizeof h, sizeof h);
  wr(fd, &benl, 4, 4);
  wr(fd, export_name, nl, nl);
  wr(fd, &ninfo, 2, 2);
  for (;;) {
    if (rd(fd, &rep, sizeof rep) < 0 || be32toh(rep.len) > sizeof discard || rd(fd, discard, be32toh(rep.len)) < 0)
      return -1;
    if (be32toh(rep.type) == 1)
      return fd;
    if (be32toh(rep.type) != 3)
      return -1;
  }
}

static void req(int fd, uint16_t flags, uint16_t type, uint64_t cookie, uint64_t off, uint32_t len)
{
  struct nbd_req_wire r = nbd_req(flags, type, cookie, off, len);
  wr(fd, &r, sizeof r, sizeof r);
}

/* One reply: its error (or -1 on EOF/garbage) and cookie; READ data into
 * buf (len bytes expected).  A simple reply, or (the server may answer with
 * either once structured replies are on) one structured chunk: OFFSET_DATA
 * covering the request, NONE, or an error. */
static long reply(int fd, uint64_t *cookie, void *buf, size_t len)
{
  uint32_t magic;
  if (rd(fd, &magic, 4) < 0)
    return -1;
  if (be32toh(magic) == 0x67446698) {
    struct __attribute__((packed)) {
      uint32_t err;
      uint64_t cookie;
    } h;
    if (rd(fd, &h, sizeof h) < 0)
      return -1;
    *cookie = h.cookie;
    if (h.err == 0 && buf && rd(fd, buf, len) < 0)
      return -1;
    return be32toh(h.err);
  }
  struct __attribute__((packed)) {
    uint16_t flags, type;
    uint64_t cookie;
    uint32_t len;
  } h;
  if (be32toh(magic) != 0x668e33ef || rd(fd, &h, sizeof h) < 0)
    return -1;
  *cookie = h.cookie;
  uint32_t n = be32toh(h.len);
  if (be16toh(h.type) == 0 && n == 0)
    return 0; /* NONE */
  if (be16toh(h.type) == 1 && n == len + 8) { /* OFFSET_DATA */
    uint64_t off;
    return rd(fd, &off, 8) < 0 || rd(fd, buf, len) < 0 ? -1 : 0;
  }
  uint8_t e[4096];
  if (n < 6 || n > sizeof e || rd(fd, e, n) < 0)
    return -1;
  uint32_t err;
  memcpy(&err, e, 4);
  return be32toh(err);
}

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 10));
}

/* WRITE [off, off+n) with a fresh pattern, sent in pieces; 0 if acknowledged. */
static long write_at(int fd, int structured, uint64_t off, size_t n, unsigned seed, size_t piece, uint16_t flags)
{
  uint8_t *p = malloc(n);
  pattern(p, n, seed);
  req(fd, flags, CMD_WRITE, 42, off, (uint32_t)n);
  wr(fd, p, n, piece);
  uint64_t c;
  long e = reply(fd, &c, NULL, 0);
  if (e == 0 && off + n <= SIZE)
    memcpy(model + off, p, n);
  free(p);
  return e;
}

/* READ [off, off+n) and compare with the model. */
static int read_ok(int fd, int structured, uint64_t off, size_t n)
{
  uint8_t *p = malloc(n);
  uint64_t c;
  req(fd, 0, CMD_READ, 43, off, (uint32_t)n);
  int ok = reply(fd, &c, p, n) == 0 && c == 43 && !memcmp(p, model + off, n);
  free(p);
  return ok;
}

/* One connection's large requests (structured replies or not). */
static void run(int structured)
{
  int fd = open_export(structured);
  check(fd >= 0, "GO");
  if (fd < 0)
    return;
  /* Seed the model with 4 MiB copy-path READs, then compare 1 MiB spliced ones. */
  int ok = 1;
  for (uint64_t off = 0; off < SIZE && ok; off += 4 * MIB) {
    uint64_t c;
    req(fd, 0, CMD_READ, 1, off, 4 * MIB);
    ok = reply(fd, &c, model + off, 4 * MIB) == 0;
  }
  for (uint64_t off = 0; off < SIZE && ok; off += MIB)
    ok = read_ok(fd, structured, off, MIB);
  check(ok, "1 MiB READs (spliced) equal 4 MiB READs (copied)");

  check(write_at(fd, structured, MIB, MIB, 1, MIB, 0) == 0 && read_ok(fd, structured, MIB, MIB) &&
            read_ok(fd, structured, MIB - 4096, 8192) && read_ok(fd, structured, 2 * MIB - 4096, 8192),
        "1 MiB WRITE (8 x the input buffer) reads back equal");
  check(write_at(fd, structured, 3 * MIB + 4097, MIB - 8192, 2, 65536, FLAG_FUA) == 0 &&
            read_ok(fd, structured, 3 * MIB + 4097, MIB - 8192) && read_ok(fd, structured, 3 * MIB + 4097, MIB),
        "unaligned 1 MiB-8 KiB FUA WRITE, READ back spliced and (1 MiB at +4097) copied");
  check(write_at(fd, structured, 5 * MIB, 65535, 3, MIB, 0) == 0 &&
            write_at(fd, structured, 6 * MIB, 65536, 4, MIB, 0) == 0 &&
            write_at(fd, structured, 7 * MIB, MIB + 1, 5, MIB, 0) == 0 &&
            write_at(fd, structured, 9 * MIB, 4 * MIB, 6, MIB, 0) == 0 && read_ok(fd, structured, 5 * MIB, 8 * MIB),
        "WRITEs of 64 KiB-1, 64 KiB, 1 MiB+1, 4 MiB (both sides of every threshold) read back equal");
  check(write_at(fd, structured, 2 * MIB, MIB, 7, 512, 0) == 0 && read_ok(fd, structured, 2 * MIB, MIB),
        "1 MiB WRITE sent in 512-byte pieces (fills the pipe's slots) reads back equal");
  check(write_at(fd, structured, SIZE - 4096, MIB, 8, MIB, 0) == 28 &&
            write_at(fd, structured, 4 * MIB, MIB, 9, MIB, 0) == 0 && read_ok(fd, structured, 4 * MIB, MIB),
        "1 MiB WRITE past the end: ENOSPC, payload consumed; the next 1 MiB WRITE is intact");
  {
    /* 16 WRITEs back to back, then 16 READs in flight. */
    uint8_t *p = malloc(MIB);
    for (unsigned i = 0; i < 16; i++) {
      pattern(p, MIB, 100 + i);
      req(fd, 0, CMD_WRITE, 200 + i, (uint64_t)i * MIB, MIB);
      wr(fd, p, MIB, MIB);
      memcpy(model + (uint64_t)i * MIB, p, MIB);
    }
    int good = 1;
    for (unsigned i = 0; i < 16; i++) {
      uint64_t c;
      good = good && reply(fd, &c, NULL, 0) == 0;
    }
    for (unsigned i = 0; i < 16; i++)
      req(fd, 0, CMD_READ, 300 + i, (uint64_t)((i * 7) % 16) * MIB, MIB);
    for (unsigned i = 0; i < 16 && good; i++) {
      uint64_t c;
      good = reply(fd, &c, p, MIB) == 0 && c >= 300 && c < 316 &&
             !memcmp(p, model + (uint64_t)(((c - 300) * 7) % 16) * MIB, MIB);
    }
    uint64_t c;
    req(fd, 0, CMD_FLUSH, 5, 0, 0);
    check(good && reply(fd, &c, NULL, 0) == 0, "16 pipelined 1 MiB WRITEs then 16 READs: equal, FLUSH ok");
    free(p);
  }
  req(fd, 0, CMD_DISC, 6, 0, 0);
  check(closed(fd), "DISC");
  close(fd);

  /* A slow reader: 8 READs of 1 MiB in flight, replies taken 1000 bytes at a time. */
  fd = open_export(structured);
  {
    /* 8 MiB of replies: more than the server's socket buffer holds, so its
     * sends block and resume as the reader takes 1000 bytes at a time.
     * (No small SO_RCVBUF: a TCP window below the loopback MSS turns the
     * transfer into zero-window probes, on any server.) */
    for (unsigned i = 0; i < 8; i++)
      req(fd, 0, CMD_READ, 400 + i, (uint64_t)(15 - i) * MIB, MIB);
    uint8_t *p = malloc(MIB + 64);
    int good = 1;
    for (unsigned i = 0; i < 8 && good; i++) {
      size_t hl = structured ? 20 + 8 : 16, got = 0, want = hl + MIB;
      while (got < want && good) {
        ssize_t r = recv(fd, p + got, want - got < 1000 ? want - got : 1000, 0);
        good = r > 0;
        got += r > 0 ? (size_t)r : 0;
        if (got % 65536 < 1000)
          usleep(200);
      }
      uint64_t c;
      memcpy(&c, p + 8, 8); /* the cookie sits at byte 8 of both reply headers */
      good = good && c >= 400 && c < 408 && !memcmp(p + hl, model + (uint64_t)(15 - (c - 400)) * MIB, MIB);
    }
    check(good, "8 x 1 MiB READ replies to a slow reader (1000-byte recvs) are whole and equal");
    free(p);
  }
  close(fd);

  /* Disconnects in the middle of a payload: nothing of it is written. */
  fd = open_export(structured);
  {
    uint8_t *junk = malloc(MIB);
    memset(junk, 0xEE, MIB);
    req(fd, 0, CMD_WRITE, 7, 8 * MIB, MIB);
    wr(fd, junk, 600 * 1024, MIB);
    shutdown(fd, SHUT_WR);
    check(closed(fd), "1 MiB WRITE cut after 600 KiB, half-close: disconnect");
    close(fd);
    fd = open_export(structured);
    req(fd, 0, CMD_WRITE, 8, 10 * MIB, MIB);
    wr(fd, junk, 100 * 1024, 512);
    close(fd); /* in 512-byte pieces, then a plain close */
    fd = open_export(structured);
    check(fd >= 0 && read_ok(fd, structured, 8 * MIB, MIB) && read_ok(fd, structured, 10 * MIB, MIB),
          "after WRITEs cut mid-payload, the ranges hold their old bytes");
    free(junk);
  }
  /* A client that goes away with 1 MiB replies still to send (SIGPIPE). */
  for (unsigned i = 0; i < 8; i++)
    req(fd, 0, CMD_READ, 500 + i, (uint64_t)i * MIB, MIB);
  {
    uint8_t b[100];
    rd(fd, b, sizeof b);
  }
  close(fd);
  fd = open_export(structured);
  check(fd >= 0 && read_ok(fd, structured, 0, SIZE / 4), "server still serves after a reader left mid-reply");
  close(fd);
}

int main(int argc, char **argv)
{
  if (argc != 4) {
    fprintf(stderr, "usage: nbd-payload unix:PATH|tcp:PORT EXPORT MODEL_OUT\n");
    return 2;
  }
  where = argv[1];
  export_name = argv[2];
  model = malloc(SIZE);
  run(0);
  run(1);
  FILE *f = fopen(argv[3], "wb");
  if (!f || fwrite(model, 1, SIZE, f) != SIZE || fclose(f) != 0)
    check(0, "model written");
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
