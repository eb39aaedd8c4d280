/* cleanup: remove what v2k created, and nothing else. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "vsphere/vim.h"

/* Remove every snapshot v2k recorded and has not removed yet, by moref.
 * One that is already gone (removed by hand) is noted, not fatal. */
static int
remove_snapshots (struct v2k *v)
{
  CLEANUP_JSON json_t *inv = NULL;
  const char *vmref = jstr (json_object_get (v->m->root, "vm"), "moref");
  size_t i;
  json_t *s;

  if (vim_vm_inventory (v->vim, vmref, &inv) < 0)
    return -1;
  json_array_foreach (manifest_snapshots (v->m), i, s) {
    const char *moref = jstr (s, "moref");
    bool exists = false;
    size_t j;
    json_t *x;

    if (jbool (s, "removed") || moref == NULL)
      continue;
    json_array_foreach (json_object_get (inv, "snapshots"), j, x)
      if (strcmp (jstr_or (x, "moref", ""), moref) == 0)
        exists = true;
    if (!exists) {
      v2k_event (v, "warning", "cleanup", NULL, "snapshot.already-gone",
                 json_pack ("{s:s, s:s?}", "moref", moref, "name", jstr (s, "name")));
    }
    else if (vim_remove_snapshot (v->vim, moref) < 0) {
      v2k_error_prefix ("cannot remove snapshot '%s' (%s)",
                        jstr_or (s, "name", ""), moref);
      return -1;
    }
    else
      v2k_event (v, "info", "cleanup", NULL, "snapshot.removed",
                 json_pack ("{s:s, s:s?}", "moref", moref, "name", jstr (s, "name")));
    jset (s, "removed", json_true ());
    jset_str (s, "state", "removed");
    if (v2k_save (v) < 0)
      return -1;
  }
  return 0;
}

int
cmd_cleanup (struct v2k *v, int argc, char **argv)
{
  enum { O_KEEP_WD = 256, O_KEEP_SNAP, O_DISABLE_CBT };
  static const struct option opts[] = {
    { "keep-workdir", no_argument, NULL, O_KEEP_WD },
    { "keep-snapshots", no_argument, NULL, O_KEEP_SNAP },
    { "disable-cbt", no_argument, NULL, O_DISABLE_CBT },
    { NULL, 0, NULL, 0 },
  };
  const struct cmd *self = find_cmd ("cleanup");
  bool keep_wd = false, keep_snap = false, disable_cbt = false;
  int opt;

  while ((opt = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case O_KEEP_WD: keep_wd = true; break;
    case O_KEEP_SNAP: keep_snap = true; break;
    case O_DISABLE_CBT: disable_cbt = true; break;
    default: return usage_error (self, "bad option");
    }
  }
  if (optind != argc)
    return usage_error (self, "unexpected argument '%s'", argv[optind]);

  if (v->dry_run) {
    size_t i;
    json_t *s;
    json_array_foreach (manifest_snapshots (v->m), i, s)
      if (!keep_snap && !jbool (s, "removed") && jstr (s, "moref"))
        printf ("dry run: would remove snapshot '%s' (%s)\n",
                jstr_or (s, "name", ""), jstr (s, "moref"));
    if (disable_cbt)
      printf ("dry run: would disable changed block tracking\n");
    if (!keep_wd)
      printf ("dry run: would remove the workdir '%s'\n", v->workdir);
    return EXIT_OK;
  }
  if (!keep_snap && remove_snapshots (v) < 0)
    return EXIT_FAIL;
  if (disable_cbt) {
    const char *vmref = jstr (json_object_get (v->m->root, "vm"), "moref");
    if (vim_set_cbt (v->vim, vmref, false) < 0)
      return EXIT_FAIL;
    jset (json_object_get (v->m->root, "vm"), "cbt_enabled", json_false ());
    v2k_event (v, "info", "cleanup", NULL, "cbt.disabled", NULL);
  }
  manifest_set_phase (v->m, "cleaned");
  if (v2k_save (v) < 0)
    return EXIT_FAIL;
  v2k_event (v, "info", "cleanup", NULL, "cleanup.done",
             json_pack ("{s:b, s:b, s:b}", "keep_workdir", keep_wd,
                        "keep_snapshots", keep_snap, "disable_cbt", disable_cbt));
  if (!keep_wd && remove_tree (v->workdir) < 0)
    return EXIT_FAIL;
  return EXIT_OK;
}
