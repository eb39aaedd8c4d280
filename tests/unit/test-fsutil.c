/* Whole-file replacement (durable and not), reading back, directories. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "util/cleanup.h"
#include "util/fsutil.h"

static char dir[] = "/tmp/v2k-test-fsutil.XXXXXX";

/* Nothing but 'name' in the directory: no temporary file left behind. */
static void
assert_only (const char *name)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  int n = 0;

  assert_non_null (d);
  while ((e = readdir (d)) != NULL) {
    if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
      continue;
    assert_string_equal (e->d_name, name);
    n++;
  }
  closedir (d);
  assert_int_equal (n, 1);
}

static void
check_replace (int (*write_fn) (const char *, const void *, size_t, mode_t))
{
  CLEANUP_FREE char *p = path_join (dir, "f.json");
  char *data = NULL;
  size_t len;
  struct stat st;

  assert_int_equal (write_fn (p, "first", 5, 0600), 0);
  assert_int_equal (write_fn (p, "second!", 7, 0600), 0);
  assert_int_equal (read_file (p, &data, &len), 0);
  assert_int_equal (len, 7);
  assert_string_equal (data, "second!");
  free (data);
  assert_int_equal (stat (p, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);
  assert_only ("f.json");
  unlink (p);
}

static void
test_atomic (void **state)
{
  check_replace (write_file_atomic);
}

static void
test_replace (void **state)
{
  check_replace (write_file_replace);
}

static void
test_missing_dir (void **state)
{
  CLEANUP_FREE char *p = path_join (dir, "no/such/f");

  assert_int_equal (write_file_replace (p, "x", 1, 0600), -1);
  assert_int_equal (write_file_atomic (p, "x", 1, 0600), -1);
}

static void
test_mkdir_remove (void **state)
{
  CLEANUP_FREE char *p = path_join (dir, "a/b/c");
  CLEANUP_FREE char *top = path_join (dir, "a");
  CLEANUP_FREE char *f = path_join (p, "file");
  struct stat st;

  assert_int_equal (mkdir_p (p, 0700), 0);
  assert_int_equal (mkdir_p (p, 0700), 0);        /* exists: fine */
  assert_int_equal (write_file_atomic (f, "x", 1, 0600), 0);
  assert_int_equal (remove_tree (top), 0);
  assert_int_equal (stat (top, &st), -1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_atomic),
    cmocka_unit_test (test_replace),
    cmocka_unit_test (test_missing_dir),
    cmocka_unit_test (test_mkdir_remove),
  };
  int r;

  if (mkdtemp (dir) == NULL)
    return 1;
  r = cmocka_run_group_tests (tests, NULL, NULL);
  rmdir (dir);
  return r;
}
