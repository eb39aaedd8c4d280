/* Error context and secret redaction. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "util/error.h"

static void
test_context (void **state)
{
  v2k_error_clear ();
  assert_string_equal (v2k_errmsg (), "unknown error");
  v2k_error ("cannot open '%s'", "manifest.json");
  v2k_error_prefix ("sync base");
  assert_string_equal (v2k_errmsg (), "sync base: cannot open 'manifest.json'");
  v2k_error_errno (ENOENT, "cannot open '%s'", "x");
  assert_string_equal (v2k_errmsg (), "cannot open 'x': No such file or directory");
}

static void
test_redact (void **state)
{
  v2k_error_redact ("S3cret-pass");
  v2k_error_redact ("ab");            /* too short to redact safely */
  v2k_error ("server said: bad password 'S3cret-pass' (S3cret-pass)");
  assert_null (strstr (v2k_errmsg (), "S3cret"));
  assert_non_null (strstr (v2k_errmsg (), "'***' (***)"));
  v2k_error ("x");
  v2k_error_prefix ("ctx S3cret-pass");
  assert_string_equal (v2k_errmsg (), "ctx ***: x");
  v2k_error ("about ab");
  assert_string_equal (v2k_errmsg (), "about ab");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_context),
    cmocka_unit_test (test_redact),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
