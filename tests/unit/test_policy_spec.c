/*
 * test_policy_spec.c — policy_spec_parse (src/policy/spec_parse.c): a full
 * document read into every field, the defaults, and bad input for every
 * member and limit — each refused with the member's path first, and the
 * spec left empty (nothing to free, nothing half-read).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/spec.h"
#include "policy/tz.h"
#include "unit.h"

#define SUB "00000000-0000-0000-0000-000000000001"
#define VM(n) "/subscriptions/" SUB "/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/" n
#define DISK(n) "/subscriptions/" SUB "/resourceGroups/g/providers/Microsoft.Compute/disks/" n
#define SECRET "0123456789abcdef0123456789abcdef"

static const char *const full =
    "{\"virtualMachines\": [\"" VM("vm1") "\", \"" VM("vm2") "\"], \"vmTagSelector\": {\"backup\": \"gold\"},"
    " \"schedules\": [\"R/2026-12-07T02:00:00+01:00/PT4H\", {\"scheduleRunFrequency\": \"Daily\","
    " \"scheduleRunTimes\": [\"02:30\"]}], \"timeZone\": \"Europe/Berlin\","
    " \"consistencyMode\": \"ApplicationConsistent\", \"excludeDisks\": [\"" DISK("scratch") "\"],"
    " \"retention\": {\"keepLast\": 6, \"keepDaily\": 7}, \"copies\": [{\"region\": \"westus\", \"retention\":"
    " {\"keepWithin\": \"P30D\"}}], \"retentionLock\": {\"duration\": \"P7D\", \"mode\": \"Compliance\"},"
    " \"spreadWindow\": \"PT5M\", \"rpoTarget\": \"PT8H\", \"notifications\": {\"webhooks\":"
    " [\"https://hooks.example.com/a\"], \"secret\": \"" SECRET "\"}}";

/* Parses text: rc, with the message in err. */
static int parse(const char *text, struct policy_spec *s, char *err, size_t cap)
{
  json_error_t je;
  json_t *doc = json_loads(text, 0, &je);
  if (!doc) {
    snprintf(err, cap, "test JSON: %s", je.text);
    return -999;
  }
  int rc = policy_spec_parse(doc, SUB, s, err, cap);
  json_decref(doc);
  return rc;
}

static void full_document(void **state)
{
  (void)state;
  struct policy_spec s;
  char err[512];
  int rc = parse(full, &s, err, sizeof err);
  CHECK(rc == 0, "the full document parses (%s)", err);
  if (rc != 0)
    return;
  CHECK(s.nvm_ids == 2 && !strcmp(s.vm_ids[1], VM("vm2")), "two VMs, as written");
  CHECK(s.ntags == 1 && !strcmp(s.tags[0].name, "backup") && !strcmp(s.tags[0].value, "gold"), "the tag selector");
  CHECK(s.nschedules == 2, "two schedules");
  CHECK(!strcmp(tz_name(s.zone), "Europe/Berlin"), "the zone");
  CHECK(s.application_consistent, "application consistent");
  CHECK(s.nexclude_disks == 1, "one excluded disk");
  CHECK(s.retention.last == 6 && s.retention.daily == 7 && s.retention.hourly == 0, "retention");
  CHECK(s.ncopies == 1 && !strcmp(s.copies[0].region, "westus") && !strcmp(s.copies[0].retention.within, "P30D"),
        "a copy with its own retention");
  CHECK(s.lock_s == 7 * 86400 && s.lock_compliance, "a 7-day Compliance lock");
  CHECK(s.spread_s == 300 && s.rpo_target_s == 8 * 3600, "spread window and RPO target");
  CHECK(s.nwebhooks == 1 && s.secret && !strcmp(s.secret, SECRET), "webhook and secret");
  CHECK(policy_spec_next_slot(&s, 1796612400) > 1796612400, "a next slot");
  policy_spec_clear(&s);
}

static void defaults(void **state)
{
  (void)state;
  struct policy_spec s;
  char err[512];
  int rc = parse("{\"virtualMachines\": [\"" VM("vm1") "\"], \"schedules\": [\"R/2026-12-07T00:00:00Z/PT4H\"],"
                 " \"retention\": {\"keepLast\": 1}, \"notifications\": {\"webhooks\": [\"https://h.example/x\"]}}",
                 &s, err, sizeof err);
  CHECK(rc == 0, "a minimal document, notifications without a secret (as stored) (%s)", err);
  if (rc != 0)
    return;
  CHECK(!strcmp(tz_name(s.zone), "UTC"), "zone UTC by default");
  CHECK(!s.application_consistent && s.lock_s == 0 && s.ncopies == 0 && !s.secret, "crash consistent, no lock");
  CHECK(s.spread_s == 600, "spread: min(PT4H / 4, PT10M) = PT10M (%lld)", (long long)s.spread_s);
  CHECK(s.rpo_target_s == 8 * 3600, "RPO target: twice the period (%lld)", (long long)s.rpo_target_s);
  policy_spec_clear(&s);
  rc = parse("{\"vmTagSelector\": {\"a\": \"b\"}, \"schedules\": [\"R/2026-12-07T00:00:00Z/PT20M\"],"
             " \"retention\": {\"keepLast\": 1}}", &s, err, sizeof err);
  CHECK(rc == 0 && s.spread_s == 300 && s.nvm_ids == 0, "a tag selector alone; spread PT20M / 4 = 5 min (%s)", err);
  if (rc == 0)
    policy_spec_clear(&s);
}

/* Replaces member `name` of the full document's properties with value (JSON
 * text; NULL deletes it) and expects a refusal starting with path. */
static void refused(const char *name, const char *value, const char *path)
{
  json_t *doc = json_loads(full, 0, NULL);
  if (value)
    json_object_set_new(doc, name, json_loads(value, JSON_DECODE_ANY, NULL));
  else
    json_object_del(doc, name);
  struct policy_spec s;
  char err[512];
  int rc = policy_spec_parse(doc, SUB, &s, err, sizeof err);
  bool empty = s.nvm_ids == 0 && !s.vm_ids && !s.zone && s.nschedules == 0 && s.ncopies == 0 && !s.secret;
  CHECK(rc == -EINVAL && !strncmp(err, path, strlen(path)) && empty, "%s = %s: %s", name, value ? value : "(none)",
        err);
  if (rc == 0)
    policy_spec_clear(&s);
  json_decref(doc);
}

static void bad_members(void **state)
{
  (void)state;
  refused("retension", "{}", "properties.retension: unknown member");
  refused("virtualMachines", "\"" VM("vm1") "\"", "properties.virtualMachines: must be an array");
  refused("virtualMachines", "[1]", "properties.virtualMachines[0]: must be a string");
  refused("virtualMachines", "[\"vm1\"]", "properties.virtualMachines[0]: 'vm1' is not a virtual machine id");
  refused("virtualMachines", "[\"/subscriptions/" SUB "/resourceGroups/g/providers/Microsoft.Compute/disks/d\"]",
          "properties.virtualMachines[0]");
  refused("virtualMachines", "[\"/subscriptions/other/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v\"]",
          "properties.virtualMachines[0]: the virtual machine");
  refused("virtualMachines", "[\"" VM("vm1") "/extensions/x\"]", "properties.virtualMachines[0]");
  refused("virtualMachines", "[\"/subscriptions/" SUB "/resourceGroups/g./providers/Microsoft.Compute/virtualMachines/v\"]",
          "properties.virtualMachines[0]: 'g.'");
  refused("virtualMachines", "[\"" VM("-v") "\"]", "properties.virtualMachines[0]: '-v'");
  refused("virtualMachines", "[\"" VM("vm1") "\", \"" VM("VM1") "\"]", "properties.virtualMachines[1]: ");
  refused("vmTagSelector", "{\"a\": 1}", "properties.vmTagSelector.a: must be a string");
  refused("vmTagSelector", "[]", "properties.vmTagSelector: must be an object");
  refused("schedules", "[]", "properties.schedules: required");
  refused("schedules", NULL, "properties.schedules: required");
  refused("schedules", "[1]", "properties.schedules[0]: must be a string");
  refused("schedules", "[\"R/yesterday/PT1H\"]", "properties.schedules[0]");
  refused("schedules", "[\"R/2026-12-07T00:00:00Z/PT1S\"]", "properties.schedules[0]");
  refused("schedules", "[{\"scheduleRunFrequency\": \"Hourly\", \"scheduleRunTimes\": [\"02:00\"]}]",
          "properties.schedules[0]");
  refused("timeZone", "\"Mars/Base\"", "properties.timeZone: there is no time zone");
  refused("timeZone", "\"/etc/passwd\"", "properties.timeZone: '/etc/passwd' is not a valid");
  refused("timeZone", "5", "properties.timeZone: must be a string");
  refused("consistencyMode", "\"Fuzzy\"", "properties.consistencyMode: 'Fuzzy'");
  refused("excludeDisks", "[\"" VM("vm1") "\"]", "properties.excludeDisks[0]");
  refused("retention", NULL, "properties.retention: required");
  refused("retention", "{}", "properties.retention");
  refused("retention", "{\"keepDaily\": 0}", "properties.retention");
  refused("retention", "{\"keepDialy\": 3}", "properties.retention");
  refused("retention", "{\"keepWithin\": \"a week\"}", "properties.retention");
  refused("copies", "{}", "properties.copies: must be an array");
  refused("copies", "[\"westus\"]", "properties.copies[0]: must be an object");
  refused("copies", "[{\"retention\": {\"keepLast\": 1}}]", "properties.copies[0].region: required");
  refused("copies", "[{\"region\": \"westus\"}]", "properties.copies[0].retention: required");
  refused("copies", "[{\"region\": \"westus\", \"retention\": {\"keepLast\": 1}, \"x\": 1}]",
          "properties.copies[0].x: unknown member");
  refused("copies", "[{\"region\": \"w\", \"retention\": {\"keepLast\": 1}}, {\"region\": \"W\", \"retention\": "
          "{\"keepLast\": 1}}]", "properties.copies[1].region: 'W' is named twice");
  refused("retentionLock", "{\"mode\": \"Governance\"}", "properties.retentionLock.duration: required");
  refused("retentionLock", "{\"duration\": \"P7D\", \"mode\": \"Strict\"}", "properties.retentionLock.mode");
  refused("retentionLock", "{\"duration\": \"7 days\"}", "properties.retentionLock.duration");
  refused("retentionLock", "{\"duration\": \"P7D\", \"until\": 1}", "properties.retentionLock.until: unknown");
  refused("spreadWindow", "\"PT4H\"", "properties.spreadWindow: 'PT4H' is not shorter");
  refused("spreadWindow", "\"5m\"", "properties.spreadWindow");
  refused("rpoTarget", "\"PT0S\"", "properties.rpoTarget");
  refused("notifications", "{\"webhooks\": [\"http://h.example/x\"], \"secret\": \"" SECRET "\"}",
          "properties.notifications.webhooks[0]");
  refused("notifications", "{\"webhooks\": [\"https://\"], \"secret\": \"" SECRET "\"}",
          "properties.notifications.webhooks[0]");
  refused("notifications", "{\"webhooks\": [\"https://h.example/a b\"], \"secret\": \"" SECRET "\"}",
          "properties.notifications.webhooks[0]");
  refused("notifications", "{\"webhooks\": [], \"secret\": \"" SECRET "\"}", "properties.notifications.webhooks");
  refused("notifications", "{\"webhooks\": [\"https://h.example/x\"], \"secret\": \"short\"}",
          "properties.notifications.secret: 5 characters");
  refused("notifications", "{\"webhooks\": [\"https://h.example/x\"], \"secret\": 5}",
          "properties.notifications.secret: must be a string");
  refused("notifications", "{\"webhooks\": [\"https://h.example/x\"], \"secretSet\": true}",
          "properties.notifications.secretSet: unknown member");
}

/* A JSON array of n strings, the i-th pre, i (width digits), post. */
static char *array_of(int n, const char *pre, int width, const char *post)
{
  size_t cap = (size_t)n * 160 + 4, len = 0;
  char *s = malloc(cap);
  len += (size_t)snprintf(s, cap, "[");
  for (int i = 0; i < n; i++) {
    len += (size_t)snprintf(s + len, cap - len, "%s\"", i ? "," : "");
    len += (size_t)snprintf(s + len, cap - len, "%s%0*d%s\"", pre, width, i, post);
  }
  snprintf(s + len, cap - len, "]");
  return s;
}

static void limits(void **state)
{
  (void)state;
  char *vms = array_of(POLICY_MAX_VMS, VM("v"), 1, "");
  json_t *doc = json_loads(full, 0, NULL);
  json_object_set_new(doc, "virtualMachines", json_loads(vms, 0, NULL));
  struct policy_spec s;
  char err[512];
  int rc = policy_spec_parse(doc, SUB, &s, err, sizeof err);
  CHECK(rc == 0 && s.nvm_ids == POLICY_MAX_VMS, "%d VMs: the limit is accepted (%s)", POLICY_MAX_VMS, err);
  if (rc == 0)
    policy_spec_clear(&s);
  json_decref(doc);
  free(vms);
  vms = array_of(POLICY_MAX_VMS + 1, VM("v"), 1, "");
  refused("virtualMachines", vms, "properties.virtualMachines: 4097 items; at most 4096");
  free(vms);
  char *disks = array_of(POLICY_MAX_EXCLUDE_DISKS + 1, DISK("d"), 1, "");
  refused("excludeDisks", disks, "properties.excludeDisks: 257 items");
  free(disks);
  char *sched = array_of(POLICY_MAX_SCHEDULES + 1, "R/2026-12-07T00:", 2, ":00Z/PT1H");
  refused("schedules", sched, "properties.schedules: 9 items");
  free(sched);
  char *hooks = array_of(POLICY_MAX_WEBHOOKS + 1, "https://h.example/", 1, "");
  char n[1024];
  snprintf(n, sizeof n, "{\"webhooks\": %s, \"secret\": \"" SECRET "\"}", hooks);
  refused("notifications", n, "properties.notifications.webhooks: 5 items");
  free(hooks);
  refused("copies", "[{\"region\":\"a\",\"retention\":{\"keepLast\":1}},{\"region\":\"b\",\"retention\":{\"keepLast\":1}},"
          "{\"region\":\"c\",\"retention\":{\"keepLast\":1}},{\"region\":\"d\",\"retention\":{\"keepLast\":1}},"
          "{\"region\":\"e\",\"retention\":{\"keepLast\":1}}]", "properties.copies: 5 items");
  rc = policy_spec_parse(NULL, SUB, &s, err, sizeof err);
  CHECK(rc == -EINVAL && !strncmp(err, "properties: required", 20), "no properties: %s", err);
  json_t *arr = json_array();
  rc = policy_spec_parse(arr, SUB, &s, err, sizeof err);
  CHECK(rc == -EINVAL && !strncmp(err, "properties: required", 20), "properties an array: %s", err);
  json_decref(arr);
}

int main(void)
{
  const struct CMUnitTest tests[] = {UNIT_TEST(full_document), UNIT_TEST(defaults), UNIT_TEST(bad_members),
                                     UNIT_TEST(limits)};
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
