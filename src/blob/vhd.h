/*
 * vhd.h — the 512-byte footer that makes a disk's bytes a fixed VHD.
 *
 * Azure presents a managed disk through its SAS as a fixed VHD: the disk's
 * bytes followed by this footer, so that tools (qemu-img -f vpc, Hyper-V)
 * see a disk of the right size.  vmrp computes it when it is read, never
 * stores it, and makes it a function of the disk family and size only, so
 * every restore point of one disk ends in the same footer and a diff
 * between two of them never reports the last page as changed.
 */
#pragma once
#include <stdint.h>

#define VHD_FOOTER_LEN 512

/* family: any stable name of the disk (its unique id comes from it). */
void vhd_footer(uint8_t out[VHD_FOOTER_LEN], uint64_t disk_size, const char *family);
