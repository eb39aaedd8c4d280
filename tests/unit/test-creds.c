/* Credential files as govc users write them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/workdir.h"
#include "util/error.h"
#include "util/fsutil.h"

static void
test_parse_and_save (void **state)
{
  char dir[] = "/tmp/v2k-test-creds.XXXXXX";
  struct creds c = { 0 }, c2 = { 0 };
  char *p, *saved;
  FILE *fp;
  struct stat st;

  assert_non_null (mkdtemp (dir));
  p = path_join (dir, "in");
  fp = fopen (p, "w");
  fputs ("# vCenter\nexport GOVC_URL=\"https://vc.example/sdk\"\n\n"
         "GOVC_USERNAME=administrator@vsphere.local\n"
         "GOVC_PASSWORD='p=ss w0rd'\nGOVC_INSECURE=true\n", fp);
  fclose (fp);
  assert_int_equal (creds_load_file (&c, p), 0);
  assert_string_equal (c.url, "https://vc.example/sdk");
  assert_string_equal (c.username, "administrator@vsphere.local");
  assert_string_equal (c.password, "p=ss w0rd");
  assert_true (c.insecure);

  assert_int_equal (creds_save (&c, dir), 0);
  saved = path_join (dir, "credentials");
  assert_int_equal (stat (saved, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);
  assert_int_equal (creds_load_file (&c2, saved), 0);
  assert_string_equal (c2.password, "p=ss w0rd");
  assert_true (c2.insecure);

  /* A malformed line is reported by number, never echoed. */
  fp = fopen (p, "w");
  fputs ("GOVC_URL=x\nhunter2-password\n", fp);
  fclose (fp);
  creds_free (&c);
  assert_int_equal (creds_load_file (&c, p), -1);
  assert_non_null (strstr (v2k_errmsg (), "line 2"));
  assert_null (strstr (v2k_errmsg (), "hunter2"));

  creds_free (&c);
  creds_free (&c2);
  free (p);
  free (saved);
  remove_tree (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse_and_save),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
