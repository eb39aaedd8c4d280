/* Parallel disks (see jobs.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "copy/jobs.h"
#include "util/error.h"

struct pool {
  struct v2k_job *jobs;
  size_t n, next;
  pthread_mutex_t lock;
};

static void *
worker (void *arg)
{
  struct pool *p = arg;

  for (;;) {
    struct v2k_job *j;
    pthread_mutex_lock (&p->lock);
    j = p->next < p->n ? &p->jobs[p->next++] : NULL;
    pthread_mutex_unlock (&p->lock);
    if (j == NULL)
      return NULL;
    v2k_error_clear ();
    j->ret = j->fn (j->opaque);
    /* The message lives in this thread: copy it out before it is gone. */
    j->errmsg = j->ret == -1 ? strdup (v2k_errmsg ()) : NULL;
  }
}

int
v2k_jobs_run (struct v2k_job *jobs, size_t n, unsigned nthreads)
{
  struct pool p = { jobs, n, 0, PTHREAD_MUTEX_INITIALIZER };
  pthread_t *tids;
  size_t started = 0, failed = 0, first = 0;

  if (nthreads == 0)
    nthreads = 1;
  if (nthreads > n)
    nthreads = n;
  for (size_t i = 0; i < n; i++) {
    jobs[i].ret = -1;
    jobs[i].errmsg = NULL;
  }
  tids = calloc (nthreads ? nthreads : 1, sizeof *tids);
  if (tids == NULL) {
    v2k_error_errno (errno, "cannot allocate threads");
    return -1;
  }
  for (unsigned i = 0; i < nthreads; i++) {
    int e = pthread_create (&tids[i], NULL, worker, &p);
    if (e != 0) {
      /* Fewer threads still run every job. */
      if (started == 0) {
        free (tids);
        v2k_error_errno (e, "cannot create a copy thread");
        return -1;
      }
      break;
    }
    started++;
  }
  for (size_t i = 0; i < started; i++)
    pthread_join (tids[i], NULL);
  free (tids);

  for (size_t i = 0; i < n; i++)
    if (jobs[i].ret != 0 && failed++ == 0)
      first = i;
  if (failed) {
    v2k_error ("%zu of %zu jobs failed; job %zu: %s", failed, n, first,
               jobs[first].errmsg ? jobs[first].errmsg : "unknown error");
    return -1;
  }
  return 0;
}
