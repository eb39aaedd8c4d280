/* Run K independent jobs (one per disk) on up to N threads.
 *
 * Each job opens its own endpoints and servers inside fn: libnbd handles
 * and v2k errors are per thread.  A failing job does not stop the others
 * (the disks are independent; each keeps its own checkpoint).
 */
#ifndef V2K_COPY_JOBS_H
#define V2K_COPY_JOBS_H

#include <stddef.h>

struct v2k_job {
  int (*fn) (void *opaque);   /* 0 or -1 with v2k_error set */
  void *opaque;
  int ret;                    /* out: fn's result */
  char *errmsg;               /* out: its error (free it), or NULL */
};

/* Returns 0 if every job succeeded, else -1 with v2k_error saying how
 * many failed and the first failure; jobs[i].ret/errmsg say which. */
int v2k_jobs_run (struct v2k_job *jobs, size_t n, unsigned nthreads);

#endif /* V2K_COPY_JOBS_H */
