/*
 * region.c — the region's domain calls, driven directly (no HTTP, no JSON
 * parsing of ours): a VM's disks resolved from its row, two restore points
 * captured through fence → record → queue → run (the second incremental on
 * the first), an image's tree held against GC across the image's deletion
 * and a GC, restored byte for byte from the hold, collected by the next GC
 * once the hold ends, the region reopened with its images intact, and the
 * admission of the VM's next restore point: the consistency its power state
 * allows, one in flight, the per-VM count and the minimum interval; SAS
 * grants: extended with the same URL, the per-family limit, verification of
 * every part of a URL, revocation, a key that survives a reopen and a
 * rotation that revokes everything; a GC asked for during a verify waits
 * for it, so a restore point deleted meanwhile is not reported missing.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/failpoint.h"
#include "region/internal.h"
#include "vol/vol.h"

#define SIZE (4u << 20)
#define SUB "/subscriptions/s1/resourceGroups/g/providers/Microsoft.Compute"
#define DISK SUB "/disks/d1"
#define DISK_NOVOL SUB "/disks/d2"
#define DISK_RESTORED SUB "/disks/d3"
#define VM SUB "/virtualMachines/vm1"
#define RPC SUB "/restorePointCollections/c"
#define RP_TYPE "Microsoft.Compute/restorePointCollections/restorePoints"
#define DRP_TYPE RP_TYPE "/diskRestorePoints"

static char dir[] = "/tmp/vmrp-region-test.XXXXXX";
static struct meta *m;
static struct region *rg;
static unsigned char *img1, *img2; /* the disk as of each restore point */

static void put_row(const char *id, const char *type, const char *parent, const char *props, const char *state)
{
  struct meta_resource r = {.id = strdup(id), .type = strdup(type), .name = strdup(strrchr(id, '/') + 1),
                            .parent_id = strdup(parent), .properties = props ? strdup(props) : NULL,
                            .provisioning_state = strdup(state)};
  assert_int_equal(meta_resource_put(m, &r, NULL, 0, NULL), 0);
  meta_resource_clear(&r);
}

static char *state_of(const char *id)
{
  struct meta_resource r;
  if (meta_resource_get(m, id, &r) < 0)
    return strdup("(none)");
  char *s = strdup(r.provisioning_state ? r.provisioning_state : "(null)");
  meta_resource_clear(&r);
  return s;
}

static int max_per_vm, min_interval_s; /* the restore point rules of the next open */

static void open_region(void)
{
  char path[256];
  snprintf(path, sizeof path, "%s/meta.db", dir);
  assert_int_equal(meta_open(path, &m), 0);
  struct region_config cfg = {.data_dir = dir, .chunk_size = 65536, .location = "eastus",
                              .rp_max_per_vm = max_per_vm, .rp_min_interval_s = min_interval_s,
                              .sas_url = "https://dp.test", .sas_max_grants = 2};
  assert_int_equal(region_open(&cfg, m, &rg), 0);
}

static void close_region(void)
{
  region_close(rg);
  meta_close(m);
}

static void no_progress(void *ctx, double percent)
{
  (void)ctx;
  assert_true(percent >= 0 && percent <= 100);
}

static char vol_id[40];

/* Takes restore point rp of the VM's one available disk: its image drp. */
static void take_restore_point(const char *rp, const char *drp, const char *op)
{
  struct region_vm_disk *d;
  int n;
  assert_int_equal(region_vm_disks(rg, VM, &d, &n), 0);
  const char *vols[1];
  int k = 0;
  for (int i = 0; i < n; i++)
    if (d[i].available)
      vols[k++] = d[i].vol_id;
  assert_int_equal(k, 1);
  struct region_capture *c;
  struct region_fence_report rep;
  assert_int_equal(region_capture_fence(rg, vols, 1, NULL, &c, &rep), 0);
  put_row(rp, RP_TYPE, RPC, "{}", "Creating");
  put_row(drp, DRP_TYPE, rp, "{}", "Creating");
  assert_int_equal(meta_begin(m), 0);
  assert_int_equal(region_capture_record(rg, c, 0, drp, rp, DISK), 0);
  assert_int_equal(meta_commit(m), 0);
  assert_int_equal(region_capture_queue(rg, c, op, rp), 0);
  region_vm_disks_free(d, n);
  assert_int_equal(region_capture_run(rg, op, no_progress, NULL), 0);
  char *st = state_of(rp);
  assert_string_equal(st, "Succeeded");
  free(st);
}

static void vm_disks_and_captures(void **state)
{
  (void)state;
  put_row(RPC, "Microsoft.Compute/restorePointCollections", SUB, "{\"source\":{\"id\":\"" VM "\"}}",
          "Succeeded");
  put_row(DISK, "Microsoft.Compute/disks", SUB, "{}", "Succeeded");
  put_row(DISK_NOVOL, "Microsoft.Compute/disks", SUB, "{}", "Succeeded");
  assert_int_equal(region_volume_create(rg, DISK, SIZE, NULL, NULL, vol_id), 0);
  put_row(VM, "Microsoft.Compute/virtualMachines", SUB,
          "{\"storageProfile\":{\"osDisk\":{\"managedDisk\":{\"id\":\"" DISK "\"}},"
          "\"dataDisks\":[{\"lun\":4,\"managedDisk\":{\"id\":\"" DISK_NOVOL "\"}}]}}",
          "Succeeded");
  struct region_vm_disk *d;
  int n;
  assert_int_equal(region_vm_disks(rg, VM, &d, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(d[0].disk_id, DISK);
  assert_int_equal(d[0].lun, -1);
  assert_string_equal(d[0].vol_id, vol_id);
  assert_true(d[0].available);
  assert_string_equal(d[1].disk_id, DISK_NOVOL);
  assert_int_equal(d[1].lun, 4);
  assert_string_equal(d[1].vol_id, "");
  assert_false(d[1].available); /* no volume: it cannot be fenced */
  region_vm_disks_free(d, n);
  assert_int_equal(region_vm_disks(rg, SUB "/virtualMachines/none", &d, &n), 0);
  assert_int_equal(n, 0);
  region_vm_disks_free(d, n);

  /* restore point 1: 1 MiB of data, the rest never written */
  struct volume *v = region_volume_find(rg, vol_id);
  assert_non_null(v);
  img1 = calloc(1, SIZE);
  img2 = calloc(1, SIZE);
  for (size_t i = 0; i < (1u << 20); i++)
    img1[i] = (unsigned char)(i * 2654435761u >> 13);
  assert_int_equal(vol_pwrite(v, img1, 1u << 20, 0, 0), 0);
  assert_int_equal(vol_flush(v), 0);
  take_restore_point(RPC "/restorePoints/rp1", RPC "/restorePoints/rp1/diskRestorePoints/d1_a", "op1");
  /* restore point 2: the data rewritten with one byte value (16 chunks that
   * compress to almost nothing, so the first tree's data is most of its pack) */
  memset(img2, 0x5a, 1u << 20);
  assert_int_equal(vol_pwrite(v, img2, 1u << 20, 0, 0), 0);
  assert_int_equal(vol_flush(v), 0);
  take_restore_point(RPC "/restorePoints/rp2", RPC "/restorePoints/rp2/diskRestorePoints/d1_b", "op2");

  struct meta_image im;
  assert_int_equal(region_image_get(rg, RPC "/restorePoints/rp2/diskRestorePoints/d1_b", &im), 0);
  assert_int_equal(im.state, IMAGE_READY);
  assert_int_equal(im.size, SIZE);
  assert_string_equal(im.volume_id, vol_id);
  assert_non_null(im.previous_id); /* incremental on the first */
  assert_string_equal(im.previous_id, RPC "/restorePoints/rp1/diskRestorePoints/d1_a");
  assert_true(im.chunks_read >= 16 && im.chunks_read <= 17); /* the changed chunks, not the disk */
  meta_image_clear(&im);
  assert_int_equal(region_image_get(rg, RPC "/restorePoints/none/diskRestorePoints/x", &im), -ENOENT);
  char *base = region_capture_base_image(rg, vol_id);
  assert_string_equal(base, RPC "/restorePoints/rp2/diskRestorePoints/d1_b");
  free(base);
}

static void compare_volume(const char *id, const unsigned char *want)
{
  struct volume *v = region_volume_find(rg, id);
  assert_non_null(v);
  unsigned char *got = malloc(SIZE);
  assert_int_equal(vol_pread(v, got, SIZE, 0), 0);
  assert_memory_equal(got, want, SIZE);
  free(got);
}

/* Files of the volume id left in <dir>/volumes. */
static int volume_files(const char *id)
{
  char p[512];
  snprintf(p, sizeof p, "%s/volumes", dir);
  DIR *d = opendir(p);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += strncmp(e->d_name, id, strlen(id)) == 0;
  closedir(d);
  return n;
}

static void hold_survives_delete(void **state)
{
  (void)state;
  const char *drp1 = RPC "/restorePoints/rp1/diskRestorePoints/d1_a";
  char root[65], again[65];
  uint64_t size;
  struct region_hold *h;
  assert_int_equal(region_image_hold(rg, drp1, root, &size, &h), 0);
  assert_int_equal(size, SIZE);
  assert_int_equal(region_image_source(rg, drp1, again, &size), 0);
  assert_string_equal(root, again);
  assert_int_equal(region_image_delete(rg, drp1), 0);
  struct region_hold *h2;
  assert_int_equal(region_image_hold(rg, drp1, again, &size, &h2), -ENOENT);
  struct region_gc_stats gs;
  assert_int_equal(region_store_gc(rg, &gs), 0);
  /* the held tree is intact: a disk restored from it reads as restore point 1 */
  put_row(DISK_RESTORED, "Microsoft.Compute/disks", SUB, "{}", "Creating");
  struct region_restore_source src = {.root = root, .size = SIZE, .image_id = drp1};
  char restored[40];
  assert_int_equal(region_volume_create(rg, DISK_RESTORED, SIZE, &src, NULL, restored), 0);
  compare_volume(restored, img1);
  /* what a crash inside write_file_atomic leaves beside a volume (the crash
   * loop found a <id>.src.tmp after everything was deleted) goes with it */
  static const char *const leftovers[] = {"src.tmp", "hyd.tmp", "cbt.tmp"};
  char p[512];
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/volumes/%s.%s", dir, restored, leftovers[i]);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
  }
  assert_int_equal(region_volume_destroy(rg, restored), 0);
  assert_int_equal(volume_files(restored), 0);
  region_image_unhold(rg, h);
  /* the hold was all that kept the first tree: now the GC takes its data */
  assert_int_equal(region_store_gc(rg, &gs), 0);
  assert_true(gs.dead_objects >= 16);
}

static void reopen_keeps_images(void **state)
{
  (void)state;
  close_region();
  open_region();
  const char *drp2 = RPC "/restorePoints/rp2/diskRestorePoints/d1_b";
  char root[65];
  uint64_t size;
  assert_int_equal(region_image_source(rg, drp2, root, &size), 0);
  compare_volume(vol_id, img2);
  struct region_restore_source src = {.root = root, .size = size, .image_id = drp2};
  char restored[40];
  assert_int_equal(region_volume_create(rg, DISK_RESTORED, SIZE, &src, NULL, restored), 0);
  compare_volume(restored, img2);
  struct region_verify_report rep;
  assert_int_equal(region_store_verify(rg, NULL, NULL, &rep), 0);
  assert_int_equal(rep.n_damaged, 0);
  region_verify_report_free(&rep);
}

static void put_vm(const char *extra)
{
  struct meta_resource r;
  assert_int_equal(meta_resource_get(m, VM, &r), 0);
  free(r.extra);
  r.extra = strdup(extra);
  assert_int_equal(meta_resource_put(m, &r, NULL, 0, NULL), 0);
  meta_resource_clear(&r);
}

static struct region_rp_admission admit(const enum region_consistency *asked)
{
  struct region_rp_admission a;
  assert_int_equal(region_rp_admit(rg, VM, asked, &a), 0);
  return a;
}

/* The VM has two restore points by now: rp1 (its disk restore point deleted
 * by hold_survives_delete, the restore point kept) and rp2. */
static void admission_rules(void **state)
{
  (void)state;
  const enum region_consistency app = RP_APPLICATION_CONSISTENT, fs = RP_FILESYSTEM_CONSISTENT,
                                crash = RP_CRASH_CONSISTENT;
  struct region_rp_admission a = admit(NULL);
  assert_int_equal(a.refusal, RP_ADMITTED);
  assert_int_equal(a.mode, RP_CRASH_CONSISTENT); /* running, no agent: the best is crash consistent */
  assert_int_equal(admit(&app).refusal, RP_NEEDS_AGENT);
  assert_int_equal(admit(&fs).refusal, RP_NEEDS_AGENT);
  assert_int_equal(admit(&crash).mode, RP_CRASH_CONSISTENT);
  put_vm("{\"powerState\":\"deallocated\"}");
  a = admit(NULL);
  assert_int_equal(a.refusal, RP_ADMITTED);
  assert_int_equal(a.mode, RP_APPLICATION_CONSISTENT); /* at rest: consistent without the guest */
  assert_int_equal(admit(&app).mode, RP_APPLICATION_CONSISTENT);
  assert_int_equal(admit(&crash).mode, RP_CRASH_CONSISTENT); /* what was asked is what is achieved */
  put_vm("{\"powerState\":\"running\"}");
  struct region_rp_admission none;
  assert_int_equal(region_rp_admit(rg, SUB "/virtualMachines/none", NULL, &none), -ENOENT);
  /* one still being created */
  put_row(RPC "/restorePoints/rp3", RP_TYPE, RPC, "{}", "Creating");
  assert_int_equal(admit(NULL).refusal, RP_IN_FLIGHT);
  assert_int_equal(meta_resource_delete(m, RPC "/restorePoints/rp3"), 0);
  /* the count: a limit of 2 is reached */
  close_region();
  max_per_vm = 2;
  open_region();
  a = admit(NULL);
  assert_int_equal(a.refusal, RP_TOO_MANY);
  assert_int_equal(a.limit, 2);
  /* below a limit of 3, the interval: rp2 was taken seconds ago */
  close_region();
  max_per_vm = 3;
  min_interval_s = 3600;
  open_region();
  a = admit(NULL);
  assert_int_equal(a.refusal, RP_TOO_SOON);
  assert_true(a.retry_after_s > 3500 && a.retry_after_s <= 3600);
  assert_int_equal(a.limit, 3600);
}

/* The parts of a SAS URL, as the data plane splits them (into buf). */
static struct region_sas split(const char *url, char *buf)
{
  strcpy(buf, url + strlen("https://dp.test/"));
  struct region_sas s = {.account = buf};
  char *q = strchr(buf, '?');
  *q++ = '\0';
  char *c = strchr(buf, '/');
  *c++ = '\0';
  *strchr(c, '/') = '\0';
  s.container = c;
  for (char *kv = strtok(q, "&"); kv; kv = strtok(NULL, "&")) {
    char *v = strchr(kv, '=') + 1;
    if (!strncmp(kv, "si=", 3)) s.si = v;
    if (!strncmp(kv, "sp=", 3)) s.sp = v;
    if (!strncmp(kv, "sig=", 4)) s.sig = v;
  }
  return s;
}

static int verify(const char *url)
{
  char buf[512];
  struct region_sas s = split(url, buf);
  struct region_grant_info gi;
  int rc = region_grant_verify(rg, &s, &gi);
  if (rc == 0)
    region_grant_info_clear(&gi);
  return rc;
}

static void grants(void **state)
{
  (void)state;
  struct region_grant a, a2, b, c;
  struct region_grant_request ra = {.resource_id = SUB "/x/drp1", .family = DISK, .access = REGION_READ,
                                    .duration_s = 3600};
  region_set_sas_url(rg, NULL); /* no data plane: no grant */
  assert_int_equal(region_grant_begin(rg, &ra, &a), -ENOTSUP);
  region_set_sas_url(rg, "https://dp.test");
  assert_int_equal(region_grant_begin(rg, &ra, &a), 0);
  assert_false(a.extended);
  assert_non_null(strstr(a.url, "https://dp.test/md-"));
  assert_int_equal(verify(a.url), 0);
  ra.duration_s = 60; /* shorter: the expiry never moves earlier */
  assert_int_equal(region_grant_begin(rg, &ra, &a2), 0);
  assert_true(a2.extended);
  assert_string_equal(a2.url, a.url);
  assert_int_equal(a2.expires_us, a.expires_us);
  region_grant_clear(&a2);
  ra.duration_s = 7200;
  assert_int_equal(region_grant_begin(rg, &ra, &a2), 0);
  assert_string_equal(a2.url, a.url);
  assert_true(a2.expires_us > a.expires_us);
  region_grant_clear(&a2);
  struct region_grant_request rb = ra, rc = ra;
  rb.resource_id = SUB "/x/drp2";
  rc.resource_id = SUB "/x/drp3";
  assert_int_equal(region_grant_begin(rg, &rb, &b), 0);
  assert_int_equal(region_grant_begin(rg, &rc, &c), -EDQUOT); /* 2 per family in this configuration */
  rc.family = DISK_NOVOL;
  assert_int_equal(region_grant_begin(rg, &rc, &c), 0); /* another family */
  region_grant_clear(&c);
  /* Every part of the URL is checked: signature, permission, container, account. */
  char buf[512], sig[64];
  struct region_sas s = split(a.url, buf);
  struct region_grant_info gi;
  snprintf(sig, sizeof sig, "%s", s.sig);
  sig[3] = sig[3] == 'A' ? 'B' : 'A';
  struct region_sas bad = s;
  bad.sig = sig;
  assert_int_equal(region_grant_verify(rg, &bad, &gi), -EACCES);
  bad = s, bad.sp = "rw";
  assert_int_equal(region_grant_verify(rg, &bad, &gi), -EACCES);
  struct region_sas other = split(b.url, buf + 256);
  bad = s, bad.container = other.container;
  assert_int_equal(region_grant_verify(rg, &bad, &gi), -EACCES);
  bad = s, bad.si = other.si; /* b's grant with a's signature */
  assert_int_equal(region_grant_verify(rg, &bad, &gi), -EACCES);
  assert_int_equal(region_grant_verify(rg, &s, &gi), 0);
  assert_string_equal(gi.resource_id, SUB "/x/drp1");
  assert_int_equal(gi.access, REGION_READ);
  region_grant_info_clear(&gi);
  /* Revocation is at once; the key and the other grants survive a reopen. */
  assert_int_equal(region_grant_end(rg, SUB "/x/drp1"), 0);
  assert_int_equal(verify(a.url), -EACCES);
  assert_int_equal(region_grant_active(rg, SUB "/x/drp1", NULL), -ENOENT);
  close_region();
  open_region();
  assert_int_equal(verify(b.url), 0);
  enum region_access acc;
  assert_int_equal(region_grant_active(rg, SUB "/x/drp2", &acc), 0);
  assert_int_equal(acc, REGION_READ);
  /* A rotated key revokes everything. */
  assert_int_equal(region_sas_rotate_key(m), 0);
  assert_int_equal(verify(b.url), -EACCES);
  assert_int_equal(region_grant_active(rg, SUB "/x/drp2", NULL), -ENOENT);
  region_grant_clear(&a);
  region_grant_clear(&b);
}

static void *verify_thread(void *arg)
{
  struct region_verify_report *rep = arg;
  intptr_t rc = region_store_verify(rg, NULL, NULL, rep);
  return (void *)rc;
}

static int verify_paused(const struct failpoint_info *fp, void *arg)
{
  (void)arg;
  return strcmp(fp->site, "region.verify.pause_ms") == 0 && fp->hits > 0;
}

/* The crash loop saw a verify report the objects of a restore point deleted
 * (and collected by a GC) during the verify as missing from an intact store. */
static void verify_waits_for_gc(void **state)
{
  (void)state;
  const char *drp3 = RPC "/restorePoints/rp3/diskRestorePoints/d1_c";
  struct volume *v = region_volume_find(rg, vol_id);
  assert_non_null(v);
  unsigned char *data = malloc(1u << 20);
  uint64_t x = 0x9e3779b97f4a7c15u; /* 16 chunks unlike any other */
  for (size_t i = 0; i < (1u << 20); i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    data[i] = (unsigned char)x;
  }
  assert_int_equal(vol_pwrite(v, data, 1u << 20, 0, 0), 0);
  assert_int_equal(vol_flush(v), 0);
  take_restore_point(RPC "/restorePoints/rp3", drp3, "op3");
  memset(data, 0x33, 1u << 20); /* rp3's chunks now belong to rp3 alone */
  assert_int_equal(vol_pwrite(v, data, 1u << 20, 0, 0), 0);
  assert_int_equal(vol_flush(v), 0);
  take_restore_point(RPC "/restorePoints/rp4", RPC "/restorePoints/rp4/diskRestorePoints/d1_d", "op4");
  free(data);

  assert_int_equal(failpoint_arm("region.verify.pause_ms=300"), 0);
  struct region_verify_report rep;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, verify_thread, &rep), 0);
  while (!failpoint_each(verify_paused, NULL)) /* it has collected its roots */
    usleep(1000);
  assert_int_equal(region_image_delete(rg, drp3), 0);
  struct region_gc_stats gs;
  assert_int_equal(region_store_gc(rg, &gs), 0); /* waits for the verify */
  void *rc;
  assert_int_equal(pthread_join(t, &rc), 0);
  assert_int_equal(failpoint_arm(""), 0);
  assert_int_equal((intptr_t)rc, 0);
  assert_int_equal(rep.n_damaged, 0);
  assert_int_equal(rep.n_affected, 0);
  region_verify_report_free(&rep);
  assert_true(gs.dead_objects >= 16); /* and then took rp3's data */
  assert_int_equal(region_store_verify(rg, NULL, NULL, &rep), 0);
  assert_int_equal(rep.n_damaged, 0);
  region_verify_report_free(&rep);
}

int main(void)
{
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  open_region();
  const struct CMUnitTest tests[] = {cmocka_unit_test(vm_disks_and_captures), cmocka_unit_test(hold_survives_delete),
                                     cmocka_unit_test(reopen_keeps_images), cmocka_unit_test(admission_rules),
                                     cmocka_unit_test(grants), cmocka_unit_test(verify_waits_for_gc)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  close_region();
  free(img1);
  free(img2);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}
