/*
 * meta.h — the metadata store: ARM resources, operations, service principals.
 *
 * One database behind a driver seam (driver.h): SQLite by default, a file in
 * WAL mode (readers never block the writer) with synchronous=FULL (sqlite.c),
 * or PostgreSQL 15 (pg.c), which several vmrpd nodes can share.  Either way
 * a call that returned 0 after a write is durable: the log is flushed before
 * COMMIT returns; and writers take turns (one writer at a time, across
 * nodes too).  The files that implement this interface speak only to the
 * statement layer of internal.h.  Every thread
 * gets its own connection, opened lazily and closed when the thread exits
 * (those of threads still running by meta_close()); callers never share a
 * connection.  Resource ids are compared case-insensitively (their
 * lower-cased form is the key) and returned with the casing the creator used.
 *
 * JSON-valued columns (tags, properties, extra, error, result, payload) are
 * opaque text here: meta/ never parses them (one schema migration moved
 * fields out of `extra` with SQLite's json functions).  What the region below
 * ARM needs to know about its resources is in typed tables: volumes, images
 * and capture bases, and each resource's failure_code.
 *
 * Errors: 0 on success, -ENOENT (no such row), -EEXIST (conflict),
 * -ESTALE (ETag precondition failed), -ENOSPC (a write found the file
 * system full: nothing of it was committed), -EPERM (a trigger's rule
 * refused it: deleting a restore point under a retention lock, migration
 * 14), -ENOLCK (this node lost its lease of the region or was fenced:
 * node.c), -EIO (other database failures, logged once; with PostgreSQL also
 * a lost connection, opened again by the next call).
 * All functions are thread-safe.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct meta;

/* target: the SQLite database file (a path, or `sqlite:PATH`), or a
 * PostgreSQL database (a `postgresql://` or `postgres://` URL, or a libpq
 * `key=value` connection string).  Opens it and brings its schema to this
 * build's: 0, -EPROTO (the schema is newer than this build),
 * -EPROTONOSUPPORT (PostgreSQL, in a build without libpq), -EINVAL, -EIO
 * (the database cannot be reached: logged, within connect_timeout). */
int meta_open(const char *target, struct meta **out);
/* The SQLite file a target names, or NULL when it names a server's
 * database.  Points into target. */
const char *meta_target_file(const char *target);
void meta_close(struct meta *m);
/* Whether other processes (nodes of the region) may share the store. */
bool meta_shared(const struct meta *m);

/* Explicit transactions on the calling thread's connection, for callers that
 * must change several rows atomically.  meta_begin takes the write lock
 * (BEGIN IMMEDIATE).  Other meta_* calls made inside join the transaction. */
int meta_begin(struct meta *m);
int meta_commit(struct meta *m);
void meta_rollback(struct meta *m);

/* ---- resources ---------------------------------------------------------- */

struct meta_resource {
  char *id;          /* full ARM id, creator's casing */
  char *type;        /* "Microsoft.Resources/resourceGroups" */
  char *name;
  char *parent_id;   /* id of the parent scope ("/subscriptions/x" for an RG) */
  char *location;    /* may be NULL for proxy resources */
  char *tags;        /* JSON object text or NULL */
  char *properties;  /* JSON object text or NULL */
  char *extra;       /* JSON object of other top-level fields (sku, managedBy...) or NULL */
  char *provisioning_state;
  char *etag;        /* set by meta on every write */
  int64_t created_us, changed_us;
  char *failure_code; /* why provisioning failed (an ARM error code), or NULL */
};

void meta_resource_clear(struct meta_resource *r);

int meta_resource_get(struct meta *m, const char *id, struct meta_resource *out);

enum meta_put_flags {
  META_PUT_IF_MATCH = 1,      /* r->etag must equal the stored etag (or "*": must exist) */
  META_PUT_IF_NONE_MATCH = 2, /* must not exist */
  META_PUT_CREATE_ONLY = 4,   /* -EEXIST if it exists */
};
/* Inserts or replaces a resource.  On update the creator's id casing and the
 * creation time are kept.  A new etag is generated and stored in r->etag.
 * *created (may be NULL) says whether the row was new. */
int meta_resource_put(struct meta *m, struct meta_resource *r, const char *if_match, int flags,
                      bool *created);
int meta_resource_delete(struct meta *m, const char *id);
/* Sets a resource's provisioning state and, when failure_code is not NULL,
 * its failure code (a new etag, as every write).  -ENOENT: no such row. */
int meta_resource_set_state(struct meta *m, const char *id, const char *state, const char *failure_code);

typedef int (*meta_resource_cb)(void *ctx, const struct meta_resource *r);
/* Lists direct children of parent_id of the given type (NULL: any type) in id
 * order, starting after after_id (NULL: from the start), at most limit rows.
 * The callback's non-zero return stops the walk and is returned. */
int meta_resource_list(struct meta *m, const char *parent_id, const char *type, const char *after_id,
                       int limit, meta_resource_cb cb, void *ctx);
/* Like meta_resource_list, over every descendant of prefix_id (not only
 * direct children) of the given type. */
int meta_resource_list_prefix(struct meta *m, const char *prefix_id, const char *type, const char *after_id,
                              int limit, meta_resource_cb cb, void *ctx);
/* Lists every resource of the given type, in id order. */
int meta_resource_list_type(struct meta *m, const char *type, meta_resource_cb cb, void *ctx);
/* Lists every resource whose id lies under prefix_id/ (all descendants),
 * deepest first, so children come before their parents. */
int meta_resource_list_under(struct meta *m, const char *prefix_id, meta_resource_cb cb, void *ctx);

/* ---- operations (long-running operation records) ------------------------ */

enum meta_op_status { OP_IN_PROGRESS, OP_SUCCEEDED, OP_FAILED, OP_CANCELED };
const char *meta_op_status_to_string(enum meta_op_status s);

struct meta_operation {
  char id[40];
  char *subscription;   /* subscription id */
  char *provider;       /* "Microsoft.Compute", "Microsoft.Resources" */
  char *location;
  char *kind;           /* job kind name */
  char *resource_id;
  enum meta_op_status status;
  double percent;
  int64_t start_us, end_us;
  char *error;          /* JSON text {code,message,...} when Failed */
  char *result;         /* JSON text: the final result served at the Location URL */
  char *payload;        /* JSON text: the job's input */
};

void meta_operation_clear(struct meta_operation *op);
/* Inserts a new InProgress operation; op->id must be set. */
int meta_operation_create(struct meta *m, const struct meta_operation *op);
int meta_operation_get(struct meta *m, const char *id, struct meta_operation *out);
int meta_operation_progress(struct meta *m, const char *id, double percent);
/* Ends an operation: status, error and result are stored with the end time. */
int meta_operation_finish(struct meta *m, const char *id, enum meta_op_status status, const char *error,
                          const char *result);
typedef int (*meta_operation_cb)(void *ctx, const struct meta_operation *op);
int meta_operation_list_in_progress(struct meta *m, meta_operation_cb cb, void *ctx);
/* Which InProgress operations a claim takes (N3, operation.c). */
enum meta_claim {
  CLAIM_ANY,     /* all of them: the embedded node, the only process */
  CLAIM_UNOWNED, /* those without an owner (written before owners were kept) */
  CLAIM_MINE,    /* those of this node's earlier incarnations */
  CLAIM_GONE,    /* those of node (NULL: of any node) whose owning incarnation is gone:
                    no longer the node's, its lease run out, or fenced */
};
/* Makes the node that joined through m the owner of the InProgress
 * operations `which` names, of `kind` (NULL: any), and returns their ids
 * (*ids malloc'd, *n of them; none: NULL and 0).  Never takes one from a
 * live incarnation (N3). */
int meta_operation_claim(struct meta *m, enum meta_claim which, const char *node, const char *kind, char (**ids)[40],
                         size_t *n);

/* ---- volumes: the live volume behind each managed disk ------------------- */

enum meta_volume_state {
  VOLUME_CREATING, /* file may be incomplete; removed if the creation fails */
  VOLUME_READY,
  VOLUME_DELETING, /* file may be gone; the row goes last */
};

/* How much of a volume's file is encrypted (vol_crypt_attach). */
enum meta_crypt_state {
  VOLUME_PLAIN,      /* none: a volume from before encryption, or [encryption] volumes = off */
  VOLUME_CONVERTING, /* being encrypted in place (the upgrade) */
  VOLUME_ENCRYPTED,  /* every sector */
};

#define META_KEY_WRAPPED_MAX 128
#define META_DOMAIN_HEX 33 /* a key domain's id: 32 hex digits + NUL */

struct meta_volume {
  char id[40];        /* generated; names the files (never a request name) */
  char *resource_id;  /* the disk's ARM id */
  uint64_t size;
  enum meta_volume_state state;
  bool clean;         /* last shutdown was clean: its CBT bitmap can be trusted */
  int64_t created_us;
  /* its XTS key wrapped by its domain (keys_wrap); len 0: none (plaintext) */
  uint8_t key_wrapped[META_KEY_WRAPPED_MAX];
  size_t key_wrapped_len;
  char domain[META_DOMAIN_HEX]; /* its key domain (hex id); "": none recorded (from before) */
  enum meta_crypt_state crypt_state;
};

void meta_volume_clear(struct meta_volume *v);
int meta_volume_put(struct meta *m, const struct meta_volume *v);
int meta_volume_get(struct meta *m, const char *id, struct meta_volume *out);
int meta_volume_by_resource(struct meta *m, const char *resource_id, struct meta_volume *out);
int meta_volume_delete(struct meta *m, const char *id);
typedef int (*meta_volume_cb)(void *ctx, const struct meta_volume *v);
int meta_volume_list(struct meta *m, meta_volume_cb cb, void *ctx);

/* ---- images: the region's record of each disk restore point ------------ */

/* An image shares its id with its disk restore point resource and goes with
 * it (a trigger deletes it with the row).  A READY image names a durable
 * tree: the root is written only by the commit that makes it READY. */
enum meta_image_state {
  IMAGE_CAPTURING, /* fenced; its tree is being built */
  IMAGE_READY,     /* root, size and the capture's counters are set */
  IMAGE_FAILED,    /* never READY; holds no tree */
  IMAGE_COPYING,   /* its tree is being copied from another region (meta_image_copy) */
};
const char *meta_image_state_to_string(enum meta_image_state s);

struct meta_image {
  char *id;           /* the disk restore point's ARM id */
  char *rp_id;        /* its restore point */
  char *disk_id;      /* the disk it captured */
  char volume_id[40]; /* that disk's volume */
  char *previous_id;  /* the disk's image this one was built on, or NULL */
  enum meta_image_state state;
  char root[65];      /* hex tree root when READY, else "" */
  uint64_t size, chunks_read, bytes_stored;
  int percent;
  char domain[META_DOMAIN_HEX]; /* the key domain whose store holds its tree (hex id);
                                   "": the legacy plaintext store */
};

void meta_image_clear(struct meta_image *im);
int meta_image_put(struct meta *m, const struct meta_image *im);
int meta_image_get(struct meta *m, const char *id, struct meta_image *out);
typedef int (*meta_image_cb)(void *ctx, const struct meta_image *im);
/* The images of rp_id (NULL: every image) in id order. */
int meta_image_list(struct meta *m, const char *rp_id, meta_image_cb cb, void *ctx);

/* A volume's capture base: the tree of its last committed capture, which the
 * next incremental capture starts from.  Keyed by the volume (a generated
 * id), so a disk re-created under the same name never inherits a base; a
 * trigger deletes it with the volume's row. */
struct meta_capture_base {
  char volume_id[40];
  char root[65];
  uint64_t size;
  char *image_id;     /* the image that tree belongs to */
  char domain[META_DOMAIN_HEX]; /* the store that holds it, as meta_image.domain */
};

void meta_capture_base_clear(struct meta_capture_base *b);
int meta_capture_base_put(struct meta *m, const struct meta_capture_base *b);
int meta_capture_base_get(struct meta *m, const char *volume_id, struct meta_capture_base *out);
typedef int (*meta_capture_base_cb)(void *ctx, const struct meta_capture_base *b);
int meta_capture_base_list(struct meta *m, meta_capture_base_cb cb, void *ctx);

/* A disk restore point copied from another region: its source, the tree
 * being copied (the same root address in both stores) and the copy's
 * progress.  covered only grows (the update keeps the larger value), so
 * progress reported from it never goes backwards, even across restarts. */
struct meta_image_copy {
  char *image_id;
  char *source_id;        /* the source disk restore point */
  char *source_location;  /* the region it is in */
  char root[65];
  uint64_t size, covered; /* bytes of the disk, and how many of them are here, durably */
  uint64_t bytes_received, records_received, bytes_stored, refetched;
  int attempts;           /* runs that ended in an error worth retrying */
  char *error;            /* the last error (retrying, or why it failed), or NULL */
  int64_t started_us, changed_us;
};
void meta_image_copy_clear(struct meta_image_copy *c);
/* Inserts the row of a new copy (counters as given). */
int meta_image_copy_put(struct meta *m, const struct meta_image_copy *c);
int meta_image_copy_get(struct meta *m, const char *image_id, struct meta_image_copy *out);
/* Records progress: size, covered (kept if larger), the counters, attempts
 * and error (NULL clears it). */
int meta_image_copy_update(struct meta *m, const struct meta_image_copy *c);
/* Names the tree of a copy recorded before its source existed (a
 * cross-region creation: the source captures first). */
int meta_image_copy_set_root(struct meta *m, const char *image_id, const char *root, uint64_t size);
/* Images being copied (state IMAGE_COPYING), in the region. */
int meta_image_copies_active(struct meta *m, int *n);

/* ---- the upgrade to encryption at rest (upgrade.c) ----------------------- */

/* What is left: images (not Failed) and capture bases whose tree is in the
 * legacy plaintext store (domain NULL), and ready volumes by crypt_state. */
struct meta_upgrade_counts {
  uint64_t images_total, images_legacy, bases_legacy;
  uint64_t volumes_total, volumes_plain, volumes_converting;
};
int meta_upgrade_counts(struct meta *m, struct meta_upgrade_counts *out);
struct meta_upgrade_image {
  char *id;
  char root[65];
  uint64_t size;
};
void meta_upgrade_image_clear(struct meta_upgrade_image *im);
/* The next READY image in the legacy store (those capture bases name
 * first); -ENOENT when none is left. */
int meta_upgrade_next_image(struct meta *m, struct meta_upgrade_image *out);
/* A capture base still naming a legacy tree (its image gone, or it would
 * have moved with it): id its image's, -ENOENT. */
int meta_upgrade_next_base(struct meta *m, struct meta_upgrade_image *out);
/* One transaction: the image's tree is now new_root in the store of domain
 * (hex) — the image row (-ESTALE when it no longer names old_root in the
 * legacy store: deleted meanwhile), the capture bases and its copy row
 * naming old_root. */
int meta_upgrade_image_move(struct meta *m, const char *image_id, const char *old_root, const char *new_root,
                            const char *domain);
/* Legacy capture bases naming old_root name new_root in domain. */
int meta_upgrade_base_move(struct meta *m, const char *old_root, const char *new_root, const char *domain);
/* The next volume being converted (crypt_state converting), -ENOENT. */
int meta_upgrade_next_volume(struct meta *m, char vol_id[40]);
/* Its conversion is complete and durable: crypt_state encrypted. */
int meta_upgrade_volume_encrypted(struct meta *m, const char *vol_id);
/* The ready volumes with a key (converting or encrypted); cb's non-zero
 * return stops the walk. */
int meta_upgrade_volumes(struct meta *m, int (*cb)(void *ctx, const char *vol_id), void *ctx);


/* ---- what the admission of a VM's next restore point reads -------------- */

/* The restore points of a VM: in every collection whose source is vm_id. */
struct meta_vm_restore_points {
  int total;
  bool creating;       /* one is still Creating */
  int64_t newest_us;   /* the newest one's creation time; 0 when none */
};
int meta_vm_restore_points(struct meta *m, const char *vm_id, struct meta_vm_restore_points *out);
/* The VM's power state as its row says ("running", "stopped", ...; "" when
 * unknown); -ENOENT no such row. */
int meta_vm_power_state(struct meta *m, const char *vm_id, char out[32]);

/* ---- guest agents (agent.c) ---------------------------------------------- */

/* The unix socket of vm_id's guest agent: the settings.socket of its
 * Vmrp.QemuGuestAgent extension (the one provisioned, else any); -ENOENT
 * when it has none.  *socket is the caller's. */
int meta_vm_agent_socket(struct meta *m, const char *vm_id, char **socket);
/* A guest that may be frozen: recorded durably before a freeze, deleted
 * once its thaw succeeded, so a restart knows whom to thaw. */
struct meta_agent_freeze {
  char *vm_id;
  char *socket;
  int64_t since_us;
};
int meta_agent_freeze_put(struct meta *m, const char *vm_id, const char *socket, int64_t since_us);
/* Deletes the record of the freeze of vm_id begun at since_us (a newer
 * freeze's record stays). */
int meta_agent_freeze_delete(struct meta *m, const char *vm_id, int64_t since_us);
typedef int (*meta_agent_freeze_cb)(void *ctx, const struct meta_agent_freeze *f);
int meta_agent_freeze_list(struct meta *m, meta_agent_freeze_cb cb, void *ctx);

/* ---- attachments: the disks each VM has attached ------------------------ */

/* Derived from the VM row's storageProfile by triggers in the same statement
 * that writes or deletes the row, so they never disagree with it. */
struct meta_attachment {
  char *vm_id;
  char *disk_id;
  int lun;            /* -1: the OS disk */
};
typedef int (*meta_attachment_cb)(void *ctx, const struct meta_attachment *a);
/* The disks of vm_id, the OS disk first, then the data disks by lun. */
int meta_attachment_list(struct meta *m, const char *vm_id, meta_attachment_cb cb, void *ctx);

/* ---- SAS grants and secrets (grant.c) ----------------------------------- */

/* A grant is the stored access policy a SAS URL names: access to one disk or
 * disk restore point until expires_us.  Queries take the caller's clock and
 * see only grants still active then. */
enum meta_access { META_ACCESS_READ = 1, META_ACCESS_WRITE = 2 };
struct meta_grant {
  char id[40];        /* the URL's si */
  char *resource_id;  /* the disk or disk restore point */
  char *family;       /* the disk whose data it reads: the limit per family */
  int access;         /* enum meta_access */
  int64_t created_us, expires_us;
};
void meta_grant_clear(struct meta_grant *g);
int meta_grant_put(struct meta *m, const struct meta_grant *g);
/* -ENOENT: no such grant, or it expired. */
int meta_grant_get(struct meta *m, const char *id, int64_t now_us, struct meta_grant *out);
/* The active grant of a resource (the oldest), -ENOENT when none. */
int meta_grant_of(struct meta *m, const char *resource_id, int64_t now_us, struct meta_grant *out);
int meta_grant_count_family(struct meta *m, const char *family, int64_t now_us, int *n);
/* Revokes the grants of a resource; NULL: every grant. */
int meta_grant_delete_of(struct meta *m, const char *resource_id);
int meta_grant_purge(struct meta *m, int64_t now_us);
/* Named secrets (keys the region generated): -ENOENT, -EOVERFLOW when cap is
 * too small. */
int meta_secret_get(struct meta *m, const char *name, unsigned char *buf, size_t cap, size_t *len);
int meta_secret_put(struct meta *m, const char *name, const unsigned char *value, size_t len, int64_t now_us);
/* -ENOENT when there is none. */
int meta_secret_delete(struct meta *m, const char *name);

/* ---- NBD grants (nbd_grant.c) -------------------------------------------- */

/* A capability that opens one disk (or disk restore point) over NBD: the
 * client presents "<id>.<secret>"; only the secret's SHA-256 is stored. */
struct meta_nbd_grant {
  char id[40];
  char *resource_id;       /* the disk or disk restore point (ARM id) */
  char *export_name;       /* its NBD export (volume id or image name) */
  bool readonly;
  unsigned char secret_sha256[32];
  int64_t created_us;
  int64_t expires_us;      /* 0: never */
};
typedef int (*meta_nbd_grant_cb)(void *ctx, const struct meta_nbd_grant *g);
void meta_nbd_grant_clear(struct meta_nbd_grant *g);
/* -EEXIST: the id is taken. */
int meta_nbd_grant_put(struct meta *m, const struct meta_nbd_grant *g);
/* The grants of resource_id, oldest first (expired ones too); NULL: all. */
int meta_nbd_grant_list(struct meta *m, const char *resource_id, meta_nbd_grant_cb cb, void *ctx);
int meta_nbd_grant_count(struct meta *m, const char *resource_id, int *n);
/* -ENOENT: resource_id has no grant id. */
int meta_nbd_grant_delete(struct meta *m, const char *resource_id, const char *id);
/* Deletes the grants expired at now_us. */
int meta_nbd_grant_purge(struct meta *m, int64_t now_us);

/* ---- service principals and role assignments ---------------------------- */

struct meta_principal {
  char client_id[40];
  char object_id[40];
  char *name;
  unsigned char salt[16];
  unsigned char hash[32];
  int64_t created_us;
};

void meta_principal_clear(struct meta_principal *p);
int meta_principal_put(struct meta *m, const struct meta_principal *p);
int meta_principal_get(struct meta *m, const char *client_id, struct meta_principal *out);
int meta_principal_delete(struct meta *m, const char *client_id);
typedef int (*meta_principal_cb)(void *ctx, const struct meta_principal *p);
int meta_principal_list(struct meta *m, meta_principal_cb cb, void *ctx);

/* scope is a subscription id or "*" (every subscription). */
int meta_role_set(struct meta *m, const char *object_id, const char *scope, const char *role);
/* The role of object_id on subscription (compared case-insensitively, as ARM
 * compares ids; exact scope first, then "*"); the
 * string is copied into role (≥ 16 bytes).  -ENOENT when none. */
int meta_role_get(struct meta *m, const char *object_id, const char *subscription, char *role, int role_len);
typedef int (*meta_role_cb)(void *ctx, const char *object_id, const char *scope, const char *role);
int meta_role_list(struct meta *m, const char *object_id, meta_role_cb cb, void *ctx);

/* ---- template deployments (deployment.c) -------------------------------- */

/* A deployment's history entry: its state and the document ARM shows of it
 * (opaque JSON here, written by deploy/), the template as submitted, and
 * the caller its resources are created as.  Keyed by its ARM id; listed
 * per scope (a resource group's id, or "/subscriptions/{s}") in creation
 * order.  A deployment is active while its state is "Accepted" or
 * "Running"; the other states are final.  Its operations go with it, and a
 * resource group's deployments go with the group's row. */
struct meta_deployment {
  char *id;          /* .../providers/Microsoft.Resources/deployments/{name} */
  char *scope;       /* /subscriptions/{s}[/resourceGroups/{rg}] */
  char *name;
  char *location;    /* subscription scope: the request's; else NULL */
  char *state;       /* Accepted, Running, Succeeded, Failed, Canceled */
  char *op_id;       /* the id of its status URL */
  char *parent_id;   /* the deployment that nests it, or NULL */
  char *caller;      /* JSON: the identity it acts as */
  char *document;    /* JSON: what GET shows beyond id, name, state and times */
  char *template;    /* JSON text of the template, or NULL */
  bool cancel;       /* cancel asked for */
  int64_t seq;       /* creation order */
  int64_t start_us, end_us;
};
void meta_deployment_clear(struct meta_deployment *d);
/* Inserts d (seq assigned), or replaces a final one of the same id, whose
 * operations then go.  -EBUSY: one of that id is active.  Then deletes the
 * oldest final deployments of its scope beyond keep (ARM's history limit;
 * keep 0: no limit).  One transaction (joins the caller's). */
int meta_deployment_put(struct meta *m, const struct meta_deployment *d, int keep);
int meta_deployment_get(struct meta *m, const char *id, struct meta_deployment *out);
/* Sets state and end_us and, when not NULL, the document.  -ENOENT: gone. */
int meta_deployment_update(struct meta *m, const char *id, const char *state, const char *document, int64_t end_us);
/* Marks an active deployment to be canceled: 0; -EALREADY when it is final. */
int meta_deployment_cancel(struct meta *m, const char *id);
/* Deletes a final deployment and its operations: 0 (also when absent);
 * -EBUSY when it is active. */
int meta_deployment_delete(struct meta *m, const char *id);
typedef int (*meta_deployment_cb)(void *ctx, const struct meta_deployment *d);
/* The deployments of scope, oldest first; scope NULL: every active one. */
int meta_deployment_list(struct meta *m, const char *scope, meta_deployment_cb cb, void *ctx);

/* One operation of a deployment (a resource created, deleted, a nested
 * deployment): its state and document (JSON, the operation's properties). */
struct meta_deployment_op {
  char *deployment_id;
  char *id;          /* operationId */
  char *state;       /* Running, Succeeded, Failed, Canceled */
  char *target_id;   /* the resource it acts on, or NULL */
  char *document;
  int64_t seq;       /* order of creation (set by put on insert) */
};
void meta_deployment_op_clear(struct meta_deployment_op *op);
/* Inserts or replaces (keeping its seq); -ENOENT when the deployment is gone. */
int meta_deployment_op_put(struct meta *m, const struct meta_deployment_op *op);
int meta_deployment_op_get(struct meta *m, const char *deployment_id, const char *id, struct meta_deployment_op *out);
typedef int (*meta_deployment_op_cb)(void *ctx, const struct meta_deployment_op *op);
/* In creation order. */
int meta_deployment_op_list(struct meta *m, const char *deployment_id, meta_deployment_op_cb cb, void *ctx);

/* ---- protection policies' scheduler (policy.c) --------------------------- */

/* One VM of one policy: when the scheduler next acts for it and what it last
 * achieved.  Times are UTC microseconds. */
struct meta_policy_vm {
  char *policy_id, *vm_id;
  int64_t next_slot_us;  /* the first slot not yet taken; -1: the schedules have no more */
  int64_t due_us;        /* when the scheduler is next to act for this VM */
  int attempts;          /* failed attempts since the last success (the backoff's exponent) */
  int64_t last_slot_us;  /* the newest slot taken; 0: none yet */
  char *last_rp_id;      /* the newest restore point that Succeeded, and its time */
  int64_t last_rp_us;
  char *last_error;      /* JSON {code, message, time}, or NULL */
  int64_t missed;        /* slots skipped by catch-ups after downtime, in all */
  char *regions;         /* JSON, the scheduler's (newest copy per region, RPO breaches); NULL: none */
};
void meta_policy_vm_clear(struct meta_policy_vm *v);

/* A slot taken: its restore point, its copies (JSON, the scheduler's) and
 * its state until final. */
struct meta_policy_slot {
  char *policy_id, *vm_id;
  int64_t slot_us;
  char *rp_id;
  char *state;           /* the scheduler's words; "Done" and "Failed" are final */
  int attempts;
  int64_t due_us;        /* when its next step is due */
  char *copies;          /* JSON or NULL */
  char *error;           /* JSON or NULL */
  int64_t created_us, changed_us;
};
void meta_policy_slot_clear(struct meta_policy_slot *s);

int meta_policy_vm_get(struct meta *m, const char *policy_id, const char *vm_id, struct meta_policy_vm *out);
typedef int (*meta_policy_vm_cb)(void *ctx, const struct meta_policy_vm *v);
/* The VMs of policy_id (NULL: of every policy), in VM id order. */
int meta_policy_vm_list(struct meta *m, const char *policy_id, meta_policy_vm_cb cb, void *ctx);
/* The rows due at or before now_us, earliest first, at most limit: an
 * index range, whatever the number of rows and slots kept. */
int meta_policy_vm_due(struct meta *m, int64_t now_us, int limit, meta_policy_vm_cb cb, void *ctx);
/* The earliest due_us of all rows: 0, or -ENOENT when there is none. */
int meta_policy_vm_next_due(struct meta *m, int64_t *due_us);
/* Deletes the VM's row and its slots (vm_id NULL: every VM of the policy). */
int meta_policy_vm_delete(struct meta *m, const char *policy_id, const char *vm_id);

/* Writes v (inserted or replaced) and, when s is not NULL, s, in one
 * transaction (joined when the caller holds one).  new_slot: s is a slot
 * being taken, inserted only — -EEXIST (nothing written) when that slot was
 * taken already; otherwise s replaces its row.  A slot whose state is final
 * deletes the VM's final slots older than it (they are no longer needed:
 * the rows kept stay as few as the slots open). */
int meta_policy_save(struct meta *m, const struct meta_policy_vm *v, const struct meta_policy_slot *s, bool new_slot);
typedef int (*meta_policy_slot_cb)(void *ctx, const struct meta_policy_slot *s);
/* The slots of a VM, oldest first; open_only: those not final. */
int meta_policy_slot_list(struct meta *m, const char *policy_id, const char *vm_id, bool open_only,
                          meta_policy_slot_cb cb, void *ctx);

/* ---- webhook outbox (notify.c) ------------------------------------------- */

/* Protection policies' events waiting for their receivers (notify/): a row
 * per event and URL.  Rows of one (policy, URL) pair form a queue, delivered
 * in seq order.  The body is opaque JSON text here. */
struct meta_notify_row {
  int64_t seq;
  char *policy_id;
  char *url;
  char *event_id;
  char *body;
  int64_t created_us;
  int attempts;      /* failed attempts so far */
  char *last_error;  /* why the last one failed, or NULL */
};
void meta_notify_row_clear(struct meta_notify_row *r);
/* Queues body for each of urls[0..nurls) of policy_id, then deletes the
 * oldest rows of policy_id beyond keep (*dropped, may be NULL: how many).
 * One transaction (joins the caller's). */
int meta_notify_put(struct meta *m, const char *policy_id, const char *event_id, const char *const *urls,
                    int nurls, const char *body, int64_t now_us, int keep, int *dropped);
typedef int (*meta_notify_queue_cb)(void *ctx, const char *policy_id, const char *url);
/* Every (policy, URL) pair with a row. */
int meta_notify_queues(struct meta *m, meta_notify_queue_cb cb, void *ctx);
/* The oldest row of a queue; -ENOENT when it is empty. */
int meta_notify_head(struct meta *m, const char *policy_id, const char *url, struct meta_notify_row *out);
/* Records a failed attempt of row seq (attempts + 1, its error). */
int meta_notify_failed(struct meta *m, int64_t seq, const char *error);
/* Deletes row seq (delivered or given up): 0 also when it is gone. */
int meta_notify_delete(struct meta *m, int64_t seq);
/* Deletes the rows of a queue queued at or before before_us (given up);
 * *n (may be NULL): how many. */
int meta_notify_expire(struct meta *m, const char *policy_id, const char *url, int64_t before_us, int *n);
/* Deletes every row of policy_id; *n (may be NULL): how many. */
int meta_notify_forget(struct meta *m, const char *policy_id, int *n);
/* The rows of policy_id (NULL: all). */
int meta_notify_count(struct meta *m, const char *policy_id, int *n);

/* ---- nodes: membership, leases, fencing (node.c) ------------------------- */

/* A node of the region.  Times are the metadata store's clock (µs since the
 * epoch): PostgreSQL's for a shared store, this host's for SQLite. */
struct meta_node {
  char id[64];
  int64_t incarnation;  /* + 1 at every join and at a fence: the fencing token with id */
  char *addr;           /* where it answers ARM */
  char *version;
  int64_t started_us;   /* this incarnation's join */
  int64_t lease_until_us; /* 0: it left cleanly */
  bool fenced;
  int64_t now_us;       /* the store's clock when the row was read */
};
void meta_node_clear(struct meta_node *n);
/* Joins as node id with a lease of ttl_us, as a new incarnation
 * (*incarnation), and makes m this node's: from then on every write through
 * m is refused (-ENOLCK) once the lease ran out or the node was fenced.
 * -EBUSY: the id's lease is live (another process holds it), unless
 * takeover (the caller knows it is the only process: the embedded store). */
int meta_node_join(struct meta *m, const char *id, const char *addr, const char *version, int64_t ttl_us,
                   bool takeover, int64_t *incarnation);
/* Extends the lease to now + ttl_us; -ENOLCK: it ran out or the node was
 * fenced, and cannot be renewed (the node must join again). */
int meta_node_renew(struct meta *m, int64_t ttl_us);
/* Gives the lease up (a clean stop): others may take over at once. */
int meta_node_leave(struct meta *m);
/* Fences node id whose lease has run out: its writes are refused from now
 * on.  -EBUSY: its lease is live; -ENOENT: no such node. */
int meta_node_fence(struct meta *m, const char *id);
int meta_node_get(struct meta *m, const char *id, struct meta_node *out);
typedef int (*meta_node_cb)(void *ctx, const struct meta_node *n);
int meta_node_list(struct meta *m, meta_node_cb cb, void *ctx);
