/*
 * names.c — resource name rules, per resource type, with Azure's errors.
 * Names are only ever database keys (files are named by generated ids), but
 * they are still checked so that what Azure refuses, vmrp refuses too.
 */
#include <stdio.h>
#include <string.h>

#include "arm/internal.h"

/* Letters (ASCII or any non-ASCII UTF-8 byte: Azure's \w is Unicode-aware;
 * the router has refused invalid UTF-8), digits and the punctuation a
 * resource group may hold. */
static bool rg_char_ok(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80 ||
         strchr("-_.()", c) != NULL;
}

bool arm_rg_name_valid(const char *name)
{
  size_t n = strlen(name);
  for (size_t i = 0; i < n; i++)
    if (!rg_char_ok((unsigned char)name[i]))
      return false;
  return n > 0 && n <= 90 && name[n - 1] != '.';
}

bool arm_rg_name_ok(struct arm_call *call, const char *name)
{
  size_t n = strlen(name);
  char bad[64] = "";
  size_t nbad = 0;
  for (size_t i = 0; i < n; i++)
    if (!rg_char_ok((unsigned char)name[i]) && nbad + 1 < sizeof bad && !memchr(bad, name[i], nbad))
      bad[nbad++] = name[i];
  bad[nbad] = '\0';
  if (nbad) {
    arm_reply_error(call, 400, "InvalidResourceGroup",
                    "The provided resource group name '%s' has these invalid characters: '%s'. The name can only "
                    "be a letter, digit, '-', '.', '(', ')' or '_'.",
                    name, bad);
    return false;
  }
  if (n == 0 || n > 90 || name[n - 1] == '.') {
    arm_reply_error(call, 400, "InvalidResourceGroup",
                    "The provided resource group name '%s' is invalid. It must be 1 to 90 characters long and "
                    "cannot end with a period.",
                    name);
    return false;
  }
  return true;
}

/* Compute's rule for disks, collections and restore points (Azure's naming
 * rules): 1-max of letters, digits, '_', '-', '.', starting with a letter or
 * digit and ending with a letter, digit or '_' — so ".", "..", "abc." and
 * "-abc" are not names. */
bool arm_compute_name_valid(const char *name, size_t max)
{
  size_t n = strlen(name);
  bool ok = n >= 1 && n <= max;
  for (size_t i = 0; ok && i < n; i++) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    ok = alnum || ((c == '_' || c == '-' || c == '.') && i > 0 && (i < n - 1 || c == '_'));
  }
  return ok;
}

bool arm_rp_name_ok(struct arm_call *call, const char *name, const char *target)
{
  bool ok = arm_compute_name_valid(name, 80);
  if (!ok)
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           "The name '%s' is invalid: use 1 to 80 letters, digits, '_', '-' and '.', starting with a "
                           "letter or digit and ending with a letter, digit or '_'.",
                           name);
  return ok;
}
