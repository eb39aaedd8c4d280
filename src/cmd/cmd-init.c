/* init: find the VM, record its inventory and create the workdir. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

/* A --target-map entry for disk i: by disk_id ("scsi0:0") or index;
 * 'key' receives the one that matched. */
static const char *
mapped_target (const struct init_opts *o, const json_t *d, size_t i,
               char *key, size_t nkey)
{
  snprintf (key, nkey, "%s", jstr_or (d, "disk_id", ""));
  if (jstr (o->target_map, key))
    return jstr (o->target_map, key);
  snprintf (key, nkey, "%zu", i);
  return jstr (o->target_map, key);
}

/* A block device must exist and hold the disk; v2k never creates one. */
static int
check_block_target (const char *path, const json_t *d)
{
  struct stat st;
  uint64_t size = 0;
  CLEANUP_CLOSE int fd = -1;

  if (stat (path, &st) < 0) {
    v2k_error_errno (errno, "--target-map: cannot use '%s' for '%s'", path,
                     jstr_or (d, "label", "disk"));
    return -1;
  }
  if (!S_ISBLK (st.st_mode)) {
    v2k_error ("--target-map: '%s' is not a block device", path);
    return -1;
  }
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ioctl (fd, BLKGETSIZE64, &size) < 0) {
    v2k_error_errno (errno, "--target-map: cannot read the size of '%s'", path);
    return -1;
  }
  if (size < (uint64_t) jint (d, "capacity")) {
    v2k_error ("--target-map: '%s' has %llu bytes, '%s' needs %lld", path,
               (unsigned long long) size, jstr_or (d, "label", "disk"),
               (long long) jint (d, "capacity"));
    return -1;
  }
  return 0;
}

/* The target of disk i: a file under --dst, or what --target-map names
 * (a block device or an rbd image, written raw, or a file). */
static int
plan_target (json_t *d, size_t i, const struct init_opts *o, json_t *unused)
{
  char path[4096], key[64];
  const char *m = mapped_target (o, d, i, key, sizeof key);
  const char *format = o->format;

  if (m == NULL)
    snprintf (path, sizeof path, "%s/disk%zu.%s", o->dst, i, o->format);
  else if (strncmp (m, "/dev/", 5) == 0 || strncmp (m, "rbd:", 4) == 0) {
    if (m[0] == '/' && check_block_target (m, d) < 0)
      return -1;
    snprintf (path, sizeof path, "%s", m);
    format = "raw";
  }
  else if (m[0] == '/')
    snprintf (path, sizeof path, "%s", m);
  else {
    v2k_error ("--target-map %s=%s: give an absolute path, /dev/... or "
               "rbd:POOL/IMAGE", key, m);
    return -1;
  }
  if (m)
    json_object_del (unused, key);
  jset (d, "target", json_pack ("{s:s, s:s}", "path", path, "format", format));
  return 0;
}

/* Fill in the per-disk fields v2k owns: target path and format, the
 * source transport's view, and the sync state. */
static int
plan_disks (json_t *disks, const struct init_opts *o)
{
  CLEANUP_JSON json_t *unused = json_copy (o->target_map);
  size_t i, j;
  json_t *d, *e;

  json_array_foreach (disks, i, d) {
    const char *ds = jstr_or (d, "datastore", "");

    if (plan_target (d, i, o, unused) < 0)
      return -1;
    json_array_foreach (disks, j, e)
      if (j < i && strcmp (jstr_or (json_object_get (e, "target"), "path", ""),
                           jstr_or (json_object_get (d, "target"), "path", "")) == 0) {
        v2k_error ("'%s' and '%s' would both be written to '%s'",
                   jstr_or (e, "label", "disk"), jstr_or (d, "label", "disk"),
                   jstr_or (json_object_get (d, "target"), "path", ""));
        return -1;
      }
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
  if (json_object_size (unused) > 0) {
    v2k_error ("--target-map %s=...: the VM has no such disk (use a disk id "
               "like scsi0:0 or an index from 0)",
               json_object_iter_key (json_object_iter (unused)));
    return -1;
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

enum { O_VM = 1000, O_VCENTER, O_DST, O_TRANSPORT, O_DSMAP, O_FORMAT,
       O_RUN_ID, O_CRED, O_THUMB, O_FORCE, O_NBD_URI, O_ESXI_HOST,
       O_ESXI_THUMB, O_VDDK_CRED, O_VDDK_SERVER, O_TARGET_MAP };

const struct option init_options[] = {
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
  { "esxi-host", required_argument, NULL, O_ESXI_HOST },
  { "esxi-thumbprint", required_argument, NULL, O_ESXI_THUMB },
  { "vddk-cred-file", required_argument, NULL, O_VDDK_CRED },
  { "vddk-server", required_argument, NULL, O_VDDK_SERVER },
  { "target-map", required_argument, NULL, O_TARGET_MAP },
  { NULL, 0, NULL, 0 },
};

void
init_opts_init (struct init_opts *o)
{
  memset (o, 0, sizeof *o);
  o->transport = "vddk";
  o->format = "qcow2";
  o->vddk_server = "esxi";
  o->dsmap = json_object ();
  o->nbd_uris = json_object ();
  o->target_map = json_object ();
}

void
init_opts_free (struct init_opts *o)
{
  json_decref (o->dsmap);
  json_decref (o->nbd_uris);
  json_decref (o->target_map);
  free (o->dst_abs);
  o->dsmap = o->nbd_uris = o->target_map = NULL;
  o->dst_abs = NULL;
}

int
init_parse_opt (struct v2k *v, struct init_opts *o, int opt, const char *arg)
{
  switch (opt) {
  case O_VM: o->vm = arg; break;
  case O_VCENTER: o->vcenter = arg; break;
  case O_DST: o->dst = arg; break;
  case O_TRANSPORT: o->transport = arg; break;
  case O_FORMAT: o->format = arg; break;
  case O_RUN_ID: v->run_id = arg; break;
  case O_CRED: v->cred_file = arg; break;
  case O_THUMB: o->thumbprint = arg; break;
  case O_FORCE: v->force = true; break;
  case O_ESXI_HOST: o->esxi_host = arg; break;
  case O_ESXI_THUMB: o->esxi_thumbprint = arg; break;
  case O_VDDK_CRED: o->vddk_cred_file = arg; break;
  case O_VDDK_SERVER: o->vddk_server = arg; break;
  case O_DSMAP: return parse_map (o->dsmap, arg, "--datastore-map");
  case O_NBD_URI: return parse_map (o->nbd_uris, arg, "--nbd-uri");
  case O_TARGET_MAP: return parse_map (o->target_map, arg, "--target-map");
  default: return 1;
  }
  return 0;
}

int
init_check_opts (struct init_opts *o)
{
  if (o->vm == NULL || o->dst == NULL) {
    v2k_error ("--vm and --dst are required");
    return -1;
  }
  if (strcmp (o->transport, "vddk") && strcmp (o->transport, "file")
      && strcmp (o->transport, "nbd")) {
    v2k_error ("--transport must be vddk, file or nbd, not '%s'", o->transport);
    return -1;
  }
  if (strcmp (o->format, "qcow2") && strcmp (o->format, "raw")) {
    v2k_error ("--target-format must be qcow2 or raw, not '%s'", o->format);
    return -1;
  }
  if (strcmp (o->vddk_server, "esxi") && strcmp (o->vddk_server, "vcenter")) {
    v2k_error ("--vddk-server must be esxi or vcenter, not '%s'", o->vddk_server);
    return -1;
  }
  if (o->dst[0] == '/')
    o->dst_abs = strdup (o->dst);
  else {
    CLEANUP_FREE char *cwd = realpath (".", NULL);
    o->dst_abs = cwd ? path_join (cwd, o->dst) : NULL;
  }
  if (o->dst_abs == NULL) {
    v2k_error_errno (errno, "cannot resolve --dst '%s'", o->dst);
    return -1;
  }
  o->dst = o->dst_abs;
  return 0;
}

/* The ESXi host as the manifest records it, with the operator's
 * overrides (the old runbook's hand edit of source.esxi_host and its
 * THUMBPRINT variable); what was discovered stays beside them. */
static void
record_host (json_t *root, json_t *host, const struct init_opts *o)
{
  json_t *h = json_deep_copy (host);

  if (h == NULL)
    h = json_object ();
  if (o->esxi_host) {
    json_object_set (h, "name_discovered", json_object_get (host, "name"));
    jset_str (h, "name", o->esxi_host);
  }
  if (o->esxi_thumbprint) {
    json_object_set (h, "thumbprint_discovered",
                     json_object_get (host, "thumbprint"));
    jset_str (h, "thumbprint", o->esxi_thumbprint);
  }
  json_object_set_new (root, "host", h);
}

static void
print_dry_run (const char *workdir, const json_t *vm, const json_t *inv,
               const struct init_opts *o)
{
  size_t i;
  json_t *d;

  printf ("dry run: would create workdir '%s' for VM '%s' (%s)\n", workdir,
          jstr_or (vm, "name", ""), jstr_or (vm, "moref", ""));
  json_array_foreach (json_object_get (inv, "disks"), i, d)
    printf ("dry run: disk %s '%s' %lld bytes -> %s/disk%zu.%s\n",
            jstr_or (d, "disk_id", "?"), jstr_or (d, "label", ""),
            (long long) jint (d, "capacity"), o->dst, i, o->format);
}

int
do_init (struct v2k *v, struct init_opts *o, char **workdir_out)
{
  CLEANUP_JSON json_t *inv = NULL;
  CLEANUP_JSON json_t *pf = NULL;
  CLEANUP_FREE char *moref = NULL;
  CLEANUP_FREE char *run_id = NULL;
  CLEANUP_FREE char *workdir = NULL;
  CLEANUP_FREE char *mpath = NULL;
  CLEANUP_MANIFEST struct manifest *m = NULL;
  struct vddk_creds vc = { 0 };
  struct vim_conn_opts co = { 0 };
  const char *tname;
  json_t *vm;
  int ret = -1;

  *workdir_out = NULL;
  if (o->vddk_cred_file) {
    if (vddk_creds_load (&vc, o->vddk_cred_file) < 0)
      goto cleanup;
    v2k_error_redact (vc.password);
  }
  /* Connect. */
  if (v->cred_file && creds_load_file (&v->creds, v->cred_file) < 0)
    goto cleanup;
  creds_load_env (&v->creds);
  if (v->creds.password)
    v2k_error_redact (v->creds.password);
  co.url = o->vcenter ? o->vcenter : v->creds.url;
  co.username = v->creds.username;
  co.password = v->creds.password;
  co.insecure = v->creds.insecure;
  co.thumbprint = o->thumbprint ? o->thumbprint : v->creds.thumbprint;
  if (co.url == NULL) {
    v2k_error ("--vcenter URL (or GOVC_URL) is required");
    goto cleanup;
  }
  if (co.username == NULL || co.password == NULL) {
    v2k_error ("no vCenter credentials: set GOVC_USERNAME and GOVC_PASSWORD "
               "or give --cred-file FILE");
    goto cleanup;
  }
  if (v->vim == NULL && (v->vim = vim_connect (&co)) == NULL)
    goto cleanup;
  if (vim_find_vm (v->vim, o->vm, &moref) < 0
      || vim_vm_inventory (v->vim, moref, &inv) < 0)
    goto cleanup;
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
    goto cleanup;
  }
  mpath = path_join (workdir, MANIFEST_NAME);
  if (access (mpath, F_OK) == 0) {
    /* Re-running init is harmless for the same VM and refused for
     * another, so a typo cannot overwrite a running migration. */
    CLEANUP_MANIFEST struct manifest *old = manifest_load (mpath);
    if (old == NULL)
      goto cleanup;
    if (strcmp (jstr_or (json_object_get (old->root, "vm"), "moref", ""),
                moref) != 0) {
      v2k_error ("workdir '%s' already holds a migration of '%s'", workdir,
                 jstr_or (json_object_get (old->root, "vm"), "name", "?"));
      goto cleanup;
    }
    *workdir_out = workdir;
    workdir = NULL;
    ret = 0;
    goto cleanup;
  }

  pf = preflight_check (inv, v->force);
  print_preflight (pf);
  if (v->dry_run) {
    print_dry_run (workdir, vm, inv, o);
    *workdir_out = workdir;
    workdir = NULL;
    ret = 0;
    goto cleanup;
  }

  if (mkdir_p (workdir, 0700) < 0 || chmod (workdir, 0700) < 0)
    goto cleanup;
  if (v->lock_fd < 0 && (v->lock_fd = workdir_lock (workdir)) < 0)
    goto cleanup;

  m = manifest_new (mpath, run_id);
  if (m == NULL)
    goto cleanup;
  tname = jstr (pf, "target_name");
  jset (m->root, "source", json_pack ("{s:s, s:s?, s:b, s:s?, s:s?, s:s?}",
        "vcenter", co.url, "username", co.username, "insecure", co.insecure,
        "vcenter_thumbprint", vim_server_thumbprint (v->vim),
        "vcenter_thumbprint_pinned", co.thumbprint,
        "about", vim_about_fullname (v->vim)));
  json_object_set (m->root, "vm", vm);
  record_host (m->root, json_object_get (inv, "host"), o);
  assign_disk_roles (json_object_get (inv, "disks"),
                     json_object_get (vm, "boot_order"));
  if (plan_disks (json_object_get (inv, "disks"), o) < 0)
    goto cleanup;
  json_object_set (m->root, "disks", json_object_get (inv, "disks"));
  json_object_set (m->root, "nics", json_object_get (inv, "nics"));
  json_object_set (m->root, "cdroms", json_object_get (inv, "cdroms"));
  /* vddk_account: whose account nbdkit logs in with; the secret itself
   * is in WORKDIR/vddk-credentials (or the vCenter credentials file). */
  jset (m->root, "transfer", json_pack ("{s:s, s:O, s:O, s:s, s:s, s:s?}",
        "transport", o->transport, "datastore_map", o->dsmap,
        "nbd_uris", o->nbd_uris, "vddk_server", o->vddk_server,
        "vddk_account", vc.user ? "vddk-credentials" : "vcenter",
        "vddk_user", vc.user));
  jset (m->root, "target", json_pack ("{s:s, s:s, s:s}", "dst", o->dst,
        "format", o->format, "name", tname ? tname : "vm"));
  json_object_set (m->root, "preflight", pf);
  jset (m->root, "force", json_boolean (v->force));

  if (json_array_size (json_object_get (pf, "refusals")) > 0) {
    /* Keep the record of why, but no credentials and no "ready" state. */
    manifest_set_phase (m, "refused");
    manifest_save (m);
    v2k_error ("preflight refused the VM '%s'; see the messages above "
               "(the manifest in '%s' records them)", jstr_or (vm, "name", ""),
               workdir);
    goto cleanup;
  }
  if (creds_save (&v->creds, workdir) < 0
      || (vc.user && vddk_creds_save (&vc, workdir) < 0)
      || manifest_save (m) < 0)
    goto cleanup;
  if (v->log.path == NULL && event_log_open (&v->log, workdir, run_id) < 0)
    goto cleanup;
  v2k_event (v, "info", "init", NULL, "init.done",
             json_pack ("{s:s, s:s, s:i, s:i, s:i}", "vm", jstr_or (vm, "name", ""),
                        "moref", moref,
                        "disks", (int) json_array_size (json_object_get (inv, "disks")),
                        "nics", (int) json_array_size (json_object_get (inv, "nics")),
                        "warnings", (int) json_array_size (json_object_get (pf, "warnings"))));
  *workdir_out = workdir;
  workdir = NULL;
  ret = 0;

 cleanup:
  vddk_creds_free (&vc);
  return ret;
}

int
cmd_init (struct v2k *v, int argc, char **argv)
{
  const struct cmd *self = find_cmd ("init");
  struct init_opts o;
  CLEANUP_FREE char *workdir = NULL;
  int opt, r, status = EXIT_FAIL;

  init_opts_init (&o);
  while ((opt = getopt_long (argc, argv, "", init_options, NULL)) != -1) {
    r = opt == '?' ? 1 : init_parse_opt (v, &o, opt, optarg);
    if (r != 0) {
      status = usage_error (self, "%s", r < 0 ? v2k_errmsg () : "bad option");
      goto cleanup;
    }
  }
  if (optind < argc) {
    status = usage_error (self, "unexpected argument '%s'", argv[optind]);
    goto cleanup;
  }
  if (init_check_opts (&o) < 0) {
    status = usage_error (self, "%s", v2k_errmsg ());
    goto cleanup;
  }
  if (do_init (v, &o, &workdir) < 0)
    goto cleanup;
  if (v->dry_run)
    status = EXIT_OK;
  else if (v->json) {
    CLEANUP_JSON json_t *out = json_pack ("{s:s, s:s, s:s}", "workdir", workdir,
        "run_id", v->run_id ? v->run_id : "",
        "vm", "");
    CLEANUP_MANIFEST struct manifest *m = NULL;
    CLEANUP_FREE char *mp = path_join (workdir, MANIFEST_NAME);
    if (mp && (m = manifest_load (mp)) != NULL) {
      jset_str (out, "run_id", manifest_run_id (m));
      jset_str (out, "vm", jstr_or (json_object_get (m->root, "vm"), "moref", ""));
    }
    status = print_json (out) < 0 ? EXIT_FAIL : EXIT_OK;
  }
  else {
    printf ("%s\n", workdir);
    status = EXIT_OK;
  }

 cleanup:
  init_opts_free (&o);
  return status;
}
