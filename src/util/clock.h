/* Seconds as doubles (header-only): wall clock for what is recorded
 * (downtime starts, round ends: comparable across processes and
 * restarts), monotonic clock for durations and deadlines inside one
 * process. */
#ifndef V2K_CLOCK_H
#define V2K_CLOCK_H

#include <time.h>

static inline double
wall_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline double
mono_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif /* V2K_CLOCK_H */
