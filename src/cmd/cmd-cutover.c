/* cutover: stop the source, take and sync the final snapshot, define and
 * start the libvirt domain.
 *
 * Each step is recorded in manifest.cutover.steps when it completes, so
 * an interrupted cutover run again continues with the first step that is
 * not done.  The downtime runs from the start of the shutdown (recorded
 * before the first request) to the domain running.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/domain.h"
#include "core/virt.h"
#include "util/clock.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "vsphere/vim.h"

static json_t *
cutover_obj (struct v2k *v)
{
  json_t *c = json_object_get (v->m->root, "cutover");

  if (!json_is_object (c)) {
    c = json_pack ("{s:{}}", "steps");
    json_object_set_new (v->m->root, "cutover", c);
  }
  return c;
}

static bool
step_done (struct v2k *v, const char *step)
{
  return json_object_get (json_object_get (cutover_obj (v), "steps"), step) != NULL;
}

static int
mark_step (struct v2k *v, const char *step)
{
  json_t *c = cutover_obj (v);

  jset (json_object_get (c, "steps"), step, json_real (wall_seconds ()));
  v2k_event (v, "info", "cutover", NULL, step, NULL);
  return v2k_save (v);
}

static int
wait_off (struct v2k *v, const char *vm, int timeout)
{
  double deadline = wall_seconds () + timeout;

  for (;;) {
    CLEANUP_FREE char *state = NULL;
    if (vim_power_state (v->vim, vm, &state) < 0)
      return -1;
    if (strcmp (state, "poweredOff") == 0)
      return 1;
    if (wall_seconds () >= deadline)
      return 0;
    usleep (500 * 1000);
  }
}

static int
step_shutdown (struct v2k *v, const struct cutover_opts *o)
{
  const char *vm = jstr (json_object_get (v->m->root, "vm"), "moref");
  CLEANUP_FREE char *state = NULL;
  CLEANUP_FREE char *methods = strdup (o->shutdown);
  char *method, *save = NULL;
  json_t *c = cutover_obj (v);

  if (!json_is_real (json_object_get (c, "downtime_start"))) {
    jset (c, "downtime_start", json_real (wall_seconds ()));
    jset_str (c, "started", rfc3339_now ());
    if (v2k_save (v) < 0)
      return -1;
  }
  if (vim_power_state (v->vim, vm, &state) < 0)
    return -1;
  if (strcmp (state, "poweredOff") == 0)
    return mark_step (v, "shutdown");
  for (method = strtok_r (methods, ",", &save); method;
       method = strtok_r (NULL, ",", &save)) {
    int r;
    if (strcmp (method, "manual") == 0) {
      v2k_error ("the source VM is %s; with --shutdown manual, shut it down "
                 "first and run cutover again", state);
      return -1;
    }
    if (strcmp (method, "guest") == 0) {
      if (vim_shutdown_guest (v->vim, vm) < 0)
        return -1;
      v2k_event (v, "info", "cutover", NULL, "shutdown.guest-requested", NULL);
      r = wait_off (v, vm, o->shutdown_timeout);
    }
    else {
      if (vim_power_off (v->vim, vm) < 0)
        return -1;
      v2k_event (v, "info", "cutover", NULL, "shutdown.powered-off", NULL);
      r = wait_off (v, vm, o->shutdown_timeout);
    }
    if (r < 0)
      return -1;
    if (r == 1) {
      jset (json_object_get (v->m->root, "vm"), "power_state",
            json_string ("poweredOff"));
      return mark_step (v, "shutdown");
    }
    v2k_event (v, "warning", "cutover", NULL, "shutdown.timeout",
               json_pack ("{s:s, s:i}", "method", method,
                          "timeout", o->shutdown_timeout));
  }
  v2k_error ("the source VM did not power off within %d s (%s); use "
             "--shutdown guest,poweroff to power it off after the timeout",
             o->shutdown_timeout, o->shutdown);
  return -1;
}

/* The domain XML for this cutover (also run before the shutdown, so a
 * wrong network map or missing firmware is found while the source runs). */
static char *
build_xml (struct v2k *v, const struct cutover_opts *o)
{
  json_t *vm = json_object_get (v->m->root, "vm");
  bool efi = strcmp (jstr_or (vm, "firmware", "bios"), "efi") == 0;
  bool secure = efi && jbool (vm, "secure_boot");
  struct domain_opts d = { 0 };
  CLEANUP_FREE char *console = path_join (v->workdir, "console.log");
  CLEANUP_FREE char *nvram = path_join (v->workdir, "nvram.fd");

  d.name = o->name;
  d.domain_type = o->domain_type;
  d.disk_bus = o->disk_bus;
  d.nic_model = o->nic_model;
  d.vcpus = o->vcpus;
  d.memory_mb = o->memory_mb;
  d.network_map = o->network_map;
  d.console_log = console;
  d.virtio_drivers = true;
  cutover_convert_domain_opts (v, &d);
  if (efi) {
    virt_find_ovmf (secure, &d.ovmf_code, &d.ovmf_vars);
    if (d.ovmf_code == NULL) {
      v2k_error ("the source boots with UEFI%s, but no OVMF firmware is "
                 "installed (Debian package 'ovmf')", secure ? " and secure boot" : "");
      return NULL;
    }
    d.nvram = nvram;
  }
  return domain_xml (v->m->root, &d);
}

static int
step_define (struct v2k *v, const struct cutover_opts *o)
{
  json_t *c = cutover_obj (v);
  CLEANUP_FREE char *xmlpath = path_join (v->workdir, "domain.xml");
  CLEANUP_FREE char *xml = build_xml (v, o);
  CLEANUP_FREE char *uuid = NULL;

  if (xml == NULL)
    return -1;
  if (write_file_atomic (xmlpath, xml, strlen (xml), 0600) < 0)
    return -1;
  if (virt_define (o->uri, xml, &uuid) < 0)
    return -1;
  jset (c, "domain", json_pack ("{s:s, s:s, s:s, s:s, s:b}",
        "name", o->name ? o->name : jstr_or (json_object_get (v->m->root, "target"), "name", "vm"),
        "uuid", uuid, "uri", o->uri, "xml", xmlpath, "defined_by_v2k", 1));
  if (o->name)
    jset_str (json_object_get (v->m->root, "target"), "name", o->name);
  return mark_step (v, "define");
}

static int
step_start (struct v2k *v, const struct cutover_opts *o)
{
  json_t *c = cutover_obj (v), *dom = json_object_get (c, "domain");
  double downtime;

  if (virt_start (jstr (dom, "uri"), jstr (dom, "uuid")) < 0)
    return -1;
  downtime = wall_seconds () - json_real_value (json_object_get (c, "downtime_start"));
  jset (c, "downtime_seconds", json_real (downtime));
  v2k_event (v, "info", "cutover", NULL, "domain.started",
             json_pack ("{s:s, s:f}", "domain", jstr (dom, "name"),
                        "downtime_seconds", downtime));
  return mark_step (v, "start");
}

enum { O_SHUTDOWN = 2000, O_TIMEOUT, O_DEFINE_ONLY, O_START, O_URI, O_TYPE,
       O_NETMAP, O_BUS, O_VCPU, O_MEM, O_NAME, O_NIC, O_JOBS, O_NBDKIT,
       O_KEEP, O_CONVERT, O_VIRTIO_WIN };

const struct option cutover_options[] = {
  { "shutdown", required_argument, NULL, O_SHUTDOWN },
  { "shutdown-timeout", required_argument, NULL, O_TIMEOUT },
  { "define-only", no_argument, NULL, O_DEFINE_ONLY },
  { "start", no_argument, NULL, O_START },
  { "libvirt-uri", required_argument, NULL, O_URI },
  { "domain-type", required_argument, NULL, O_TYPE },
  { "network-map", required_argument, NULL, O_NETMAP },
  { "disk-bus", required_argument, NULL, O_BUS },
  { "nic-model", required_argument, NULL, O_NIC },
  { "vcpu", required_argument, NULL, O_VCPU },
  { "memory", required_argument, NULL, O_MEM },
  { "name", required_argument, NULL, O_NAME },
  { "jobs", required_argument, NULL, O_JOBS },
  { "nbdkit", required_argument, NULL, O_NBDKIT },
  { "keep-snapshots", no_argument, NULL, O_KEEP },
  { "convert", required_argument, NULL, O_CONVERT },
  { "virtio-win", required_argument, NULL, O_VIRTIO_WIN },
  { NULL, 0, NULL, 0 },
};

void
cutover_opts_init (struct cutover_opts *o)
{
  memset (o, 0, sizeof *o);
  o->shutdown_timeout = 300;
  o->uri = "qemu:///system";
  o->disk_bus = "auto";
  o->nic_model = "auto";
  o->network_map = json_object ();
  snprintf (o->shutdown, sizeof o->shutdown, "guest");
  sync_opts_default (&o->sync);
}

void
cutover_opts_free (struct cutover_opts *o)
{
  json_decref (o->network_map);
  o->network_map = NULL;
}

int
cutover_parse_opt (struct cutover_opts *o, int opt, const char *arg)
{
  switch (opt) {
  case O_SHUTDOWN:
    /* Repeatable: "--shutdown guest --shutdown poweroff" is a chain. */
    if (o->shutdown_set)
      strncat (o->shutdown, ",", sizeof o->shutdown - strlen (o->shutdown) - 1);
    else
      o->shutdown[0] = '\0';
    strncat (o->shutdown, arg, sizeof o->shutdown - strlen (o->shutdown) - 1);
    o->shutdown_set = true;
    break;
  case O_TIMEOUT: o->shutdown_timeout = atoi (arg); break;
  /* The runbook's flag: define, and start only with --start (run starts
   * by default; there --define-only keeps the domain stopped). */
  case O_DEFINE_ONLY: o->start = false; o->define_only = true; break;
  case O_START: o->start = true; break;
  case O_URI: o->uri = arg; break;
  case O_TYPE: o->domain_type = arg; break;
  case O_BUS: o->disk_bus = arg; break;
  case O_NIC: o->nic_model = arg; break;
  case O_VCPU: o->vcpus = atoi (arg); break;
  case O_MEM: o->memory_mb = atoi (arg); break;
  case O_NAME: o->name = arg; break;
  case O_JOBS: o->sync.jobs = atoi (arg); break;
  case O_NBDKIT: o->sync.nbdkit = arg; break;
  case O_KEEP: o->sync.keep_snapshots = true; break;
  case O_CONVERT:
    if (strcmp (arg, "auto") && strcmp (arg, "virt-v2v") && strcmp (arg, "none")) {
      v2k_error ("--convert must be auto, virt-v2v or none");
      return -1;
    }
    o->convert = arg;
    break;
  case O_VIRTIO_WIN: o->virtio_win = arg; break;
  case O_NETMAP: {
    const char *eq = strchr (arg, '=');
    CLEANUP_FREE char *k = NULL;
    if (eq == NULL || eq == arg) {
      v2k_error ("--network-map: expected SRC=bridge:NAME or SRC=network:NAME");
      return -1;
    }
    k = strndup (arg, eq - arg);
    jset_str (o->network_map, k, eq + 1);
    break;
  }
  default: return 1;
  }
  return 0;
}

int
cutover_check_opts (struct cutover_opts *o)
{
  CLEANUP_FREE char *m = strdup (o->shutdown);
  char *s, *save = NULL;

  for (s = strtok_r (m, ",", &save); s; s = strtok_r (NULL, ",", &save))
    if (strcmp (s, "guest") && strcmp (s, "poweroff") && strcmp (s, "manual")) {
      v2k_error ("--shutdown must be guest, poweroff or manual, not '%s'", s);
      return -1;
    }
  if (o->domain_type == NULL)
    o->domain_type = virt_default_domain_type ();
  if (strcmp (o->domain_type, "kvm") && strcmp (o->domain_type, "qemu")) {
    v2k_error ("--domain-type must be kvm or qemu");
    return -1;
  }
  if (strcmp (o->disk_bus, "auto") && strcmp (o->disk_bus, "virtio-blk")
      && strcmp (o->disk_bus, "virtio-scsi") && strcmp (o->disk_bus, "sata")) {
    v2k_error ("--disk-bus must be auto, virtio-blk, virtio-scsi or sata");
    return -1;
  }
  if (cutover_convert_check (o) < 0)
    return -1;
  if (o->sync.jobs < 1 || o->sync.jobs > 64) {
    v2k_error ("--jobs must be 1..64");
    return -1;
  }
  return 0;
}

static void
print_dry_run (struct v2k *v, const struct cutover_opts *o)
{
  const char *vm = jstr_or (json_object_get (v->m->root, "vm"), "moref", "");
  const char *kind = o->cold ? "base" : "final";

  if (!step_done (v, "shutdown"))
    printf ("dry run: would shut down the source VM '%s' (%s, timeout %d s)\n",
            vm, o->shutdown, o->shutdown_timeout);
  if (o->cold && !jbool (json_object_get (v->m->root, "vm"), "cbt_enabled"))
    printf ("dry run: would enable changed block tracking\n");
  if (!step_done (v, "snapshot"))
    printf ("dry run: would create the %s snapshot and copy %s\n", kind,
            o->cold ? "the allocated areas of every disk" : "what changed since the last sync");
  if (!step_done (v, "define"))
    printf ("dry run: would define the domain '%s' at %s (domain type %s)\n",
            o->name ? o->name : jstr_or (json_object_get (v->m->root, "target"), "name", "vm"),
            o->uri, o->domain_type);
  if (o->start && !step_done (v, "start"))
    printf ("dry run: would start it\n");
}

int
do_cutover (struct v2k *v, const struct cutover_opts *o)
{
  const char *kind = o->cold ? "base" : "final";

  if (strcmp (manifest_phase (v->m), "refused") == 0) {
    v2k_error ("preflight refused this VM at init; see 'status'");
    return -1;
  }
  if (!o->cold && manifest_last_synced_snapshot (v->m) == NULL) {
    v2k_error ("no synced base yet: run 'snapshot base' and 'sync base' "
               "before the cutover");
    return -1;
  }
  if (!step_done (v, "define")) {
    CLEANUP_FREE char *xml = build_xml (v, o);
    if (xml == NULL || virt_preflight (o->uri, o->domain_type) < 0)
      return -1;
  }
  if (v->dry_run) {
    print_dry_run (v, o);
    return 0;
  }
  cutover_obj (v);
  manifest_set_phase (v->m, "cutover");
  if (v2k_save (v) < 0)
    return -1;
  if (!step_done (v, "shutdown") && step_shutdown (v, o) < 0)
    return -1;
  /* Cold: one allocated-areas copy of a snapshot taken while the VM is
   * off, which needs tracking on ("*" lists the allocated areas). */
  if (o->cold && !step_done (v, "snapshot")
      && !jbool (json_object_get (v->m->root, "vm"), "cbt_enabled")
      && do_cbt_enable (v) < 0)
    return -1;
  if (!step_done (v, "snapshot")) {
    if (do_snapshot (v, kind, NULL, false) == NULL || mark_step (v, "snapshot") < 0)
      return -1;
  }
  if (!step_done (v, "sync")) {
    if (do_sync (v, kind, &o->sync) < 0 || mark_step (v, "sync") < 0)
      return -1;
  }
  if (!step_done (v, "define") && cutover_convert (v, o) < 0)
    return -1;
  if (!step_done (v, "define") && step_define (v, o) < 0)
    return -1;
  if (o->start && !step_done (v, "start") && step_start (v, o) < 0)
    return -1;
  manifest_set_phase (v->m, o->start ? "running" : "defined");
  return v2k_save (v);
}

int
cmd_cutover (struct v2k *v, int argc, char **argv)
{
  const struct cmd *self = find_cmd ("cutover");
  struct cutover_opts o;
  json_t *c;
  int opt, r, status = EXIT_FAIL;

  cutover_opts_init (&o);
  while ((opt = getopt_long (argc, argv, "", cutover_options, NULL)) != -1) {
    r = opt == '?' ? 1 : cutover_parse_opt (&o, opt, optarg);
    if (r != 0) {
      status = usage_error (self, "%s", r < 0 ? v2k_errmsg () : "bad option");
      goto cleanup;
    }
  }
  if (optind != argc) {
    status = usage_error (self, "unexpected argument '%s'", argv[optind]);
    goto cleanup;
  }
  if (cutover_check_opts (&o) < 0) {
    status = usage_error (self, "%s", v2k_errmsg ());
    goto cleanup;
  }
  if (do_cutover (v, &o) < 0)
    goto cleanup;
  status = EXIT_OK;
  if (v->dry_run)
    goto cleanup;
  c = cutover_obj (v);
  if (v->json) {
    status = print_json (c) < 0 ? EXIT_FAIL : EXIT_OK;
    goto cleanup;
  }
  printf ("domain %s %s", jstr (json_object_get (c, "domain"), "name"),
          o.start ? "running" : "defined");
  if (json_is_real (json_object_get (c, "downtime_seconds")))
    printf (", downtime %.1f s", json_real_value (json_object_get (c, "downtime_seconds")));
  printf ("\n");

 cleanup:
  cutover_opts_free (&o);
  return status;
}
