/* The command table and the state every command shares.
 *
 * Adding a command: write src/cmd/cmd-NAME.c with
 *   int cmd_NAME (struct v2k *v, int argc, char **argv);
 * declare it below, add it to the table in main.c with the flags it
 * needs, and list it in src/cmd/meson.build, the man page and the bash
 * completion.  The dispatcher does the shared set-up the flags ask for,
 * so a command body starts with everything it needs in place.
 */
#ifndef V2K_CMD_H
#define V2K_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "core/manifest.h"
#include "core/workdir.h"

/* Preconditions the dispatcher establishes before calling a command. */
enum {
  NEEDS_WORKDIR = 1 << 0,   /* --workdir given, manifest loaded */
  TAKES_LOCK    = 1 << 1,   /* exclusive workdir lock held */
  NEEDS_VCENTER = 1 << 2,   /* logged in to vCenter (v->vim) */
};

/* Exit statuses. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct vim;

struct v2k {
  /* Global options. */
  const char *workdir;      /* --workdir */
  const char *manifest_opt; /* --manifest: manifest path (its dir = workdir) */
  const char *log_opt;      /* --log: event log path */
  const char *run_id;       /* --run-id */
  bool json, verbose, dry_run, force, resume;
  const char *cred_file;    /* --cred-file */

  /* Established by the dispatcher according to the flags. */
  struct manifest *m;
  int lock_fd;
  struct event_log log;
  struct creds creds;
  struct vim *vim;
  char *workdir_owned;      /* workdir derived from --manifest or by run */
};

typedef int (*cmd_fn) (struct v2k *v, int argc, char **argv);

struct cmd {
  const char *name;
  cmd_fn fn;
  unsigned flags;
  const char *usage;        /* printed by --help and on bad usage */
};

/* Shared helpers (src/cmd/common.c). */
/* Establish what the flags ask for: workdir, lock, manifest, event log,
 * vCenter session (main.c calls it before every command; run calls it
 * once it knows its workdir). */
int v2k_setup (struct v2k *v, unsigned flags, const char *name);
int v2k_connect (struct v2k *v);            /* log in if not yet */
int v2k_save (struct v2k *v);               /* manifest_save with context */
void v2k_event (struct v2k *v, const char *level, const char *phase,
                const char *disk_id, const char *event, json_t *detail);
/* Print a JSON value to stdout (pretty, stable key order). */
int print_json (json_t *j);
/* --io-timeout of sync and verify: a duration of 1 s to 24 h; -1 if not. */
int parse_io_timeout (const char *arg, unsigned *secs);
/* Report bad usage for a command; returns EXIT_USAGE. */
int usage_error (const struct cmd *c, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
const struct cmd *find_cmd (const char *name);
/* Reset getopt for a command's own argv (argv[0] = command name). */
void getopt_reset (void);

/* The steps behind the commands, shared with cutover and run. */
/* cbt enable: turn tracking on, activate it on a running VM, check. */
int do_cbt_enable (struct v2k *v);
/* Create (or find again after a crash) the snapshot of this kind and
 * record it; returns the manifest's snapshot object (borrowed). */
json_t *do_snapshot (struct v2k *v, const char *kind, const char *name,
                     bool quiesce);
/* Remove the v2k snapshots recorded before 'snap' (failures are
 * warnings); returns how many could not be removed. */
int snapshot_remove_before (struct v2k *v, json_t *snap);

struct sync_opts {
  int jobs;                 /* disks copied in parallel */
  uint64_t chunk;           /* request size */
  uint64_t coalesce_gap;    /* merge areas closer than this */
  bool keep_snapshots;      /* do not remove the predecessor */
  const char *nbdkit;       /* nbdkit binary (vddk transport) */
  int retries;              /* reconnects after a dropped source */
  uint64_t checkpoint_bytes; /* persist progress this often (0: engine default) */
  unsigned io_timeout;       /* s without a reply before a retry (0: 300) */
};
void sync_opts_default (struct sync_opts *o);
/* Re-read the files a recorded snapshot's disks live in now. */
int refresh_snapshot_files (struct v2k *v, json_t *snap);
int do_sync (struct v2k *v, const char *kind, const struct sync_opts *o);

/* cutover (src/cmd/cmd-cutover.c), shared with run. */
struct cutover_opts {
  char shutdown[64];        /* "guest", "poweroff", "manual", "guest,poweroff" */
  bool shutdown_set;
  int shutdown_timeout;
  bool start, define_only;
  bool cold;                /* run --mode cold: base copy after the shutdown */
  const char *uri;
  const char *domain_type;
  const char *disk_bus;
  const char *nic_model;
  const char *name;
  int vcpus, memory_mb;
  json_t *network_map;      /* owned */
  struct sync_opts sync;
  const char *convert;      /* --convert auto|virt-v2v|none (NULL: auto) */
  const char *virtio_win;   /* --virtio-win: ISO or directory for Windows */
};
extern const struct option cutover_options[];
void cutover_opts_init (struct cutover_opts *o);
void cutover_opts_free (struct cutover_opts *o);
int cutover_parse_opt (struct cutover_opts *o, int opt, const char *arg);
int cutover_check_opts (struct cutover_opts *o);
/* Shut the source down, take and sync the final snapshot (cold: a base
 * snapshot and an allocated-areas copy), define and (o->start) start the
 * domain.  Each step is recorded; a rerun continues after the last. */
int do_cutover (struct v2k *v, const struct cutover_opts *o);
/* The conversion step after the final sync (src/cmd/cutover-convert.c),
 * and what it means for the domain build_xml makes. */
struct domain_opts;
int cutover_convert_check (const struct cutover_opts *o);
int cutover_convert (struct v2k *v, const struct cutover_opts *o);
void cutover_convert_domain_opts (struct v2k *v, struct domain_opts *d);

/* init (src/cmd/cmd-init.c), shared with run. */

struct init_opts {
  const char *vm, *vcenter, *dst, *transport, *format;
  const char *thumbprint;       /* pins the vCenter certificate */
  const char *esxi_host;        /* overrides the discovered ESXi host name */
  const char *esxi_thumbprint;  /* overrides the discovered ESXi thumbprint */
  const char *vddk_cred_file;   /* VDDK's own account */
  const char *vddk_server;      /* "esxi" (default) or "vcenter" */
  json_t *dsmap;                /* {"datastore1": "/mnt/ds1"} */
  json_t *nbd_uris;             /* {"0": "nbd+unix:///?socket=..."} */
  json_t *target_map;           /* {"scsi0:0" or "0": "/dev/sdb" | "rbd:pool/img" | file} */
  char *dst_abs;
};
extern const struct option init_options[];
void init_opts_init (struct init_opts *o);
void init_opts_free (struct init_opts *o);
/* 0: handled, 1: not an init option, -1: bad value (v2k_error set). */
int init_parse_opt (struct v2k *v, struct init_opts *o, int opt, const char *arg);
int init_check_opts (struct init_opts *o);
/* Find the VM and create the workdir and manifest; a workdir that
 * already holds this VM's manifest is kept as it is.  *workdir is
 * malloc'd.  With --dry-run, prints the plan and creates nothing. */
int do_init (struct v2k *v, struct init_opts *o, char **workdir);

#define V2K_COMMANDS(X) \
  X (init)    \
  X (cbt)     \
  X (snapshot) \
  X (sync)    \
  X (verify)  \
  X (cutover) \
  X (rollback) \
  X (status)  \
  X (cleanup) \
  X (doctor)  \
  X (run)

#define DECLARE_CMD(name) int cmd_##name (struct v2k *v, int argc, char **argv);
V2K_COMMANDS (DECLARE_CMD)
#undef DECLARE_CMD

#endif /* V2K_CMD_H */
