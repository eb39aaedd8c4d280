/* status: what the management plane polls (docs/status.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"

#define STATUS_VERSION 1

/* The last n lines of events.log as JSON values (unparsable lines, e.g.
 * one cut short by a crash, are skipped). */
static json_t *
tail_events (const char *path, int n)
{
  CLEANUP_FREE char *text = NULL;
  json_t *all = json_array ();
  char *line, *save = NULL;

  if (access (path, F_OK) < 0 || read_file (path, &text, NULL) < 0)
    return all;
  for (line = strtok_r (text, "\n", &save); line;
       line = strtok_r (NULL, "\n", &save)) {
    json_t *ev = json_loads (line, 0, NULL);
    if (ev)
      json_array_append_new (all, ev);
  }
  while ((int) json_array_size (all) > n)
    json_array_remove (all, 0);
  return all;
}

static json_t *
build_status (struct v2k *v, int nevents)
{
  json_t *root = v->m->root, *vm = json_object_get (root, "vm");
  json_t *disks = json_array (), *snaps = json_array ();
  CLEANUP_FREE char *ppath = path_join (v->workdir, "progress.json");
  CLEANUP_JSON json_t *progress = json_load_file (ppath, 0, NULL);
  size_t i;
  json_t *d, *s;

  json_array_foreach (manifest_disks (v->m), i, d) {
    json_t *sync = json_object_get (d, "sync");
    json_t *p = json_object_get (json_object_get (progress, "disks"),
                                 jstr_or (d, "disk_id", ""));
    json_array_append_new (disks, json_pack (
        "{s:I, s:s?, s:s?, s:s?, s:I, s:s?, s:s?, s:O?, s:O?, s:O?, s:O?}",
        "key", (json_int_t) jint (d, "key"),
        "disk_id", jstr (d, "disk_id"),
        "label", jstr (d, "label"),
        "role", jstr (d, "role"),
        "capacity", (json_int_t) jint (d, "capacity"),
        "target", jstr (json_object_get (d, "target"), "path"),
        "synced_snapshot", jstr (sync, "snapshot"),
        "change_id", json_object_get (sync, "change_id"),
        "last_sync", json_object_get (sync, "last"),
        "checkpoint", json_object_get (sync, "checkpoint"),
        "progress", p));
  }
  json_array_foreach (manifest_snapshots (v->m), i, s)
    json_array_append_new (snaps, json_pack ("{s:s?, s:s?, s:s?, s:s?, s:b, s:b}",
        "kind", jstr (s, "kind"), "name", jstr (s, "name"),
        "moref", jstr (s, "moref"), "state", jstr (s, "state"),
        "synced", jbool (s, "synced"), "removed", jbool (s, "removed")));
  return json_pack ("{s:i, s:s, s:s, s:s?, s:{s:s?, s:s?, s:s?}, s:O?, s:o, s:o, s:O?, s:O?, s:O?, s:O?, s:O?, s:o}",
      "status_version", STATUS_VERSION,
      "run_id", manifest_run_id (v->m),
      "phase", manifest_phase (v->m),
      "updated", jstr (root, "updated"),
      "vm", "name", jstr (vm, "name"), "moref", jstr (vm, "moref"),
      "power_state", jstr (vm, "power_state"),
      "target", json_object_get (root, "target"),
      "disks", disks,
      "snapshots", snaps,
      "rounds", json_object_get (root, "rounds"),
      "forecast", json_object_get (root, "forecast"),
      "run", json_object_get (root, "run"),
      "cutover", json_object_get (root, "cutover"),
      "preflight", json_object_get (root, "preflight"),
      "events", tail_events (v->log.path, nevents));
}

/* The convergence table and the forecast of the final sync. */
static void
print_rounds (json_t *st)
{
  json_t *rounds = json_object_get (st, "rounds"), *f = json_object_get (st, "forecast"), *r;
  size_t i;

  if (json_array_size (rounds) == 0)
    return;
  printf ("%-5s %-6s %14s %9s %10s\n", "ROUND", "KIND", "CHANGED", "SECONDS", "MiB/s");
  json_array_foreach (rounds, i, r) {
    double s = json_number_value (json_object_get (r, "seconds"));
    printf ("%-5zu %-6s %14lld %9.1f %10.1f\n", i, jstr_or (r, "kind", "?"),
            (long long) jint (r, "bytes"), s,
            s > 0 ? jint (r, "bytes") / s / 1048576.0 : 0.0);
  }
  if (json_is_object (f))
    printf ("forecast: final sync about %.1f s (%lld bytes at %.1f MiB/s + %.1f s "
            "overhead; %s)\n",
            json_number_value (json_object_get (f, "final_sync_seconds")),
            (long long) jint (f, "final_bytes"),
            json_number_value (json_object_get (f, "throughput_bytes_per_s")) / 1048576.0,
            json_number_value (json_object_get (f, "overhead_seconds")),
            jstr_or (f, "basis", ""));
}

static void
print_human (json_t *st)
{
  size_t i;
  json_t *d, *e;

  printf ("run %s  phase %s  vm %s (%s)\n", jstr (st, "run_id"),
          jstr (st, "phase"), jstr_or (json_object_get (st, "vm"), "name", "?"),
          jstr_or (json_object_get (st, "vm"), "moref", "?"));
  printf ("%-10s %-5s %14s  %-28s %s\n", "DISK", "ROLE", "CAPACITY",
          "SYNCED SNAPSHOT", "PROGRESS");
  json_array_foreach (json_object_get (st, "disks"), i, d) {
    json_t *p = json_object_get (d, "progress");
    char prog[64] = "-";
    if (p && jint (p, "bytes_total") > 0)
      snprintf (prog, sizeof prog, "%.1f%%",
                100.0 * jint (p, "bytes_done") / jint (p, "bytes_total"));
    printf ("%-10s %-5s %14lld  %-28s %s\n", jstr_or (d, "disk_id", "?"),
            jstr_or (d, "role", "?"), (long long) jint (d, "capacity"),
            jstr_or (d, "synced_snapshot", "-"), prog);
  }
  print_rounds (st);
  json_array_foreach (json_object_get (st, "events"), i, e)
    printf ("  %s %-7s %-9s %s %s\n", jstr_or (e, "ts", ""),
            jstr_or (e, "level", ""), jstr_or (e, "phase", ""),
            jstr_or (e, "event", ""), jstr_or (e, "disk_id", ""));
}

int
cmd_status (struct v2k *v, int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "events", required_argument, NULL, 'e' },
    { NULL, 0, NULL, 0 },
  };
  const struct cmd *self = find_cmd ("status");
  CLEANUP_JSON json_t *st = NULL;
  int opt, nevents = 10;

  while ((opt = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case 'j': v->json = true; break;
    case 'e': nevents = atoi (optarg); break;
    default: return usage_error (self, "bad option");
    }
  }
  if (optind != argc)
    return usage_error (self, "unexpected argument '%s'", argv[optind]);
  st = build_status (v, nevents < 0 ? 0 : nevents);
  if (st == NULL) {
    v2k_error ("cannot build the status");
    return EXIT_FAIL;
  }
  if (v->json)
    return print_json (st) < 0 ? EXIT_FAIL : EXIT_OK;
  print_human (st);
  return EXIT_OK;
}
