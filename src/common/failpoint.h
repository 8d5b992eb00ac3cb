/*
 * failpoint.h — named fault-injection points for tests of the bad days.
 *
 * A spec is a comma-separated list of `site=ACTION[@N][xK]`:
 *   ACTION  eio | enospc   the I/O does not happen and fails with that errno
 *           short          half the bytes reach the file, then -ENOSPC
 *           crash          the process dies (SIGKILL) right before the I/O
 *           an integer     a value read by failpoint_value (delays, budgets,
 *                          numbered crash points)
 *   @N      the first firing is the Nth hit of the site (default 1)
 *   xK      it fires K times (default: every hit from then on)
 * Sites are named <layer>.<object>.<op> (docs/reliability.md "Failpoints"
 * lists them with what each guards).  VMRP_FAILPOINTS in the environment arms
 * points at start-up (failpoint_init); failpoint_arm replaces the runtime set
 * at any time (the admin call).  A firing logs one warn line
 * `failpoint fired site=... action=...`.
 *
 * Unarmed, a site costs one relaxed atomic load.  Built with the CMake option
 * VMRP_FAILPOINTS=OFF every site compiles away: failpoint_io is 0,
 * failpoint_value its default, and arming answers -ENOTSUP.
 * Never armed in production configurations.  Thread-safe.
 */
#pragma once
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* failpoint_io's answer for `short`: write half of the bytes, then fail
 * -ENOSPC (fsutil.h's *_fp helpers do exactly that). */
#define FAILPOINT_SHORT 1

#if VMRP_FAILPOINTS
#include <stdatomic.h>

extern atomic_int failpoint_armed_;
int failpoint_io_armed_(const char *site);
int64_t failpoint_value_armed_(const char *name, int64_t def);

/* What the I/O at site is to do: 0 go on, -EIO, -ENOSPC or FAILPOINT_SHORT;
 * for crash it does not return.  Counts a hit of an armed site. */
static inline int failpoint_io(const char *site)
{
  return atomic_load_explicit(&failpoint_armed_, memory_order_relaxed) ? failpoint_io_armed_(site) : 0;
}

/* The armed integer value of a point, or def when it is not armed. */
static inline int64_t failpoint_value(const char *name, int64_t def)
{
  return atomic_load_explicit(&failpoint_armed_, memory_order_relaxed) ? failpoint_value_armed_(name, def) : def;
}
#else
#define failpoint_io(site) ((void)(site), 0)
#define failpoint_value(name, def) ((void)(name), (int64_t)(def))
#endif

/* failpoint_io for a call that writes no bytes (or cannot be cut in half):
 * short fails it -ENOSPC. */
static inline int failpoint_err(const char *site)
{
  int r = failpoint_io(site);
  return r == FAILPOINT_SHORT ? -ENOSPC : r;
}

/* Arms the points of VMRP_FAILPOINTS (kept across failpoint_arm calls).
 * 0, or -EINVAL when the variable is not a valid spec (nothing armed). */
int failpoint_init(void);
/* Replaces the runtime set with spec ("" clears it).  -EINVAL on a bad spec
 * (nothing changed), -ENOTSUP in a build without failpoints. */
int failpoint_arm(const char *spec);
/* One armed point as failpoint_each reports it. */
struct failpoint_info {
  const char *site;
  const char *spec; /* ACTION[@N][xK] as armed, normalised */
  uint64_t hits;    /* calls of the site since it was armed */
  uint64_t fired;   /* of them, those that failed or crashed */
  int runtime;      /* 1: armed by failpoint_arm, 0: by the environment */
};
/* Calls fn for each armed point under the table's lock (fn must not arm).
 * Stops at and returns fn's first non-zero answer, else 0. */
int failpoint_each(int (*fn)(const struct failpoint_info *fp, void *arg), void *arg);
