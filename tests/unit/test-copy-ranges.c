/* Unit tests for src/copy/ranges.c: range utilities and the CBT page
 * validator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "copy/ranges.h"
#include "util/error.h"

#define MiB (1ull << 20)

static void
test_add_merges_touching (void **state)
{
  struct v2k_ranges r = V2K_RANGES_INIT;
  assert_int_equal (v2k_ranges_add (&r, 0, 10), 0);
  assert_int_equal (v2k_ranges_add (&r, 10, 5), 0);
  assert_int_equal (v2k_ranges_add (&r, 20, 0), 0);   /* ignored */
  assert_int_equal (v2k_ranges_add (&r, 30, 5), 0);
  assert_int_equal (r.n, 2);
  assert_int_equal (r.v[0].len, 15);
  assert_int_equal (v2k_ranges_bytes (&r), 20);
  assert_int_equal (v2k_ranges_check (&r), 0);
  assert_int_equal (v2k_ranges_add (&r, UINT64_MAX - 1, 5), -1);
  v2k_ranges_free (&r);
}

static void
test_check (void **state)
{
  struct v2k_range bad[] = { { 10, 10 }, { 15, 10 } };
  struct v2k_ranges r = { bad, 2, 2 };
  assert_int_equal (v2k_ranges_check (&r), -1);
  assert_non_null (strstr (v2k_errmsg (), "overlaps"));
  bad[1].off = 5;
  assert_int_equal (v2k_ranges_check (&r), -1);
  bad[1].off = 20;
  assert_int_equal (v2k_ranges_check (&r), 0);
  bad[1].len = 0;
  assert_int_equal (v2k_ranges_check (&r), -1);
}

static void
test_coalesce (void **state)
{
  struct v2k_ranges r = V2K_RANGES_INIT;
  v2k_ranges_add (&r, 0, MiB);
  v2k_ranges_add (&r, 2 * MiB - 1, 1);           /* gap 1 MiB - 1 */
  v2k_ranges_add (&r, 4 * MiB, 4096);            /* gap > 1 MiB */
  v2k_ranges_add (&r, 5 * MiB + 4096, 4096);     /* gap exactly 1 MiB */
  v2k_ranges_coalesce (&r, MiB);
  assert_int_equal (r.n, 3);
  assert_int_equal (r.v[0].off, 0);
  assert_int_equal (r.v[0].len, 2 * MiB);
  assert_int_equal (r.v[1].off, 4 * MiB);
  assert_int_equal (r.v[2].off, 5 * MiB + 4096);
  v2k_ranges_coalesce (&r, 0);                   /* no-op */
  assert_int_equal (r.n, 3);
  v2k_ranges_free (&r);
}

static void
test_align (void **state)
{
  const uint64_t K64 = 65536, cap = 10 * K64 + 1536;   /* not a multiple */
  struct v2k_ranges r = V2K_RANGES_INIT;

  v2k_ranges_add (&r, 512, 512);                 /* inside cluster 0 */
  v2k_ranges_add (&r, K64 - 512, 1024);          /* straddles 0 and 1 */
  v2k_ranges_add (&r, 3 * K64, K64);             /* already aligned */
  v2k_ranges_add (&r, 5 * K64 + 4096, 4096);     /* alone in cluster 5 */
  v2k_ranges_add (&r, 6 * K64 - 1, 1);           /* touches 5 once widened */
  v2k_ranges_add (&r, 10 * K64 + 512, 512);      /* in the short last piece */
  v2k_ranges_align (&r, K64, cap);
  assert_int_equal (v2k_ranges_check (&r), 0);
  assert_int_equal (r.n, 4);
  assert_int_equal (r.v[0].off, 0);
  assert_int_equal (r.v[0].len, 2 * K64);
  assert_int_equal (r.v[1].off, 3 * K64);
  assert_int_equal (r.v[1].len, K64);
  assert_int_equal (r.v[2].off, 5 * K64);
  assert_int_equal (r.v[2].len, K64);
  assert_int_equal (r.v[3].off, 10 * K64);
  assert_int_equal (r.v[3].len, 1536);            /* stops at the capacity */
  v2k_ranges_align (&r, 1, cap);                  /* no-op */
  assert_int_equal (r.n, 4);
  v2k_ranges_free (&r);

  /* Near the top of the 64-bit range the rounding must not wrap. */
  v2k_ranges_add (&r, UINT64_MAX - 1000, 10);
  v2k_ranges_align (&r, K64, UINT64_MAX);
  assert_int_equal (r.n, 1);
  assert_true (r.v[0].off <= UINT64_MAX - 1000);
  assert_int_equal (r.v[0].off + r.v[0].len, UINT64_MAX);
  v2k_ranges_free (&r);
}

static void
test_split (void **state)
{
  struct v2k_ranges in = V2K_RANGES_INIT, out = V2K_RANGES_INIT;
  v2k_ranges_add (&in, 100, 10 * MiB + 7);
  v2k_ranges_add (&in, 20 * MiB, 4 * MiB);
  assert_int_equal (v2k_ranges_split (&in, 4 * MiB, &out), 0);
  assert_int_equal (out.n, 4);
  assert_int_equal (out.v[0].off, 100);
  assert_int_equal (out.v[0].len, 4 * MiB);
  assert_int_equal (out.v[2].len, 2 * MiB + 7);
  assert_int_equal (out.v[3].off, 20 * MiB);
  assert_int_equal (v2k_ranges_bytes (&out), v2k_ranges_bytes (&in));
  assert_int_equal (v2k_ranges_split (&in, 0, &out), -1);
  v2k_ranges_free (&in);
  v2k_ranges_free (&out);
}

static void
test_clip_and_after (void **state)
{
  struct v2k_ranges r = V2K_RANGES_INIT;
  v2k_ranges_add (&r, 0, 100);
  v2k_ranges_add (&r, 200, 100);
  v2k_ranges_add (&r, 400, 100);
  v2k_ranges_clip (&r, 450);
  assert_int_equal (r.n, 3);
  assert_int_equal (r.v[2].len, 50);
  v2k_ranges_clip (&r, 400);
  assert_int_equal (r.n, 2);
  v2k_ranges_after (&r, 250);
  assert_int_equal (r.n, 1);
  assert_int_equal (r.v[0].off, 250);
  assert_int_equal (r.v[0].len, 50);
  v2k_ranges_after (&r, 300);
  assert_int_equal (r.n, 0);
  v2k_ranges_free (&r);
}

/* A well-formed walk: three pages, one of them empty. */
static void
test_cbt_ok (void **state)
{
  struct v2k_cbt cbt;
  struct v2k_ranges out = V2K_RANGES_INIT;
  struct v2k_range p1[] = { { 0, 4096 }, { 65536, 65536 } };
  struct v2k_range p3[] = { { 3 * MiB, 4096 } };

  v2k_cbt_init (&cbt, 4 * MiB);
  assert_int_equal (v2k_cbt_add_page (&cbt, 0, MiB, p1, 2, &out), 0);
  assert_int_equal (cbt.next, MiB);
  assert_int_equal (v2k_cbt_finish (&cbt), -1);  /* incomplete so far */
  assert_int_equal (v2k_cbt_add_page (&cbt, MiB, MiB, NULL, 0, &out), 0);
  assert_int_equal (v2k_cbt_add_page (&cbt, 2 * MiB, 2 * MiB, p3, 1, &out), 0);
  assert_true (cbt.done);
  assert_int_equal (v2k_cbt_finish (&cbt), 0);
  assert_int_equal (out.n, 3);
  assert_int_equal (v2k_ranges_check (&out), 0);
  /* Nothing may follow a page that reached the capacity. */
  assert_int_equal (v2k_cbt_add_page (&cbt, 4 * MiB, 1, NULL, 0, &out), -1);
  v2k_ranges_free (&out);
}

static void
expect_page_error (uint64_t start, uint64_t length,
                   const struct v2k_range *areas, size_t n, const char *what)
{
  struct v2k_cbt cbt;
  struct v2k_ranges out = V2K_RANGES_INIT;
  struct v2k_range first[] = { { 4096, 4096 } };

  v2k_cbt_init (&cbt, 4 * MiB);
  assert_int_equal (v2k_cbt_add_page (&cbt, 0, MiB, first, 1, &out), 0);
  assert_int_equal (v2k_cbt_add_page (&cbt, start, length, areas, n, &out),
                    -1);
  if (strstr (v2k_errmsg (), what) == NULL)
    fail_msg ("expected '%s' in '%s'", what, v2k_errmsg ());
  v2k_ranges_free (&out);
}

static void
test_cbt_errors (void **state)
{
  struct v2k_range outside[] = { { MiB - 4096, 8192 } };
  struct v2k_range unsorted[] = { { 2 * MiB, 4096 }, { MiB, 4096 } };
  struct v2k_range overlap[] = { { MiB, 8192 }, { MiB + 4096, 4096 } };
  struct v2k_range past[] = { { MiB + MiB, 4096 } };

  expect_page_error (MiB + 512, MiB, NULL, 0, "gap");
  expect_page_error (MiB - 512, MiB, NULL, 0, "overlaps the previous page");
  expect_page_error (MiB, 0, NULL, 0, "no progress");
  expect_page_error (MiB, 4 * MiB, NULL, 0, "overruns");
  expect_page_error (MiB, UINT64_MAX, NULL, 0, "overruns");
  expect_page_error (MiB, MiB, outside, 1, "outside its page");
  expect_page_error (MiB, MiB, past, 1, "outside its page");
  expect_page_error (MiB, 2 * MiB, unsorted, 2, "unsorted");
  expect_page_error (MiB, 2 * MiB, overlap, 2, "overlaps the previous area");
}

/* An area of the second page may not go back before the first page's
 * last area (caught even though each page is sorted on its own). */
static void
test_cbt_cross_page_order (void **state)
{
  struct v2k_cbt cbt;
  struct v2k_ranges out = V2K_RANGES_INIT;
  struct v2k_range a[] = { { 0, MiB } };   /* ends exactly at the page end */
  struct v2k_range b[] = { { MiB, 4096 } };

  v2k_cbt_init (&cbt, 2 * MiB);
  assert_int_equal (v2k_cbt_add_page (&cbt, 0, MiB, a, 1, &out), 0);
  assert_int_equal (v2k_cbt_add_page (&cbt, MiB, MiB, b, 1, &out), 0);
  assert_int_equal (out.n, 1);       /* touching areas merge */
  assert_int_equal (out.v[0].len, MiB + 4096);
  assert_int_equal (v2k_cbt_finish (&cbt), 0);
  v2k_ranges_free (&out);

  v2k_cbt_init (&cbt, 0);              /* empty disk: nothing to walk */
  assert_int_equal (v2k_cbt_finish (&cbt), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_add_merges_touching),
    cmocka_unit_test (test_check),
    cmocka_unit_test (test_coalesce),
    cmocka_unit_test (test_align),
    cmocka_unit_test (test_split),
    cmocka_unit_test (test_clip_and_after),
    cmocka_unit_test (test_cbt_ok),
    cmocka_unit_test (test_cbt_errors),
    cmocka_unit_test (test_cbt_cross_page_order),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
