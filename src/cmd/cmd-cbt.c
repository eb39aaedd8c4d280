/* cbt enable|disable|status: VMware Changed Block Tracking. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "copy/ranges.h"
#include "core/changes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/json.h"
#include "vsphere/vim.h"

/* The name of the snapshot that activates tracking on a running VM.  It
 * carries the run id so that a rerun after a crash between create and
 * remove finds and removes exactly this one. */
static void
activation_name (struct v2k *v, char *buf, size_t n)
{
  snprintf (buf, n, "v2k-cbt-activate-%s", manifest_run_id (v->m));
}

/* Copy the per-disk CBT state of a fresh inventory into the manifest. */
static void
record_state (struct v2k *v, const json_t *inv)
{
  json_t *vm = json_object_get (v->m->root, "vm");
  size_t i;
  json_t *d;

  jset (vm, "cbt_enabled",
        json_boolean (jbool (json_object_get (inv, "vm"), "cbt_enabled")));
  json_array_foreach (json_object_get (inv, "disks"), i, d) {
    json_t *md = manifest_disk_by_key (v->m, jint (d, "key"));
    if (md == NULL)
      continue;
    jset (md, "cbt", json_boolean (jbool (d, "cbt")));
    json_object_set (md, "change_id", json_object_get (d, "change_id"));
  }
}

static int
remove_activation_snapshots (struct v2k *v, const json_t *inv)
{
  char name[256];
  size_t i;
  json_t *s;

  activation_name (v, name, sizeof name);
  json_array_foreach (json_object_get (inv, "snapshots"), i, s)
    if (strcmp (jstr_or (s, "name", ""), name) == 0) {
      if (vim_remove_snapshot (v->vim, jstr (s, "moref")) < 0) {
        v2k_error_prefix ("cannot remove the CBT activation snapshot");
        return -1;
      }
    }
  return 0;
}

int
do_cbt_enable (struct v2k *v)
{
  const char *vmref = jstr (json_object_get (v->m->root, "vm"), "moref");
  CLEANUP_JSON json_t *inv = NULL;
  CLEANUP_JSON json_t *after = NULL;
  CLEANUP_FREE char *snap = NULL;
  char name[256];
  size_t i;
  json_t *d;

  if (vim_vm_inventory (v->vim, vmref, &inv) < 0)
    return -1;
  /* A crash may have left our activation snapshot behind. */
  if (remove_activation_snapshots (v, inv) < 0)
    return -1;
  if (!jbool (json_object_get (inv, "vm"), "cbt_enabled")) {
    if (vim_set_cbt (v->vim, vmref, true) < 0)
      return -1;
    v2k_event (v, "info", "cbt", NULL, "cbt.enabled", NULL);
  }
  /* Tracking starts on a running VM only after a stun/unstun cycle. */
  if (strcmp (jstr_or (json_object_get (inv, "vm"), "power_state", ""),
              "poweredOn") == 0) {
    activation_name (v, name, sizeof name);
    if (vim_create_snapshot (v->vim, vmref, name,
                             "v2k: activates changed block tracking", false,
                             &snap) < 0
        || vim_remove_snapshot (v->vim, snap) < 0) {
      v2k_error_prefix ("cannot activate changed block tracking");
      return -1;
    }
    v2k_event (v, "info", "cbt", NULL, "cbt.activated",
               json_pack ("{s:s}", "snapshot", snap));
  }
  if (vim_vm_inventory (v->vim, vmref, &after) < 0)
    return -1;
  record_state (v, after);
  if (v2k_save (v) < 0)
    return -1;
  json_array_foreach (json_object_get (after, "disks"), i, d) {
    if (!jbool (d, "cbt")) {
      v2k_error ("changed block tracking is still off on '%s' (key %lld)",
                 jstr_or (d, "label", "disk"), (long long) jint (d, "key"));
      return -1;
    }
  }
  return 0;
}

static int
cbt_status (struct v2k *v)
{
  const char *vmref = jstr (json_object_get (v->m->root, "vm"), "moref");
  CLEANUP_JSON json_t *inv = NULL;
  CLEANUP_JSON json_t *out = NULL;
  json_t *disks, *d;
  size_t i;

  if (vim_vm_inventory (v->vim, vmref, &inv) < 0)
    return -1;
  record_state (v, inv);
  if (v2k_save (v) < 0)
    return -1;
  disks = json_array ();
  json_array_foreach (json_object_get (inv, "disks"), i, d) {
    json_t *md = manifest_disk_by_key (v->m, jint (d, "key"));
    json_array_append_new (disks, json_pack ("{s:I, s:s?, s:s, s:b, s:O}",
        "key", (json_int_t) jint (d, "key"),
        "disk_id", md ? jstr (md, "disk_id") : jstr (d, "disk_id"),
        "label", jstr_or (d, "label", ""),
        "cbt", jbool (d, "cbt"),
        "change_id", json_object_get (d, "change_id") ? json_object_get (d, "change_id") : json_null ()));
  }
  out = json_pack ("{s:s, s:b, s:o}",
                   "vm", jstr_or (json_object_get (inv, "vm"), "name", ""),
                   "cbt_enabled", jbool (json_object_get (inv, "vm"), "cbt_enabled"),
                   "disks", disks);
  if (v->json)
    return print_json (out);
  printf ("VM %s: changed block tracking %s\n", jstr (out, "vm"),
          jbool (out, "cbt_enabled") ? "enabled" : "disabled");
  json_array_foreach (disks, i, d)
    printf ("  %-10s %-14s %-4s %s\n", jstr_or (d, "disk_id", "?"),
            jstr (d, "label"), jbool (d, "cbt") ? "on" : "off",
            jstr_or (d, "change_id", "-"));
  return 0;
}

/* A disk of the manifest by disk_id ("scsi0:0"), device key or label. */
static json_t *
find_disk (struct v2k *v, const char *id)
{
  size_t i;
  json_t *d;

  json_array_foreach (manifest_disks (v->m), i, d) {
    char key[32];
    snprintf (key, sizeof key, "%lld", (long long) jint (d, "key"));
    if (strcmp (jstr_or (d, "disk_id", ""), id) == 0 || strcmp (key, id) == 0
        || strcmp (jstr_or (d, "label", ""), id) == 0)
      return d;
  }
  return NULL;
}

/* A snapshot of the VM by name or moref: v2k's own first, then any. */
static int
find_snapshot (struct v2k *v, const char *spec, char **moref)
{
  const char *vmref = jstr (json_object_get (v->m->root, "vm"), "moref");
  CLEANUP_JSON json_t *inv = NULL;
  size_t i;
  json_t *s;

  json_array_foreach (manifest_snapshots (v->m), i, s)
    if (!jbool (s, "removed") && (strcmp (jstr_or (s, "name", ""), spec) == 0
                                  || strcmp (jstr_or (s, "moref", ""), spec) == 0))
      return (*moref = strdup (jstr (s, "moref"))) ? 0 : -1;
  if (vim_vm_inventory (v->vim, vmref, &inv) < 0)
    return -1;
  json_array_foreach (json_object_get (inv, "snapshots"), i, s)
    if (strcmp (jstr_or (s, "name", ""), spec) == 0
        || strcmp (jstr_or (s, "moref", ""), spec) == 0)
      return (*moref = strdup (jstr (s, "moref"))) ? 0 : -1;
  v2k_error ("VM '%s' has no snapshot '%s'", vmref, spec);
  return -1;
}

/* cbt query: the pages and areas QueryChangedDiskAreas returns for one
 * disk, validated as a sync would (the test guide's diagnostic). */
static int
cbt_query (struct v2k *v, const char *disk_id, const char *snapspec,
           const char *change_id)
{
  const char *vmref = jstr (json_object_get (v->m->root, "vm"), "moref");
  struct v2k_ranges ranges = V2K_RANGES_INIT;
  CLEANUP_FREE char *snap = NULL;
  CLEANUP_JSON json_t *pages = json_array ();
  CLEANUP_JSON json_t *out = NULL;
  char err[1024] = "";
  json_t *d = find_disk (v, disk_id), *p, *a;
  size_t npages = 0, i, k;
  int r;

  if (d == NULL) {
    v2k_error ("no disk '%s' (give a disk_id like 'scsi0:0', a device key or a label)",
               disk_id);
    return -1;
  }
  if (find_snapshot (v, snapspec, &snap) < 0)
    return -1;
  r = changed_ranges_pages (v->vim, vmref, snap, jint (d, "key"),
                            jint (d, "capacity"), change_id, &ranges, &npages, pages);
  if (r < 0)
    snprintf (err, sizeof err, "%s", v2k_errmsg ());
  out = json_pack ("{s:s?, s:I, s:I, s:s, s:s, s:b, s:s?, s:I, s:I, s:O}",
                   "disk_id", jstr (d, "disk_id"), "key", (json_int_t) jint (d, "key"),
                   "capacity", (json_int_t) jint (d, "capacity"),
                   "snapshot", snap, "change_id", change_id,
                   "complete", r == 0, "error", r < 0 ? err : NULL,
                   "areas", (json_int_t) (r == 0 ? ranges.n : 0),
                   "bytes", (json_int_t) (r == 0 ? v2k_ranges_bytes (&ranges) : 0),
                   "pages", pages);
  v2k_ranges_free (&ranges);
  if (v->json) {
    if (print_json (out) < 0)
      return -1;
  }
  else {
    printf ("disk %s (key %lld, %lld bytes), snapshot %s, changeId %s\n",
            jstr_or (d, "disk_id", "?"), (long long) jint (d, "key"),
            (long long) jint (d, "capacity"), snap, change_id);
    json_array_foreach (pages, i, p) {
      printf ("page %zu: start %lld length %lld areas %lld\n", i + 1,
              (long long) jint (p, "start"), (long long) jint (p, "length"),
              (long long) jint (p, "areas_count"));
      json_array_foreach (json_object_get (p, "areas"), k, a)
        printf ("  %lld +%lld\n", (long long) jint (a, "start"),
                (long long) jint (a, "length"));
    }
    if (r == 0)
      printf ("coverage complete: %zu pages, %lld areas, %lld bytes\n", npages,
              (long long) jint (out, "areas"), (long long) jint (out, "bytes"));
  }
  if (r < 0) {
    v2k_error ("%s", err);
    return -1;
  }
  return 0;
}

int
cmd_cbt (struct v2k *v, int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "disk", required_argument, NULL, 'd' },
    { "snapshot", required_argument, NULL, 's' },
    { "change-id", required_argument, NULL, 'c' },
    { NULL, 0, NULL, 0 },
  };
  const struct cmd *self = find_cmd ("cbt");
  const char *sub, *disk = NULL, *snap = NULL, *cid = "*";
  int opt;

  while ((opt = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case 'j': v->json = true; break;
    case 'd': disk = optarg; break;
    case 's': snap = optarg; break;
    case 'c': cid = optarg; break;
    default: return usage_error (self, "bad option");
    }
  }
  if (optind + 1 != argc)
    return usage_error (self, "expected one of enable, disable, status, query");
  sub = argv[optind];
  if (strcmp (sub, "query") == 0) {
    if (disk == NULL || snap == NULL)
      return usage_error (self, "query needs --disk ID and --snapshot NAME|MOREF");
    return cbt_query (v, disk, snap, cid) < 0 ? EXIT_FAIL : EXIT_OK;
  }
  if (disk || snap || strcmp (cid, "*") != 0)
    return usage_error (self, "--disk, --snapshot and --change-id are for 'cbt query'");
  if (v->dry_run && strcmp (sub, "status") != 0) {
    printf ("dry run: would %s changed block tracking on VM '%s'%s\n",
            strcmp (sub, "enable") == 0 ? "enable" : "disable",
            jstr_or (json_object_get (v->m->root, "vm"), "moref", ""),
            strcmp (sub, "enable") == 0
            ? " (and activate it with a temporary snapshot if it runs)" : "");
    return EXIT_OK;
  }
  if (strcmp (sub, "enable") == 0)
    return do_cbt_enable (v) < 0 ? EXIT_FAIL : EXIT_OK;
  if (strcmp (sub, "status") == 0)
    return cbt_status (v) < 0 ? EXIT_FAIL : EXIT_OK;
  if (strcmp (sub, "disable") == 0) {
    const char *vmref = jstr (json_object_get (v->m->root, "vm"), "moref");
    if (vim_set_cbt (v->vim, vmref, false) < 0)
      return EXIT_FAIL;
    jset (json_object_get (v->m->root, "vm"), "cbt_enabled", json_false ());
    v2k_event (v, "info", "cbt", NULL, "cbt.disabled", NULL);
    return v2k_save (v) < 0 ? EXIT_FAIL : EXIT_OK;
  }
  return usage_error (self, "unknown subcommand '%s'", sub);
}
