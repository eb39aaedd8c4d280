/* Preflight rules, target names and the choice of the root disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/preflight.h"
#include "util/json.h"

static json_t *
inventory (const char *disks_json, const char *extra_snapshots)
{
  char buf[4096];
  snprintf (buf, sizeof buf,
            "{\"vm\": {\"name\": \"Web 01_prod\", \"cbt_enabled\": true},"
            " \"disks\": %s, \"snapshots\": %s,"
            " \"cdroms\": [{\"label\": \"CD/DVD drive 1\", \"connected\": true}]}",
            disks_json, extra_snapshots);
  return json_loads (buf, 0, NULL);
}

static int
has_code (const json_t *list, const char *code)
{
  size_t i;
  json_t *f;
  json_array_foreach (list, i, f)
    if (strcmp (jstr (f, "code"), code) == 0)
      return 1;
  return 0;
}

static void
test_rules (void **state)
{
  json_t *inv = inventory (
    "[{\"key\": 2000, \"label\": \"Hard disk 1\", \"mode\": \"persistent\", \"cbt\": true},"
    " {\"key\": 2001, \"label\": \"Hard disk 2\", \"mode\": \"independent_persistent\", \"cbt\": true},"
    " {\"key\": 2002, \"label\": \"Hard disk 3\", \"rdm\": \"physical\", \"cbt\": true},"
    " {\"key\": 2003, \"label\": \"Hard disk 4\", \"sharing\": \"sharingMultiWriter\", \"cbt\": false}]",
    "[{\"name\": \"before-upgrade\", \"moref\": \"snapshot-3\"}]");
  json_t *r = preflight_check (inv, false);
  json_t *w = json_object_get (r, "warnings"), *x = json_object_get (r, "refusals");

  assert_true (has_code (x, "independent-disk"));
  assert_true (has_code (x, "physical-rdm"));
  assert_true (has_code (w, "shared-disk"));
  assert_true (has_code (w, "disk-cbt-off"));
  assert_true (has_code (w, "foreign-snapshot"));
  assert_true (has_code (w, "cdrom-connected"));
  assert_true (has_code (w, "vm-name"));
  assert_false (has_code (w, "cbt-off"));
  assert_string_equal (jstr (r, "target_name"), "web-01-prod");
  json_decref (r);

  /* --force accepts an independent disk, never a physical RDM. */
  r = preflight_check (inv, true);
  assert_false (has_code (json_object_get (r, "refusals"), "independent-disk"));
  assert_true (has_code (json_object_get (r, "warnings"), "independent-disk"));
  assert_true (has_code (json_object_get (r, "refusals"), "physical-rdm"));
  json_decref (r);
  json_decref (inv);
}

static void
test_names (void **state)
{
  static const char *cases[][2] = {
    { "web01", "web01" },
    { "Web 01_prod", "web-01-prod" },
    { "--x--", "x" },
    { "日本", "vm" },
    { "a..b", "a-b" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *n = target_name_from (cases[i][0]);
    assert_string_equal (n, cases[i][1]);
    free (n);
  }
  char longname[200];
  memset (longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  char *n = target_name_from (longname);
  assert_int_equal (strlen (n), 63);
  free (n);
}

static const char *
root_label (const char *disks, const char *boot)
{
  static char out[64];
  json_t *d = json_loads (disks, 0, NULL), *b = boot ? json_loads (boot, 0, NULL) : NULL, *x;
  size_t i;
  out[0] = '\0';
  assign_disk_roles (d, b);
  json_array_foreach (d, i, x)
    if (strcmp (jstr (x, "role"), "root") == 0)
      snprintf (out, sizeof out, "%s", jstr (x, "label"));
  json_decref (d);
  json_decref (b);
  return out;
}

static void
test_root_disk (void **state)
{
  /* A SATA "Hard disk 1" boots even though a SCSI data disk sorts first. */
  const char *disks =
    "[{\"key\": 2000, \"label\": \"Hard disk 2\", \"controller\": {\"bus\": 0}, \"unit\": 0},"
    " {\"key\": 16000, \"label\": \"Hard disk 1\", \"controller\": {\"bus\": 0}, \"unit\": 1}]";
  assert_string_equal (root_label (disks, NULL), "Hard disk 1");
  assert_string_equal (root_label (disks, "[2000]"), "Hard disk 2");
  assert_string_equal (root_label (disks, "[]"), "Hard disk 1");
  assert_string_equal (root_label (
    "[{\"key\": 1, \"label\": \"x\", \"controller\": {\"bus\": 1}, \"unit\": 0},"
    " {\"key\": 2, \"label\": \"y\", \"controller\": {\"bus\": 0}, \"unit\": 3}]", NULL), "y");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_rules),
    cmocka_unit_test (test_names),
    cmocka_unit_test (test_root_disk),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
