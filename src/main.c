/* v2k: warm migration of VMware vSphere VMs to KVM.
 *
 * This file is the only place that prints errors and chooses the exit
 * status: it parses the global options, finds the command in the table,
 * establishes what the command's flags ask for (workdir, lock, vCenter
 * session) and runs it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "vsphere/vim.h"

#define U_INIT \
  "init --vm NAME|PATH|MOREF [--vcenter URL] --dst DIR [--transport vddk|file|nbd]\n" \
  "     [--datastore-map NAME=PATH]... [--nbd-uri KEY=URI]... [--target-format qcow2|raw]\n" \
  "     [--target-map DISK=/dev/...|rbd:POOL/IMAGE|PATH]...\n" \
  "     [--run-id ID] [--cred-file FILE] [--thumbprint SHA1] [--force]"
#define U_CBT \
  "cbt enable|disable|status [--json]\n" \
  "     cbt query --disk ID --snapshot NAME|MOREF [--change-id ID] [--json]"
#define U_SNAPSHOT "snapshot base|incr|final [--name NAME] [--quiesce]"
#define U_SYNC \
  "sync base|incr|final [--jobs N] [--chunk BYTES] [--coalesce-gap BYTES]\n" \
  "     [--keep-snapshots] [--nbdkit PATH] [--retries N] [--checkpoint-bytes BYTES]\n" \
  "     [--io-timeout 300s]"
#define U_VERIFY "verify [--mode quick|full] [--samples N] [--seed S] [--io-timeout 300s]"
#define U_CUTOVER \
  "cutover [--shutdown guest|poweroff|manual]... [--shutdown-timeout S] [--define-only]\n" \
  "     [--start] [--libvirt-uri URI] [--domain-type kvm|qemu] [--network-map SRC=DST]...\n" \
  "     [--disk-bus virtio-blk|virtio-scsi|sata|auto] [--nic-model virtio|e1000e|auto]\n" \
  "     [--vcpu N] [--memory MB] [--name NAME] [--jobs N] [--keep-snapshots]"
#define U_ROLLBACK "rollback"
#define U_STATUS "status [--json] [--events N]"
#define U_CLEANUP "cleanup [--keep-workdir] [--keep-snapshots] [--disable-cbt]"
#define U_DOCTOR \
  "doctor [--workdir DIR | --vcenter URL [--vm NAME]] [--dst DIR] [--libvirt-uri URI]\n" \
  "     [--transport vddk|file|nbd] [--json]"
#define U_RUN \
  "run [init options] [--mode warm|cold] [--split full|phase1|phase2]\n" \
  "     [--interval DURATION] [--max-rounds N] [--converge-bytes BYTES]\n" \
  "     [--converge-seconds S] [--cutover-window HH:MM-HH:MM] [cutover options]"


static const struct cmd commands[] = {
  { "init",     cmd_init,     0, U_INIT },
  { "cbt",      cmd_cbt,      NEEDS_WORKDIR | TAKES_LOCK | NEEDS_VCENTER, U_CBT },
  { "snapshot", cmd_snapshot, NEEDS_WORKDIR | TAKES_LOCK | NEEDS_VCENTER, U_SNAPSHOT },
  { "sync",     cmd_sync,     NEEDS_WORKDIR | TAKES_LOCK | NEEDS_VCENTER, U_SYNC },
  { "verify",   cmd_verify,   NEEDS_WORKDIR | TAKES_LOCK | NEEDS_VCENTER, U_VERIFY },
  { "cutover",  cmd_cutover,  NEEDS_WORKDIR | TAKES_LOCK | NEEDS_VCENTER, U_CUTOVER },
  { "rollback", cmd_rollback, NEEDS_WORKDIR | TAKES_LOCK | NEEDS_VCENTER, U_ROLLBACK },
  /* status takes no lock: the management plane polls it while a sync
   * holds the lock; manifest writes are atomic renames, so a reader
   * always sees a whole document. */
  { "status",   cmd_status,   NEEDS_WORKDIR, U_STATUS },
  { "cleanup",  cmd_cleanup,  NEEDS_WORKDIR | TAKES_LOCK | NEEDS_VCENTER, U_CLEANUP },
  /* doctor and run establish their workdir themselves (run may create
   * it; doctor reports a failed login as one of its items). */
  { "doctor",   cmd_doctor,   0, U_DOCTOR },
  { "run",      cmd_run,      0, U_RUN },
};

const struct cmd *
find_cmd (const char *name)
{
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static void
print_usage (FILE *fp)
{
  fprintf (fp,
           "usage: v2k [--workdir DIR] [--json] [-v] [--run-id ID] [--manifest PATH]\n"
           "           [--log PATH] [--dry-run] [--resume] [--force] COMMAND [OPTIONS]\n\n"
           "commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf (fp, "  %s\n", commands[i].usage);
  fprintf (fp, "\nEvery command takes --help.  See v2k(1).\n");
}

/* git's run_builtin(): a full disk must not look like success. */
static int
close_stdout (void)
{
  if (fflush (stdout) != 0 || ferror (stdout) || fclose (stdout) != 0) {
    fprintf (stderr, "v2k: cannot write to standard output: %s\n",
             strerror (errno));
    return -1;
  }
  return 0;
}

static int
has_help (int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--") == 0)
      return 0;
    if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
      return 1;
  }
  return 0;
}

static void
teardown (struct v2k *v)
{
  vim_close (v->vim);
  v->vim = NULL;
  manifest_free (v->m);
  v->m = NULL;
  event_log_close (&v->log);
  creds_free (&v->creds);
  free (v->workdir_owned);
  v->workdir_owned = NULL;
  if (v->lock_fd >= 0)
    close (v->lock_fd);
}

int
main (int argc, char **argv)
{
  enum { OPT_RUN_ID = 256, OPT_MANIFEST, OPT_LOG, OPT_DRY_RUN, OPT_RESUME,
         OPT_FORCE, OPT_CRED_FILE };
  static const struct option opts[] = {
    { "workdir",   required_argument, NULL, 'w' },
    { "json",      no_argument,       NULL, 'j' },
    { "verbose",   no_argument,       NULL, 'v' },
    { "help",      no_argument,       NULL, 'h' },
    { "version",   no_argument,       NULL, 'V' },
    { "run-id",    required_argument, NULL, OPT_RUN_ID },
    { "manifest",  required_argument, NULL, OPT_MANIFEST },
    { "log",       required_argument, NULL, OPT_LOG },
    { "dry-run",   no_argument,       NULL, OPT_DRY_RUN },
    { "resume",    no_argument,       NULL, OPT_RESUME },
    { "force",     no_argument,       NULL, OPT_FORCE },
    { "cred-file", required_argument, NULL, OPT_CRED_FILE },
    { NULL, 0, NULL, 0 },
  };
  struct v2k v = { .lock_fd = -1 };
  const struct cmd *c;
  int opt, status;

  while ((opt = getopt_long (argc, argv, "+w:jvhV", opts, NULL)) != -1) {
    switch (opt) {
    case 'w': v.workdir = optarg; break;
    case 'j': v.json = true; break;
    case 'v': v.verbose = true; break;
    case 'h': print_usage (stdout); return close_stdout () ? EXIT_FAIL : EXIT_OK;
    case 'V': printf ("v2k %s\n", V2K_VERSION); return close_stdout () ? EXIT_FAIL : EXIT_OK;
    case OPT_RUN_ID: v.run_id = optarg; break;
    case OPT_MANIFEST: v.manifest_opt = optarg; break;
    case OPT_LOG: v.log_opt = optarg; break;
    case OPT_DRY_RUN: v.dry_run = true; break;
    case OPT_RESUME: v.resume = true; break;
    case OPT_FORCE: v.force = true; break;
    case OPT_CRED_FILE: v.cred_file = optarg; break;
    default: print_usage (stderr); return EXIT_USAGE;
    }
  }
  if (optind >= argc) {
    print_usage (stderr);
    return EXIT_USAGE;
  }
  c = find_cmd (argv[optind]);
  if (c == NULL) {
    fprintf (stderr, "v2k: unknown command '%s'\n", argv[optind]);
    print_usage (stderr);
    return EXIT_USAGE;
  }
  argc -= optind;
  argv += optind;
  if (has_help (argc, argv)) {
    printf ("usage: v2k [GLOBAL OPTIONS] %s\n", c->usage);
    return close_stdout () ? EXIT_FAIL : EXIT_OK;
  }

  getopt_reset ();
  if (v2k_setup (&v, c->flags, c->name) < 0)
    status = EXIT_FAIL;
  else
    status = c->fn (&v, argc, argv);
  if (status == EXIT_FAIL)
    fprintf (stderr, "v2k: %s: %s\n", c->name, v2k_errmsg ());
  teardown (&v);
  if (close_stdout () < 0 && status == EXIT_OK)
    status = EXIT_FAIL;
  return status;
}
