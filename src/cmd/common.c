/* Helpers shared by the commands. */
#include <errno.h>
#include <getopt.h>
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
#include "vsphere/vim.h"

void
getopt_reset (void)
{
  /* glibc re-initializes its internal state when optind is 0. */
  optind = 0;
  opterr = 1;
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
  return manifest_save (v->m);
}

void
v2k_event (struct v2k *v, const char *level, const char *phase,
           const char *disk_id, const char *event, json_t *detail)
{
  /* Logging must never turn a finished step into a failure; the
   * manifest, not the log, is the record of state. */
  if (event_emit (&v->log, level, phase, disk_id, event, detail) < 0 && v->verbose)
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
