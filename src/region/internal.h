/*
 * internal.h — what the region/ files share: struct region and the calls
 * between its files.  Not a public interface (region.h is).
 */
#pragma once
#include <pthread.h>

#include "cas/cas.h"
#include "region/region.h"

struct region_volume;  /* nbd_access.c: registers every stored NBD grant (after the exports). */
int region_nbd_access_load(struct region *r);
/* Withdraws the NBD capabilities of a disk or disk restore point (closing
 * the connections they opened), and registers them again from their rows. */
int region_nbd_access_drop(struct region *r, const char *resource_id);
int region_nbd_access_reload(struct region *r, const char *resource_id);

/* volumes.c */
struct region_capture; /* agent.c */
struct guest_freeze;
/* Freezes vm_id's guest (recorded in meta first, for the thawer): 0 (*out),
 * -ENOTCONN no agent or no answer, -ECANCELED it did not freeze within
 * agent_frozen_max_ms (thawed again), -EBUSY it is being frozen already. */
int region_guest_freeze(struct region *r, const char *vm_id, struct guest_freeze **out, char *why, size_t cap);
/* Thaws and frees f: 0 thawed, -ECANCELED the thaw failed or came late (the
 * thawer retries until the agent confirms).  *frozen_ns: freeze → thaw. */
int region_guest_thaw(struct region *r, struct guest_freeze *f, uint64_t *frozen_ns, char *why, size_t cap);
int region_agents_open(struct region *r);
void region_agents_close(struct region *r);

/* capture.c */
struct region_source;  /* source.c */
struct vol_source;
struct volume;

struct region {
  struct region_config cfg;
  struct meta *meta;
  struct jobs *jobs;
  pthread_mutex_t stores_lock;
  struct region_store *stores;      /* the open chunk stores, one per key domain (stores.c) */
  char platform[META_DOMAIN_HEX];   /* the platform domain's id (hex) */
  pthread_mutex_t upgrade_lock;     /* one upgrade step at a time (upgrade.c) */
  pthread_mutex_t maint_lock;       /* GC, verify and repair take turns (store.c) */
  /* customer key domains whose key failed its last probe, and the prober
   * (domains.c) */
  pthread_mutex_t domains_lock;
  struct region_domain_block *blocked;
  pthread_t prober;
  pthread_mutex_t prober_lock;
  pthread_cond_t prober_cv;
  bool prober_stop, prober_running;
  pthread_mutex_t volumes_lock;
  struct region_volume *volumes;    /* open volumes, by id */
  pthread_mutex_t captures_lock;
  struct region_capture *captures;  /* recorded fences waiting for their operation */
  /* the scheduled GC (store.c) */
  pthread_t timer;
  pthread_mutex_t timer_lock;
  pthread_cond_t timer_cv;
  bool timer_stop, timer_running;
  /* guest agents (agent.c): the VMs being frozen, and the thread that
   * thaws guests a failed thaw or a crash may have left frozen */
  pthread_mutex_t agents_lock;
  pthread_cond_t agents_cv;
  struct guest_freeze *freezing;
  pthread_t thawer;
  bool thawer_running, thawer_stop, thawer_kick;
};

/* volumes.c */
int region_volumes_open(struct region *r);
/* Opens and exports a ready volume that is not open (its key could not be
 * unwrapped at start, and can now): 0 when open (or gone). */
int region_volume_reopen(struct region *r, const char *vol_id);
void region_volumes_close(struct region *r);
/* The open volume, or NULL.  Valid until region_volume_destroy of that id. */
struct volume *region_volume_find(struct region *r, const char *vol_id);
/* The volume of a data-plane transfer: region_volume_destroy answers -EBUSY
 * until the matching unuse.  NULL when not open. */
struct volume *region_volume_use(struct region *r, const char *vol_id);
void region_volume_unuse(struct region *r, const char *vol_id);
/* Calls fn for the source tree of every volume still hydrating (GC roots). */
int region_volumes_hydration_roots(struct region *r,
                                   int (*fn)(void *ctx, const struct cas_addr *root, const char *vol_id,
                                             const char *domain),
                                   void *ctx);

/* source.c: a tree as the source a lazy volume hydrates from.  The tree is
 * described in <vol>.src, written before the volume turns READY; domain: the
 * store it is in ("" the legacy one). */
int region_source_save(const struct cas_addr *root, uint64_t size, const char *image_id, const char *domain,
                       const char *path);
/* Opens the tree described at path, held against GC until
 * region_source_unhold; fills *vs.  fresh (a new disk): -ENOENT if the tree
 * cannot be read.  Otherwise such a tree still opens (its reads fail with
 * -EIO): a complete bitmap never needs it. */
int region_source_open(struct region *r, const char *path, bool fresh, struct vol_source *vs,
                       struct region_source **out);
void region_source_close(struct region_source *s);
const struct cas_addr *region_source_root(const struct region_source *s);
const char *region_source_domain(const struct region_source *s);
/* Ends the hold taken at open: the volume's root is listed as a GC root now. */
void region_source_unhold(struct region_source *s);

/* agent.c */
struct guest_freeze;
/* Freezes vm_id's guest (recorded in meta first, for the thawer): 0 (*out),
 * -ENOTCONN no agent or no answer, -ECANCELED it did not freeze within
 * agent_frozen_max_ms (thawed again), -EBUSY it is being frozen already. */
int region_guest_freeze(struct region *r, const char *vm_id, struct guest_freeze **out, char *why, size_t cap);
/* Thaws and frees f: 0 thawed, -ECANCELED the thaw failed or came late (the
 * thawer retries until the agent confirms).  *frozen_ns: freeze → thaw. */
int region_guest_thaw(struct region *r, struct guest_freeze *f, uint64_t *frozen_ns, char *why, size_t cap);
int region_agents_open(struct region *r);
void region_agents_close(struct region *r);

/* capture.c */
void region_captures_free(struct region *r);

/* images.c */
int region_images_recover(struct region *r);
/* The store a hold's tree is in. */
struct cas *region_hold_store(const struct region_hold *h);
int region_image_export(struct region *r, const char *image_id); /* 0 when exported already */
int region_images_export_all(struct region *r);
void region_images_unexport_all(struct region *r);

/* stores.c: the chunk store of each key domain (meta_image.domain): domain
 * "" (or NULL) is the legacy plaintext store <data_dir>/store, any other the
 * domain's encrypted store <data_dir>/stores/<domain>/, opened on first use.
 * NULL with errno set when it cannot be opened (ENOENT: no legacy store, or
 * an unknown domain; a key error of keys.h).  Valid until region_close. */
struct region_store;
struct cas *region_store_for(struct region *r, const char *domain_hex);
/* The key set of a domain (cleanse it after use): 0, -ENOKEY without a
 * keyring, -ENOENT an unknown domain, a key error of keys.h. */
struct keys_set;
int region_domain_set(struct region *r, const char *domain_hex, struct keys_set *out);
/* Opens the platform domain's store (and the legacy one if it exists). */
int region_stores_open(struct region *r);
void region_stores_close(struct region *r);
/* Calls fn for every open store (the legacy one while it exists), in no
 * order; a non-zero return stops. */
int region_stores_each(struct region *r, int (*fn)(void *ctx, const char *domain, struct cas *cas), void *ctx);

/* images.c: exports the image again from the tree its row names now (after
 * the upgrade moved it), with its NBD grants; -EBUSY while a client uses its
 * export, which then stays as it was. */
int region_image_reexport(struct region *r, const char *image_id);
/* Whether the image's export reads its tree from cas. */
bool region_image_exported_from(struct region *r, const char *image_id, const struct cas *cas);

/* volumes.c: the journal of a volume's conversion to XTS (vol_crypt_attach). */
void region_volume_crypt_path(struct region *r, const char *vol_id, char *out, size_t cap);

/* volume_keys.c: a volume's key.  new: made and wrapped under mv->domain
 * ("" : the platform's), mv's key fields and crypt_state set (the caller
 * commits the row before writing the file).  upgrade: a plaintext volume
 * (not with [encryption] volumes = off) gets one, committed as
 * VOLUME_CONVERTING.  attach: unwrapped and attached to v right after
 * vol_open (nothing for a plaintext one). */
int region_volume_key_new(struct region *r, struct meta_volume *mv, enum meta_crypt_state state);
int region_volume_key_upgrade(struct region *r, struct meta_volume *mv);
int region_volume_key_attach(struct region *r, const struct meta_volume *mv, struct volume *v);

/* upgrade.c */
int region_upgrade_open(struct region *r);
void region_upgrade_close(struct region *r);
/* domains.c: crypto-erase.  The key error of the last probe of a customer
 * domain, 0 when it worked (or for the platform's, "" or NULL). */
struct region_domain_block;
int region_domain_error(struct region *r, const char *domain);
/* Probes every customer domain in use now, then each key_probe_interval_s
 * (region_set_jobs); stop before the volumes close. */
void region_domains_start(struct region *r);
void region_domains_stop(struct region *r);

/* store.c */
void region_gc_timer_start(struct region *r);
void region_gc_timer_stop(struct region *r);
