/*
 * netaddr.c — a client address's network (netaddr.h says which).
 */
#include "common/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void net_key(const struct sockaddr *sa, unsigned char key[NET_KEY_LEN])
{
  memset(key, 0, NET_KEY_LEN);
  if (sa && sa->sa_family == AF_INET) {
    key[0] = 4;
    memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  } else if (sa && sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    bool mapped = IN6_IS_ADDR_V4MAPPED(a);
    key[0] = mapped ? 4 : 6;
    memcpy(key + 1, a->s6_addr + (mapped ? 12 : 0), mapped ? 4 : 8);
  }
}

void net_key_text(const unsigned char key[NET_KEY_LEN], char text[NET_TEXT_LEN])
{
  unsigned char a[16] = {0};
  memcpy(a, key + 1, key[0] == 4 ? 4 : 8);
  if (key[0] == 0 || !inet_ntop(key[0] == 4 ? AF_INET : AF_INET6, a, text, NET_TEXT_LEN))
    snprintf(text, NET_TEXT_LEN, "?");
  else if (key[0] == 6)
    strncat(text, "/64", NET_TEXT_LEN - 1 - strlen(text));
}
