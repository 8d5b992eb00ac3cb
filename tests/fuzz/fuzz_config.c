/*
 * fuzz_config.c — libFuzzer harness of vmrpd's configuration reader: the
 * input is an INI file (inih's parser, then config.c's sections and keys),
 * read over the defaults and finished the way main.c does it.  An operator's
 * typo must be an error, never a crash, a leak or undefined behaviour.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/config.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_quiet();
  int fd = memfd_create("vmrpd.conf", 0);
  if (fd < 0 || write(fd, data, size) != (ssize_t)size)
    fuzz_die("memfd");
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  struct config c;
  config_defaults(&c);
  if (config_load(&c, path) == 0)
    config_finish(&c);
  config_free(&c);
  close(fd);
  return 0;
}
