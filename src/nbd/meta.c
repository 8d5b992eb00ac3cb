/*
 * meta.c — metadata contexts: the table an export offers, and the options
 * NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT over it.
 *
 * The table of an export is fixed when it is registered: entry 0 is
 * base:allocation (from ops->extents; an export without it reports
 * everything allocated), entries 1.. are the backend's own contexts
 * (ops->meta, e.g. "vmrp:changed" for restore points).  Adding a context is
 * one table entry in the backend, nothing here.  The context id sent on the
 * wire is the table index + 1, stable for the life of the export.
 *
 * Query matching (proto.md "Metadata querying"): a query selects the context
 * of exactly that name; in LIST only, "ns:" (empty leaf) is a wildcard for
 * every context of namespace ns, and no queries at all lists everything.
 * Queries of unknown namespaces and unknown leaves are ignored.
 *
 * SET replaces the connection's selection even when it fails, and records
 * the export name: BLOCK_STATUS is allowed only if GO picks the same export.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nbd/internal.h"

unsigned meta_count(const struct nbd_export *e) { return 1 + (unsigned)e->ops->n_meta; }

const char *meta_name(const struct nbd_export *e, unsigned i)
{
  return i == 0 ? "base:allocation" : e->ops->meta[i - 1].name;
}

int meta_extents(const struct nbd_export *e, unsigned i, uint64_t off, uint64_t len, nbd_extent_fn cb, void *ctx)
{
  if (i == 0) {
    if (!e->ops->extents)
      return cb(ctx, off, len, 0);
    return e->ops->extents(e->handle, off, len, cb, ctx);
  }
  return e->ops->meta[i - 1].extents(e->handle, off, len, cb, ctx);
}

struct query {
  const char *s;
  uint32_t len;
};

static bool matches(const struct query *q, const char *name, bool list)
{
  size_t n = strlen(name);
  if (q->len == n && memcmp(q->s, name, n) == 0)
    return true;
  /* "ns:" lists every context of the namespace (LIST only). */
  return list && q->len > 0 && q->s[q->len - 1] == ':' && q->len <= n && memcmp(q->s, name, q->len) == 0;
}

static uint32_t get32(const uint8_t *p)
{
  uint32_t v;
  memcpy(&v, p, 4);
  return be32toh(v);
}

int meta_option(struct nbd_conn *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
  bool list = opt == NBD_OPT_LIST_META_CONTEXT;
  if (!list) { /* replaces the selection, even on failure */
    c->nmeta = 0;
    free(c->meta_export);
    c->meta_export = NULL;
  }
  if (!c->structured)
    return opt_reply(c, opt, NBD_REP_ERR_INVALID, "structured replies not negotiated", 33, NULL, 0);

  /* Parse and check the whole request before answering anything. */
  enum { MAXQ = 64 };
  struct query q[MAXQ];
  uint32_t nq = 0, pos = 0;
  if (len < 8)
    goto invalid;
  uint32_t namelen = get32(data);
  if (namelen > len - 8 || namelen > NBD_MAX_STRING)
    goto invalid;
  const char *name = (const char *)data + 4;
  pos = 4 + namelen;
  uint32_t count = get32(data + pos);
  pos += 4;
  for (uint32_t i = 0; i < count; i++) {
    if (len - pos < 4)
      goto invalid;
    uint32_t ql = get32(data + pos);
    pos += 4;
    if (ql > len - pos || ql > NBD_MAX_STRING)
      goto invalid;
    if (nq == MAXQ)
      return opt_reply(c, opt, NBD_REP_ERR_TOO_BIG, "too many queries", 16, NULL, 0);
    q[nq++] = (struct query){(const char *)data + pos, ql};
    pos += ql;
  }
  if (pos != len)
    goto invalid;

  struct access_open o;
  if (access_open(c, name, namelen, &o) < 0)
    return opt_reply(c, opt, NBD_REP_ERR_UNKNOWN, "no such export", 14, NULL, 0);
  struct nbd_export *e = o.export;
  access_open_clear(&o);
  int r = 0;
  unsigned nsel = 0;
  uint8_t sel[NBD_MAX_META];
  for (unsigned i = 0; i < meta_count(e) && r == 0; i++) {
    const char *cname = meta_name(e, i);
    bool hit = list && nq == 0;
    for (uint32_t k = 0; k < nq && !hit; k++)
      hit = matches(&q[k], cname, list);
    if (!hit)
      continue;
    uint32_t id = htobe32(list ? 0 : i + 1);
    r = opt_reply(c, opt, NBD_REP_META_CONTEXT, &id, 4, cname, (uint32_t)strlen(cname));
    sel[nsel++] = (uint8_t)i;
  }
  export_put(c->s, e);
  if (r < 0)
    return r;
  if (!list && nsel > 0) {
    c->meta_export = strndup(name, namelen);
    if (!c->meta_export)
      return -ENOMEM;
    memcpy(c->meta, sel, nsel);
    c->nmeta = nsel;
  }
  return opt_reply(c, opt, NBD_REP_ACK, NULL, 0, NULL, 0);
invalid:
  return opt_reply(c, opt, NBD_REP_ERR_INVALID, "malformed meta context request", 30, NULL, 0);
}
