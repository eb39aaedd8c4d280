/* Unit tests for the copy engine and verify over file endpoints (no
 * servers needed, so they also run under the sanitizers). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "copy/copy.h"
#include "copy/server.h"
#include "copy/verify.h"
#include "util/error.h"

#define SIZE (9 * 1024 * 1024 + 512)    /* not a multiple of the chunk */

static char srcpath[] = "/tmp/v2k-test-src.XXXXXX";
static char dstpath[] = "/tmp/v2k-test-dst.XXXXXX";

static void
fill (int fd, uint64_t off, size_t len, int byte)
{
  char *b = malloc (len);
  memset (b, byte, len);
  assert_int_equal (pwrite (fd, b, len, off), (ssize_t) len);
  free (b);
}

static int
setup (void **state)
{
  int fd = mkstemp (srcpath);
  assert_true (fd >= 0);
  assert_int_equal (ftruncate (fd, SIZE), 0);
  fill (fd, 0, 512, 'a');                  /* first sector */
  fill (fd, 4 * 1024 * 1024 - 100, 200, 'b'); /* across a chunk edge */
  fill (fd, SIZE - 512, 512, 'c');         /* last sector */
  fill (fd, 6 * 1024 * 1024, 65536, 0);    /* allocated zeroes */
  close (fd);
  fd = mkstemp (dstpath);
  assert_true (fd >= 0);
  close (fd);
  unlink (dstpath);
  return 0;
}

static int
teardown (void **state)
{
  unlink (srcpath);
  unlink (dstpath);
  return 0;
}

struct ckpts {
  uint64_t last;
  int n;
};

static int
on_checkpoint (void *opaque, uint64_t pos)
{
  struct ckpts *c = opaque;
  assert_true (pos >= c->last);
  c->last = pos;
  c->n++;
  return 0;
}

/* A fresh raw target and the source, as file endpoints. */
static void
open_pair (struct v2k_ep **src, struct v2k_ep **dst)
{
  assert_int_equal (v2k_target_create (dstpath, "raw", SIZE, 0, NULL), 0);
  *src = v2k_ep_file (srcpath, V2K_EP_EXTENTS);
  *dst = v2k_ep_file (dstpath, V2K_EP_WRITE);
  assert_non_null (*src);
  assert_non_null (*dst);
}

static void
test_base_then_incr (void **state)
{
  struct v2k_ep *src, *dst;
  struct v2k_ranges r = V2K_RANGES_INIT;
  struct v2k_copy_stats st;
  struct v2k_verify_result vr;
  struct ckpts ck = { 0, 0 };
  struct v2k_copy_opts o = { .mode = V2K_COPY_BASE, .chunk = 1 << 20,
                             .checkpoint_bytes = 2 << 20,
                             .checkpoint = on_checkpoint, .opaque = &ck };
  uint64_t pos;
  int fd;

  open_pair (&src, &dst);
  assert_int_equal (v2k_copy_allocated (src, &r), 0);
  assert_int_equal (v2k_copy (src, dst, &r, &o, &st, &pos), 0);
  assert_int_equal (pos, r.v[r.n-1].off + r.v[r.n-1].len);
  assert_true (ck.n >= 1);
  assert_int_equal (st.bytes_done, st.bytes_total);
  assert_true (st.bytes_skipped >= 65536);     /* allocated zeroes */
  assert_int_equal (v2k_verify_full (src, dst, 0, &vr), 0);
  assert_true (vr.equal);
  assert_string_equal (vr.sha256_a, vr.sha256_b);

  /* Zeroes over data in the source: INCR must carry them over. */
  fd = open (srcpath, O_WRONLY);
  fill (fd, 0, 512, 0);
  close (fd);
  v2k_ranges_free (&r);
  v2k_ranges_add (&r, 0, 4096);
  o.mode = V2K_COPY_INCR;
  ck.last = 0;
  assert_int_equal (v2k_copy (src, dst, &r, &o, &st, &pos), 0);
  assert_int_equal (st.bytes_zeroed, 4096);
  assert_int_equal (v2k_verify_full (src, dst, 0, &vr), 0);
  assert_true (vr.equal);

  /* One differing byte is found, at the right offset. */
  fd = open (dstpath, O_WRONLY);
  fill (fd, SIZE - 7, 1, 'x');
  close (fd);
  assert_int_equal (v2k_verify_full (src, dst, 0, &vr), 0);
  assert_false (vr.equal);
  assert_int_equal (vr.first_diff, SIZE - 7);
  assert_string_not_equal (vr.sha256_a, vr.sha256_b);
  assert_int_equal (v2k_verify_sample (src, dst, 50, 65536, 1, &vr), 0);

  /* Ranges beyond the disk are refused before anything is written. */
  v2k_ranges_free (&r);
  v2k_ranges_add (&r, SIZE - 10, 20);
  assert_int_equal (v2k_copy (src, dst, &r, &o, &st, &pos), -1);
  v2k_ranges_free (&r);
  v2k_ep_close (src);
  v2k_ep_close (dst);
}

/* The source is asked for extents only about a range longer than one
 * chunk, and never beyond it: a query over the gaps between scattered
 * areas holds a VMDK server's reads back (copy.c, classify). */
static const struct v2k_ep_ops *real_ops;
static int n_queries;
static uint64_t query_lo = UINT64_MAX, query_hi;

static int
counting_extents (struct v2k_ep *ep, uint64_t off, uint64_t len,
                  v2k_ep_extent_fn fn, void *opaque)
{
  n_queries++;
  if (off < query_lo)
    query_lo = off;
  if (off + len > query_hi)
    query_hi = off + len;
  return real_ops->extents (ep, off, len, fn, opaque);
}

static void
test_extents_only_for_long_ranges (void **state)
{
  struct v2k_ep *src, *dst;
  struct v2k_ep_ops ops;
  struct v2k_ranges r = V2K_RANGES_INIT;
  struct v2k_copy_stats st;
  struct v2k_verify_result vr;
  struct v2k_copy_opts o = { .mode = V2K_COPY_INCR, .chunk = 1 << 20 };
  uint64_t pos;

  open_pair (&src, &dst);
  assert_true (src->can_extents);
  real_ops = src->ops;
  ops = *src->ops;
  ops.extents = counting_extents;
  src->ops = &ops;

  /* Scattered areas of at most one chunk: read, never asked about; the
   * zeroes at 6 MiB (allocated, then a hole) are still found, in the
   * buffer, and zeroed; the rest is written. */
  v2k_ranges_add (&r, 0, 65536);
  v2k_ranges_add (&r, 4 * 1024 * 1024 - 65536, 131072);
  v2k_ranges_add (&r, 6 * 1024 * 1024, 1 << 20);
  v2k_ranges_add (&r, SIZE - 512, 512);
  n_queries = 0;
  assert_int_equal (v2k_copy (src, dst, &r, &o, &st, &pos), 0);
  assert_int_equal (n_queries, 0);
  assert_true (st.bytes_zeroed >= (1 << 20));
  assert_int_equal (st.bytes_read, st.bytes_total);
  assert_int_equal (st.bytes_done, st.bytes_total);
  assert_int_equal (v2k_verify_full (src, dst, 0, &vr), 0);
  assert_true (vr.equal);

  /* A range over several chunks is asked about, within its bounds:
   * its unallocated part is zeroed without being read. */
  v2k_ranges_free (&r);
  v2k_ranges_add (&r, 1 << 20, 4 << 20);
  query_lo = UINT64_MAX;
  query_hi = 0;
  assert_int_equal (v2k_copy (src, dst, &r, &o, &st, &pos), 0);
  assert_true (n_queries >= 1);
  assert_true (query_lo >= (1 << 20));
  assert_true (query_hi <= (5 << 20));
  assert_true (st.bytes_read < st.bytes_total);
  assert_int_equal (v2k_verify_full (src, dst, 0, &vr), 0);
  assert_true (vr.equal);

  v2k_ranges_free (&r);
  src->ops = real_ops;
  v2k_ep_close (src);
  v2k_ep_close (dst);
}

static void
test_sample_ranges_deterministic (void **state)
{
  struct v2k_ranges a = V2K_RANGES_INIT, b = V2K_RANGES_INIT;
  assert_int_equal (v2k_verify_sample_ranges (1ull << 40, 100, 1 << 20, 42, &a), 0);
  assert_int_equal (v2k_verify_sample_ranges (1ull << 40, 100, 1 << 20, 42, &b), 0);
  assert_int_equal (a.n, b.n);
  assert_memory_equal (a.v, b.v, a.n * sizeof *a.v);
  assert_int_equal (v2k_ranges_check (&a), 0);
  v2k_ranges_free (&a);
  v2k_ranges_free (&b);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_base_then_incr),
    cmocka_unit_test (test_extents_only_for_long_ranges),
    cmocka_unit_test (test_sample_ranges_deterministic),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
