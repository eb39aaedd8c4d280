/* snapshot base|incr|final: create a migration snapshot and record it.
 *
 * The intent is written to the manifest before the snapshot is created,
 * so a crash between CreateSnapshot and the manifest write is recovered
 * by finding the snapshot by its unique name instead of making another.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/json.h"
#include "vsphere/vim.h"

static int
count_kind (struct v2k *v, const char *kind)
{
  size_t i;
  json_t *s;
  int n = 0;

  json_array_foreach (manifest_snapshots (v->m), i, s)
    if (strcmp (jstr_or (s, "kind", ""), kind) == 0)
      n++;
  return n;
}

/* Final snapshots of rolled-back cutovers: the next one needs a new name. */
static int
count_was_final (struct v2k *v)
{
  size_t i;
  json_t *s;
  int n = 0;

  json_array_foreach (manifest_snapshots (v->m), i, s)
    if (strcmp (jstr_or (s, "was", ""), "final") == 0)
      n++;
  return n;
}

/* Find a snapshot of the VM by name in a fresh inventory. */
static const char *
find_by_name (const json_t *inv, const char *name)
{
  size_t i;
  json_t *s;

  json_array_foreach (json_object_get (inv, "snapshots"), i, s)
    if (strcmp (jstr_or (s, "name", ""), name) == 0)
      return jstr (s, "moref");
  return NULL;
}

/* Record the frozen file and changeId of every disk, matched by key. */
static int
record_disks (struct v2k *v, json_t *snap)
{
  CLEANUP_JSON json_t *sd = NULL;
  json_t *disks = json_array ();
  size_t i;
  json_t *d;

  jset (snap, "disks", disks);
  if (vim_snapshot_disks (v->vim, jstr (snap, "moref"), &sd) < 0)
    return -1;
  json_array_foreach (manifest_disks (v->m), i, d) {
    json_t *found = NULL, *x;
    size_t j;

    json_array_foreach (sd, j, x)
      if (jint (x, "key") == jint (d, "key"))
        found = x;
    if (found == NULL) {
      v2k_error ("snapshot '%s' has no disk with key %lld ('%s')",
                 jstr (snap, "name"), (long long) jint (d, "key"),
                 jstr_or (d, "label", ""));
      return -1;
    }
    if (!json_is_string (json_object_get (found, "change_id"))) {
      v2k_error ("'%s' has no changeId in snapshot '%s': changed block "
                 "tracking is not active (run 'cbt enable')",
                 jstr_or (d, "label", ""), jstr (snap, "name"));
      return -1;
    }
    json_array_append_new (disks, json_pack ("{s:I, s:s?, s:O}",
        "key", (json_int_t) jint (d, "key"), "file", jstr (found, "file"),
        "change_id", json_object_get (found, "change_id")));
  }
  return 0;
}

static bool
has_key (const json_t *disks, json_int_t key)
{
  size_t i;
  json_t *d;

  json_array_foreach (disks, i, d)
    if (jint (d, "key") == key)
      return true;
  return false;
}

/* The VM's disks are the ones init recorded: a disk added since would
 * be left behind without a word, a removed one cannot be copied. */
static int
check_disk_set (struct v2k *v, const json_t *inv)
{
  const json_t *now = json_object_get (inv, "disks");
  size_t i;
  json_t *d;

  json_array_foreach (now, i, d)
    if (!has_key (manifest_disks (v->m), jint (d, "key"))) {
      v2k_error ("the VM has a disk that was not there at init: '%s' (key "
                 "%lld, %lld bytes); start a new run (init) to migrate it",
                 jstr_or (d, "label", "disk"), (long long) jint (d, "key"),
                 (long long) jint (d, "capacity"));
      return -1;
    }
  json_array_foreach (manifest_disks (v->m), i, d)
    if (!has_key (now, jint (d, "key"))) {
      v2k_error ("'%s' (key %lld) was removed from the VM since init; "
                 "start a new run (init)", jstr_or (d, "label", "disk"),
                 (long long) jint (d, "key"));
      return -1;
    }
  return 0;
}

/* vCenter still lists this snapshot? */
static bool
vm_has_snapshot (const json_t *inv, const char *moref)
{
  size_t i;
  json_t *x;

  json_array_foreach (json_object_get (inv, "snapshots"), i, x)
    if (strcmp (jstr_or (x, "moref", ""), moref) == 0)
      return true;
  return false;
}

static void
mark_removed (struct v2k *v, json_t *s)
{
  jset (s, "removed", json_true ());
  jset_str (s, "state", "removed");
  v2k_save (v);
}

/* Remove v2k's older snapshots once 'snap' is synced (VMware's order:
 * sync N, then remove N-1).  A failure is a warning here: the data is
 * safe, and the next snapshot, sync or cleanup tries again.  Returns how
 * many are left. */
int
snapshot_remove_before (struct v2k *v, json_t *snap)
{
  CLEANUP_JSON json_t *inv = NULL;
  const char *vm = jstr (json_object_get (v->m->root, "vm"), "moref");
  size_t i;
  json_t *s;
  int left = 0;

  json_array_foreach (manifest_snapshots (v->m), i, s) {
    if (s == snap || jbool (s, "removed") || !json_is_string (json_object_get (s, "moref")))
      continue;
    /* A removal interrupted by a crash may have finished in vCenter. */
    if (inv == NULL && vim_vm_inventory (v->vim, vm, &inv) < 0)
      inv = NULL;
    if (inv && !vm_has_snapshot (inv, jstr (s, "moref"))) {
      mark_removed (v, s);
      continue;
    }
    if (vim_remove_snapshot (v->vim, jstr (s, "moref")) < 0) {
      fprintf (stderr, "v2k: warning: %s\n", v2k_errmsg ());
      v2k_event (v, "warning", "snapshot", NULL, "snapshot.remove-failed",
                 json_pack ("{s:s, s:s}", "moref", jstr (s, "moref"),
                            "error", v2k_errmsg ()));
      left++;
      continue;
    }
    mark_removed (v, s);
    v2k_event (v, "info", "snapshot", NULL, "snapshot.removed",
               json_pack ("{s:s, s:s?}", "moref", jstr (s, "moref"),
                          "name", jstr (s, "name")));
  }
  return left;
}

json_t *
do_snapshot (struct v2k *v, const char *kind, const char *name, bool quiesce)
{
  const char *vmref = jstr (json_object_get (v->m->root, "vm"), "moref");
  CLEANUP_JSON json_t *inv = NULL;
  CLEANUP_FREE char *moref = NULL;
  char defname[256];
  json_t *last, *snap;

  if (strcmp (manifest_phase (v->m), "refused") == 0) {
    v2k_error ("preflight refused this VM at init; see 'status'");
    return NULL;
  }

  last = manifest_last_snapshot (v->m);
  if (last && strcmp (jstr_or (last, "state", ""), "missing") == 0) {
    /* Removed behind our back before it was synced: its record is
     * history (the event log keeps it); a new one takes its place. */
    v2k_event (v, "warning", "snapshot", NULL, "snapshot.replaced-missing",
               json_pack ("{s:s?, s:s?}", "name", jstr (last, "name"),
                          "moref", jstr (last, "moref")));
    json_array_remove (manifest_snapshots (v->m),
                       json_array_size (manifest_snapshots (v->m)) - 1);
    last = manifest_last_snapshot (v->m);
  }
  if (last && !jbool (last, "synced")) {
    /* An unsynced snapshot of the same kind is this command's own work
     * from an earlier run: finish recording it instead of a second one. */
    if (strcmp (jstr_or (last, "kind", ""), kind) != 0) {
      v2k_error ("snapshot '%s' (%s) is not synced yet; run 'sync %s' first",
                 jstr_or (last, "name", ""), jstr_or (last, "kind", ""),
                 jstr_or (last, "kind", ""));
      return NULL;
    }
    snap = last;
  }
  else {
    if (strcmp (kind, "base") == 0 && last) {
      v2k_error ("a base snapshot was already synced; continue with "
                 "'snapshot incr' (or start a new run)");
      return NULL;
    }
    if (strcmp (kind, "base") != 0 && last == NULL) {
      v2k_error ("no base snapshot yet; run 'snapshot base' and 'sync base' first");
      return NULL;
    }
    if (last && strcmp (jstr_or (last, "kind", ""), "final") == 0) {
      v2k_error ("the final snapshot was already synced");
      return NULL;
    }
    /* At most two v2k snapshots at any time: a predecessor whose removal
     * failed after the last sync goes before a new one comes.  Not at
     * the final snapshot: the guest is down then, and the final sync
     * removes what is left. */
    if (last && !jbool (last, "keep_predecessors") && !v->dry_run &&
        snapshot_remove_before (v, last) > 0 && strcmp (kind, "final") != 0) {
      v2k_error ("an older v2k snapshot could not be removed (see the "
                 "warning above); remove it in vCenter or run this command "
                 "again before a new snapshot is taken");
      return NULL;
    }
    if (strcmp (kind, "incr") == 0)
      snprintf (defname, sizeof defname, "v2k-%s-incr-%d",
                manifest_run_id (v->m), count_kind (v, "incr") + 1);
    else if (strcmp (kind, "final") == 0 && count_was_final (v) > 0)
      snprintf (defname, sizeof defname, "v2k-%s-final-%d",
                manifest_run_id (v->m), count_was_final (v) + 1);
    else
      snprintf (defname, sizeof defname, "v2k-%s-%s", manifest_run_id (v->m), kind);
    snap = json_pack ("{s:s, s:s, s:n, s:s, s:b, s:b}", "kind", kind,
                      "name", name ? name : defname, "moref",
                      "state", "creating", "synced", 0, "removed", 0);
    json_array_append_new (manifest_snapshots (v->m), snap);
    if (v2k_save (v) < 0)
      return NULL;
  }

  if (!json_is_string (json_object_get (snap, "moref"))) {
    if (vim_vm_inventory (v->vim, vmref, &inv) < 0 ||
        check_disk_set (v, inv) < 0)
      return NULL;
    if (strcmp (kind, "base") == 0
        && !jbool (json_object_get (inv, "vm"), "cbt_enabled")) {
      v2k_error ("changed block tracking is off; run 'cbt enable' first");
      return NULL;
    }
    if (find_by_name (inv, jstr (snap, "name")))
      moref = strdup (find_by_name (inv, jstr (snap, "name")));
    else {
      if (strcmp (kind, "final") == 0
          && strcmp (jstr_or (json_object_get (inv, "vm"), "power_state", ""),
                     "poweredOff") != 0)
        v2k_event (v, "warning", "snapshot", NULL, "snapshot.final-while-running",
                   json_string ("the VM is running: changes after the final "
                                "snapshot will not be migrated"));
      if (vim_create_snapshot (v->vim, vmref, jstr (snap, "name"),
                               "created by v2k for migration", quiesce,
                               &moref) < 0)
        return NULL;
    }
    jset_str (snap, "moref", moref);
    jset_str (snap, "created", rfc3339_now ());
  }
  if (record_disks (v, snap) < 0)
    return NULL;
  jset_str (snap, "state", "created");
  manifest_set_phase (v->m, strcmp (kind, "base") == 0 ? "base"
                      : strcmp (kind, "incr") == 0 ? "incr" : "final");
  if (v2k_save (v) < 0)
    return NULL;
  v2k_event (v, "info", "snapshot", NULL, "snapshot.created",
             json_pack ("{s:s, s:s, s:s}", "kind", kind,
                        "name", jstr (snap, "name"), "moref", jstr (snap, "moref")));
  return snap;
}

int
cmd_snapshot (struct v2k *v, int argc, char **argv)
{
  static const struct option opts[] = {
    { "name", required_argument, NULL, 'n' },
    { "quiesce", no_argument, NULL, 'q' },
    { NULL, 0, NULL, 0 },
  };
  const struct cmd *self = find_cmd ("snapshot");
  const char *kind, *name = NULL;
  bool quiesce = false;
  json_t *snap;
  int opt;

  while ((opt = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case 'n': name = optarg; break;
    case 'q': quiesce = true; break;
    default: return usage_error (self, "bad option");
    }
  }
  if (optind + 1 != argc)
    return usage_error (self, "expected one of base, incr, final");
  kind = argv[optind];
  if (strcmp (kind, "base") && strcmp (kind, "incr") && strcmp (kind, "final"))
    return usage_error (self, "unknown snapshot kind '%s'", kind);
  if (v->dry_run) {
    json_t *last = manifest_last_snapshot (v->m);
    if (last && !jbool (last, "synced") && jstr (last, "moref"))
      printf ("dry run: snapshot '%s' (%s) exists and is not synced yet; "
              "nothing to create\n", jstr_or (last, "name", ""), jstr (last, "moref"));
    else
      printf ("dry run: would create a %s snapshot%s%s of VM '%s'%s\n", kind,
              name ? " named " : "", name ? name : "",
              jstr_or (json_object_get (v->m->root, "vm"), "moref", ""),
              quiesce ? " (quiesced)" : "");
    return EXIT_OK;
  }
  snap = do_snapshot (v, kind, name, quiesce);
  if (snap == NULL)
    return EXIT_FAIL;
  if (v->json)
    return print_json (snap) < 0 ? EXIT_FAIL : EXIT_OK;
  printf ("%s %s\n", jstr (snap, "name"), jstr (snap, "moref"));
  return EXIT_OK;
}
