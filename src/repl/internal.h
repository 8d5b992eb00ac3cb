/*
 * internal.h — what the repl/ files share.
 */
#pragma once
#include <curl/curl.h>

#include "repl/repl.h"

/* A curl handle set up for a call to the peer: URL endpoint+path, the peer
 * CA, timeouts.  NULL on ENOMEM.  Each request on it is signed first. */
CURL *repl_curl(const struct repl_peer *p, const char *path);
/* Signs the request about to be sent on c (method path body, for who) and
 * sets its headers: the signature's, content_type's (when not NULL) and no
 * Expect.  *hdrs must be freed after the transfer (curl_slist_free_all). */
int repl_curl_sign(CURL *c, const struct repl_peer *p, const struct repl_caller *who, const char *method,
                   const char *path, const void *body, size_t body_len, const char *content_type,
                   struct curl_slist **hdrs);
/* Maps a failed transfer to -EHOSTUNREACH (logged once per call). */
int repl_curl_error(const struct repl_peer *p, const char *path, CURLcode cr);
