/*
 * unit.h — what the cmocka unit tests share: CHECK() prints one TAP-style
 * "ok - ..." or "FAIL - ..." line per check (and keeps going, so every check
 * is reported), a test function fails in cmocka if any of its checks failed,
 * and unit_finish() prints the harness's "N passed, M failed" line.
 */
#pragma once
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

static int unit_passed, unit_failed, unit_failed_at_start;

#define CHECK(cond, ...)                                                                                  \
  do {                                                                                                    \
    if (cond) {                                                                                           \
      unit_passed++;                                                                                      \
      printf("ok - ");                                                                                    \
    } else {                                                                                              \
      unit_failed++;                                                                                      \
      printf("FAIL - (%s:%d: %s) ", __FILE__, __LINE__, #cond);                                           \
    }                                                                                                     \
    printf(__VA_ARGS__);                                                                                  \
    printf("\n");                                                                                         \
    fflush(stdout);                                                                                       \
  } while (0)

static inline int unit_setup(void **state)
{
  (void)state;
  unit_failed_at_start = unit_failed;
  return 0;
}

static inline int unit_teardown(void **state)
{
  (void)state;
  return unit_failed == unit_failed_at_start ? 0 : -1;
}

#define UNIT_TEST(f) cmocka_unit_test_setup_teardown(f, unit_setup, unit_teardown)

static inline int unit_finish(int cmocka_rc)
{
  fflush(stderr);
  printf("%d passed, %d failed\n", unit_passed, unit_failed);
  return cmocka_rc != 0 || unit_failed != 0;
}
