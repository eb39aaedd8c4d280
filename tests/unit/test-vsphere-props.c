/* PropertyCollector results: pages, properties, missingSet. */
#include "test-vsphere-common.h"

static void
test_pages (void **state)
{
  (void) state;
  struct props_result pr = { 0 };
  xmlNode *rv = NULL, *o;
  char *token, *names[3] = { 0 }, *morefs[3] = { 0 };
  size_t n = 0;

  assert_int_equal (props_add_page (&pr, load ("RetrievePropertiesEx-page1.xml"),
                                    &rv), 0);
  token = x_path_text (rv, "token");
  assert_string_equal (token, "2");
  free (token);
  assert_int_equal (props_add_page (&pr, load ("ContinueRetrievePropertiesEx-page2.xml"),
                                    &rv), 0);
  assert_null (x_path (rv, "token"));
  for (o = props_first (&pr); o; o = props_next (&pr, o)) {
    assert_true (n < 3);
    names[n] = x_text (props_val (o, "name"));
    morefs[n] = props_moref (o);
    n++;
  }
  assert_int_equal (n, 3);
  assert_string_equal (morefs[0], "vm-42");
  assert_string_equal (morefs[2], "vm-97");
  assert_string_equal (names[1], "db01");
  assert_string_equal (names[2], "web01");
  assert_null (props_val (props_first (&pr), "config"));
  for (size_t i = 0; i < n; i++) {
    free (names[i]);
    free (morefs[i]);
  }
  props_free (&pr);
}

static void
test_missing_set (void **state)
{
  (void) state;
  struct props_result pr;
  xmlNode *o = load_objects ("missingset-NotAuthenticated.xml", &pr);
  xmlNode *m = x_child (o, "missingSet");
  char *t = soap_fault_type (x_child (m, "fault"));

  assert_non_null (t);
  assert_string_equal (t, "NotAuthenticated");
  assert_null (props_val (o, "name"));
  free (t);
  props_free (&pr);
}

static void
test_xml_helpers (void **state)
{
  (void) state;
  struct props_result pr;
  xmlNode *o = load_objects ("vm-props.xml", &pr);
  xmlNode *hw = props_val (o, "config.hardware");
  char *t = x_type (hw);

  assert_string_equal (t, "VirtualHardware");
  free (t);
  assert_int_equal (x_path_int (hw, "numCPU", -1), 4);
  assert_int_equal (x_path_int (hw, "nothing", -7), -7);
  assert_true (x_path_bool (props_val (o, "config.changeTrackingEnabled"), "", false));
  assert_true (x_path_has (hw, "device/deviceInfo/label"));
  props_free (&pr);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_pages),
    cmocka_unit_test (test_missing_set),
    cmocka_unit_test (test_xml_helpers),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
