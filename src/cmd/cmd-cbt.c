/* cbt enable|disable|status: VMware Changed Block Tracking. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
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

static int
cbt_enable (struct v2k *v)
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

int
cmd_cbt (struct v2k *v, int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { NULL, 0, NULL, 0 },
  };
  const struct cmd *self = find_cmd ("cbt");
  const char *sub;
  int opt;

  while ((opt = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    if (opt == 'j')
      v->json = true;
    else
      return usage_error (self, "bad option");
  }
  if (optind + 1 != argc)
    return usage_error (self, "expected one of enable, disable, status");
  sub = argv[optind];
  if (strcmp (sub, "enable") == 0)
    return cbt_enable (v) < 0 ? EXIT_FAIL : EXIT_OK;
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
