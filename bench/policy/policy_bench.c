/*
 * policy_bench.c — one protection policy over many VMs for a simulated year
 * of hourly slots: what the scheduler does per VM and slot, timed, with the
 * process's memory, month by month (bench/policy/run).
 *
 * Per slot, for every VM, in two timed phases:
 *   scheduler  the VM's next slot (sched_next over the policy's PT1H
 *              schedule in its zone) and its spread (sched_jitter); the slot
 *              taken and then finished through the scheduler's own rows in a
 *              real SQLite meta (meta_policy_save: the slot row inserted
 *              with the VM row advanced, then the slot made final, which
 *              prunes the VM's older final slots) — one transaction per slot
 *              for all VMs (synchronous=FULL, one fsync a slot);
 *   retention  the new restore point added to the VM's list, the newest
 *              pinned as the newest successful one, retention_apply with the
 *              policy's rules (keepHourly 24, keepDaily 7, keepWeekly 4,
 *              keepMonthly 12, keepYearly 3 by default), the removed ones
 *              dropped.
 * Why these two: they are the work that grows, if anything does, as restore
 * points accumulate — the claim is that neither does (a VM holds at most
 * ~50 restore points under these rules, the slot rows stay as few as the
 * slots open).  The restore points themselves are kept in memory here; the
 * service lists them through ARM (src/arm/policy_retain.c), which this
 * does not measure.
 *
 * Cost is process CPU (user + system, getrusage) per VM-slot, per phase,
 * and the resident set (/proc/self/statm) at each local month's start.
 * Last, retention_apply over the whole year of 8,760 hourly items in one
 * call, for the comparison with restic forget over a repository of those
 * 8,760 snapshots.
 *
 * Usage: policy_bench [--vms N] [--days N] [--zone Z] [--meta PATH | --no-meta]
 *                     [--rules JSON]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "meta/meta.h"
#include "policy/retention.h"
#include "policy/schedule.h"
#include "policy/tz.h"

#define POLICY_ID "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/bench/providers/" \
                  "Microsoft.Vmrp/protectionPolicies/hourly"

struct vm {
  char id[160];
  int64_t last_slot;
  struct retention_item *rps;
  size_t n, cap;
};

static double cpu_s(void)
{
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static double wall_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double rss_mib(void)
{
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  return resident * (double)sysconf(_SC_PAGESIZE) / (1024 * 1024);
}

/* One VM's slot through the scheduler's rows: taken (inserted with the VM
 * row advanced past it), then final (which prunes the older final ones). */
static int save_slot(struct meta *m, const struct vm *v, int64_t slot, int64_t next, int64_t due)
{
  char rp[256];
  struct tm tm;
  time_t t = (time_t)slot;
  gmtime_r(&t, &tm);
  int len = snprintf(rp, sizeof rp, "%s/restorePoints/", v->id);
  strftime(rp + len, sizeof rp - (size_t)len, "%Y%m%dT%H%M%SZ", &tm);
  struct meta_policy_vm row = {
      .policy_id = POLICY_ID,
      .vm_id = (char *)v->id,
      .next_slot_us = next * 1000000,
      .due_us = due * 1000000,
      .last_slot_us = slot * 1000000,
  };
  struct meta_policy_slot s = {
      .policy_id = POLICY_ID,
      .vm_id = (char *)v->id,
      .slot_us = slot * 1000000,
      .rp_id = rp,
      .state = "Creating",
      .due_us = due * 1000000,
      .created_us = slot * 1000000,
      .changed_us = slot * 1000000,
  };
  int rc = meta_policy_save(m, &row, &s, true);
  if (rc == 0) {
    row.last_rp_id = rp;
    row.last_rp_us = slot * 1000000;
    s.state = "Done";
    s.changed_us = due * 1000000;
    rc = meta_policy_save(m, &row, &s, false);
  }
  return rc;
}

/* Adds the slot's restore point, pins the newest, applies the rules and
 * drops what they remove.  Returns how many were removed. */
static size_t retain(const struct retention_rules *rules, const struct tz *zone, struct vm *v, int64_t slot)
{
  if (v->n == v->cap) {
    v->cap = v->cap ? v->cap * 2 : 64;
    struct retention_item *grown = realloc(v->rps, v->cap * sizeof *grown);
    if (!grown) {
      perror("realloc");
      exit(1);
    }
    v->rps = grown;
  }
  /* the list is kept newest first; the new one goes in front */
  memmove(v->rps + 1, v->rps, v->n * sizeof *v->rps);
  v->rps[0] = (struct retention_item){.time = slot, .pins = RETAIN_PIN_NEWEST_OK};
  v->n++;
  for (size_t i = 1; i < v->n; i++)
    v->rps[i].pins = 0;
  retention_apply(rules, zone, v->rps, v->n);
  size_t kept = 0;
  for (size_t i = 0; i < v->n; i++)
    if (v->rps[i].keep)
      v->rps[kept++] = v->rps[i];
  size_t removed = v->n - kept;
  v->n = kept;
  return removed;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
  int nvms = 1000, days = 365;
  const char *zone_name = "Europe/Berlin", *meta_path = NULL;
  const char *rules_json =
      "{\"keepHourly\": 24, \"keepDaily\": 7, \"keepWeekly\": 4, \"keepMonthly\": 12, \"keepYearly\": 3}";
  bool use_meta = true;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--vms") && i + 1 < argc)
      nvms = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--days") && i + 1 < argc)
      days = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--zone") && i + 1 < argc)
      zone_name = argv[++i];
    else if (!strcmp(argv[i], "--meta") && i + 1 < argc)
      meta_path = argv[++i];
    else if (!strcmp(argv[i], "--no-meta"))
      use_meta = false;
    else if (!strcmp(argv[i], "--rules") && i + 1 < argc)
      rules_json = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--vms N] [--days N] [--zone Z] [--meta PATH | --no-meta] [--rules JSON]\n",
              argv[0]);
      return 2;
    }
  }
  if (nvms < 1 || days < 1 || (use_meta && !meta_path)) {
    fprintf(stderr, "%s: --vms and --days must be positive; --meta PATH or --no-meta\n", argv[0]);
    return 2;
  }
  char err[256] = "";
  struct tz *zone = NULL;
  struct sched *sched = NULL;
  struct retention_rules rules;
  struct meta *meta = NULL;
  if (tz_load(zone_name, &zone) != 0 || sched_parse("\"R/2026-01-01T00:00:00/PT1H\"", zone, &sched, err,
                                                      sizeof err) != 0 ||
      retention_parse(rules_json, &rules, err, sizeof err) != 0) {
    fprintf(stderr, "setup: %s\n", err);
    return 1;
  }
  if (use_meta && meta_open(meta_path, &meta) != 0) {
    fprintf(stderr, "meta_open(%s) failed\n", meta_path);
    return 1;
  }
  struct vm *vms = calloc((size_t)nvms, sizeof *vms);
  if (!vms)
    return 1;
  int64_t start = sched_next(sched, 0) - 1; /* just before the first slot */
  for (int i = 0; i < nvms; i++) {
    snprintf(vms[i].id, sizeof vms[i].id,
             "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/fleet/providers/"
             "Microsoft.Compute/virtualMachines/vm-%04d",
             i);
    vms[i].last_slot = start;
  }
  int64_t window = sched_min_period(sched) / 4;
  if (window > 600)
    window = 600;

  int64_t nslots = (int64_t)days * 24;
  printf("# %d VMs x %lld hourly slots in %s, rules %s, %s\n", nvms, (long long)nslots, zone_name, rules_json,
         use_meta ? "slot rows in a SQLite meta (one transaction a slot)" : "no meta (in-memory only)");
  printf("# %-8s %10s %9s %12s %12s %12s %9s %9s\n", "month", "VM-slots", "RPs/VM", "sched us", "retain us",
         "total us", "RSS MiB", "wall s");
  double t_sched = 0, t_retain = 0, m_sched = 0, m_retain = 0, w0 = wall_s();
  int64_t vm_slots = 0, m_vm_slots = 0, removed = 0;
  double rss_first = 0, rss_max = 0, us_min = 1e9, us_max = 0;
  int month = -1;
  for (int64_t k = 0; k < nslots; k++) {
    struct tm tm;
    tz_local(zone, vms[0].last_slot + 1, &tm);
    double c0 = cpu_s();
    if (meta && meta_begin(meta) != 0) {
      fprintf(stderr, "meta_begin failed\n");
      return 1;
    }
    int64_t slot = 0;
    for (int i = 0; i < nvms; i++) {
      slot = sched_next(sched, vms[i].last_slot);
      int64_t next = sched_next(sched, slot);
      int64_t due = slot + sched_jitter(POLICY_ID, vms[i].id, window);
      if (meta && save_slot(meta, &vms[i], slot, next, due) != 0) {
        fprintf(stderr, "meta_policy_save failed\n");
        return 1;
      }
      vms[i].last_slot = slot;
    }
    if (meta && meta_commit(meta) != 0) {
      fprintf(stderr, "meta_commit failed\n");
      return 1;
    }
    double c1 = cpu_s();
    for (int i = 0; i < nvms; i++)
      removed += (int64_t)retain(&rules, zone, &vms[i], vms[i].last_slot);
    double c2 = cpu_s();
    m_sched += c1 - c0;
    m_retain += c2 - c1;
    m_vm_slots += nvms;
    vm_slots += nvms;
    tz_local(zone, slot, &tm);
    bool last = k == nslots - 1;
    if (month < 0)
      month = tm.tm_mon;
    int64_t after = last ? 0 : sched_next(sched, slot);
    struct tm tn;
    tz_local(zone, after, &tn);
    if (last || tn.tm_mon != month) {
      size_t held = 0;
      for (int i = 0; i < nvms; i++)
        held += vms[i].n;
      double rss = rss_mib();
      double us = (m_sched + m_retain) * 1e6 / (double)m_vm_slots;
      if (rss_first == 0)
        rss_first = rss;
      rss_max = rss > rss_max ? rss : rss_max;
      us_min = us < us_min ? us : us_min;
      us_max = us > us_max ? us : us_max;
      printf("MONTH %04d-%02d %10lld %9.1f %12.2f %12.2f %12.2f %9.1f %9.0f\n", tm.tm_year + 1900, tm.tm_mon + 1,
             (long long)vm_slots, (double)held / nvms, m_sched * 1e6 / (double)m_vm_slots,
             m_retain * 1e6 / (double)m_vm_slots, us, rss, wall_s() - w0);
      fflush(stdout);
      t_sched += m_sched;
      t_retain += m_retain;
      m_sched = m_retain = 0;
      m_vm_slots = 0;
      month = tn.tm_mon;
    }
  }
  printf("TOTAL vm_slots %lld removed %lld sched_us %.2f retain_us %.2f total_us %.2f cpu_s %.1f wall_s %.0f\n",
         (long long)vm_slots, (long long)removed, t_sched * 1e6 / (double)vm_slots,
         t_retain * 1e6 / (double)vm_slots, (t_sched + t_retain) * 1e6 / (double)vm_slots, t_sched + t_retain,
         wall_s() - w0);
  printf("FLAT us_per_vm_slot min %.2f max %.2f; rss_mib first %.1f max %.1f\n", us_min, us_max, rss_first,
         rss_max);

  /* The whole timeline in one call: restic forget's job on 8,760 snapshots. */
  size_t n = (size_t)nslots;
  struct retention_item *year = calloc(n, sizeof *year);
  double runs[21];
  size_t kept = 0;
  for (int r = 0; r < 21 && year; r++) {
    int64_t t = start;
    for (size_t i = 0; i < n; i++) {
      t = sched_next(sched, t);
      year[n - 1 - i] = (struct retention_item){.time = t};
    }
    double c0 = wall_s();
    retention_apply(&rules, zone, year, n);
    runs[r] = wall_s() - c0;
    kept = 0;
    for (size_t i = 0; i < n; i++)
      kept += year[i].keep;
  }
  qsort(runs, 21, sizeof runs[0], cmp_double);
  printf("YEAR items %zu kept %zu apply_ms %.3f (median of 21)\n", n, kept, runs[10] * 1e3);
  free(year);
  for (int i = 0; i < nvms; i++)
    free(vms[i].rps);
  free(vms);
  meta_close(meta);
  sched_free(sched);
  tz_free(zone);
  return 0;
}
