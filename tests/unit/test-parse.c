/* Sizes and durations as operators type them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "util/parse.h"

static void
test_bytes (void **state)
{
  static const struct { const char *s; uint64_t v; } ok[] = {
    { "0", 0 }, { "512", 512 }, { "4K", 4096 }, { "4M", 4 << 20 },
    { "64MiB", 64ull << 20 }, { "1G", 1ull << 30 }, { "2T", 2ull << 40 },
  };
  static const char *bad[] = {
    "", "M", "-1", "4X", "4MB", "1.5G", " 4M", "99999999999999999999",
    "20000000T",
  };
  uint64_t v;

  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    assert_true (parse_bytes (ok[i].s, &v));
    assert_int_equal (v, ok[i].v);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_false (parse_bytes (bad[i], &v));
}

static void
test_duration (void **state)
{
  assert_int_equal (parse_duration ("90"), 90);
  assert_int_equal (parse_duration ("30s"), 30);
  assert_int_equal (parse_duration ("10m"), 600);
  assert_int_equal (parse_duration ("2h"), 7200);
  assert_int_equal (parse_duration ("168h"), 7 * 86400);
  assert_int_equal (parse_duration ("169h"), -1);
  assert_int_equal (parse_duration ("5d"), -1);
  assert_int_equal (parse_duration ("1m30s"), -1);
  assert_int_equal (parse_duration ("-5"), -1);
  assert_int_equal (parse_duration (""), -1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_bytes),
    cmocka_unit_test (test_duration),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
