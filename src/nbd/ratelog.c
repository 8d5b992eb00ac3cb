/*
 * ratelog.c — a budget of log lines per kind of event.
 *
 * What a hostile or broken client can trigger at will (refused names,
 * limits that bite) must not let it fill the log: each kind gets
 * RATELOG_BURST lines per RATELOG_WINDOW seconds from the first of them,
 * and the first line of the next window says how many were left out.
 */
#include <time.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "nbd/internal.h"

#define RATELOG_BURST 10
#define RATELOG_WINDOW 60

void ratelog_init(struct ratelog *rl, const char *what)
{
  pthread_mutex_init(&rl->lock, NULL);
  rl->what = what;
  rl->window = 0;
  rl->n = rl->dropped = 0;
}

void ratelog_destroy(struct ratelog *rl) { pthread_mutex_destroy(&rl->lock); }

bool ratelog_allow(struct ratelog *rl)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  LOCK_GUARD(&rl->lock);
  if (rl->n == 0 || ts.tv_sec - rl->window >= RATELOG_WINDOW) {
    if (rl->dropped)
      log_warn("nbd", "%u more %s not logged in %d s", rl->dropped, rl->what, RATELOG_WINDOW);
    rl->window = ts.tv_sec;
    rl->n = rl->dropped = 0;
  }
  if (rl->n >= RATELOG_BURST) {
    rl->dropped++;
    return false;
  }
  rl->n++;
  return true;
}
