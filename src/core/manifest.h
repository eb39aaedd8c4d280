/* manifest.json: the single source of truth of a migration run.
 *
 * The manifest is a JSON document (schema in docs/manifest.md) held in
 * memory as a jansson tree.  Every change a command makes is written with
 * manifest_save(), which replaces the file atomically, so after a crash
 * or kill -9 the file holds either the state before or after a step.
 */
#ifndef V2K_MANIFEST_H
#define V2K_MANIFEST_H

#include <jansson.h>

#define MANIFEST_SCHEMA 1
#define MANIFEST_NAME "manifest.json"

struct manifest {
  json_t *root;
  char *path;
};

/* A new, empty manifest (schema, run_id, created) for path. */
struct manifest *manifest_new (const char *path, const char *run_id);

/* Load and validate (JSON syntax, schema version, required sections). */
struct manifest *manifest_load (const char *path);

/* Serialize and replace the file atomically (mode 0600). */
int manifest_save (struct manifest *m);

void manifest_free (struct manifest *m);

static inline void
manifest_cleanup (struct manifest **m)
{
  manifest_free (*m);
}
#define CLEANUP_MANIFEST __attribute__ ((cleanup (manifest_cleanup)))

/* Lookups. */
json_t *manifest_disks (struct manifest *m);          /* array, never NULL */
json_t *manifest_disk_by_key (struct manifest *m, json_int_t key);
json_t *manifest_snapshots (struct manifest *m);      /* array, never NULL */
const char *manifest_run_id (struct manifest *m);
const char *manifest_phase (struct manifest *m);
void manifest_set_phase (struct manifest *m, const char *phase);

/* The newest v2k snapshot (last element of "snapshots") or NULL. */
json_t *manifest_last_snapshot (struct manifest *m);
/* The newest snapshot that was completely synced, or NULL. */
json_t *manifest_last_synced_snapshot (struct manifest *m);

/* RFC 3339 UTC timestamp of now, in a static per-thread buffer. */
const char *rfc3339_now (void);

#endif /* V2K_MANIFEST_H */
