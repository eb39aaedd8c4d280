/* verify: compare every target with the last synced snapshot. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "cmd/endpoints.h"
#include "copy/verify.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/json.h"

static int
verify_disk (struct v2k *v, json_t *disk, json_t *snap, const char *mode,
             unsigned samples, uint64_t seed, json_t *out)
{
  struct disk_io io = { 0 };
  struct v2k_verify_result res = { 0 };
  const char *id = jstr_or (disk, "disk_id", "disk");
  char tag[128];
  int r;

  snprintf (tag, sizeof tag, "verify-%s", id);
  for (char *p = tag; *p; p++)
    if (*p == ':')
      *p = '_';
  if (open_target (v, disk, TARGET_READONLY, tag, &io) < 0)
    return -1;
  if (open_source (v, disk, snap, v->creds.password, tag, &io) < 0) {
    close_target (&io);
    return -1;
  }
  if (strcmp (mode, "full") == 0)
    r = v2k_verify_full (io.src, io.dst, 0, &res);
  else
    r = v2k_verify_sample (io.src, io.dst, samples, 0, seed, &res);
  close_source (&io);
  close_target (&io);
  if (r < 0)
    return -1;
  json_array_append_new (out, json_pack ("{s:s, s:I, s:b, s:I, s:I, s:s?, s:s?}",
      "disk_id", id, "key", (json_int_t) jint (disk, "key"), "equal", res.equal,
      "bytes_compared", (json_int_t) res.bytes_compared,
      "first_diff", (json_int_t) (res.equal ? -1 : (json_int_t) res.first_diff),
      "sha256_source", res.sha256_a[0] ? res.sha256_a : NULL,
      "sha256_target", res.sha256_b[0] ? res.sha256_b : NULL));
  return 0;
}

int
cmd_verify (struct v2k *v, int argc, char **argv)
{
  enum { O_MODE = 256, O_SAMPLES, O_SEED, O_IO_TIMEOUT };
  static const struct option opts[] = {
    { "mode", required_argument, NULL, O_MODE },
    { "samples", required_argument, NULL, O_SAMPLES },
    { "seed", required_argument, NULL, O_SEED },
    { "io-timeout", required_argument, NULL, O_IO_TIMEOUT },
    { "json", no_argument, NULL, 'j' },
    { NULL, 0, NULL, 0 },
  };
  const struct cmd *self = find_cmd ("verify");
  const char *mode = "quick";
  unsigned samples = 64;
  uint64_t seed = (uint64_t) time (NULL);
  json_t *snap, *disks, *rec, *d;
  bool all_equal = true;
  size_t i;
  int opt;

  while ((opt = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case O_MODE: mode = optarg; break;
    case O_SAMPLES: samples = strtoul (optarg, NULL, 10); break;
    case O_SEED: seed = strtoull (optarg, NULL, 10); break;
    case 'j': v->json = true; break;
    case O_IO_TIMEOUT: {
      unsigned secs;
      if (parse_io_timeout (optarg, &secs) < 0)
        return usage_error (self, "--io-timeout must be 1s..24h");
      v2k_verify_set_io_timeout (secs);
      break;
    }
    default: return usage_error (self, "bad option");
    }
  }
  if (optind != argc)
    return usage_error (self, "unexpected argument '%s'", argv[optind]);
  if (strcmp (mode, "quick") && strcmp (mode, "full"))
    return usage_error (self, "--mode must be quick or full");
  if (samples < 1)
    return usage_error (self, "--samples must be at least 1");
  snap = manifest_last_synced_snapshot (v->m);
  if (v->dry_run && snap) {
    printf ("dry run: would compare %s every disk's target with snapshot '%s'\n",
            strcmp (mode, "full") == 0 ? "every byte of" : "samples of",
            jstr_or (snap, "name", ""));
    return EXIT_OK;
  }
  if (snap == NULL) {
    v2k_error ("nothing synced yet: there is nothing to verify");
    return EXIT_FAIL;
  }
  if (jbool (snap, "removed")) {
    v2k_error ("snapshot '%s' was removed; verify needs the last synced snapshot",
               jstr_or (snap, "name", ""));
    return EXIT_FAIL;
  }
  if (refresh_snapshot_files (v, snap) < 0) {
    v2k_error_prefix ("cannot read snapshot '%s'", jstr_or (snap, "name", ""));
    return EXIT_FAIL;
  }
  disks = json_array ();
  rec = json_pack ("{s:s, s:s, s:s, s:I, s:I, s:o}", "mode", mode,
                   "time", rfc3339_now (), "snapshot", jstr (snap, "moref"),
                   "samples", (json_int_t) samples, "seed", (json_int_t) seed,
                   "disks", disks);
  json_array_foreach (manifest_disks (v->m), i, d) {
    if (verify_disk (v, d, snap, mode, samples, seed, disks) < 0) {
      json_decref (rec);
      v2k_error_prefix ("verify of '%s'", jstr_or (d, "disk_id", "disk"));
      return EXIT_FAIL;
    }
  }
  json_array_foreach (disks, i, d) {
    if (!jbool (d, "equal")) {
      all_equal = false;
      fprintf (stderr, "v2k: verify: %s differs from snapshot %s at offset %lld\n",
               jstr (d, "disk_id"), jstr (snap, "moref"), (long long) jint (d, "first_diff"));
    }
  }
  jset (rec, "equal", json_boolean (all_equal));
  json_object_set (v->m->root, "verify", rec);
  v2k_event (v, all_equal ? "info" : "error", "verify", NULL,
             all_equal ? "verify.ok" : "verify.mismatch", json_deep_copy (rec));
  if (v2k_save (v) < 0) {
    json_decref (rec);
    return EXIT_FAIL;
  }
  if (v->json)
    print_json (rec);
  else
    json_array_foreach (disks, i, d)
      printf ("%-10s %s  %lld bytes compared%s%s\n", jstr (d, "disk_id"),
              jbool (d, "equal") ? "OK  " : "DIFF", (long long) jint (d, "bytes_compared"),
              jstr (d, "sha256_target") ? "  sha256 " : "",
              jstr_or (d, "sha256_target", ""));
  json_decref (rec);
  if (!all_equal) {
    v2k_error ("the target differs from the source snapshot");
    return EXIT_FAIL;
  }
  return EXIT_OK;
}
