/*
 * tls.c — STARTTLS with GnuTLS: X.509 credentials loaded once per server,
 * one session per connection that upgraded.
 *
 * Credentials: the certificate chain and key from the configuration (PEM);
 * with tls_ca set, clients must present a certificate signed by that CA.
 * The priority string is GnuTLS's system default (TLS 1.2 and 1.3).
 *
 * Session states: none → handshaking (tls_start, bounded by the handshake
 * timeout) → established (records only) → bye (tls_stop sends close_notify
 * and frees).  A failed handshake is a hard disconnect: the STARTTLS ACK was
 * already sent, so the protocol leaves no way back to plain text.
 *
 * Threads: in transmission one thread receives (under rlock) while another
 * sends (under wlock); GnuTLS allows exactly that split for a session (no
 * renegotiation is ever started by this server).
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/log.h"
#include "nbd/internal.h"

int tls_creds_load(struct nbd_server *s)
{
  if (!s->cfg.tls_cert && !s->cfg.tls_key)
    return 0;
  if (!s->cfg.tls_cert || !s->cfg.tls_key) {
    log_error("nbd", "TLS needs both a certificate and a key");
    return -EINVAL;
  }
  gnutls_global_init();
  gnutls_certificate_credentials_t cred;
  int r = gnutls_certificate_allocate_credentials(&cred);
  if (r < 0)
    return -ENOMEM;
  r = gnutls_certificate_set_x509_key_file(cred, s->cfg.tls_cert, s->cfg.tls_key, GNUTLS_X509_FMT_PEM);
  if (r < 0) {
    log_error("nbd", "cannot load TLS certificate %s / key %s: %s", s->cfg.tls_cert, s->cfg.tls_key,
              gnutls_strerror(r));
    gnutls_certificate_free_credentials(cred);
    return -EINVAL;
  }
  if (s->cfg.tls_ca) {
    r = gnutls_certificate_set_x509_trust_file(cred, s->cfg.tls_ca, GNUTLS_X509_FMT_PEM);
    if (r <= 0) {
      log_error("nbd", "cannot load TLS CA %s: %s", s->cfg.tls_ca, r < 0 ? gnutls_strerror(r) : "no certificate");
      gnutls_certificate_free_credentials(cred);
      return -EINVAL;
    }
    s->tls_verify_client = true;
  }
  s->tls_creds = cred;
  return 0;
}

void tls_creds_free(struct nbd_server *s)
{
  if (s->tls_creds) {
    gnutls_certificate_free_credentials(s->tls_creds);
    s->tls_creds = NULL;
    gnutls_global_deinit();
  }
}

int tls_start(struct nbd_conn *c)
{
  gnutls_session_t sess;
  int r = gnutls_init(&sess, GNUTLS_SERVER | GNUTLS_NO_SIGNAL);
  if (r < 0)
    return -ENOMEM;
  if ((r = gnutls_set_default_priority(sess)) < 0 ||
      (r = gnutls_credentials_set(sess, GNUTLS_CRD_CERTIFICATE, c->s->tls_creds)) < 0)
    goto fail;
  if (c->s->tls_verify_client) {
    gnutls_certificate_server_set_request(sess, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert(sess, NULL, 0);
  } else {
    gnutls_certificate_server_set_request(sess, GNUTLS_CERT_IGNORE);
  }
  gnutls_transport_set_int(sess, c->fd);
  gnutls_handshake_set_timeout(sess, (c->s->cfg.handshake_timeout_sec ? c->s->cfg.handshake_timeout_sec : 30) * 1000);
  do {
    r = gnutls_handshake(sess);
  } while (r < 0 && !gnutls_error_is_fatal(r));
  if (r < 0)
    goto fail;
  c->tls = sess;
  return 0;
fail:
  log_warn("nbd", "TLS handshake failed: %s", gnutls_strerror(r));
  gnutls_deinit(sess);
  return -ECONNABORTED;
}

void tls_stop(struct nbd_conn *c)
{
  if (!c->tls)
    return;
  gnutls_session_t sess = c->tls;
  send_progress(c); /* a client that reads nothing cannot hold the close either */
  gnutls_bye(sess, GNUTLS_SHUT_WR);
  atomic_store(&c->send_ms, 0);
  gnutls_deinit(sess);
  c->tls = NULL;
}

long tls_recv(struct nbd_conn *c, void *buf, size_t n)
{
  for (;;) {
    ssize_t r = gnutls_record_recv(c->tls, buf, n);
    if (r >= 0)
      return r;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
      continue;
    if (r == GNUTLS_E_PREMATURE_TERMINATION)
      return 0;
    return -ECONNRESET;
  }
}

static int send_all(struct nbd_conn *c, const uint8_t *p, size_t n)
{
  while (n > 0) {
    ssize_t r = gnutls_record_send(c->tls, p, n);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
      continue;
    if (r < 0)
      return -EPIPE;
    send_progress(c);
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

int tls_sendv(struct nbd_conn *c, struct iovec *iov, int n)
{
  gnutls_session_t sess = c->tls;
  if (n == 1)
    return send_all(c, iov[0].iov_base, iov[0].iov_len);
  gnutls_record_cork(sess);
  for (int i = 0; i < n; i++) {
    int r = send_all(c, iov[i].iov_base, iov[i].iov_len);
    if (r < 0) {
      gnutls_record_uncork(sess, 0);
      return r;
    }
  }
  for (;;) {
    int r = gnutls_record_uncork(sess, GNUTLS_RECORD_WAIT);
    if (r >= 0)
      return 0;
    if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
      return -EPIPE;
  }
}
