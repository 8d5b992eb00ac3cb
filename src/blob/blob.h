/*
 * blob.h — the SAS data plane: disk restore points read through
 * Azure-Blob-compatible SAS URLs (what azcopy and @azure/storage-blob use on
 * a managed disk's SAS).
 *
 * Front end of the region (region_grant_verify, region_reader_*), as arm/
 * is: it parses the Blob REST request, checks the SAS, and renders Blob
 * answers and errors (XML, x-ms-error-code).  What it serves per grant is
 * the fixed VHD Azure presents: the disk's bytes and a 512-byte footer
 * computed on the fly (vhd.h).  Operations: HEAD (Get Blob Properties), GET
 * (Get Blob, with Range / x-ms-range), GET comp=pagelist (Get Page Ranges,
 * with marker/maxresults, and the diff against another disk restore
 * point's SAS URL: x-ms-previous-snapshot-url or prevsnapshot).
 *
 * Threads: blob_handle runs on the listener's thread per connection; a
 * streamed body keeps its reader (and the tree's GC hold) until it is sent.
 */
#pragma once
#include "http/server.h"

struct region;
struct meta;

struct blob_plane {
  struct region *region;
  struct meta *meta;
};

/* An http_handler; ctx is a struct blob_plane. */
void blob_handle(void *ctx, const struct http_request *req, struct http_response *resp);
