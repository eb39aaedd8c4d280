/* init: find the VM, record its inventory and create the workdir. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/preflight.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "vsphere/vim.h"

#define DEFAULT_BASE "/var/lib/ablestack-v2k"

struct init_opts {
  const char *vm, *vcenter, *dst, *transport, *format, *thumbprint;
  json_t *dsmap;     /* {"datastore1": "/mnt/ds1"} */
  json_t *nbd_uris;  /* {"0": "nbd+unix:///?socket=..."} */
};

static int
parse_map (json_t *map, const char *arg, const char *what)
{
  const char *eq = strchr (arg, '=');
  CLEANUP_FREE char *key = NULL;

  if (eq == NULL || eq == arg || eq[1] == '\0') {
    v2k_error ("%s: expected NAME=VALUE, got '%s'", what, arg);
    return -1;
  }
  key = strndup (arg, eq - arg);
  jset_str (map, key, eq + 1);
  return 0;
}

static char *
default_run_id (void)
{
  char buf[64];
  time_t t = time (NULL);
  struct tm tm;

  gmtime_r (&t, &tm);
  strftime (buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return strdup (buf);
}

/* Fill in the per-disk fields v2k owns: target path and format, the
 * source transport's view, and the sync state. */
static int
plan_disks (json_t *disks, const struct init_opts *o)
{
  size_t i;
  json_t *d;

  json_array_foreach (disks, i, d) {
    char path[4096];
    const char *ds = jstr_or (d, "datastore", "");

    snprintf (path, sizeof path, "%s/disk%zu.%s", o->dst, i, o->format);
    jset (d, "target", json_pack ("{s:s, s:s}", "path", path, "format", o->format));
    jset (d, "sync", json_pack ("{s:n, s:n, s:n}", "change_id",
                                "snapshot", "checkpoint"));
    if (strcmp (o->transport, "file") == 0 && !json_object_get (o->dsmap, ds)) {
      v2k_error ("'%s' is on datastore '%s', which has no --datastore-map "
                 "%s=PATH for the file transport",
                 jstr_or (d, "label", "disk"), ds, ds);
      return -1;
    }
    if (strcmp (o->transport, "nbd") == 0) {
      char idx[32];
      snprintf (idx, sizeof idx, "%zu", i);
      if (!json_object_get (o->nbd_uris, idx)) {
        v2k_error ("disk %zu ('%s') has no --nbd-uri %zu=URI for the nbd "
                   "transport", i, jstr_or (d, "label", "disk"), i);
        return -1;
      }
    }
  }
  return 0;
}

static int
print_preflight (const json_t *pf)
{
  size_t i;
  json_t *f;

  json_array_foreach (json_object_get (pf, "warnings"), i, f)
    fprintf (stderr, "v2k: init: warning: %s\n", jstr_or (f, "message", ""));
  json_array_foreach (json_object_get (pf, "refusals"), i, f)
    fprintf (stderr, "v2k: init: refused: %s\n", jstr_or (f, "message", ""));
  return 0;
}

int
cmd_init (struct v2k *v, int argc, char **argv)
{
  enum { O_VM = 256, O_VCENTER, O_DST, O_TRANSPORT, O_DSMAP, O_FORMAT,
         O_RUN_ID, O_CRED, O_THUMB, O_FORCE, O_NBD_URI };
  static const struct option opts[] = {
    { "vm", required_argument, NULL, O_VM },
    { "vcenter", required_argument, NULL, O_VCENTER },
    { "dst", required_argument, NULL, O_DST },
    { "transport", required_argument, NULL, O_TRANSPORT },
    { "datastore-map", required_argument, NULL, O_DSMAP },
    { "nbd-uri", required_argument, NULL, O_NBD_URI },
    { "target-format", required_argument, NULL, O_FORMAT },
    { "run-id", required_argument, NULL, O_RUN_ID },
    { "cred-file", required_argument, NULL, O_CRED },
    { "thumbprint", required_argument, NULL, O_THUMB },
    { "force", no_argument, NULL, O_FORCE },
    { NULL, 0, NULL, 0 },
  };
  const struct cmd *self = find_cmd ("init");
  struct init_opts o = { .transport = "vddk", .format = "qcow2" };
  CLEANUP_JSON json_t *dsmap = json_object ();
  CLEANUP_JSON json_t *nbd_uris = json_object ();
  CLEANUP_JSON json_t *inv = NULL;
  CLEANUP_JSON json_t *pf = NULL;
  CLEANUP_FREE char *moref = NULL;
  CLEANUP_FREE char *run_id = NULL;
  CLEANUP_FREE char *workdir = NULL;
  CLEANUP_FREE char *mpath = NULL;
  CLEANUP_FREE char *dst_abs = NULL;
  CLEANUP_MANIFEST struct manifest *m = NULL;
  struct vim_conn_opts co = { 0 };
  const char *tname;
  json_t *vm;
  int opt;

  o.dsmap = dsmap;
  o.nbd_uris = nbd_uris;
  while ((opt = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case O_VM: o.vm = optarg; break;
    case O_VCENTER: o.vcenter = optarg; break;
    case O_DST: o.dst = optarg; break;
    case O_TRANSPORT: o.transport = optarg; break;
    case O_FORMAT: o.format = optarg; break;
    case O_RUN_ID: v->run_id = optarg; break;
    case O_CRED: v->cred_file = optarg; break;
    case O_THUMB: o.thumbprint = optarg; break;
    case O_FORCE: v->force = true; break;
    case O_DSMAP:
      if (parse_map (dsmap, optarg, "--datastore-map") < 0)
        return usage_error (self, "%s", v2k_errmsg ());
      break;
    case O_NBD_URI:
      if (parse_map (nbd_uris, optarg, "--nbd-uri") < 0)
        return usage_error (self, "%s", v2k_errmsg ());
      break;
    default: return usage_error (self, "bad option");
    }
  }
  if (optind < argc)
    return usage_error (self, "unexpected argument '%s'", argv[optind]);
  if (o.vm == NULL || o.dst == NULL)
    return usage_error (self, "--vm and --dst are required");
  if (strcmp (o.transport, "vddk") && strcmp (o.transport, "file")
      && strcmp (o.transport, "nbd"))
    return usage_error (self, "--transport must be vddk, file or nbd, not '%s'",
                        o.transport);
  if (strcmp (o.format, "qcow2") && strcmp (o.format, "raw"))
    return usage_error (self, "--target-format must be qcow2 or raw, not '%s'",
                        o.format);
  dst_abs = o.dst[0] == '/' ? strdup (o.dst) : realpath (".", NULL);
  if (o.dst[0] != '/') {
    char *p = path_join (dst_abs, o.dst);
    free (dst_abs);
    dst_abs = p;
  }
  o.dst = dst_abs;

  /* Connect. */
  if (v->cred_file && creds_load_file (&v->creds, v->cred_file) < 0)
    return EXIT_FAIL;
  creds_load_env (&v->creds);
  if (v->creds.password)
    v2k_error_redact (v->creds.password);
  co.url = o.vcenter ? o.vcenter : v->creds.url;
  co.username = v->creds.username;
  co.password = v->creds.password;
  co.insecure = v->creds.insecure;
  co.thumbprint = o.thumbprint ? o.thumbprint : v->creds.thumbprint;
  if (co.url == NULL)
    return usage_error (self, "--vcenter URL (or GOVC_URL) is required");
  if (co.username == NULL || co.password == NULL) {
    v2k_error ("no vCenter credentials: set GOVC_USERNAME and GOVC_PASSWORD "
               "or give --cred-file FILE");
    return EXIT_FAIL;
  }
  v->vim = vim_connect (&co);
  if (v->vim == NULL)
    return EXIT_FAIL;
  if (vim_find_vm (v->vim, o.vm, &moref) < 0
      || vim_vm_inventory (v->vim, moref, &inv) < 0)
    return EXIT_FAIL;
  vm = json_object_get (inv, "vm");

  /* The workdir. */
  run_id = v->run_id ? strdup (v->run_id) : default_run_id ();
  if (v->workdir)
    workdir = strdup (v->workdir);
  else if (asprintf (&workdir, "%s/%s/%s", DEFAULT_BASE,
                     jstr_or (vm, "name", "vm"), run_id) < 0)
    workdir = NULL;
  if (workdir == NULL || run_id == NULL) {
    v2k_error_errno (errno, "cannot build the workdir path");
    return EXIT_FAIL;
  }
  mpath = path_join (workdir, MANIFEST_NAME);
  if (access (mpath, F_OK) == 0) {
    /* Re-running init is harmless for the same VM and refused for
     * another, so a typo cannot overwrite a running migration. */
    CLEANUP_MANIFEST struct manifest *old = manifest_load (mpath);
    if (old == NULL)
      return EXIT_FAIL;
    if (strcmp (jstr_or (json_object_get (old->root, "vm"), "moref", ""),
                moref) != 0) {
      v2k_error ("workdir '%s' already holds a migration of '%s'", workdir,
                 jstr_or (json_object_get (old->root, "vm"), "name", "?"));
      return EXIT_FAIL;
    }
    printf ("%s\n", workdir);
    return EXIT_OK;
  }

  pf = preflight_check (inv, v->force);
  print_preflight (pf);

  if (mkdir_p (workdir, 0700) < 0 || chmod (workdir, 0700) < 0)
    return EXIT_FAIL;
  v->lock_fd = workdir_lock (workdir);
  if (v->lock_fd < 0)
    return EXIT_FAIL;

  m = manifest_new (mpath, run_id);
  if (m == NULL)
    return EXIT_FAIL;
  tname = jstr (pf, "target_name");
  jset (m->root, "source", json_pack ("{s:s, s:s?, s:b, s:s?, s:s?, s:s?}",
        "vcenter", co.url, "username", co.username, "insecure", co.insecure,
        "vcenter_thumbprint", vim_server_thumbprint (v->vim),
        "vcenter_thumbprint_pinned", co.thumbprint,
        "about", vim_about_fullname (v->vim)));
  json_object_set (m->root, "vm", vm);
  json_object_set (m->root, "host", json_object_get (inv, "host"));
  assign_disk_roles (json_object_get (inv, "disks"),
                     json_object_get (vm, "boot_order"));
  if (plan_disks (json_object_get (inv, "disks"), &o) < 0)
    return EXIT_FAIL;
  json_object_set (m->root, "disks", json_object_get (inv, "disks"));
  json_object_set (m->root, "nics", json_object_get (inv, "nics"));
  json_object_set (m->root, "cdroms", json_object_get (inv, "cdroms"));
  jset (m->root, "transfer", json_pack ("{s:s, s:O, s:O}",
        "transport", o.transport, "datastore_map", dsmap, "nbd_uris", nbd_uris));
  jset (m->root, "target", json_pack ("{s:s, s:s, s:s}", "dst", o.dst,
        "format", o.format, "name", tname ? tname : "vm"));
  json_object_set (m->root, "preflight", pf);
  jset (m->root, "force", json_boolean (v->force));

  if (json_array_size (json_object_get (pf, "refusals")) > 0) {
    /* Keep the record of why, but no credentials and no "ready" state. */
    manifest_set_phase (m, "refused");
    manifest_save (m);
    v2k_error ("preflight refused the VM '%s'; see the messages above "
               "(the manifest in '%s' records them)", jstr_or (vm, "name", ""),
               workdir);
    return EXIT_FAIL;
  }
  if (creds_save (&v->creds, workdir) < 0 || manifest_save (m) < 0)
    return EXIT_FAIL;
  if (event_log_open (&v->log, workdir, run_id) < 0)
    return EXIT_FAIL;
  v2k_event (v, "info", "init", NULL, "init.done",
             json_pack ("{s:s, s:s, s:i, s:i, s:i}", "vm", jstr_or (vm, "name", ""),
                        "moref", moref,
                        "disks", (int) json_array_size (json_object_get (inv, "disks")),
                        "nics", (int) json_array_size (json_object_get (inv, "nics")),
                        "warnings", (int) json_array_size (json_object_get (pf, "warnings"))));
  if (v->json) {
    CLEANUP_JSON json_t *out = json_pack ("{s:s, s:s, s:s}", "workdir", workdir,
                                          "run_id", run_id, "vm", moref);
    return print_json (out) < 0 ? EXIT_FAIL : EXIT_OK;
  }
  printf ("%s\n", workdir);
  return EXIT_OK;
}
