/*
 * failpoint.h — named fault-injection points for tests of the bad days.
 *
 * VMRP_FAILPOINTS="name=value,name2=value2" in the environment arms points at
 * start-up; code asks failpoint_value("jobs.run.delay_ms", 0).  Unarmed points
 * cost one relaxed load.  Never armed in production configurations.
 */
#pragma once
#include <stdint.h>

/* Parses VMRP_FAILPOINTS; call once before threads start. */
void failpoint_init(void);
/* The armed value of a point, or def when it is not armed. */
int64_t failpoint_value(const char *name, int64_t def);
