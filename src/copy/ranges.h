/* Byte ranges of a disk: the lists that drive a copy and a verify.
 *
 * Contract: a "range list" handed to the copy engine is sorted by offset,
 * its ranges are disjoint and non-empty.  Every function that builds a
 * list keeps that invariant; v2k_ranges_check() verifies it for lists
 * that come from elsewhere.
 *
 * The changed-block-tracking (CBT) validator turns the pages returned by
 * vSphere's QueryChangedDiskAreas into such a list, and refuses anything
 * that could silently lose a change: gaps between pages, overlaps,
 * overruns, pages that do not advance, areas outside their page, unsorted
 * areas, or a walk that stops before the capacity.
 *
 * Functions returning int return 0 on success and -1 with v2k_error() set.
 */
#ifndef V2K_COPY_RANGES_H
#define V2K_COPY_RANGES_H

#include <stddef.h>
#include <stdint.h>

struct v2k_range {
  uint64_t off;
  uint64_t len;
};

struct v2k_ranges {
  struct v2k_range *v;
  size_t n, cap;
};

#define V2K_RANGES_INIT { NULL, 0, 0 }

/* Append [off, off+len).  Empty ranges are ignored; a range that touches
 * the previous one is merged into it.  Does not check sortedness. */
int v2k_ranges_add (struct v2k_ranges *r, uint64_t off, uint64_t len);
void v2k_ranges_free (struct v2k_ranges *r);

/* Total bytes covered. */
uint64_t v2k_ranges_bytes (const struct v2k_ranges *r);

/* Error unless sorted, disjoint, non-empty and without integer overflow. */
int v2k_ranges_check (const struct v2k_ranges *r);

/* Merge neighbours separated by less than 'gap' bytes (the gap becomes
 * part of the copy: reading a little more beats many small requests).
 * The list must be sorted. */
void v2k_ranges_coalesce (struct v2k_ranges *r, uint64_t gap);

/* Widen every range outwards to multiples of 'align' (but not past
 * 'capacity'), merging those that then touch.  Changed areas reported at
 * sector granularity are then copied as whole qcow2 clusters and VMDK
 * grains (64 KiB): reading a little more of the source costs less than
 * the target's read-modify-write of every partial page and cluster.
 * The list must be sorted. */
void v2k_ranges_align (struct v2k_ranges *r, uint64_t align, uint64_t capacity);

/* Cut every range into pieces of at most 'chunk' bytes, aligned to the
 * range start, into 'out' (appended). */
int v2k_ranges_split (const struct v2k_ranges *in, uint64_t chunk,
                      struct v2k_ranges *out);

/* Drop what lies at or beyond 'capacity'. */
void v2k_ranges_clip (struct v2k_ranges *r, uint64_t capacity);

/* Drop what lies before 'pos': the prefix a previous run already copied
 * and checkpointed (resume). */
void v2k_ranges_after (struct v2k_ranges *r, uint64_t pos);

/* Streaming validator for QueryChangedDiskAreas pages.  Feed the pages in
 * the order they were fetched; cbt.next is the startOffset to ask for next
 * and cbt.done says whether the capacity is covered.  Call finish() at the
 * end: it fails if coverage is incomplete, so a caller can never advance a
 * changeId on a partial walk. */
struct v2k_cbt {
  uint64_t capacity;
  uint64_t next;          /* startOffset for the next query */
  uint64_t last_area_end; /* end of the last accepted area */
  size_t pages;
  int done;
};

void v2k_cbt_init (struct v2k_cbt *cbt, uint64_t capacity);
int v2k_cbt_add_page (struct v2k_cbt *cbt, uint64_t start, uint64_t length,
                      const struct v2k_range *areas, size_t n_areas,
                      struct v2k_ranges *out);
int v2k_cbt_finish (const struct v2k_cbt *cbt);

#endif /* V2K_COPY_RANGES_H */
