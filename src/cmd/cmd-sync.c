/* sync base|incr|final: copy a snapshot's data to the targets. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/parse.h"
#include "util/error.h"
#include "util/json.h"

int
cmd_sync (struct v2k *v, int argc, char **argv)
{
  enum { O_JOBS = 256, O_CHUNK, O_GAP, O_KEEP, O_NBDKIT, O_RETRIES, O_CKPT,
         O_IO_TIMEOUT };
  static const struct option opts[] = {
    { "jobs", required_argument, NULL, O_JOBS },
    { "chunk", required_argument, NULL, O_CHUNK },
    { "coalesce-gap", required_argument, NULL, O_GAP },
    { "keep-snapshots", no_argument, NULL, O_KEEP },
    { "nbdkit", required_argument, NULL, O_NBDKIT },
    { "retries", required_argument, NULL, O_RETRIES },
    { "checkpoint-bytes", required_argument, NULL, O_CKPT },
    { "io-timeout", required_argument, NULL, O_IO_TIMEOUT },
    { NULL, 0, NULL, 0 },
  };
  const struct cmd *self = find_cmd ("sync");
  struct sync_opts o;
  const char *kind;
  int opt;

  sync_opts_default (&o);
  while ((opt = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case O_JOBS: o.jobs = atoi (optarg); break;
    case O_CHUNK:
      if (!parse_bytes (optarg, &o.chunk) || o.chunk < 65536
          || o.chunk > (64u << 20) || (o.chunk & 511))
        return usage_error (self, "--chunk must be 64K..64M, a multiple of 512");
      break;
    case O_GAP:
      if (!parse_bytes (optarg, &o.coalesce_gap))
        return usage_error (self, "--coalesce-gap: bad size '%s'", optarg);
      break;
    case O_KEEP: o.keep_snapshots = true; break;
    case O_NBDKIT: o.nbdkit = optarg; break;
    case O_RETRIES: o.retries = atoi (optarg); break;
    case O_CKPT:
      if (!parse_bytes (optarg, &o.checkpoint_bytes) || o.checkpoint_bytes == 0)
        return usage_error (self, "--checkpoint-bytes: bad size '%s'", optarg);
      break;
    case O_IO_TIMEOUT:
      if (parse_io_timeout (optarg, &o.io_timeout) < 0)
        return usage_error (self, "--io-timeout must be 1s..24h");
      break;
    default: return usage_error (self, "bad option");
    }
  }
  if (optind + 1 != argc)
    return usage_error (self, "expected one of base, incr, final");
  kind = argv[optind];
  if (strcmp (kind, "base") && strcmp (kind, "incr") && strcmp (kind, "final"))
    return usage_error (self, "unknown sync kind '%s'", kind);
  if (o.jobs < 1 || o.jobs > 64)
    return usage_error (self, "--jobs must be 1..64");
  if (o.nbdkit)
    jset_str (json_object_get (v->m->root, "transfer"), "nbdkit", o.nbdkit);
  if (do_sync (v, kind, &o) < 0)
    return EXIT_FAIL;
  return EXIT_OK;
}
