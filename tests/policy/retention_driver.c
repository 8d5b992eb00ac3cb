/*
 * retention_driver.c — retention_apply as a command, for the comparison
 * with the real restic (restic_forget.py): the rules as a policy writes them
 * (retention_parse's JSON, so the reader is exercised too), the zone by name,
 * the items' UTC seconds on stdin, one a line.  Prints one JSON object a
 * line, newest first: {"time": t, "keep": true|false, "reasons": "..."}.
 *
 * Usage: policy-retention-driver ZONE RULES_JSON < times
 * Exit 0; 2 on bad usage, bad rules (the parser's message on stderr), or an
 * unreadable time.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy/retention.h"
#include "policy/tz.h"

int main(int argc, char **argv)
{
  struct tz *zone = NULL;
  struct retention_item *items = NULL;
  size_t n = 0, cap = 0;
  int rc = 2;
  struct retention_rules rules;
  char err[256];
  if (argc != 3) {
    fprintf(stderr, "usage: %s ZONE RULES_JSON < times\n", argv[0]);
    goto out;
  }
  if (tz_load(argv[1], &zone) != 0) {
    fprintf(stderr, "%s: no such zone\n", argv[1]);
    goto out;
  }
  if (retention_parse(argv[2], &rules, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    goto out;
  }
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    char *end;
    errno = 0;
    long long t = strtoll(line, &end, 10);
    if (errno || end == line || (*end && *end != '\n')) {
      fprintf(stderr, "not a time: %s", line);
      goto out;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 256;
      struct retention_item *grown = realloc(items, cap * sizeof *items);
      if (!grown)
        goto out;
      items = grown;
    }
    items[n++] = (struct retention_item){.time = t};
  }
  retention_apply(&rules, zone, items, n);
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_pack("{sI sb ss}", "time", (json_int_t)items[i].time, "keep", items[i].keep, "reasons",
                          items[i].reasons);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
      puts(s);
    free(s);
    json_decref(o);
    if (!s)
      goto out;
  }
  rc = 0;
out:
  free(items);
  tz_free(zone);
  return rc;
}
