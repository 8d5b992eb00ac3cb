/*
 * region.h — the region below the ARM front end: its chunk store, its live
 * volumes and their NBD exports, the captures that become restore points, the
 * images (disk restore points) that restores, exports and data planes read,
 * and the store's GC and verification.
 *
 * Layers (checked by scripts/check-layers, run by scripts/test):
 *
 *     daemon → arm → region → jobs, vol, snap, cas, meta, nbd (export binding), agent, repl
 *              nbd, blob → vol, snap (+ region lookups)      snap → cas     repl → snap, cas
 *
 * The region knows no HTTP and no JSON: resources come in and go out as C
 * values, its records are typed rows (meta: volumes, images, capture bases,
 * failure codes), and the front ends (arm/, the SAS data plane, the peer
 * protocol's endpoints) render them.  Trees are named by their hex roots at
 * this boundary, so no front end handles store types.  A VM's disks come
 * from typed attachment rows (meta), so a peer asking for a capture and the
 * ARM restore point path resolve them by the same rule (vm.c).
 *
 * Ownership: strings returned as char * are malloc'd and the caller's.
 * Threads: every call is thread-safe.
 * Errors: 0 or -errno; -ENOENT no such volume/image/capture, -EBUSY in use
 * or not ready, -ENOSPC the store or the volumes' file system is full,
 * -EIO storage failure (logged where it was first understood).
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "meta/meta.h"
#include "repl/repl.h"

struct region;
struct jobs;
struct nbd_server;
struct keys;

struct region_config {
  const char *data_dir;      /* volumes in <data_dir>/volumes, the stores in <data_dir>/stores */
  const char *store_location; /* the key domains' stores instead: a store location (cas.h) that
                                 names one per domain (cas_location_join); NULL: <data_dir>/stores */
  uint32_t chunk_size;       /* store chunk = changed-block tracking granularity */
  struct nbd_server *nbd;    /* exports disks and images; NULL: nothing is exported */
  const char *nbd_unix;      /* socket path clients use, or NULL */
  const char *nbd_tcp;       /* "host:port" clients use, or NULL */
  const char *location;      /* this region's name (operations it creates) */
  const char *subscription;  /* the subscription its scheduled GC runs under (NULL: none) */
  int gc_interval_s;         /* scheduled store GC; 0: only on demand */
  int key_probe_interval_s;  /* customer keys asked for every this (crypto-erase); 0: only at ARM calls */
  int rp_max_per_vm;         /* restore points per VM (Azure: 500); 0: no limit */
  int rp_min_interval_s;     /* at most one restore point per VM per this; 0: off */
  const char *sas_url;       /* the data plane's base URL, in the SAS URLs it hands out; NULL:
                                no data plane (region_set_sas_url once it listens) */
  int sas_max_grants;        /* active grants per disk family (Azure: 5); 0: 5 */
  const char *agent_socket_dir; /* guest agent sockets must be in it (created at open) */
  int agent_timeout_ms;      /* each guest agent command but the freeze; 0: 3000 */
  int agent_frozen_max_ms;   /* the longest a guest stays frozen for a fence; 0: 10000 */
  struct keys *keys;         /* the deployment's keyring (keys/keys.h), open; NULL: nothing encrypted */
  bool volumes_plain;        /* [encryption] volumes = off: the operator encrypts the device below, so
                                volumes are written plain and claim nothing */
};

/* Opens the store and every volume (finishing creations and deletions a crash
 * interrupted), marks restore points a crash left Creating as Failed
 * (failure code OperationInterrupted) and exports every ready image. */
int region_open(const struct region_config *cfg, struct meta *m, struct region **out);
/* Jobs are started after region_open; the scheduled GC submits to them. */
void region_set_jobs(struct region *r, struct jobs *jobs);
/* Ends captures never run (their chunks stay dirty), removes the exports,
 * closes the volumes (saving their CBT bitmaps and marking them clean). */
void region_close(struct region *r);
/* Sets cfg.sas_url, before the front end hands out grants (the data plane
 * may listen on a port the kernel chose, known only after region_open). */
void region_set_sas_url(struct region *r, const char *url);
/* The NBD URI that opens an export name (a grant's "<id>.<secret>"), or NULL. */
char *region_nbd_uri(struct region *r, const char *export_name, bool tcp);

/* ---- volumes: the live volume behind each disk (volumes.c) ---------------- */

/* A restore's source: a ready image's tree, as region_image_source gave it. */
struct region_restore_source {
  const char *root;     /* hex */
  uint64_t size;
  const char *image_id; /* for logs */
};
/* Creates, opens and exports a volume for disk_id; src (may be NULL) makes it
 * a lazy volume hydrating from that tree (-ENOENT: the tree is gone).
 * domain_hex: the key domain of its key and of its restore points (NULL:
 * the platform domain). */
int region_volume_create(struct region *r, const char *disk_id, uint64_t size,
                         const struct region_restore_source *src, const char *domain_hex, char vol_id[40]);
/* Unexports, closes and deletes a volume with its files; -EBUSY while an NBD
 * client uses it. */
int region_volume_destroy(struct region *r, const char *vol_id);
bool region_volume_in_use(struct region *r, const char *vol_id);
/* The size and the free bytes of the file system where volumes live: 0,
 * or -errno (statvfs). */
int region_volume_fs(struct region *r, uint64_t *size, uint64_t *avail);
int region_volume_grow(struct region *r, const char *vol_id, uint64_t size);
/* Copies src into dst as of a fence of src (taken at once; src stays in use),
 * chunk by chunk, zero chunks left holes, then flushes dst.  progress returns
 * false to stop: -EINTR. */
int region_volume_copy(struct region *r, const char *src_vol, const char *dst_vol,
                       bool (*progress)(void *ctx, double percent), void *ctx);

struct region_volume_info {
  bool cbt_trusted;       /* false after an unclean shutdown */
  bool hydrated;          /* every chunk is in the volume, durably */
  uint64_t hydrate_done, hydrate_total; /* chunks; total 0: hydrated before this start */
  uint64_t allocated;     /* bytes its sparse file occupies */
};
/* -ENOENT: the volume is not open. */
int region_volume_info(struct region *r, const char *vol_id, struct region_volume_info *out);
/* One hydration step of a lazy volume (about a second): 1 complete (its
 * source released), 0 more to do, -ENOENT no such volume, -EBUSY another step
 * runs.  *percent: progress. */
int region_volume_hydrate_step(struct region *r, const char *vol_id, uint64_t budget, double *percent);

/* ---- encryption at rest: what is true of a disk or an image (crypt.c) ----
 * The answer is what the bytes at rest are, never what was asked for: a
 * volume still being converted, or one whose encryption the configuration
 * turned off, is REGION_ENC_NONE. */
enum region_enc { REGION_ENC_NONE, REGION_ENC_PLATFORM, REGION_ENC_CUSTOMER };
struct region_encryption {
  enum region_enc type;
  char domain[33];    /* the key domain's id (hex); "" for none */
};
/* Azure's name of a type ("EncryptionAtRestWithPlatformKey", ...); NULL for
 * none, which Azure has no name for: the property is then left out. */
const char *region_enc_name(enum region_enc type);
/* A disk's volume.  -ENOENT: not open. */
int region_volume_encryption(struct region *r, const char *vol_id, struct region_encryption *out);
/* A disk restore point's data (the store that holds its tree).  -ENOENT. */
int region_image_encryption(struct region *r, const char *image_id, struct region_encryption *out);
struct region_reader;
/* What a reader reads (an image or a disk): whether every byte it serves
 * is encrypted at rest. */
bool region_reader_encrypted(const struct region_reader *rd);

/* ---- the upgrade of what a vmrp from before encryption wrote (upgrade.c) -
 * The trees of its disk restore points move from the plaintext store
 * <data_dir>/store to the platform domain's encrypted store, its volumes
 * are encrypted in place while they serve, then the plaintext store is
 * deleted.  A background job steps it (arm/upgrade.c); every step is
 * crash-safe and the rows say where each tree is, so reads are right
 * throughout and a restart goes on where it stopped. */
struct region_upgrade_progress {
  bool pending;          /* something is left to convert, or the plaintext store to delete */
  bool can_encrypt;      /* the region has an encrypted store to move it to (a platform domain) */
  bool legacy_store;     /* <data_dir>/store exists */
  uint64_t images_done, images_total;   /* disk restore points whose tree is encrypted */
  uint64_t volumes_done, volumes_total; /* ready volumes encrypted */
  uint64_t bytes_done, bytes_total;     /* of the volumes with a key: bytes encrypted */
};
int region_upgrade_progress(struct region *r, struct region_upgrade_progress *out);
/* One step: a disk restore point's (or capture base's) tree moved, or
 * about budget bytes of a volume encrypted, or (nothing else left) the
 * plaintext store deleted.  1 nothing is left, 0 more to do, -EAGAIN
 * waiting (copies into the plaintext store still run, or a client still
 * reads an export of a moved tree from it), -errno.  Steps run one at a
 * time. */
int region_upgrade_step(struct region *r, uint64_t budget);

/* ---- customer key domains: one per disk encryption set (domains.c) --------
 * A disk encryption set's data is in a key domain of its own, wrapped by a
 * customer key in a PKCS#11 token (keys.h names it by URL).  The key errors
 * are keys.h's: -ENOKEY no such key (destroyed), -EKEYREVOKED disabled,
 * -EKEYREJECTED it does not open the domain, -ENODEV no token (or no
 * PKCS#11 module configured), -EINVAL a malformed URL.  Domains are named
 * by their hex ids. */
/* The token label of a key URL: 0 or -EINVAL. */
int region_key_url_token(const char *key_url, char token[33]);
/* Whether the key can wrap and unwrap now. */
int region_cmk_check(struct region *r, const char *key_url);
/* A new domain wrapped by the key. */
int region_domain_create(struct region *r, const char *key_url, char domain[33]);
/* Rotation: the domain re-wrapped by key_url (the key wrapping it now must
 * still open it); its data does not change. */
int region_domain_rewrap(struct region *r, const char *domain, const char *key_url);
/* The URL of the customer key that wraps a domain now, as the keyring says
 * (caller frees; NULL: the master key).  -ENOENT, -ENODEV. */
int region_domain_wrapping(struct region *r, const char *domain, char **key_url);
/* Whether the domain's key opens it now ("": the platform's, always 0).
 * Asks the token: while it answers a key error the domain's disks and
 * images are unreadable (crypto-erase: reads fail, NBD connections to its
 * disks are closed); the first probe that succeeds again gives them back.
 * The region also probes every domain in use each [encryption]
 * key_probe_interval. */
int region_domain_probe(struct region *r, const char *domain);
/* The key domain of a disk's volume, of a disk restore point's data
 * ("": none recorded, from before encryption): 0 or -ENOENT.  Whatever the
 * bytes are (region_volume_encryption says that), the data belongs to it. */
int region_volume_domain(struct region *r, const char *vol_id, char domain[33]);
int region_image_domain(struct region *r, const char *image_id, char domain[33]);
/* Whether domain is a disk encryption set's (not the platform's, not ""). */
bool region_domain_is_customer(struct region *r, const char *domain);
/* 1 while a volume or an image is in the domain, 0 when none is, -errno. */
int region_domain_in_use(struct region *r, const char *domain);
/* Forgets the domain for good (its data, if any were left, is unreadable). */
int region_domain_delete(struct region *r, const char *domain);

/* ---- VMs: the disks a restore point of a VM captures (vm.c) --------------- */

struct region_vm_disk {
  char *disk_id;
  int lun;          /* -1: the OS disk */
  char vol_id[40];  /* its volume, "" when it has none */
  bool available;   /* the disk is Succeeded and its volume open: it can be fenced */
};
/* The disks attached to vm_id (meta attachments), the OS disk first, then the
 * data disks by lun; *n 0 when it has none (or there is no such VM). */
int region_vm_disks(struct region *r, const char *vm_id, struct region_vm_disk **out, int *n);
void region_vm_disks_free(struct region_vm_disk *d, int n);

/* Whether the VM may have a restore point now, and of which consistency.
 * The checks, in this order: the mode asked for is achievable, no restore
 * point of the VM is being created, it has fewer than rp_max_per_vm, the
 * newest is at least rp_min_interval_s old. */
enum region_rp_refusal {
  RP_ADMITTED,
  RP_NEEDS_AGENT,   /* asked for more than crash consistency of a running VM */
  RP_IN_FLIGHT,     /* another restore point of the VM is being created */
  RP_TOO_MANY,      /* rp_max_per_vm reached */
  RP_TOO_SOON,      /* retry_after_s from now */
};
enum region_consistency { RP_CRASH_CONSISTENT, RP_FILESYSTEM_CONSISTENT, RP_APPLICATION_CONSISTENT };
const char *region_consistency_name(enum region_consistency c); /* Azure's spelling */
struct region_rp_admission {
  enum region_rp_refusal refusal;
  enum region_consistency mode; /* what the restore point will be, when admitted */
  bool freeze;                  /* the fence freezes the guest (a running VM, mode beyond crash) */
  bool freeze_required;         /* asked for: no fallback to crash consistency */
  int64_t retry_after_s;        /* RP_TOO_SOON */
  int limit;                    /* RP_TOO_MANY: rp_max_per_vm; RP_TOO_SOON: rp_min_interval_s */
};
/* asked NULL: the best the VM allows (application consistent when stopped or
 * deallocated, or when running with a guest agent configured — the fence
 * falls back to crash consistency if that agent cannot freeze it — else
 * crash consistent).  A mode beyond crash consistency asked of a running VM
 * needs its agent configured (RP_NEEDS_AGENT).  -ENOENT no such VM. */
int region_rp_admit(struct region *r, const char *vm_id, const enum region_consistency *asked,
                    struct region_rp_admission *out);

/* ---- guest agents: a VM's qemu-ga, which freezes its file systems (agent.c) */

/* Whether path may name the guest agent socket of owner_id (a VM id):
 * absolute, inside <agent_socket_dir>/<owner's subscription, lower case>/,
 * no "." or ".." segment, short enough for a unix socket.  -EINVAL with the
 * reason in why. */
int region_agent_socket_check(struct region *r, const char *owner_id, const char *path, char *why, size_t cap);
/* Creates the agent socket folder of a (configured) subscription. */
int region_agent_folder_make(struct region *r, const char *subscription);
struct region_agent_status {
  bool configured;   /* the VM has a QemuGuestAgent extension */
  bool ready;        /* its agent answered */
  bool frozen;       /* its file systems are frozen (now, or for a fence in flight) */
  bool can_freeze;   /* guest-fsfreeze-freeze is enabled in the guest */
  char version[64];  /* the agent's version */
  char message[256]; /* why it is not ready */
};
/* Asks vm_id's agent (guest-info, guest-fsfreeze-status) within the agent
 * timeout; a VM without an extension is not configured. */
int region_agent_status(struct region *r, const char *vm_id, struct region_agent_status *out);

/* ---- captures: fence → image rows → trees → commit (capture.c) ------------ */

/* How a fence is made consistent beyond crash consistency: vm_id's guest is
 * frozen through its agent (freeze → fence → thaw; the capture itself runs
 * after the thaw), at most agent_frozen_max_ms.  A thaw is always sent; a
 * guest a failed thaw or a crash may have left frozen is thawed by the
 * region in the background (and at open) until its agent confirms. */
struct region_quiesce {
  const char *vm_id;   /* NULL: crash consistent, no agent */
  bool required;       /* fail rather than fence unfrozen when the guest cannot be frozen */
};
struct region_fence_report {
  uint64_t stall_ns;     /* the disks' I/O stall at the fence */
  uint64_t frozen_ns;    /* freeze sent → thaw answered; 0 when not frozen */
  bool quiesced;         /* the guest was frozen at the fence and thawed after */
  char agent_error[256]; /* why it was not, when a freeze was asked */
};
struct region_capture;
/* Fences the volumes at once (crash consistent across them; a stall of
 * microseconds), quiesced as q asks (q may be NULL).  -ENOENT a volume is
 * not open, -EBUSY one is being captured or copied (or the guest is being
 * frozen); with q->required: -ENOTCONN the guest's agent is missing or does
 * not answer, -ECANCELED the guest could not be frozen, or thawed in time
 * (rep->agent_error says why).  n may be 0. */
int region_capture_fence(struct region *r, const char *const *vol_ids, int n, const struct region_quiesce *q,
                         struct region_capture **out, struct region_fence_report *rep);
/* The image the next capture of a volume builds on (its capture base), or
 * NULL when the capture will be full. */
char *region_capture_base_image(struct region *r, const char *vol_id);
/* Records disk k of the fence as image image_id of restore point rp_id, in
 * the caller's meta transaction (state Capturing). */
int region_capture_record(struct region *r, struct region_capture *c, int k, const char *image_id,
                          const char *rp_id, const char *disk_id);
/* Hands a recorded capture to the creation operation op_id (the capture is
 * the region's from here on, even on error). */
int region_capture_queue(struct region *r, struct region_capture *c, const char *op_id, const char *rp_id);
/* Ends a fence that was never queued: its chunks stay dirty. */
void region_capture_abort(struct region_capture *c);
/* Runs the queued capture of op_id: builds every disk's tree (incremental
 * from its base, full without one), syncs the store, commits images, restore
 * point (Succeeded) and bases in one transaction, exports the images.
 * -ENOENT: no capture is queued under op_id (lost in a restart).  On any
 * failure the caller marks the restore point Failed
 * (region_restore_point_fail): -ENOSPC, the store's file system is full. */
int region_capture_run(struct region *r, const char *op_id, void (*progress)(void *ctx, double percent),
                       void *ctx);

/* ---- images: disk restore points (images.c) ------------------------------ */

/* The tree of a ready image: 0, -ENOENT no such image, -EBUSY still being
 * captured, or failed. */
int region_image_source(struct region *r, const char *image_id, char root[65], uint64_t *size);
/* The record of an image (its disk, volume, the image it was built on, its
 * state, and its tree once READY); -ENOENT. */
int region_image_get(struct region *r, const char *image_id, struct meta_image *out);
/* Holds a READY image's tree against GC until region_image_unhold, even if
 * the image is deleted meanwhile (a copy or a read in progress); fills root
 * and size.  -ENOENT no such image (or deleted while the hold was taken),
 * -EBUSY not READY. */
struct region_hold;
int region_image_hold(struct region *r, const char *image_id, char root[65], uint64_t *size,
                      struct region_hold **out);
void region_image_unhold(struct region *r, struct region_hold *h);
/* Removes an image: its export (disconnecting readers) first, then its rows.
 * Its tree becomes garbage unless another root reaches it. */
int region_image_delete(struct region *r, const char *image_id);
/* Marks a restore point (and its images not ready) Failed with an ARM error
 * code, e.g. OperationInterrupted. */
int region_restore_point_fail(struct region *r, const char *rp_id, const char *code);

/* ---- copies from another region (copy.c) -------------------------------- */

/* A disk restore point to copy: its image here and the source's tree. */
struct region_copy_disk {
  const char *image_id, *rp_id;
  const char *disk_id;          /* the disk the source captured (in its region) */
  const char *source_id;        /* the source disk restore point */
  const char *source_location;
  const char *root;             /* the source's tree root, hex */
  uint64_t size;
  const char *domain;           /* the key domain of the source's store (hex; "" its legacy store;
                                   NULL not known yet: the platform's until region_copy_set_root) */
};
/* Records the image (state Copying) and its copy row, in the caller's meta
 * transaction.  -EINVAL: a malformed root; "" names none yet (the source is
 * still being captured: region_copy_set_root before the copy runs). */
int region_copy_record(struct region *r, const struct region_copy_disk *d);
/* domain: as region_copy_disk's (NULL: unchanged). */
int region_copy_set_root(struct region *r, const char *image_id, const char *root, uint64_t size,
                         const char *domain);
struct region_copy_opts {
  unsigned streams;             /* concurrent object requests; 0: 4 */
  uint64_t max_bytes_per_s;     /* 0: unlimited */
  void (*progress)(void *ctx, double percent);
  bool (*should_stop)(void *ctx); /* asked at each checkpoint: -EINTR */
  void *ctx;
};
/* Copies (or resumes copying) the image's tree from peer; on 0 the image is
 * READY and exported, and its restore point Succeeded if it was the last
 * image copying.  An image no longer Copying: 0 at once.  Errors as
 * repl_copy_tree's (-EHOSTUNREACH: retry later), -ECANCELED the image was
 * deleted meanwhile, -EAGAIN its tree is not named yet. */
int region_copy_run(struct region *r, const char *image_id, const struct repl_peer *peer,
                    const struct region_copy_opts *o);
/* Records an error on the copy (NULL clears it) and, with attempt, counts a
 * failed run. */
int region_copy_note(struct region *r, const char *image_id, const char *error, bool attempt);
int region_copy_get(struct region *r, const char *image_id, struct meta_image_copy *out);
/* The objects stream a peer asked for (repl.h), over this region's store of
 * key domain (hex, "" or NULL the legacy store).  -EINVAL: a malformed
 * domain or body; -ENOENT: no such store. */
int region_export_open(struct region *r, const char *domain, const void *body, size_t len,
                       struct repl_export **out);

/* ---- reads of an image for a data plane (reads.c) ------------------------ */

/* An open image, its tree held against GC until region_reader_close (even if
 * the image is deleted meanwhile).  One thread at a time per reader.
 * -ENOENT no such image, -EBUSY not ready. */
struct region_reader;
int region_reader_open(struct region *r, const char *image_id, struct region_reader **out);
/* A disk's live volume (an unattached disk's read grant, an Upload disk's
 * write grant); the volume is not destroyed while it is open.  -ENOENT no
 * volume. */
int region_reader_open_disk(struct region *r, const char *disk_id, struct region_reader **out);
bool region_reader_is_disk(const struct region_reader *rd);
/* A disk's: writes and zeroes durably (FUA) before returning; -EROFS for an
 * image. */
int region_reader_write(struct region_reader *rd, const void *buf, size_t len, uint64_t off);
int region_reader_zero(struct region_reader *rd, uint64_t off, uint64_t len);
int region_reader_flush(struct region_reader *rd);
void region_reader_close(struct region_reader *rd);
uint64_t region_reader_size(const struct region_reader *rd);
/* [off, off+len) must lie within the image. */
int region_reader_read(struct region_reader *rd, void *buf, size_t len, uint64_t off);
/* The image's extents from byte `from` on, in order, each allocated (zero
 * false) or reading as zeros; fn returns non-zero to stop (then 1). */
int region_reader_map(struct region_reader *rd, uint64_t from,
                      int (*fn)(void *ctx, uint64_t off, uint64_t len, bool zero), void *ctx);
/* Two images' (-EINVAL for a disk): the ranges of rd that differ from
 * older, from byte `from` on, in order:
 * zero when rd reads zeros there (cleared), else rd holds data there
 * (written).  Cost proportional to the change; any two images of one store
 * (of one chunk size) compare, not only a disk's lineage; images of two
 * stores (key domains) differ everywhere rd holds data or zeros.  As above, 1 when
 * fn stopped it. */
int region_reader_changes(struct region_reader *older, struct region_reader *rd, uint64_t from,
                          int (*fn)(void *ctx, uint64_t off, uint64_t len, bool zero), void *ctx);

/* ---- SAS grants (grants.c) ----------------------------------------------- */

/* A grant lets the data plane read (or, for an Upload disk, write) one disk
 * or disk restore point until it expires or is revoked; the SAS URL names
 * the grant and is signed over it, its resource and its permission. */
enum region_access { REGION_READ = 1, REGION_WRITE = 2 };
struct region_grant_request {
  const char *resource_id;   /* a disk or a disk restore point */
  const char *family;        /* the disk its data is of: sas_max_grants apply per family */
  enum region_access access;
  int64_t duration_s;        /* > 0 */
  bool in_caller_txn;        /* written in the caller's metadata transaction,
                                which the caller commits or rolls back */
};
struct region_grant {
  char id[40];
  char *url;                 /* the SAS URL */
  int64_t expires_us;
  bool extended;             /* the resource's active grant, extended: the same URL */
};
/* Grants access, or extends the active grant of the resource (same URL; the
 * expiry moves later, never earlier).  -EDQUOT: the family has
 * sas_max_grants active grants; -EEXIST: the active grant has the other
 * access; -ENOTSUP: the region serves no data plane.  With in_caller_txn,
 * a check the caller made in its transaction and the grant are one step. */
int region_grant_begin(struct region *r, const struct region_grant_request *req, struct region_grant *out);
void region_grant_clear(struct region_grant *g);
/* Revokes the resource's grants at once (none: 0). */
int region_grant_end(struct region *r, const char *resource_id);
/* 0 and *access when the resource has an active grant, else -ENOENT. */
int region_grant_active(struct region *r, const char *resource_id, enum region_access *access);

/* ---- NBD grants: capabilities that open an export (nbd_access.c) -------- */

#define REGION_NBD_MAX_GRANTS 64 /* per disk or disk restore point */
struct region_nbd_grant_request {
  const char *resource_id;  /* the disk or disk restore point; its row must exist */
  const char *export_name;  /* its export (volume id or image name); must be exported */
  bool readonly;
  int64_t duration_s;       /* 0: never expires */
};
struct region_nbd_grant {
  char id[40];
  char *export_name;        /* "<id>.<secret>": the only copy of the secret */
  int64_t expires_us;       /* 0: never */
};
/* Makes a grant.  -ENOTSUP: no NBD server; -ENOENT: the resource or its
 * export is gone; -EDQUOT: REGION_NBD_MAX_GRANTS already. */
int region_nbd_grant(struct region *r, const struct region_nbd_grant_request *req, struct region_nbd_grant *out);
void region_nbd_grant_clear(struct region_nbd_grant *g); /* wipes the secret */
/* Revokes one grant of resource_id and drops its connections; -ENOENT. */
int region_nbd_revoke(struct region *r, const char *resource_id, const char *id);
/* The grants of resource_id (no secrets: their hashes only), oldest first. */
int region_nbd_grants(struct region *r, const char *resource_id, meta_nbd_grant_cb cb, void *ctx);

/* What a SAS URL presents: its path's account and container, and si, sp,
 * sig from its query. */
struct region_sas {
  const char *account, *container, *si, *sp, *sig;
};
struct region_grant_info {
  char *resource_id;
  enum region_access access;
  int64_t created_us, expires_us;
};
/* 0 when the URL is one this region signed for an active grant; -EACCES for
 * anything else (unknown, expired, revoked, tampered: alike). */
int region_grant_verify(struct region *r, const struct region_sas *sas, struct region_grant_info *out);
void region_grant_info_clear(struct region_grant_info *g);
/* A new signing key; every grant is revoked (its URL stops working).  Works
 * on the metadata alone: beside a running region too. */
int region_sas_rotate_key(struct meta *m);

/* ---- the store: GC and verify (store.c) ---------------------------------- */

struct region_gc_stats {
  uint64_t live_objects, dead_objects, packs_deleted, packs_rewritten, bytes_freed, bytes_copied;
};
/* -EBUSY: another GC runs. */
int region_store_gc(struct region *r, struct region_gc_stats *out);

struct region_damage {
  char address[65];
  char domain[33];        /* the key domain of the store it is in ("" the legacy store) */
  bool missing;           /* else damaged */
};
struct region_verify_report {
  uint64_t objects_checked, bytes_checked, packs_checked, bad_records;
  struct region_damage *damaged;
  size_t n_damaged;
  char **affected;        /* the resources whose trees reach damage */
  size_t n_affected;
  uint32_t *bad_packs;    /* the pack files holding bad records */
  size_t n_bad_packs;
};
int region_store_verify(struct region *r, void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
                        struct region_verify_report *out);
void region_verify_report_free(struct region_verify_report *rep);

/* Verify, then repair from the peers: each damaged or missing object is
 * fetched from the first peer that has it (re-hashed on arrival) and stored
 * over the bad copy, the store synced, the packs that held bad records
 * rewritten without them (a GC pass; deferred while copies run), and the
 * store verified again (after).  repaired[i] names the region it came from. */
struct region_repair_report {
  struct region_verify_report before, after;
  struct region_repaired {
    char address[65];
    const char *from;     /* a peer's name (the caller's string) */
  } *repaired;
  size_t n_repaired;
  bool packs_rewritten;
};
int region_store_repair(struct region *r, const struct repl_peer *peers, int npeers,
                        void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
                        struct region_repair_report *out);
void region_repair_report_free(struct region_repair_report *rep);
