/*
 * rawnbd.h — the few pieces of the NBD wire format that the hand-written
 * test clients (hostile.c, payload.c) share: exact reads, the request
 * header, and "did the server hang up".  Header-only (static functions):
 * each client is one file and one executable.
 */
#pragma once
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Reads exactly n bytes; -1 on EOF or error (a timeout included). */
static inline int rd(int fd, void *buf, size_t n)
{
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r <= 0)
      return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* True if the server closed the connection (EOF or reset) rather than
 * answering within the socket's receive timeout. */
static inline int closed(int fd)
{
  uint8_t b[4096];
  for (;;) {
    ssize_t r = recv(fd, b, sizeof b, 0);
    if (r == 0 || (r < 0 && errno == ECONNRESET))
      return 1;
    if (r < 0)
      return 0; /* timeout: still open */
  }
}

struct __attribute__((packed)) nbd_req_wire {
  uint32_t magic;
  uint16_t flags, type;
  uint64_t cookie, off;
  uint32_t len;
};

/* A transmission-phase request header, in wire byte order. */
static inline struct nbd_req_wire nbd_req(uint16_t flags, uint16_t type, uint64_t cookie, uint64_t off, uint32_t len)
{
  return (struct nbd_req_wire){htobe32(0x25609513), htobe16(flags), htobe16(type), cookie, htobe64(off),
                               htobe32(len)};
}
