/* copy-driver: a thin command line over copy_lib for the shell tests in
 * tests/copy and for bench/copy-bench.sh.  Not installed.
 *
 *   copy-driver copy   --src SPEC --dst SPEC [options]
 *   copy-driver verify --src SPEC --dst SPEC (--full | --sample N | --ranges F)
 *   copy-driver jobs   --jobs N FILE     (one "copy ..." argument line each)
 *
 * SPEC:  file:PATH | nbd:SOCKET | uri:NBD-URI | qemu-nbd:FMT:PATH |
 *        nbdkit:'PLUGIN ARGS...' (spawned read-only, like the vddk source;
 *        arguments separated by spaces or commas)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "copy/copy.h"
#include "copy/jobs.h"
#include "copy/server.h"
#include "copy/verify.h"
#include "util/error.h"

struct args {
  const char *src, *dst, *ranges_file, *ckpt_file, *log, *nbdkit, *create;
  const char *mode;
  uint64_t chunk, ckpt_bytes, coalesce, seed, sample_len;
  unsigned requests, samples, retries, io_timeout;
  int allocated, resume, stats, full, qnbd_direct;
};

struct conn {
  struct v2k_server *srv;
  struct v2k_ep *ep;
};

static void
die (const char *what)
{
  fprintf (stderr, "copy-driver: %s%s%s\n", what ? what : "",
           what ? ": " : "", v2k_errmsg ());
  exit (1);
}

static uint64_t
num (const char *s)
{
  char *end;
  uint64_t v = strtoull (s, &end, 0);
  switch (*end) {
  case 'k': case 'K': v <<= 10; break;
  case 'm': case 'M': v <<= 20; break;
  case 'g': case 'G': v <<= 30; break;
  case 't': case 'T': v <<= 40; break;
  }
  return v;
}

/* Reentrant (no getopt): the jobs command parses many lines. */
static int
parse (int argc, char **argv, struct args *a)
{
  memset (a, 0, sizeof *a);
  a->mode = "base";
  a->log = "/dev/null";
  a->nbdkit = getenv ("V2K_NBDKIT") ? getenv ("V2K_NBDKIT") : "nbdkit";
  for (int i = 0; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp (k, name) == 0 && v && ++i)
    if (OPT ("--src")) a->src = v;
    else if (OPT ("--dst")) a->dst = v;
    else if (OPT ("--ranges")) a->ranges_file = v;
    else if (OPT ("--checkpoint-file")) a->ckpt_file = v;
    else if (OPT ("--checkpoint-bytes")) a->ckpt_bytes = num (v);
    else if (OPT ("--log")) a->log = v;
    else if (OPT ("--nbdkit")) a->nbdkit = v;
    else if (OPT ("--create")) a->create = v;         /* raw|qcow2 */
    else if (OPT ("--mode")) a->mode = v;
    else if (OPT ("--chunk")) a->chunk = num (v);
    else if (OPT ("--requests")) a->requests = num (v);
    else if (OPT ("--coalesce")) a->coalesce = num (v);
    else if (OPT ("--sample")) a->samples = num (v);
    else if (OPT ("--sample-len")) a->sample_len = num (v);
    else if (OPT ("--seed")) a->seed = num (v);
    else if (OPT ("--retries")) a->retries = num (v);
    else if (OPT ("--io-timeout")) a->io_timeout = num (v);
    else if (strcmp (k, "--allocated") == 0) a->allocated = 1;
    else if (strcmp (k, "--resume") == 0) a->resume = 1;
    else if (strcmp (k, "--stats") == 0) a->stats = 1;
    else if (strcmp (k, "--full") == 0) a->full = 1;
    else if (strcmp (k, "--direct") == 0) a->qnbd_direct = 1;
    else {
      v2k_error ("unknown or incomplete option '%s'", k);
      return -1;
    }
#undef OPT
  }
  if (a->src == NULL || a->dst == NULL) {
    v2k_error ("--src and --dst are required");
    return -1;
  }
  return 0;
}

static int
conn_open (struct conn *c, const char *spec, bool target,
           const struct args *a, uint64_t create_size)
{
  unsigned fl = target ? V2K_EP_WRITE : V2K_EP_EXTENTS;

  memset (c, 0, sizeof *c);
  if (strncmp (spec, "file:", 5) == 0) {
    if (target && a->create &&
        v2k_target_create (spec + 5, "raw", create_size, 0, a->log) == -1)
      return -1;
    c->ep = v2k_ep_file (spec + 5, fl);
  }
  else if (strncmp (spec, "nbd:", 4) == 0)
    c->ep = v2k_ep_nbd_unix (spec + 4, fl);
  else if (strncmp (spec, "uri:", 4) == 0)
    c->ep = v2k_ep_nbd_uri (spec + 4, fl);
  else if (strncmp (spec, "qemu-nbd:", 9) == 0) {
    char fmt[16];
    const char *path = strchr (spec + 9, ':');
    if (path == NULL || path - spec - 9 >= (long) sizeof fmt) {
      v2k_error ("bad spec '%s'", spec);
      return -1;
    }
    snprintf (fmt, sizeof fmt, "%.*s", (int) (path - spec - 9), spec + 9);
    path++;
    if (target && a->create &&
        v2k_target_create (path, fmt, create_size, 0, a->log) == -1)
      return -1;
    c->srv = v2k_server_qemu_nbd (NULL, path, fmt,
                                  (target ? V2K_QNBD_SPARSE
                                          : V2K_QNBD_READONLY) |
                                  (a->qnbd_direct ? V2K_QNBD_DIRECT : 0),
                                  a->log, 10000);
    if (c->srv == NULL)
      return -1;
    c->ep = v2k_ep_nbd_unix (c->srv->socket, fl);
  }
  else if (strncmp (spec, "nbdkit:", 7) == 0) {
    char *copy = strdup (spec + 7), *save = NULL;
    const char *argv[64];
    size_t n = 0;
    /* Spaces or commas: job files split lines on spaces. */
    for (char *t = strtok_r (copy, " ,", &save); t && n < 63;
         t = strtok_r (NULL, " ,", &save))
      argv[n++] = t;
    argv[n] = NULL;
    c->srv = v2k_server_nbdkit (a->nbdkit, !target, argv, a->log, 10000);
    free (copy);
    if (c->srv == NULL)
      return -1;
    c->ep = v2k_ep_nbd_unix (c->srv->socket, fl);
  }
  else
    v2k_error ("unknown endpoint spec '%s'", spec);
  return c->ep ? 0 : -1;
}

static void
conn_close (struct conn *c)
{
  v2k_ep_close (c->ep);
  v2k_server_stop (c->srv);
  c->ep = NULL;
  c->srv = NULL;
}

static int
load_ranges (const char *file, struct v2k_ranges *r)
{
  FILE *fp = fopen (file, "r");
  unsigned long long off, len;
  int ret = 0;

  if (fp == NULL) {
    v2k_error_errno (errno, "cannot open '%s'", file);
    return -1;
  }
  while (fscanf (fp, "%llu %llu", &off, &len) == 2)
    if (v2k_ranges_add (r, off, len) == -1) {
      ret = -1;
      break;
    }
  fclose (fp);
  return ret;
}

static int
save_checkpoint (void *opaque, uint64_t pos)
{
  const struct args *a = opaque;
  char tmp[4096];
  FILE *fp;

  if (a->ckpt_file == NULL)
    return 0;
  snprintf (tmp, sizeof tmp, "%s.tmp", a->ckpt_file);
  fp = fopen (tmp, "w");
  if (fp == NULL || fprintf (fp, "%" PRIu64 "\n", pos) < 0 ||
      fclose (fp) != 0 || rename (tmp, a->ckpt_file) == -1) {
    v2k_error_errno (errno, "cannot save checkpoint '%s'", a->ckpt_file);
    return -1;
  }
  return 0;
}

static uint64_t
read_checkpoint (const char *file)
{
  unsigned long long p = 0;
  FILE *fp = file ? fopen (file, "r") : NULL;
  if (fp) {
    if (fscanf (fp, "%llu", &p) != 1)
      p = 0;
    fclose (fp);
  }
  return p;
}

static int
do_copy (const struct args *a)
{
  struct conn s, d;
  struct v2k_ranges r = V2K_RANGES_INIT;
  struct v2k_copy_stats st, total = { 0 };
  struct v2k_copy_opts o = { .chunk = a->chunk, .max_requests = a->requests,
                             .checkpoint_bytes = a->ckpt_bytes,
                             .io_timeout_secs = a->io_timeout,
                             .checkpoint = save_checkpoint,
                             .opaque = (void *) a };
  uint64_t pos = 0;
  unsigned attempt = 0;
  int ret = -1;

  o.mode = strcmp (a->mode, "incr") == 0 ? V2K_COPY_INCR : V2K_COPY_BASE;
  if (conn_open (&s, a->src, false, a, 0) == -1)
    return -1;
  if (conn_open (&d, a->dst, true, a, s.ep->size) == -1)
    goto out;
  if (a->ranges_file ? load_ranges (a->ranges_file, &r)
      : a->allocated ? v2k_copy_allocated (s.ep, &r)
      : v2k_ranges_add (&r, 0, s.ep->size))
    goto out;
  if (a->coalesce)
    v2k_ranges_coalesce (&r, a->coalesce);
  if (a->resume)
    v2k_ranges_after (&r, read_checkpoint (a->ckpt_file));

  /* What a caller does on a dropped source: reconnect, resume from the
   * checkpoint the failed attempt returned. */
  while ((ret = v2k_copy (s.ep, d.ep, &r, &o, &st, &pos)) == -1 &&
         attempt++ < a->retries) {
    fprintf (stderr, "copy-driver: attempt %u failed at checkpoint %" PRIu64
             ": %s\n", attempt, pos, v2k_errmsg ());
    total.bytes_read += st.bytes_read;
    v2k_ranges_after (&r, pos);
    v2k_ep_close (s.ep);
    if ((s.ep = strncmp (a->src, "nbd:", 4) == 0
         ? v2k_ep_nbd_unix (a->src + 4, V2K_EP_EXTENTS)
         : s.srv ? v2k_ep_nbd_unix (s.srv->socket, V2K_EP_EXTENTS)
         : v2k_ep_file (a->src + 5, V2K_EP_EXTENTS)) == NULL)
      goto out;
  }
  if (a->stats) {
    struct rusage self, kids;
    getrusage (RUSAGE_SELF, &self);
    printf ("areas=%" PRIu64 "\nbytes_total=%" PRIu64 "\nbytes_read=%"
            PRIu64 "\nbytes_written=%" PRIu64 "\nbytes_zeroed=%" PRIu64
            "\nbytes_skipped=%" PRIu64 "\nrequests=%" PRIu64
            "\ncheckpoints=%" PRIu64 "\ncheckpoint=%" PRIu64
            "\nseconds=%.3f\nattempts=%u\n",
            st.areas, st.bytes_total, st.bytes_read + total.bytes_read,
            st.bytes_written, st.bytes_zeroed, st.bytes_skipped,
            st.requests, st.checkpoints, pos, st.seconds, attempt + 1);
    conn_close (&d);          /* reap the servers to count their CPU */
    conn_close (&s);
    getrusage (RUSAGE_CHILDREN, &kids);
    printf ("self_cpu=%.3f\nself_maxrss_kib=%ld\nchildren_cpu=%.3f\n",
            self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 +
            self.ru_stime.tv_sec + self.ru_stime.tv_usec / 1e6,
            self.ru_maxrss,
            kids.ru_utime.tv_sec + kids.ru_utime.tv_usec / 1e6 +
            kids.ru_stime.tv_sec + kids.ru_stime.tv_usec / 1e6);
  }
 out:
  conn_close (&d);
  conn_close (&s);
  v2k_ranges_free (&r);
  return ret;
}

static int
do_verify (const struct args *a)
{
  v2k_verify_set_io_timeout (a->io_timeout);
  struct conn s, d;
  struct v2k_ranges r = V2K_RANGES_INIT;
  struct v2k_verify_result vr;
  int ret = -1;

  if (conn_open (&s, a->src, false, a, 0) == -1)
    return -1;
  if (conn_open (&d, a->dst, false, a, 0) == -1)
    goto out;
  if (a->full)
    ret = v2k_verify_full (s.ep, d.ep, a->chunk, &vr);
  else if (a->samples)
    ret = v2k_verify_sample (s.ep, d.ep, a->samples, a->sample_len,
                             a->seed, &vr);
  else if (a->ranges_file && load_ranges (a->ranges_file, &r) == 0)
    ret = v2k_verify_ranges (s.ep, d.ep, &r, a->chunk, &vr);
  else if (!a->ranges_file)
    v2k_error ("verify needs --full, --sample N or --ranges FILE");
  if (ret == 0) {
    printf ("equal=%d\ncompared=%" PRIu64 "\n", vr.equal, vr.bytes_compared);
    if (!vr.equal)
      printf ("first_diff=%" PRIu64 "\n", vr.first_diff);
    if (a->full)
      printf ("sha256_src=%s\nsha256_dst=%s\n", vr.sha256_a, vr.sha256_b);
    if (!vr.equal) {
      v2k_error ("'%s' and '%s' differ at offset %" PRIu64,
                 a->src, a->dst, vr.first_diff);
      ret = -1;
    }
  }
 out:
  conn_close (&d);
  conn_close (&s);
  v2k_ranges_free (&r);
  return ret;
}

static int
job_fn (void *opaque)
{
  return do_copy (opaque);
}

/* Each line: copy options, space separated (no quoting). */
static int
do_jobs (unsigned nthreads, const char *file)
{
  FILE *fp = fopen (file, "r");
  char line[4096];
  struct v2k_job jobs[64];
  struct args args[64];
  char *argvs[64][32];
  size_t n = 0;
  int ret;

  if (fp == NULL) {
    v2k_error_errno (errno, "cannot open '%s'", file);
    return -1;
  }
  while (n < 64 && fgets (line, sizeof line, fp)) {
    char *save = NULL, *dup = strdup (line);
    int argc = 0;
    for (char *t = strtok_r (dup, " \n", &save); t && argc < 31;
         t = strtok_r (NULL, " \n", &save))
      argvs[n][argc++] = t;
    if (argc == 0) {
      free (dup);
      continue;
    }
    if (parse (argc, argvs[n], &args[n]) == -1) {
      v2k_error_prefix ("'%s' line %zu", file, n + 1);
      free (dup);
      fclose (fp);
      for (size_t i = 0; i < n; i++)
        free (argvs[i][0]);
      return -1;
    }
    jobs[n].fn = job_fn;
    jobs[n].opaque = &args[n];
    n++;
  }
  fclose (fp);
  ret = v2k_jobs_run (jobs, n, nthreads);
  for (size_t i = 0; i < n; i++) {
    if (jobs[i].errmsg)
      fprintf (stderr, "copy-driver: job %zu: %s\n", i, jobs[i].errmsg);
    free (jobs[i].errmsg);
    free (argvs[i][0]);
  }
  return ret;
}

int
main (int argc, char **argv)
{
  struct args a;

  if (argc < 2) {
    fprintf (stderr, "usage: copy-driver copy|verify|jobs ...\n");
    return 2;
  }
  if (strcmp (argv[1], "jobs") == 0) {
    if (argc != 5 || strcmp (argv[2], "--jobs") != 0) {
      fprintf (stderr, "usage: copy-driver jobs --jobs N FILE\n");
      return 2;
    }
    if (do_jobs (num (argv[3]), argv[4]) == -1)
      die (NULL);
    return 0;
  }
  if (parse (argc - 2, argv + 2, &a) == -1)
    die (argv[1]);
  if (strcmp (argv[1], "copy") == 0) {
    if (do_copy (&a) == -1)
      die ("copy");
  }
  else if (strcmp (argv[1], "verify") == 0) {
    if (do_verify (&a) == -1)
      die ("verify");
  }
  else {
    fprintf (stderr, "copy-driver: unknown command '%s'\n", argv[1]);
    return 2;
  }
  return 0;
}
