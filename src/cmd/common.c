/* Helpers shared by the commands. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/parse.h"
#include "vsphere/vim.h"

void
getopt_reset (void)
{
  /* glibc re-initializes its internal state when optind is 0. */
  optind = 0;
  opterr = 1;
}

int
parse_io_timeout (const char *arg, unsigned *secs)
{
  int s = parse_duration (arg);

  if (s < 1 || s > 86400)
    return -1;
  *secs = s;
  return 0;
}

int
usage_error (const struct cmd *c, const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "v2k: %s: ", c->name);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\nusage: v2k [GLOBAL OPTIONS] %s\n", c->usage);
  return EXIT_USAGE;
}

int
print_json (json_t *j)
{
  if (json_dumpf (j, stdout, JSON_INDENT (2) | JSON_PRESERVE_ORDER) < 0) {
    v2k_error ("cannot write JSON to standard output");
    return -1;
  }
  putchar ('\n');
  return 0;
}

int
v2k_save (struct v2k *v)
{
  /* --dry-run changes nothing on disk: the manifest stays as it was. */
  if (v->dry_run)
    return 0;
  return manifest_save (v->m);
}

void
v2k_event (struct v2k *v, const char *level, const char *phase,
           const char *disk_id, const char *event, json_t *detail)
{
  /* Logging must never turn a finished step into a failure; the
   * manifest, not the log, is the record of state. */
  if (v->dry_run)
    json_decref (detail);
  else if (event_emit (&v->log, level, phase, disk_id, event, detail) < 0 && v->verbose)
    fprintf (stderr, "v2k: warning: %s\n", v2k_errmsg ());
  if (v->verbose)
    fprintf (stderr, "v2k: %s %s%s%s\n", phase, event,
             disk_id ? " " : "", disk_id ? disk_id : "");
}

/* Credentials in priority order: --cred-file, the environment, then the
 * 0600 file that init stored in the workdir. */
static int
load_creds (struct v2k *v)
{
  if (v->cred_file && creds_load_file (&v->creds, v->cred_file) < 0)
    return -1;
  creds_load_env (&v->creds);
  if (v->workdir && (v->creds.username == NULL || v->creds.password == NULL)) {
    CLEANUP_FREE char *p = path_join (v->workdir, CREDS_NAME);
    if (p && access (p, F_OK) == 0 && creds_load_file (&v->creds, p) < 0)
      return -1;
  }
  if (v->creds.password)
    v2k_error_redact (v->creds.password);
  return 0;
}

int
v2k_connect (struct v2k *v)
{
  struct vim_conn_opts o = { 0 };
  json_t *src = v->m ? json_object_get (v->m->root, "source") : NULL;

  if (v->vim)
    return 0;
  if (load_creds (v) < 0)
    return -1;
  /* The manifest names the vCenter of this run: credentials for another
   * vCenter in the environment must not redirect a running migration. */
  o.url = src && jstr (src, "vcenter") ? jstr (src, "vcenter") : v->creds.url;
  o.username = v->creds.username;
  o.password = v->creds.password;
  o.insecure = v->creds.insecure || (src && jbool (src, "insecure"));
  o.thumbprint = src && jstr (src, "vcenter_thumbprint_pinned")
    ? jstr (src, "vcenter_thumbprint_pinned") : v->creds.thumbprint;
  if (o.url == NULL) {
    v2k_error ("no vCenter: give --vcenter URL or set GOVC_URL");
    return -1;
  }
  if (o.username == NULL || o.password == NULL) {
    v2k_error ("no vCenter credentials: set GOVC_USERNAME and "
               "GOVC_PASSWORD or give --cred-file FILE");
    return -1;
  }
  v->vim = vim_connect (&o);
  return v->vim ? 0 : -1;
}

/* Establish what the command's flags require. */
int
v2k_setup (struct v2k *v, unsigned flags, const char *name)
{
  CLEANUP_FREE char *mpath = NULL;
  CLEANUP_FREE char *mdir = NULL;

  if (!(flags & NEEDS_WORKDIR))
    return 0;
  if (v->workdir == NULL && v->manifest_opt != NULL) {
    mdir = strdup (v->manifest_opt);
    if (mdir == NULL)
      return -1;
    free (v->workdir_owned);
    v->workdir_owned = strdup (dirname (mdir));
    if (v->workdir_owned == NULL)
      return -1;
    v->workdir = v->workdir_owned;
  }
  if (v->workdir == NULL) {
    v2k_error ("'%s' needs --workdir DIR (the directory 'init' printed)",
               name);
    return -1;
  }
  if (access (v->workdir, F_OK) < 0) {
    v2k_error_errno (errno, "cannot use workdir '%s'", v->workdir);
    return -1;
  }
  if ((flags & TAKES_LOCK) && v->lock_fd < 0) {
    v->lock_fd = workdir_lock (v->workdir);
    if (v->lock_fd < 0)
      return -1;
  }
  mpath = v->manifest_opt ? strdup (v->manifest_opt)
                          : path_join (v->workdir, MANIFEST_NAME);
  if (mpath == NULL)
    return -1;
  v->m = manifest_load (mpath);
  if (v->m == NULL)
    return -1;
  if (v->log.path)
    ;                           /* opened by init already (run) */
  else if (v->log_opt) {
    v->log.path = strdup (v->log_opt);
    v->log.run_id = strdup (manifest_run_id (v->m));
  }
  else if (event_log_open (&v->log, v->workdir, manifest_run_id (v->m)) < 0)
    return -1;
  if (flags & NEEDS_VCENTER)
    return v2k_connect (v);
  return 0;
}

