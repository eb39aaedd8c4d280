/* The copy engine: ranges of a source endpoint onto a target endpoint.
 *
 * One thread, one event loop, at most max_requests requests in flight of
 * at most 'chunk' bytes each, so memory is max_requests * chunk whatever
 * the disk size.  Each piece of a range is classified before it is read:
 *   - the source says (NBD block status, SEEK_HOLE) it reads as zeroes:
 *     never read; BASE skips it, INCR zeroes it on the target (the source
 *     is asked only about ranges longer than one chunk: a shorter one
 *     costs one read either way);
 *   - otherwise it is read; an all-zero buffer is treated as above,
 *     anything else is written.
 *
 * Checkpoints.  The range list is sorted and disjoint, and pieces are
 * issued in order, so progress is a single byte offset P: when the
 * engine calls checkpoint(P), every byte of the list below P has been
 * written (or zeroed, or skipped in BASE) AND the target was flushed
 * after those writes completed.  The caller may persist P and later
 * resume with v2k_ranges_after(list, P).  *checkpoint_out always holds the
 * last such P, on failure too: that is what a retry resumes from.
 *
 * Errors.  A failed read or write stops issuing, lets in-flight requests
 * drain (not past the I/O timeout), tries one last flush + checkpoint of
 * what completed (not when the target is the one that stopped replying),
 * and
 * returns -1 with the first error ("cannot read source 'S' at offset O
 * length L: Input/output error").  The endpoints may then be dead:
 * reconnect (new endpoints) and resume from *checkpoint_out.
 */
#ifndef V2K_COPY_COPY_H
#define V2K_COPY_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "copy/endpoint.h"
#include "copy/ranges.h"

enum v2k_copy_mode {
  /* The target is fresh and reads as zeroes: zero areas are skipped and
   * the target stays sparse.  Also right when resuming a BASE copy of
   * the same (immutable) snapshot. */
  V2K_COPY_BASE = 0,
  /* Changed areas: areas that now read as zeroes become zeroes on the
   * target, never skipped. */
  V2K_COPY_INCR = 1,
};

struct v2k_copy_stats {
  uint64_t bytes_total;    /* bytes in the range list */
  uint64_t bytes_done;     /* handled so far (all kinds below) */
  uint64_t bytes_read;     /* read from the source */
  uint64_t bytes_written;  /* data written to the target */
  uint64_t bytes_zeroed;   /* zeroed on the target, without data */
  uint64_t bytes_skipped;  /* zero on the source, left alone (BASE) */
  uint64_t areas;          /* ranges in the list */
  uint64_t requests;       /* reads + writes + zeroes issued */
  uint64_t checkpoints;
  double seconds;          /* wall time of v2k_copy() */
};

typedef void (*v2k_copy_progress_fn) (void *opaque, uint64_t done,
                                      uint64_t total);
/* Return -1 (with v2k_error set) to abort, e.g. if P cannot be saved. */
typedef int (*v2k_copy_checkpoint_fn) (void *opaque, uint64_t pos);

struct v2k_copy_opts {
  enum v2k_copy_mode mode;
  uint64_t chunk;              /* 0: 4 MiB; clamped to endpoint limits */
  unsigned max_requests;       /* 0: min(64, 64 MiB / chunk) */
  bool keep_allocated;         /* zero without deallocating (no punch) */
  uint64_t checkpoint_bytes;   /* 0: 1 GiB between checkpoints */
  unsigned checkpoint_secs;    /* 0: 10 s between checkpoints */
  /* 0: 300 s.  Requests in flight and no reply for this long fail the
   * copy ("no reply from the source ... in N s"), as a dropped
   * connection does: a hung server (a stalled NFS mount, a VDDK stuck
   * in a retry) must not hang the sync for ever. */
  unsigned io_timeout_secs;
  v2k_copy_progress_fn progress;     /* may be NULL; at most 5 per s */
  v2k_copy_checkpoint_fn checkpoint; /* may be NULL */
  void *opaque;
};

#define V2K_COPY_DEFAULT_CHUNK (4u << 20)
#define V2K_IO_TIMEOUT_DEFAULT 300   /* s; verify waits as long */

/* ranges must satisfy v2k_ranges_check() and lie within both endpoints.
 * stats and checkpoint_out may be NULL. */
int v2k_copy (struct v2k_ep *src, struct v2k_ep *dst,
              const struct v2k_ranges *ranges,
              const struct v2k_copy_opts *opts,
              struct v2k_copy_stats *stats, uint64_t *checkpoint_out);

/* Allocated areas of a source (its extents that are not zero), for a
 * BASE copy when no CBT list is at hand.  Without extents support the
 * whole disk is one area. */
int v2k_copy_allocated (struct v2k_ep *src, struct v2k_ranges *out);

#endif /* V2K_COPY_COPY_H */
