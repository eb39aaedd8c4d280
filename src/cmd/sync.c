/* do_sync: copy one snapshot's data to the targets.
 *
 * Correctness rules (docs/design.md):
 *  - the areas come from a complete, validated walk of
 *    QueryChangedDiskAreas (or "*" for the base);
 *  - a disk's changeId advances only after all its areas were copied, the
 *    target flushed and its server exited cleanly, in one atomic manifest
 *    write; a crash before that repeats the disk from its checkpoint;
 *  - checkpoints are byte positions whose prefix is written and flushed;
 *  - the predecessor snapshot is removed only after this one is synced.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/endpoints.h"
#include "copy/copy.h"
#include "copy/ranges.h"
#include "core/changes.h"
#include "core/forecast.h"
#include "util/clock.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "vsphere/vim.h"

struct job {
  struct sync_run *run;
  json_t *disk;                 /* manifest disk (borrowed) */
  const char *disk_id;
  struct v2k_ranges ranges;     /* what is left to copy */
  uint64_t resume_pos;
  uint64_t total;               /* bytes of the whole list this round */
  bool fresh;                   /* base from scratch: recreate the target */
  bool whole;                   /* base into a device: every byte written */
  size_t pages;
  struct v2k_copy_stats stats;
  uint64_t done;                /* progress, under run->mu */
  int rc;
  char err[2048];
  bool finished;
};

struct sync_run {
  struct v2k *v;
  const struct sync_opts *o;
  const char *kind;
  json_t *snap;
  pthread_mutex_t mu;           /* manifest, events, progress */
  pthread_cond_t done;          /* a job finished (wakes the reporter) */
  struct job *jobs;
  size_t njobs, next;
  size_t cap;                   /* jobs allocated (a failed plan fills fewer) */
  double t0;
};

void
sync_opts_default (struct sync_opts *o)
{
  memset (o, 0, sizeof *o);
  o->jobs = 2;
  o->chunk = V2K_COPY_DEFAULT_CHUNK;
  o->coalesce_gap = 1 << 20;
  o->retries = 3;
}

/* Persist a checkpoint: everything below pos is on the target. */
static int
on_checkpoint (void *opaque, uint64_t pos)
{
  struct job *j = opaque;
  struct sync_run *r = j->run;
  int ret;

  pthread_mutex_lock (&r->mu);
  jset (json_object_get (j->disk, "sync"), "checkpoint",
        json_pack ("{s:s, s:I}", "snapshot", jstr (r->snap, "moref"),
                   "pos", (json_int_t) pos));
  ret = v2k_save (r->v);
  pthread_mutex_unlock (&r->mu);
  return ret;
}

static void
on_progress (void *opaque, uint64_t done, uint64_t total)
{
  struct job *j = opaque;

  pthread_mutex_lock (&j->run->mu);
  j->done = (j->total - (total)) + done;   /* the resumed prefix counts as done */
  pthread_mutex_unlock (&j->run->mu);
}

/* Copy one disk, reconnecting a bounded number of times. */
static int
copy_disk (struct job *j)
{
  struct sync_run *r = j->run;
  struct v2k *v = r->v;
  char tag[128], src_log[4096], dst_log[4096];
  int attempt;

  snprintf (tag, sizeof tag, "%s-%s", jstr_or (r->snap, "name", r->kind), j->disk_id);
  for (char *p = tag; *p; p++)
    if (*p == ':' || *p == '/')
      *p = '_';
  /* Where endpoints.c sends the children's output, for the events. */
  snprintf (src_log, sizeof src_log, "%s/logs/%s-source.log", v->workdir, tag);
  snprintf (dst_log, sizeof dst_log, "%s/logs/%s-target.log", v->workdir, tag);

  /* Nothing changed: no server to start, nothing to flush.  A fresh base
   * target must still exist (an empty disk is a valid copy). */
  if (j->ranges.n == 0) {
    struct disk_io io = { 0 };
    if (!j->fresh)
      return 0;
    if (open_target (v, j->disk, TARGET_FRESH, tag, &io) < 0)
      return -1;
    return close_target (&io);
  }

  for (attempt = 0; ; attempt++) {
    struct disk_io io = { .retry = attempt > 0 };
    struct v2k_copy_opts co = { 0 };
    uint64_t ckpt = j->resume_pos;
    struct v2k_copy_stats st = { 0 };
    int rc;

    if (open_target (v, j->disk, j->fresh && attempt == 0 ? TARGET_FRESH : 0, tag, &io) < 0)
      return -1;
    if (open_source (v, j->disk, r->snap, v->creds.password, tag, &io) < 0) {
      close_target (&io);
      goto retry;
    }
    co.mode = strcmp (r->kind, "base") == 0 && !j->whole ? V2K_COPY_BASE
                                                          : V2K_COPY_INCR;
    co.chunk = r->o->chunk;
    co.checkpoint_bytes = r->o->checkpoint_bytes;
    co.io_timeout_secs = r->o->io_timeout;
    co.progress = on_progress;
    co.checkpoint = on_checkpoint;
    co.opaque = j;
    rc = v2k_copy (io.src, io.dst, &j->ranges, &co, &st, &ckpt);
    j->stats.bytes_read += st.bytes_read;
    j->stats.bytes_written += st.bytes_written;
    j->stats.bytes_zeroed += st.bytes_zeroed;
    j->stats.bytes_skipped += st.bytes_skipped;
    j->stats.requests += st.requests;
    j->stats.areas = st.areas > j->stats.areas ? st.areas : j->stats.areas;
    if (rc == 0 && io.dst->ops->flush (io.dst) < 0)
      rc = -1;
    close_source (&io);
    if (close_target (&io) < 0)
      rc = -1;
    if (rc == 0)
      return 0;
    /* Resume after what is known to be on the target. */
    if (ckpt > j->resume_pos) {
      j->resume_pos = ckpt;
      v2k_ranges_after (&j->ranges, ckpt);
    }
  retry:
    pthread_mutex_lock (&r->mu);
    v2k_event (v, attempt >= r->o->retries ? "error" : "warning", r->kind,
               j->disk_id, attempt >= r->o->retries ? "sync.failed" : "sync.retry",
               json_pack ("{s:i, s:s, s:I, s:s, s:s}", "attempt", attempt + 1,
                          "error", v2k_errmsg (), "resume_pos",
                          (json_int_t) j->resume_pos,
                          "source_log", src_log, "target_log", dst_log));
    pthread_mutex_unlock (&r->mu);
    if (attempt >= r->o->retries)
      return -1;
    sleep (1);
  }
}

/* The disk is complete: advance its changeId in one atomic write. */
static int
finish_disk (struct job *j, double seconds)
{
  struct sync_run *r = j->run;
  const char *change_id = NULL;
  json_t *sd, *sync, *last;
  size_t i;
  int ret;

  json_array_foreach (json_object_get (r->snap, "disks"), i, sd)
    if (jint (sd, "key") == jint (j->disk, "key"))
      change_id = jstr (sd, "change_id");
  last = json_pack ("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}",
                    "kind", r->kind, "snapshot", jstr (r->snap, "moref"),
                    "finished", rfc3339_now (),
                    "bytes_total", (json_int_t) j->total,
                    "bytes_read", (json_int_t) j->stats.bytes_read,
                    "bytes_written", (json_int_t) j->stats.bytes_written,
                    "bytes_zeroed", (json_int_t) j->stats.bytes_zeroed,
                    "bytes_skipped", (json_int_t) j->stats.bytes_skipped,
                    "areas", (json_int_t) j->stats.areas,
                    "pages", (json_int_t) j->pages,
                    "seconds", seconds,
                    "mib_per_s", seconds > 0 ? j->stats.bytes_read / seconds / 1048576.0 : 0.0);
  pthread_mutex_lock (&r->mu);
  sync = json_object_get (j->disk, "sync");
  jset_str (sync, "change_id", change_id);
  jset_str (sync, "snapshot", jstr (r->snap, "moref"));
  jset (sync, "checkpoint", json_null ());
  json_object_set (sync, "last", last);
  if (!json_is_array (json_object_get (sync, "history")))
    jset (sync, "history", json_array ());
  json_array_append_new (json_object_get (sync, "history"), last);
  ret = v2k_save (r->v);
  if (ret == 0)
    v2k_event (r->v, "info", r->kind, j->disk_id, "sync.disk-done",
               json_deep_copy (json_object_get (sync, "last")));
  pthread_mutex_unlock (&r->mu);
  return ret;
}

static void *
worker (void *arg)
{
  struct sync_run *r = arg;

  for (;;) {
    struct job *j;
    double t0;

    pthread_mutex_lock (&r->mu);
    j = r->next < r->njobs ? &r->jobs[r->next++] : NULL;
    pthread_mutex_unlock (&r->mu);
    if (j == NULL)
      return NULL;
    t0 = mono_seconds ();
    j->rc = copy_disk (j);
    if (j->rc == 0)
      j->rc = finish_disk (j, mono_seconds () - t0);
    if (j->rc < 0)
      snprintf (j->err, sizeof j->err, "%s: %s", j->disk_id, v2k_errmsg ());
    pthread_mutex_lock (&r->mu);
    j->finished = true;
    pthread_cond_signal (&r->done);
    pthread_mutex_unlock (&r->mu);
  }
}

/* Jobs done; call with r->mu held. */
static size_t
finished_jobs (const struct sync_run *r)
{
  size_t n = 0;

  for (size_t i = 0; i < r->njobs; i++)
    n += r->jobs[i].finished;
  return n;
}

/* progress.json (read by status) and a bar on a terminal. */
static void
report_progress (struct sync_run *r, bool final)
{
  CLEANUP_FREE char *path = path_join (r->v->workdir, "progress.json");
  CLEANUP_FREE char *text = NULL;
  CLEANUP_JSON json_t *p = NULL;
  json_t *disks = json_object ();
  uint64_t done = 0, total = 0;
  double el = mono_seconds () - r->t0;

  pthread_mutex_lock (&r->mu);
  for (size_t i = 0; i < r->njobs; i++) {
    struct job *j = &r->jobs[i];
    double rate = el > 0 ? (double) j->done / el : 0;
    json_object_set_new (disks, j->disk_id, json_pack (
        "{s:I, s:I, s:f, s:f, s:b}", "bytes_done", (json_int_t) j->done,
        "bytes_total", (json_int_t) j->total, "rate_bytes_per_s", rate,
        "eta_seconds", rate > 0 ? (j->total - j->done) / rate : -1.0,
        "finished", j->finished));
    done += j->done;
    total += j->total;
  }
  pthread_mutex_unlock (&r->mu);
  p = json_pack ("{s:s, s:s, s:s, s:o}", "kind", r->kind,
                 "snapshot", jstr_or (r->snap, "moref", ""),
                 "updated", rfc3339_now (), "disks", disks);
  text = json_dumps (p, JSON_COMPACT);
  if (text)
    write_file_replace (path, text, strlen (text), 0600);
  /* The bar is for a person at a terminal; scripts and the management
   * plane read progress.json and status. */
  if (isatty (STDOUT_FILENO) && !r->v->json) {
    double pct = total ? 100.0 * done / total : 100.0;
    double rate = el > 0 ? done / el : 0;
    printf ("\r%s: %5.1f%%  %8.1f MiB/s  ETA %5.0fs ", r->kind, pct,
            rate / 1048576, rate > 0 ? (total - done) / rate : 0.0);
    if (final)
      putchar ('\n');
    fflush (stdout);
  }
}

/* Changed areas come at sector granularity (a guest's 4 KiB write is
 * one); they are copied as whole 64 KiB blocks, the qcow2 cluster and
 * VMDK grain size and ESXi's usual CBT block, so that no target write
 * covers part of a page or cluster (each such write first reads the
 * rest from the target's disk: 14 times fewer reads in bench/'s 1%
 * incremental). */
#define AREA_ALIGN (64 * 1024)

/* Areas to copy for each disk, computed in the main thread (the vSphere
 * session is not shared between threads). */
static int
plan (struct sync_run *r)
{
  struct v2k *v = r->v;
  const char *vm = jstr (json_object_get (v->m->root, "vm"), "moref");
  size_t i, n = 0;
  json_t *d;

  r->cap = json_array_size (manifest_disks (v->m)) + 1;
  r->jobs = calloc (r->cap, sizeof *r->jobs);
  if (r->jobs == NULL)
    return -1;
  json_array_foreach (manifest_disks (v->m), i, d) {
    json_t *sync = json_object_get (d, "sync"), *ck;
    struct job *j;
    const char *cid;

    if (!json_is_object (sync)) {
      sync = json_object ();
      json_object_set_new (d, "sync", sync);
    }
    /* Already synced in an earlier, interrupted run of this command. */
    if (strcmp (jstr_or (sync, "snapshot", ""), jstr (r->snap, "moref")) == 0)
      continue;
    j = &r->jobs[n];
    j->run = r;
    j->disk = d;
    j->disk_id = jstr_or (d, "disk_id", "disk");
    if (strcmp (r->kind, "base") == 0)
      cid = "*";
    else {
      cid = jstr (sync, "change_id");
      if (cid == NULL) {
        v2k_error ("disk '%s' has no synced changeId; the base sync did not "
                   "finish for it", j->disk_id);
        return -1;
      }
    }
    /* A new file reads as zeroes where the base copy writes nothing; a
     * block device or an rbd image holds whatever was there before.  So
     * there the whole disk is copied, holes as zero requests (BLKZEROOUT,
     * NBD write-zeroes), the same list on every resume, and the list of
     * allocated areas is not needed. */
    j->whole = strcmp (r->kind, "base") == 0 && !target_starts_zero (d);
    if (j->whole) {
      if (jint (d, "capacity") > 0 &&
          v2k_ranges_add (&j->ranges, 0, jint (d, "capacity")) < 0)
        return -1;
    }
    else if (changed_ranges (v->vim, vm, jstr (r->snap, "moref"), jint (d, "key"),
                             jint (d, "capacity"), cid, &j->ranges, &j->pages) < 0) {
      /* An unknown changeId means tracking was reset (CBT switched off
       * and on, some storage operations): only a new base is safe. */
      if (strcmp (cid, "*") != 0 && strstr (v2k_errmsg (), "InvalidArgument")
          && strstr (v2k_errmsg (), "changeId"))
        v2k_error_prefix ("disk '%s': vCenter no longer knows the changeId of "
                          "the last synced snapshot, so changed block tracking "
                          "was reset; an incremental copy cannot be trusted: "
                          "start a new run with a new base", j->disk_id);
      else
        v2k_error_prefix ("disk '%s'", j->disk_id);
      return -1;
    }
    else {
      v2k_ranges_align (&j->ranges, AREA_ALIGN, jint (d, "capacity"));
      v2k_ranges_coalesce (&j->ranges, r->o->coalesce_gap);
    }
    j->total = v2k_ranges_bytes (&j->ranges);
    ck = json_object_get (sync, "checkpoint");
    /* A base whose target vanished mid-copy simply starts again. */
    if (strcmp (r->kind, "base") == 0 && !target_present (d))
      ck = NULL;
    if (json_is_object (ck)
        && strcmp (jstr_or (ck, "snapshot", ""), jstr (r->snap, "moref")) == 0) {
      j->resume_pos = jint (ck, "pos");
      v2k_ranges_after (&j->ranges, j->resume_pos);
      j->done = j->total - v2k_ranges_bytes (&j->ranges);
      v2k_event (v, "info", r->kind, j->disk_id, "sync.resume",
                 json_pack ("{s:I}", "pos", (json_int_t) j->resume_pos));
    }
    else
      j->fresh = strcmp (r->kind, "base") == 0;
    if (!j->fresh && check_target_present (d) < 0)
      return -1;
    v2k_event (v, "info", r->kind, j->disk_id, "sync.planned",
               json_pack ("{s:I, s:I, s:I, s:s}", "areas", (json_int_t) j->ranges.n,
                          "bytes", (json_int_t) j->total,
                          "pages", (json_int_t) j->pages, "change_id", cid));
    n++;
  }
  r->njobs = n;
  return 0;
}

int
refresh_snapshot_files (struct v2k *v, json_t *snap)
{
  CLEANUP_JSON json_t *frozen = NULL;
  size_t i, k;
  json_t *d, *f;

  if (vim_snapshot_disks (v->vim, jstr (snap, "moref"), &frozen) < 0)
    return -1;
  /* Consolidation after a predecessor's removal renames the files a
   * snapshot reads (as ESXi does), so what is read is what vCenter says
   * now; the changeIds, in contrast, never change for a snapshot. */
  json_array_foreach (json_object_get (snap, "disks"), i, d)
    json_array_foreach (frozen, k, f)
      if (jint (f, "key") == jint (d, "key") && jstr (f, "file"))
        jset_str (d, "file", jstr (f, "file"));
  return 0;
}

int
do_sync (struct v2k *v, const char *kind, const struct sync_opts *o)
{
  struct sync_run r = { .v = v, .o = o, .kind = kind };
  pthread_t *threads = NULL;
  int ret = -1, nthreads = 0;
  json_t *snap = manifest_last_snapshot (v->m);

  if (snap == NULL || strcmp (jstr_or (snap, "kind", ""), kind) != 0) {
    v2k_error ("no %s snapshot to sync; run 'snapshot %s' first", kind, kind);
    return -1;
  }
  if (jbool (snap, "synced")) {
    if (v->dry_run)
      printf ("dry run: snapshot '%s' is synced already\n", jstr_or (snap, "name", ""));
    else
      snapshot_remove_before (v, snap);   /* finish an interrupted removal */
    return 0;
  }
  if (strcmp (jstr_or (snap, "state", ""), "created") != 0) {
    v2k_error ("snapshot '%s' is %s, not created; run 'snapshot %s' again",
               jstr_or (snap, "name", ""), jstr_or (snap, "state", "?"), kind);
    return -1;
  }
  /* The snapshot must still exist: it is what we read. */
  if (refresh_snapshot_files (v, snap) < 0) {
    jset_str (snap, "state", "missing");
    v2k_save (v);
    v2k_event (v, "error", kind, NULL, "snapshot.missing",
               json_pack ("{s:s, s:s}", "moref", jstr (snap, "moref"),
                          "error", v2k_errmsg ()));
    v2k_error_prefix ("snapshot '%s' (%s) cannot be read; if it was removed "
                      "outside v2k, run 'snapshot %s' again",
                      jstr_or (snap, "name", ""), jstr (snap, "moref"), kind);
    return -1;
  }
  r.snap = snap;
  if (pthread_mutex_init (&r.mu, NULL) != 0)
    return -1;
  if (pthread_cond_init (&r.done, NULL) != 0) {
    pthread_mutex_destroy (&r.mu);
    return -1;
  }
  if (plan (&r) < 0)
    goto cleanup;
  if (v->dry_run) {
    /* The walk of the changed areas only reads; nothing is copied. */
    for (size_t i = 0; i < r.njobs; i++)
      printf ("dry run: would copy %llu bytes in %zu areas of %s from '%s' to '%s'\n",
              (unsigned long long) r.jobs[i].total, r.jobs[i].ranges.n,
              r.jobs[i].disk_id, jstr_or (snap, "name", ""),
              jstr_or (json_object_get (r.jobs[i].disk, "target"), "path", ""));
    if (!o->keep_snapshots)
      printf ("dry run: then would remove the snapshots before '%s'\n",
              jstr_or (snap, "name", ""));
    ret = 0;
    goto cleanup;
  }
  v2k_event (v, "info", kind, NULL, "sync.start",
             json_pack ("{s:s, s:i}", "snapshot", jstr (snap, "moref"),
                        "disks", (int) r.njobs));
  r.t0 = mono_seconds ();
  nthreads = o->jobs < 1 ? 1 : o->jobs;
  if ((size_t) nthreads > r.njobs)
    nthreads = r.njobs;
  threads = calloc (nthreads + 1, sizeof *threads);
  if (threads == NULL)
    goto cleanup;
  for (int i = 0; i < nthreads; i++)
    if (pthread_create (&threads[i], NULL, worker, &r) != 0) {
      nthreads = i;
      v2k_error ("cannot start a copy thread");
      break;
    }
  /* Report progress while the workers run; a finished job wakes this
   * loop at once, so a short incremental sync does not wait out a tick. */
  pthread_mutex_lock (&r.mu);
  for (;;) {
    size_t fin = finished_jobs (&r);
    struct timespec until;

    pthread_mutex_unlock (&r.mu);
    report_progress (&r, fin == r.njobs);
    pthread_mutex_lock (&r.mu);
    if (fin == r.njobs || nthreads == 0)
      break;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_nsec += 250 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    if (finished_jobs (&r) == fin)
      pthread_cond_timedwait (&r.done, &r.mu, &until);
  }
  pthread_mutex_unlock (&r.mu);
  for (int i = 0; i < nthreads; i++)
    pthread_join (threads[i], NULL);
  for (size_t i = 0; i < r.njobs; i++)
    if (r.jobs[i].rc < 0 || !r.jobs[i].finished) {
      v2k_error ("%s", r.jobs[i].err[0] ? r.jobs[i].err : "copy did not finish");
      goto cleanup;
    }
  if (nthreads == 0 && r.njobs > 0)
    goto cleanup;

  jset (snap, "synced", json_true ());
  jset_str (snap, "state", "synced");
  jset_str (snap, "synced_at", rfc3339_now ());
  /* The next 'snapshot' retries a removal that fails below, unless the
   * operator chose to keep them. */
  if (o->keep_snapshots)
    jset (snap, "keep_predecessors", json_true ());
  {
    json_t *rounds = json_object_get (v->m->root, "rounds");
    json_int_t bytes = 0;
    if (!json_is_array (rounds)) {
      rounds = json_array ();
      json_object_set_new (v->m->root, "rounds", rounds);
    }
    double secs = mono_seconds () - r.t0;
    for (size_t i = 0; i < r.njobs; i++)
      bytes += r.jobs[i].total;
    /* One line of the convergence table: what changed, how long its
     * copy took, and the rate; "ended" (epoch seconds) lets run space
     * its rounds across restarts. */
    json_array_append_new (rounds, json_pack ("{s:s, s:s, s:I, s:f, s:f, s:s, s:f}",
        "kind", kind, "snapshot", jstr (snap, "moref"),
        "bytes", bytes, "seconds", secs,
        "bytes_per_s", secs > 0 ? bytes / secs : 0.0,
        "finished", rfc3339_now (),
        "ended", wall_seconds ()));
    json_object_set_new (v->m->root, "forecast", forecast_final_sync (rounds));
  }
  if (v2k_save (v) < 0)
    goto cleanup;
  v2k_event (v, "info", kind, NULL, "sync.done",
             json_pack ("{s:s, s:f}", "snapshot", jstr (snap, "moref"),
                        "seconds", mono_seconds () - r.t0));
  if (!o->keep_snapshots)
    snapshot_remove_before (v, snap);
  ret = 0;

 cleanup:
  for (size_t i = 0; r.jobs && i < r.cap; i++)
    v2k_ranges_free (&r.jobs[i].ranges);
  free (r.jobs);
  free (threads);
  pthread_cond_destroy (&r.done);
  pthread_mutex_destroy (&r.mu);
  return ret;
}
