#include "core/manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"

const char *
rfc3339_now (void)
{
  static __thread char buf[96];
  struct timespec ts;
  struct tm tm;

  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  snprintf (buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
            tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (ts.tv_nsec / 1000000));
  return buf;
}

struct manifest *
manifest_new (const char *path, const char *run_id)
{
  struct manifest *m = calloc (1, sizeof *m);

  if (m == NULL || (m->path = strdup (path)) == NULL) {
    free (m);
    v2k_error_errno (errno, "calloc");
    return NULL;
  }
  m->root = json_pack ("{s:i, s:s, s:s, s:s, s:[], s:[], s:[], s:{}}",
                       "schema", MANIFEST_SCHEMA,
                       "run_id", run_id,
                       "created", rfc3339_now (),
                       "phase", "init",
                       "disks", "nics", "snapshots", "steps");
  if (m->root == NULL) {
    manifest_free (m);
    v2k_error ("cannot build the manifest");
    return NULL;
  }
  return m;
}

struct manifest *
manifest_load (const char *path)
{
  struct manifest *m;
  json_error_t jerr;
  json_t *root;
  json_int_t schema;

  root = json_load_file (path, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL) {
    if (jerr.line == -1)
      v2k_error ("cannot read '%s': %s", path, jerr.text);
    else
      v2k_error ("'%s' is corrupt (line %d, column %d: %s); "
                 "restore it from a backup or start a new run",
                 path, jerr.line, jerr.column, jerr.text);
    return NULL;
  }
  if (!json_is_object (root)
      || !json_is_integer (json_object_get (root, "schema"))) {
    v2k_error ("'%s' is not a v2k manifest (no schema version)", path);
    json_decref (root);
    return NULL;
  }
  schema = json_integer_value (json_object_get (root, "schema"));
  if (schema != MANIFEST_SCHEMA) {
    v2k_error ("'%s' has schema version %lld; this v2k reads version %d",
               path, (long long) schema, MANIFEST_SCHEMA);
    json_decref (root);
    return NULL;
  }
  if (!json_is_string (json_object_get (root, "run_id"))
      || !json_is_array (json_object_get (root, "disks"))
      || !json_is_array (json_object_get (root, "snapshots"))
      || !json_is_object (json_object_get (root, "vm"))) {
    v2k_error ("'%s' is incomplete: 'run_id', 'vm', 'disks' or "
               "'snapshots' is missing", path);
    json_decref (root);
    return NULL;
  }
  m = calloc (1, sizeof *m);
  if (m == NULL || (m->path = strdup (path)) == NULL) {
    free (m);
    json_decref (root);
    v2k_error_errno (errno, "calloc");
    return NULL;
  }
  m->root = root;
  return m;
}

int
manifest_save (struct manifest *m)
{
  CLEANUP_FREE char *text = NULL;

  jset_str (m->root, "updated", rfc3339_now ());
  text = json_dumps (m->root, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  if (text == NULL) {
    v2k_error ("cannot serialize the manifest");
    return -1;
  }
  /* A trailing newline keeps the file friendly to cat and diff. */
  size_t n = strlen (text);
  CLEANUP_FREE char *buf = malloc (n + 2);
  if (buf == NULL) {
    v2k_error_errno (errno, "malloc");
    return -1;
  }
  memcpy (buf, text, n);
  buf[n] = '\n';
  buf[n + 1] = '\0';
  if (write_file_atomic (m->path, buf, n + 1, 0600) < 0) {
    v2k_error_prefix ("cannot save the manifest");
    return -1;
  }
  return 0;
}

void
manifest_free (struct manifest *m)
{
  if (m == NULL)
    return;
  json_decref (m->root);
  free (m->path);
  free (m);
}

static json_t *
array_member (struct manifest *m, const char *key)
{
  json_t *a = json_object_get (m->root, key);

  if (!json_is_array (a)) {
    a = json_array ();
    json_object_set_new (m->root, key, a);
  }
  return a;
}

json_t *
manifest_disks (struct manifest *m)
{
  return array_member (m, "disks");
}

json_t *
manifest_snapshots (struct manifest *m)
{
  return array_member (m, "snapshots");
}

json_t *
manifest_disk_by_key (struct manifest *m, json_int_t key)
{
  size_t i;
  json_t *d;

  json_array_foreach (manifest_disks (m), i, d)
    if (jint (d, "key") == key)
      return d;
  return NULL;
}

const char *
manifest_run_id (struct manifest *m)
{
  return jstr_or (m->root, "run_id", "");
}

const char *
manifest_phase (struct manifest *m)
{
  return jstr_or (m->root, "phase", "init");
}

void
manifest_set_phase (struct manifest *m, const char *phase)
{
  jset_str (m->root, "phase", phase);
}

json_t *
manifest_last_snapshot (struct manifest *m)
{
  json_t *a = manifest_snapshots (m);
  size_t n = json_array_size (a);

  return n ? json_array_get (a, n - 1) : NULL;
}

json_t *
manifest_last_synced_snapshot (struct manifest *m)
{
  json_t *a = manifest_snapshots (m);

  for (size_t i = json_array_size (a); i > 0; i--) {
    json_t *s = json_array_get (a, i - 1);
    if (jbool (s, "synced"))
      return s;
  }
  return NULL;
}
