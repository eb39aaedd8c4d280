/* cutover's conversion step (--convert auto|virt-v2v|none), between the
 * final sync and the define step.
 *
 * The plan is recorded in manifest.cutover.convert whatever it is, so the
 * define step (cutover_convert_domain_opts) builds the domain for what
 * was done: virtio-blk after virt-v2v (it rewrote fstab for vdX), SATA
 * and e1000e for a Windows guest that got no drivers.  The step is
 * recorded as cutover.steps.convert once it succeeded; after a failure
 * the source stays off, the qcow2 targets are reverted to the synced
 * state, and a rerun of cutover converts again (or rollback).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "core/convert.h"
#include "core/domain.h"
#include "core/virt.h"
#include "util/clock.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"

/* The source as virt-v2v should see it: the disks on the buses their
 * VMware controllers map to (sdX on SCSI and SATA), the NICs as mapped. */
static char *
source_xml (struct v2k *v, const struct cutover_opts *o)
{
  json_t *vm = json_object_get (v->m->root, "vm");
  bool efi = strcmp (jstr_or (vm, "firmware", "bios"), "efi") == 0;
  struct domain_opts d = { 0 };

  d.name = o->name;
  d.domain_type = o->domain_type;
  d.disk_bus = "auto";
  d.nic_model = "auto";
  d.network_map = o->network_map;
  d.virtio_drivers = true;
  if (efi)
    virt_find_ovmf (jbool (vm, "secure_boot"), &d.ovmf_code, &d.ovmf_vars);
  return domain_xml (v->m->root, &d);
}

/* Before anything is stopped: --convert virt-v2v needs the tool. */
int
cutover_convert_check (const struct cutover_opts *o)
{
  CLEANUP_FREE char *tool = NULL;

  if (o->convert == NULL || strcmp (o->convert, "virt-v2v") != 0)
    return 0;
  tool = convert_find_tool ();
  if (tool == NULL) {
    v2k_error ("--convert virt-v2v: 'virt-v2v-in-place' is not installed "
               "(Debian package 'virt-v2v')");
    return -1;
  }
  return 0;
}

void
cutover_convert_domain_opts (struct v2k *v, struct domain_opts *d)
{
  json_t *rec = json_object_get (json_object_get (v->m->root, "cutover"), "convert");

  if (!json_is_object (rec))
    return;
  if (!jbool (rec, "virtio"))
    d->virtio_drivers = false;
  if (jstr (rec, "disk_bus") && (d->disk_bus == NULL || strcmp (d->disk_bus, "auto") == 0))
    d->disk_bus = jstr (rec, "disk_bus");
}

static int
finish (struct v2k *v, json_t *c, json_t *rec)
{
  jset (c, "convert", rec);
  jset (json_object_get (c, "steps"), "convert", json_real (wall_seconds ()));
  v2k_event (v, "info", "cutover", NULL, "convert", NULL);
  return v2k_save (v);
}

int
cutover_convert (struct v2k *v, const struct cutover_opts *o)
{
  json_t *c = json_object_get (v->m->root, "cutover");
  json_t *vm = json_object_get (v->m->root, "vm");
  json_t *disks = json_object_get (v->m->root, "disks");
  json_t *nics = json_object_get (v->m->root, "nics");
  const char *mode = o->convert ? o->convert : "auto";
  CLEANUP_FREE char *tool = convert_find_tool ();
  CLEANUP_FREE char *xml = NULL, *pinned = NULL;
  CLEANUP_FREE char *xmlpath = path_join (v->workdir, "convert-source.xml");
  CLEANUP_FREE char *log = path_join (v->workdir, "convert.log");
  CLEANUP_FREE struct convert_disk *cd = NULL;
  CLEANUP_FREE const char **macs = NULL;
  struct convert_plan p;
  json_t *rec, *d;
  bool tcg = convert_need_tcg (), covered = false;
  size_t nd = json_array_size (disks), nm = json_array_size (nics), i;
  double t0, secs;

  if (json_object_get (json_object_get (c, "steps"), "convert"))
    return 0;
  if (convert_make_plan (mode, jstr (vm, "guest_id"), tool != NULL,
                         o->virtio_win != NULL, &p) < 0)
    return -1;
  rec = json_pack ("{s:s, s:b, s:b}", "mode", mode, "converted", 0, "virtio", p.virtio);
  if (p.disk_bus)
    jset_str (rec, "disk_bus", p.disk_bus);
  if (p.note) {
    jset_str (rec, "note", p.note);
    fprintf (stderr, "v2k: cutover: warning: %s\n", p.note);
    v2k_event (v, "warning", "cutover", NULL, "convert.skipped",
               json_pack ("{s:s}", "reason", p.note));
  }
  if (!p.run)
    return finish (v, c, rec);

  cd = calloc (nd ? nd : 1, sizeof *cd);
  macs = calloc (nm ? nm : 1, sizeof *macs);
  if (cd == NULL || macs == NULL) {
    json_decref (rec);
    v2k_error ("out of memory");
    return -1;
  }
  json_array_foreach (disks, i, d) {
    json_t *t = json_object_get (d, "target");
    cd[i].path = jstr_or (t, "path", "");
    cd[i].format = jstr_or (t, "format", "qcow2");
  }
  json_array_foreach (nics, i, d)
    macs[i] = jstr_or (d, "mac", "");
  xml = source_xml (v, o);
  if (xml == NULL || write_file_atomic (xmlpath, xml, strlen (xml), 0600) < 0) {
    json_decref (rec);
    return -1;
  }
  jset_str (rec, "tool", tool);
  jset_str (rec, "log", log);
  jset (rec, "tcg", json_boolean (tcg));
  v2k_event (v, "info", "cutover", NULL, "convert.started",
             json_pack ("{s:s, s:s, s:b}", "tool", tool, "log", log, "tcg", tcg));
  if (v->verbose)
    fprintf (stderr, "v2k: cutover: converting the guest (log: %s)\n", log);
  t0 = wall_seconds ();
  if (convert_checkpoint (cd, nd, "create", log, &covered) < 0)
    goto failed;
  if (convert_pin_nic_names (cd, nd, macs, nm, log, tcg, &pinned) < 0
      || convert_run_virt_v2v (tool, xmlpath, log, o->virtio_win, tcg) < 0) {
    CLEANUP_FREE char *msg = strdup (v2k_errmsg ());
    bool reverted = covered && convert_checkpoint (cd, nd, "revert", log, &covered) == 0;
    v2k_error ("guest conversion failed (the source VM stays off; target disks %s; "
               "run cutover again to retry, or rollback): %s",
               reverted ? "reverted to the synced state" : "may be partly converted",
               msg ? msg : "out of memory");
    goto failed;
  }
  if (covered)
    convert_checkpoint (cd, nd, "delete", log, &covered);
  secs = wall_seconds () - t0;
  jset (rec, "converted", json_true ());
  jset (rec, "seconds", json_real (secs));
  jset_str (rec, "nic_names", pinned ? pinned : "");
  v2k_event (v, "info", "cutover", NULL, "convert.done",
             json_pack ("{s:f, s:s}", "seconds", secs, "nic_names", pinned ? pinned : ""));
  return finish (v, c, rec);

 failed:
  jset_str (rec, "error", v2k_errmsg ());
  jset (rec, "seconds", json_real (wall_seconds () - t0));
  jset (c, "convert", rec);
  v2k_event (v, "error", "cutover", NULL, "convert.failed",
             json_pack ("{s:s, s:s}", "log", log, "error", v2k_errmsg ()));
  {
    CLEANUP_FREE char *msg = strdup (v2k_errmsg ());
    v2k_save (v);
    v2k_error ("%s", msg ? msg : "guest conversion failed");
  }
  return -1;
}
