/* The manifest round-trips through its file, atomically, and rejects what
 * is not a manifest of this schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/manifest.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"

static char dir[] = "/tmp/v2k-test-manifest.XXXXXX";

static char *
mpath (void)
{
  return path_join (dir, "manifest.json");
}

static void
write_text (const char *path, const char *text)
{
  FILE *fp = fopen (path, "w");
  assert_non_null (fp);
  fputs (text, fp);
  fclose (fp);
}

static void
test_round_trip (void **state)
{
  char *p = mpath ();
  struct manifest *m = manifest_new (p, "run-1"), *l;
  json_t *d;
  struct stat st;

  jset (m->root, "vm", json_pack ("{s:s, s:s}", "name", "web01", "moref", "vm-1"));
  d = json_pack ("{s:i, s:s, s:I}", "key", 2000, "disk_id", "scsi0:0",
                 "capacity", (json_int_t) 1 << 40);
  json_array_append_new (manifest_disks (m), d);
  json_array_append_new (manifest_snapshots (m),
                         json_pack ("{s:s, s:b}", "kind", "base", "synced", 1));
  manifest_set_phase (m, "base");
  assert_int_equal (manifest_save (m), 0);
  assert_int_equal (stat (p, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);

  l = manifest_load (p);
  assert_non_null (l);
  /* Same document, except for the "updated" stamp set on save. */
  assert_true (json_equal (l->root, m->root));
  assert_string_equal (manifest_run_id (l), "run-1");
  assert_string_equal (manifest_phase (l), "base");
  assert_int_equal (jint (manifest_disk_by_key (l, 2000), "capacity"),
                    (json_int_t) 1 << 40);
  assert_null (manifest_disk_by_key (l, 2001));
  assert_non_null (manifest_last_synced_snapshot (l));
  manifest_free (l);
  manifest_free (m);
  free (p);
}

static void
test_rejects (void **state)
{
  char *p = mpath ();

  write_text (p, "{\"schema\": 1, \"run_id\": \"x\", \"vm\": {}, \"disks\": [");
  assert_null (manifest_load (p));
  assert_non_null (strstr (v2k_errmsg (), "corrupt"));

  write_text (p, "{\"schema\": 99, \"run_id\": \"x\", \"vm\": {}, \"disks\": [], \"snapshots\": []}");
  assert_null (manifest_load (p));
  assert_non_null (strstr (v2k_errmsg (), "schema version 99"));

  write_text (p, "[1, 2]");
  assert_null (manifest_load (p));
  assert_non_null (strstr (v2k_errmsg (), "not a v2k manifest"));

  write_text (p, "{\"schema\": 1, \"run_id\": \"x\", \"vm\": {}, \"snapshots\": []}");
  assert_null (manifest_load (p));
  assert_non_null (strstr (v2k_errmsg (), "incomplete"));

  unlink (p);
  assert_null (manifest_load (p));
  assert_non_null (strstr (v2k_errmsg (), "cannot read"));
  free (p);
}

/* No temporary file is left beside the manifest after a save. */
static void
test_atomic_leaves_nothing (void **state)
{
  char *p = mpath ();
  struct manifest *m = manifest_new (p, "r");
  char *cmd;
  int n;

  jset (m->root, "vm", json_object ());
  for (int i = 0; i < 20; i++)
    assert_int_equal (manifest_save (m), 0);
  assert_true (asprintf (&cmd, "test $(ls -A %s | wc -l) -eq 1", dir) > 0);
  n = system (cmd);
  assert_int_equal (n, 0);
  free (cmd);
  manifest_free (m);
  free (p);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_round_trip),
    cmocka_unit_test (test_rejects),
    cmocka_unit_test (test_atomic_leaves_nothing),
  };
  int r;

  if (mkdtemp (dir) == NULL)
    return 1;
  r = cmocka_run_group_tests (tests, NULL, NULL);
  remove_tree (dir);
  return r;
}
