/*
 * crc32c.h — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it, a byte-wise table
 * otherwise; both give identical results.  Pure functions, thread-safe.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) with len bytes; crc32c(0, "123456789", 9) = 0xE3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);
