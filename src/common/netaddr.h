/*
 * netaddr.h — which network a client address counts as, for the limits
 * that count per client (connections, failed sign-ins): an IPv4 address
 * (an IPv4-mapped IPv6 one too) is itself; an IPv6 address counts as its
 * /64, since one host or site usually owns a whole /64 and could otherwise
 * take a new address for each connection.  Thread-safe, no allocation.
 */
#pragma once
#include <sys/socket.h>

#define NET_KEY_LEN 17  /* family byte (4, 6; 0: unknown) + the address's network bytes */
#define NET_TEXT_LEN 48

/* The network of sa (NULL or another family: all zeros). */
void net_key(const struct sockaddr *sa, unsigned char key[NET_KEY_LEN]);
/* key as text: "192.0.2.7", "2001:db8:1:2::/64", or "?" for an unknown one. */
void net_key_text(const unsigned char key[NET_KEY_LEN], char text[NET_TEXT_LEN]);
