/*
 * fuzz_policy.c — libFuzzer harness of the protection policies' readers:
 * what a client sends in a policy's document (src/policy/spec_parse.c: its
 * schedules, durations, retention rules, zone names) and the TZif files a
 * zone is read from.  The input is cut at FUZZ_SEP into
 *   0: a policy's "properties" JSON → policy_spec_parse, then its slots
 *      around a few instants;
 *   1: TZif bytes → tz_parse, then local/UTC conversions of instants drawn
 *      from the input, which must round-trip where the zone has no gap;
 *   2: one schedule's JSON → sched_parse, then sched_next/sched_prev, which
 *      must agree (prev(next(t)) == next(t), next > t, prev <= t);
 *   3: a retention rule's JSON → retention_parse, then retention_apply over
 *      items whose times and pins come from part 4's bytes.
 * A client's typo must be a 400, never a crash, a leak, undefined behaviour
 * or a slot sequence that goes backwards.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/retention.h"
#include "policy/schedule.h"
#include "policy/spec.h"
#include "policy/tz.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int64_t probes[] = {0, 946684800, 1700000000, 1798761599, 2147483647, 4102444800};

static void check_slots(const struct sched *s)
{
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    int64_t t = probes[i], n = sched_next(s, t), p = sched_prev(s, t);
    if ((n >= 0 && n <= t) || p > t || (n >= 0 && sched_prev(s, n) != n))
      fuzz_die("a schedule's slots go backwards");
  }
}

static void fuzz_spec(const struct fuzz_part *p)
{
  json_t *props = json_loadb((const char *)p->p, p->len, 0, NULL);
  if (!props)
    return;
  struct policy_spec spec = {0};
  char err[512];
  if (policy_spec_parse(props, "00000000-0000-0000-0000-000000000001", &spec, err, sizeof err) == 0) {
    for (int i = 0; i < spec.nschedules; i++)
      check_slots(spec.schedules[i]);
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
      int64_t n = policy_spec_next_slot(&spec, probes[i]);
      if (n >= 0 && n <= probes[i])
        fuzz_die("a policy's next slot is not after now");
    }
  }
  policy_spec_clear(&spec);
  json_decref(props);
}

static void fuzz_tzif(const struct fuzz_part *p)
{
  struct tz *z = NULL;
  if (tz_parse("fuzz", p->p, p->len, &z) < 0)
    return;
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    struct tm tm;
    tz_local(z, probes[i], &tm);
    (void)tz_utc(z, &tm);
  }
  tz_free(z);
}

static void fuzz_schedule(const struct fuzz_part *p)
{
  char *text = strndup((const char *)p->p, p->len);
  struct tz *zone = NULL;
  struct sched *s = NULL;
  char err[512];
  if (!text || tz_load("Europe/Berlin", &zone) < 0)
    fuzz_die("setup");
  if (sched_parse(text, zone, &s, err, sizeof err) == 0) {
    check_slots(s);
    sched_free(s);
  }
  tz_free(zone);
  free(text);
}

static void fuzz_retention(const struct fuzz_part *rules, const struct fuzz_part *times)
{
  char *text = strndup((const char *)rules->p, rules->len);
  struct retention_rules r;
  struct tz *zone = NULL;
  char err[512];
  if (!text || tz_load("Europe/Berlin", &zone) < 0)
    fuzz_die("setup");
  if (retention_parse(text, &r, err, sizeof err) == 0) {
    struct retention_item items[256];
    size_t n = 0;
    for (size_t i = 0; i + 4 <= times->len && n < 256; i += 4, n++) {
      uint32_t v;
      memcpy(&v, times->p + i, 4);
      items[n] = (struct retention_item){.time = 1600000000 + (int64_t)(v >> 3) * 60, .pins = v & 7};
    }
    retention_apply(&r, zone, items, n);
    for (size_t i = 0; i < n; i++)
      if (items[i].pins && !items[i].keep)
        fuzz_die("retention removed a pinned restore point");
  }
  tz_free(zone);
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_quiet();
  struct fuzz_part parts[5] = {0};
  size_t n = fuzz_split(data, size, parts, 5);
  fuzz_spec(&parts[0]);
  if (n > 1)
    fuzz_tzif(&parts[1]);
  if (n > 2)
    fuzz_schedule(&parts[2]);
  if (n > 3)
    fuzz_retention(&parts[3], &parts[4]);
  return 0;
}
