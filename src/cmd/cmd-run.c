/* run: a whole migration in one command.
 *
 * warm (default): init, cbt enable, snapshot base + sync base, incr
 * rounds every --interval until converged, then the cutover (inside
 * --cutover-window when given).  cold: init, then the cutover with a
 * base-style copy of a snapshot taken after the shutdown.
 *
 * Every step is the function behind the single command (do_init,
 * do_cbt_enable, do_snapshot, do_sync, do_cutover), and what is done is
 * read from the manifest, so running the same command again after an
 * interruption continues where it stopped.  manifest.run records the
 * options' convergence state; the rounds and the forecast are recorded
 * by do_sync.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/clock.h"
#include "util/parse.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"

struct run_opts {
  bool cold;
  const char *split;        /* full, phase1, phase2 */
  int interval;             /* seconds between the starts of incr rounds */
  int max_rounds;           /* incr rounds at most */
  uint64_t converge_bytes;  /* converged when a round changed less */
  double converge_seconds;  /* converged when a round's sync took less (0: off) */
  int win_start, win_end;   /* minutes of the day; -1: no window */
};

enum { O_MODE = 3000, O_SPLIT, O_INTERVAL, O_MAX_ROUNDS, O_CONV_BYTES,
       O_CONV_SECS, O_WINDOW, O_WORKDIR };

static const struct option run_only[] = {
  { "mode", required_argument, NULL, O_MODE },
  { "split", required_argument, NULL, O_SPLIT },
  { "interval", required_argument, NULL, O_INTERVAL },
  { "max-rounds", required_argument, NULL, O_MAX_ROUNDS },
  { "converge-bytes", required_argument, NULL, O_CONV_BYTES },
  { "converge-seconds", required_argument, NULL, O_CONV_SECS },
  { "cutover-window", required_argument, NULL, O_WINDOW },
  { "workdir", required_argument, NULL, O_WORKDIR },
  { NULL, 0, NULL, 0 },
};

/* "22:00-02:30" (may cross midnight). */
static bool
parse_window (const char *s, int *start, int *end)
{
  int h1, m1, h2, m2;
  char tail;

  if (sscanf (s, "%d:%d-%d:%d%c", &h1, &m1, &h2, &m2, &tail) != 4
      || h1 < 0 || h1 > 23 || h2 < 0 || h2 > 24 || m1 < 0 || m1 > 59
      || m2 < 0 || m2 > 59)
    return false;
  *start = h1 * 60 + m1;
  *end = h2 * 60 + m2;
  return *start != *end;
}

/* Seconds until the window opens; 0 inside it. */
static int
window_wait (const struct run_opts *ro)
{
  time_t t = time (NULL);
  struct tm tm;
  int now, wait;

  if (ro->win_start < 0)
    return 0;
  localtime_r (&t, &tm);
  now = tm.tm_hour * 60 + tm.tm_min;
  if (ro->win_start < ro->win_end ? now >= ro->win_start && now < ro->win_end
                                  : now >= ro->win_start || now < ro->win_end)
    return 0;
  wait = (ro->win_start - now + 1440) % 1440;
  return wait * 60 - tm.tm_sec;
}

static json_t *
run_obj (struct v2k *v)
{
  json_t *r = json_object_get (v->m->root, "run");

  if (!json_is_object (r)) {
    r = json_object ();
    json_object_set_new (v->m->root, "run", r);
  }
  return r;
}

static int
incr_rounds (struct v2k *v)
{
  json_t *r;
  size_t i;
  int n = 0;

  json_array_foreach (json_object_get (v->m->root, "rounds"), i, r)
    n += strcmp (jstr_or (r, "kind", ""), "incr") == 0;
  return n;
}

static json_t *
last_round (struct v2k *v)
{
  json_t *rounds = json_object_get (v->m->root, "rounds");
  return json_array_get (rounds, json_array_size (rounds) - 1);
}

/* Converged: the last incr round changed little enough or was quick
 * enough, or the rounds ran out.  NULL when not converged. */
static const char *
converged (struct v2k *v, const struct run_opts *ro)
{
  json_t *r = last_round (v);
  int n = incr_rounds (v);

  if (n == 0 || strcmp (jstr_or (r, "kind", ""), "incr") != 0)
    return NULL;
  if ((uint64_t) jint (r, "bytes") < ro->converge_bytes)
    return "converge-bytes";
  if (ro->converge_seconds > 0
      && json_number_value (json_object_get (r, "seconds")) < ro->converge_seconds)
    return "converge-seconds";
  if (n >= ro->max_rounds)
    return "max-rounds";
  return NULL;
}

static void
print_round (struct v2k *v)
{
  json_t *r = last_round (v), *f = json_object_get (v->m->root, "forecast");
  double s = json_number_value (json_object_get (r, "seconds"));

  printf ("round %zu (%s): %lld bytes changed, %.1f s, %.1f MiB/s",
          json_array_size (json_object_get (v->m->root, "rounds")) - 1,
          jstr_or (r, "kind", "?"), (long long) jint (r, "bytes"), s,
          s > 0 ? jint (r, "bytes") / s / 1048576.0 : 0.0);
  if (json_is_object (f))
    printf ("; final sync forecast %.1f s",
            json_number_value (json_object_get (f, "final_sync_seconds")));
  printf ("\n");
  fflush (stdout);
}

/* One incr round: snapshot (or the unsynced one of an interrupted run)
 * and its sync. */
static int
incr_round (struct v2k *v, const struct cutover_opts *co)
{
  if (do_snapshot (v, "incr", NULL, false) == NULL
      || do_sync (v, "incr", &co->sync) < 0)
    return -1;
  print_round (v);
  return 0;
}

/* Sleep until 'when' (epoch seconds). */
static void
sleep_until (double when)
{
  double d;

  while ((d = when - wall_seconds ()) > 0)
    usleep (d > 1 ? 1000000 : (useconds_t) (d * 1e6));
}

/* Base, then incr rounds until converged. */
static int
converge (struct v2k *v, const struct run_opts *ro, const struct cutover_opts *co)
{
  json_t *last = manifest_last_snapshot (v->m), *run = run_obj (v);
  const char *why;

  if (jbool (run, "converged"))
    return 0;
  if (last == NULL || (strcmp (jstr_or (last, "kind", ""), "base") == 0
                       && !jbool (last, "synced"))) {
    if (last == NULL && do_cbt_enable (v) < 0)
      return -1;
    if (do_snapshot (v, "base", NULL, false) == NULL
        || do_sync (v, "base", &co->sync) < 0)
      return -1;
    print_round (v);
  }
  for (;;) {
    last = manifest_last_snapshot (v->m);
    if (strcmp (jstr_or (last, "kind", ""), "final") == 0)
      break;                    /* a cutover already took over */
    if (strcmp (jstr_or (last, "kind", ""), "incr") == 0 && !jbool (last, "synced")) {
      if (incr_round (v, co) < 0)   /* interrupted round: finish it now */
        return -1;
      continue;
    }
    if ((why = converged (v, ro)) != NULL) {
      jset (run, "converged", json_true ());
      jset_str (run, "converged_by", why);
      jset_str (run, "converged_at", rfc3339_now ());
      v2k_event (v, "info", "run", NULL, "run.converged",
                 json_pack ("{s:s, s:i, s:O?}", "by", why, "incr_rounds",
                            incr_rounds (v), "forecast",
                            json_object_get (v->m->root, "forecast")));
      return v2k_save (v);
    }
    sleep_until (json_number_value (json_object_get (last_round (v), "ended"))
                 + ro->interval);
    if (incr_round (v, co) < 0)
      return -1;
  }
  return 0;
}

/* Outside the cutover window, keep the target current with a round
 * every interval until the window opens. */
static int
wait_window (struct v2k *v, const struct run_opts *ro, const struct cutover_opts *co)
{
  int w;
  bool told = false;

  while ((w = window_wait (ro)) > 0) {
    double next = json_number_value (json_object_get (last_round (v), "ended"))
      + ro->interval;
    if (!told) {
      v2k_event (v, "info", "run", NULL, "run.waiting-window",
                 json_pack ("{s:i}", "seconds", w));
      printf ("waiting %d s for the cutover window\n", w);
      fflush (stdout);
      told = true;
    }
    if (wall_seconds () + w < next) {
      sleep_until (wall_seconds () + w);
      continue;
    }
    sleep_until (next);
    if (window_wait (ro) > 0 && incr_round (v, co) < 0)
      return -1;
  }
  return 0;
}

static void
print_plan (struct v2k *v, const struct run_opts *ro)
{
  json_t *last = v->m ? manifest_last_snapshot (v->m) : NULL;

  if (ro->cold) {
    printf ("dry run: cold: shut the VM down, copy the allocated areas of a "
            "snapshot taken while off, define and start the domain\n");
    return;
  }
  if (strcmp (ro->split, "phase2") != 0) {
    if (last == NULL)
      printf ("dry run: would enable changed block tracking, take the base "
              "snapshot and copy its allocated areas\n");
    printf ("dry run: then incremental rounds every %d s until a round changes "
            "less than %llu bytes%s or %d rounds\n", ro->interval,
            (unsigned long long) ro->converge_bytes,
            ro->converge_seconds > 0 ? " or syncs quickly" : "", ro->max_rounds);
  }
  if (strcmp (ro->split, "phase1") == 0)
    printf ("dry run: then stop (phase1); 'run --split phase2' cuts over\n");
}

static int
parse_run_opt (struct run_opts *ro, struct v2k *v, int opt, const char *arg)
{
  switch (opt) {
  case O_MODE:
    if (strcmp (arg, "warm") && strcmp (arg, "cold"))
      goto bad;
    ro->cold = strcmp (arg, "cold") == 0;
    return 0;
  case O_SPLIT:
    if (strcmp (arg, "full") && strcmp (arg, "phase1") && strcmp (arg, "phase2"))
      goto bad;
    ro->split = arg;
    return 0;
  case O_INTERVAL:
    if ((ro->interval = parse_duration (arg)) < 0)
      goto bad;
    return 0;
  case O_MAX_ROUNDS:
    if ((ro->max_rounds = atoi (arg)) < 1)
      goto bad;
    return 0;
  case O_CONV_BYTES:
    if (!parse_bytes (arg, &ro->converge_bytes))
      goto bad;
    return 0;
  case O_CONV_SECS:
    ro->converge_seconds = atof (arg);
    return 0;
  case O_WINDOW:
    if (!parse_window (arg, &ro->win_start, &ro->win_end))
      goto bad;
    return 0;
  case O_WORKDIR:
    v->workdir = arg;
    return 0;
  default:
    return 1;
  }
 bad:
  v2k_error ("bad value '%s'", arg);
  return -1;
}

/* init options, cutover options and run's own, in one table. */
static struct option *
all_options (void)
{
  const struct option *parts[] = { init_options, cutover_options, run_only };
  size_t n = 0, k = 0;
  struct option *all;

  for (size_t p = 0; p < 3; p++)
    for (const struct option *o = parts[p]; o->name; o++)
      n++;
  all = calloc (n + 1, sizeof *all);
  if (all == NULL)
    return NULL;
  for (size_t p = 0; p < 3; p++)
    for (const struct option *o = parts[p]; o->name; o++)
      all[k++] = *o;
  return all;
}

/* The workdir exists already: is it this VM's? */
static int
check_vm (struct v2k *v, const struct init_opts *io)
{
  json_t *vm = json_object_get (v->m->root, "vm");

  if (io->vm && strcmp (io->vm, jstr_or (vm, "name", "")) != 0
      && strcmp (io->vm, jstr_or (vm, "moref", "")) != 0
      && strcmp (io->vm, jstr_or (vm, "inventory_path", "")) != 0) {
    v2k_error ("workdir '%s' holds a migration of '%s', not '%s'", v->workdir,
               jstr_or (vm, "name", "?"), io->vm);
    return -1;
  }
  return 0;
}

static int
run (struct v2k *v, struct run_opts *ro, struct init_opts *io,
     struct cutover_opts *co)
{
  const unsigned flags = NEEDS_WORKDIR | TAKES_LOCK | NEEDS_VCENTER;
  CLEANUP_FREE char *mpath = v->workdir ? path_join (v->workdir, MANIFEST_NAME) : NULL;
  bool phase2 = strcmp (ro->split, "phase2") == 0;
  json_t *runrec;

  if (v->workdir && mpath && access (mpath, F_OK) == 0) {
    if (v2k_setup (v, flags, "run") < 0 || check_vm (v, io) < 0)
      return -1;
  }
  else if (phase2) {
    v2k_error ("--split phase2 continues an existing workdir: give --workdir "
               "DIR of the phase1 run");
    return -1;
  }
  else {
    char *wd = NULL;
    if (init_check_opts (io) < 0 || do_init (v, io, &wd) < 0)
      return -1;
    free (v->workdir_owned);
    v->workdir = v->workdir_owned = wd;
    if (v->dry_run) {
      print_plan (v, ro);
      return 0;
    }
    if (v2k_setup (v, flags, "run") < 0)
      return -1;
    printf ("workdir %s\n", v->workdir);
  }
  if (v->dry_run) {
    print_plan (v, ro);
    if (!ro->cold && strcmp (ro->split, "phase1") != 0)
      return do_cutover (v, co);
    return 0;
  }
  if (co->sync.nbdkit)
    jset_str (json_object_get (v->m->root, "transfer"), "nbdkit", co->sync.nbdkit);
  runrec = run_obj (v);
  if (!jstr (runrec, "mode")) {
    jset_str (runrec, "mode", ro->cold ? "cold" : "warm");
    jset_str (runrec, "started", rfc3339_now ());
  }
  else if (strcmp (jstr (runrec, "mode"), ro->cold ? "cold" : "warm") != 0) {
    v2k_error ("this workdir is a %s run; run it again with --mode %s",
               jstr (runrec, "mode"), jstr (runrec, "mode"));
    return -1;
  }
  jset_str (runrec, "split", ro->split);
  if (v2k_save (v) < 0)
    return -1;
  v2k_event (v, "info", "run", NULL, "run.start",
             json_pack ("{s:s, s:s, s:i, s:i, s:I}", "mode", ro->cold ? "cold" : "warm",
                        "split", ro->split, "interval", ro->interval,
                        "max_rounds", ro->max_rounds,
                        "converge_bytes", (json_int_t) ro->converge_bytes));

  if (!ro->cold && !phase2) {
    if (converge (v, ro, co) < 0)
      return -1;
    if (strcmp (ro->split, "phase1") == 0) {
      json_t *f = json_object_get (v->m->root, "forecast");
      printf ("converged after %d incremental rounds", incr_rounds (v));
      if (json_is_object (f))
        printf ("; final sync forecast %.1f s",
                json_number_value (json_object_get (f, "final_sync_seconds")));
      printf ("\nready for 'v2k --workdir %s run --split phase2'\n", v->workdir);
      return 0;
    }
  }
  if (phase2 && !ro->cold && manifest_last_synced_snapshot (v->m) == NULL) {
    v2k_error ("no synced base in '%s': run phase1 first", v->workdir);
    return -1;
  }
  if (!ro->cold && wait_window (v, ro, co) < 0)
    return -1;
  co->cold = ro->cold;
  if (do_cutover (v, co) < 0)
    return -1;
  jset_str (runrec, "finished", rfc3339_now ());
  if (v2k_save (v) < 0)
    return -1;
  {
    json_t *c = json_object_get (v->m->root, "cutover");
    json_t *f = json_object_get (v->m->root, "forecast");
    printf ("domain %s %s", jstr_or (json_object_get (c, "domain"), "name", "?"),
            co->start ? "running" : "defined");
    if (json_is_real (json_object_get (c, "downtime_seconds")))
      printf (", downtime %.1f s", json_real_value (json_object_get (c, "downtime_seconds")));
    if (!ro->cold && json_is_object (f))
      printf (" (final sync forecast was %.1f s)",
              json_number_value (json_object_get (f, "final_sync_seconds")));
    printf ("\n");
  }
  return 0;
}

int
cmd_run (struct v2k *v, int argc, char **argv)
{
  const struct cmd *self = find_cmd ("run");
  struct run_opts ro = { .split = "full", .interval = 300, .max_rounds = 10,
                         .converge_bytes = 64u << 20, .win_start = -1,
                         .win_end = -1 };
  struct init_opts io;
  struct cutover_opts co;
  CLEANUP_FREE struct option *opts = all_options ();
  int opt, r, status = EXIT_FAIL;

  init_opts_init (&io);
  cutover_opts_init (&co);
  co.start = true;              /* run ends with the domain running */
  if (opts == NULL) {
    v2k_error ("out of memory");
    goto cleanup;
  }
  while ((opt = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    r = 1;
    if (opt != '?') {
      r = init_parse_opt (v, &io, opt, optarg);
      if (r == 1)
        r = cutover_parse_opt (&co, opt, optarg);
      if (r == 1)
        r = parse_run_opt (&ro, v, opt, optarg);
    }
    if (r != 0) {
      status = usage_error (self, "%s", r < 0 ? v2k_errmsg () : "bad option");
      goto cleanup;
    }
  }
  if (optind != argc) {
    status = usage_error (self, "unexpected argument '%s'", argv[optind]);
    goto cleanup;
  }
  if (ro.cold && strcmp (ro.split, "full") != 0) {
    status = usage_error (self, "--split is for warm runs");
    goto cleanup;
  }
  if (cutover_check_opts (&co) < 0) {
    status = usage_error (self, "%s", v2k_errmsg ());
    goto cleanup;
  }
  status = run (v, &ro, &io, &co) < 0 ? EXIT_FAIL : EXIT_OK;

 cleanup:
  init_opts_free (&io);
  cutover_opts_free (&co);
  return status;
}
