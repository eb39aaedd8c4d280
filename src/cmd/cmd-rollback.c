/* rollback: back to VMware.  Stops and undefines the domain v2k defined,
 * powers the source VM on; target disks and the workdir stay. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/virt.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/json.h"
#include "vsphere/vim.h"

int
cmd_rollback (struct v2k *v, int argc, char **argv)
{
  const struct cmd *self = find_cmd ("rollback");
  json_t *c = json_object_get (v->m->root, "cutover");
  json_t *dom = json_object_get (c, "domain");
  const char *vm = jstr (json_object_get (v->m->root, "vm"), "moref");
  CLEANUP_FREE char *state = NULL;

  if (getopt_long (argc, argv, "", (struct option[]) { { NULL, 0, NULL, 0 } },
                   NULL) != -1 || optind != argc)
    return usage_error (self, "takes no options");
  if (v->dry_run) {
    if (dom && jbool (dom, "defined_by_v2k"))
      printf ("dry run: would stop and undefine domain '%s' (%s)\n",
              jstr_or (dom, "name", ""), jstr_or (dom, "uri", ""));
    printf ("dry run: would power on the source VM '%s' if it is off\n", vm);
    return EXIT_OK;
  }
  if (dom && jbool (dom, "defined_by_v2k")) {
    if (virt_remove (jstr (dom, "uri"), jstr (dom, "uuid")) < 0)
      return EXIT_FAIL;
    v2k_event (v, "info", "rollback", NULL, "domain.removed",
               json_pack ("{s:s?, s:s?}", "domain", jstr (dom, "name"),
                          "uuid", jstr (dom, "uuid")));
    jset (dom, "defined_by_v2k", json_false ());
    jset (dom, "removed", json_true ());
  }
  /* The cutover starts over from the shutdown on the next attempt, but
   * the sync state is kept: the final snapshot is already synced. */
  {
    /* A synced final snapshot becomes an ordinary synced round: the
     * source runs again, so the next cutover needs a new final one that
     * continues from its changeIds. */
    json_t *last = manifest_last_synced_snapshot (v->m);
    if (last && strcmp (jstr_or (last, "kind", ""), "final") == 0) {
      jset_str (last, "kind", "incr");
      jset_str (last, "was", "final");
    }
  }
  if (c)
    jset (c, "steps", json_object ());
  if (c)
    json_object_del (c, "downtime_start");
  if (v2k_save (v) < 0)
    return EXIT_FAIL;
  if (vim_power_state (v->vim, vm, &state) < 0)
    return EXIT_FAIL;
  if (strcmp (state, "poweredOn") != 0) {
    if (vim_power_on (v->vim, vm) < 0)
      return EXIT_FAIL;
    v2k_event (v, "info", "rollback", NULL, "source.powered-on", NULL);
  }
  jset (json_object_get (v->m->root, "vm"), "power_state", json_string ("poweredOn"));
  manifest_set_phase (v->m, "rolled-back");
  if (v2k_save (v) < 0)
    return EXIT_FAIL;
  v2k_event (v, "info", "rollback", NULL, "rollback.done", NULL);
  printf ("source VM %s is running again; target disks kept\n",
          jstr_or (json_object_get (v->m->root, "vm"), "name", vm));
  return EXIT_OK;
}
