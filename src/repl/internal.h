/*
 * internal.h — what the repl/ files share.
 */
#pragma once
#include <curl/curl.h>

#include "repl/repl.h"

/* A curl handle set up for a call to the peer: URL endpoint+path, our name
 * and credential, the peer CA, timeouts.  *hdrs must be freed after the
 * transfer (curl_slist_free_all).  NULL on ENOMEM. */
CURL *repl_curl(const struct repl_peer *p, const char *path, struct curl_slist **hdrs);
/* Maps a failed transfer to -EHOSTUNREACH (logged once per call). */
int repl_curl_error(const struct repl_peer *p, const char *path, CURLcode cr);
