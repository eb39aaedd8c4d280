/* Envelopes, faults, task info and changed areas, from recordings. */
#include "test-vsphere-common.h"

#include <libxml/xmlsave.h>

static void
expect_fault (const char *file, const char *method, const char *type,
              const char *msg)
{
  xmlDoc *doc = load (file);
  xmlNode *rv = (xmlNode *) 1;
  char *ft = NULL;

  v2k_error_clear ();
  assert_int_equal (soap_parse_response (doc, method, &rv, &ft), -1);
  assert_null (rv);
  assert_non_null (ft);
  assert_string_equal (ft, type);
  assert_string_equal (v2k_errmsg (), msg);
  free (ft);
  xmlFreeDoc (doc);
}

static void
test_faults (void **state)
{
  (void) state;
  expect_fault ("fault-InvalidLogin.xml", "Login", "InvalidLogin",
                "vCenter fault 'InvalidLogin': Login failure");
  expect_fault ("lab-fault-NotAuthenticated.xml", "CreateSnapshot_Task",
                "NotAuthenticated", "vCenter fault 'NotAuthenticated': The "
                "session is not authenticated.");
  expect_fault ("fault-NotAuthenticated.xml", "CreateContainerView",
                "NotAuthenticated",
                "vCenter fault 'NotAuthenticated': no message");
  /* The property is already in the text: not repeated. */
  expect_fault ("fault-InvalidArgument.xml", "QueryChangedDiskAreas",
                "InvalidArgument",
                "vCenter fault 'InvalidArgument': A specified parameter "
                "was not correct: changeId");
  expect_fault ("fault-FileFault.xml", "CreateSnapshot_Task", "FileFault",
                "vCenter fault 'FileFault': Error caused by file "
                "/vmfs/volumes/5f1e2a3b-c0ffee00-1234-000c29abcdef/web01/"
                "web01.vmdk");
  expect_fault ("fault-ManagedObjectNotFound.xml", "RetrievePropertiesEx",
                "ManagedObjectNotFound",
                "vCenter fault 'ManagedObjectNotFound': The object has "
                "already been deleted or has not been completely created "
                "(object 'vm-999')");
}

static void
test_service_content (void **state)
{
  (void) state;
  xmlDoc *doc = load ("RetrieveServiceContent.xml");
  struct vim vim = { .host = (char *) "vc" };
  xmlNode *rv;

  assert_int_equal (soap_parse_response (doc, "RetrieveServiceContent",
                                         &rv, NULL), 0);
  assert_int_equal (session_parse_service_content (&vim, rv), 0);
  assert_string_equal (vim.root_folder, "group-d1");
  assert_string_equal (vim.property_collector, "propertyCollector");
  assert_string_equal (vim.search_index, "SearchIndex");
  assert_string_equal (vim.view_manager, "ViewManager");
  assert_string_equal (vim.session_manager, "SessionManager");
  assert_string_equal (vim.about_fullname,
                       "VMware vCenter Server 6.5.0 build-5973321");
  assert_string_equal (vim.soap_action, "urn:vim25/6.5");
  free (vim.root_folder); free (vim.property_collector);
  free (vim.search_index); free (vim.view_manager);
  free (vim.session_manager); free (vim.about_fullname);
  free (vim.api_version); free (vim.soap_action);
  free (vim.authorization_manager);
  xmlFreeDoc (doc);
}

static void
test_envelope (void **state)
{
  (void) state;
  struct soap_req r;
  xmlChar *out = NULL;
  int len;
  xmlNode *spec;

  assert_int_equal (soap_new (&r, "CreateSnapshot_Task", "VirtualMachine",
                              "vm-42"), 0);
  soap_add (r.method, "name", "v2k <base> & \"more\"");
  soap_add_bool (r.method, "memory", false);
  spec = soap_add_typed (r.method, "selectSet", "TraversalSpec", NULL);
  soap_add_int (spec, "deviceKey", 2000);
  xmlDocDumpMemoryEnc (r.doc, &out, &len, "UTF-8");
  assert_non_null (strstr ((char *) out, "<CreateSnapshot_Task xmlns=\"urn:vim25\">"
                           "<_this type=\"VirtualMachine\">vm-42</_this>"));
  assert_non_null (strstr ((char *) out,
                           "<name>v2k &lt;base&gt; &amp; \"more\"</name>"
                           "<memory>false</memory>"));
  assert_non_null (strstr ((char *) out,
                           "<selectSet xsi:type=\"TraversalSpec\">"
                           "<deviceKey>2000</deviceKey></selectSet>"));
  assert_non_null (strstr ((char *) out, "<soapenv:Body>"));
  xmlFree (out);
  soap_free (&r);
}

static void
test_thumbprints (void **state)
{
  (void) state;
  char tp[64];
  char *n = soap_normalise_thumbprint ("2c11edd713877db57418b81c42c2561f0db95bb9");

  assert_string_equal (n, "2C:11:ED:D7:13:87:7D:B5:74:18:B8:1C:42:C2:56:1F:"
                       "0D:B9:5B:B9");
  free (n);
  n = soap_normalise_thumbprint ("2C:11:ED:D7:13:87:7D:B5:74:18:B8:1C:42:C2:"
                                 "56:1F:0D:B9:5B:B9");
  assert_int_equal (strlen (n), 59);
  free (n);
  /* SHA-1 ("abc"), FIPS 180 test vector. */
  assert_int_equal (soap_thumbprint_der ((const unsigned char *) "abc", 3,
                                         tp, sizeof tp), 0);
  assert_string_equal (tp, "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:"
                       "6C:9C:D0:D8:9D");
}

static void
task_info (const char *file, struct task_info *ti)
{
  struct props_result pr;
  xmlNode *o = load_objects (file, &pr);

  assert_int_equal (task_parse_info (props_val (o, "info"), ti), 0);
  props_free (&pr);
}

static void
test_task_info (void **state)
{
  (void) state;
  struct task_info ti;

  task_info ("task-info-error.xml", &ti);
  assert_string_equal (ti.state, "error");
  assert_string_equal (ti.fault_type, "FileFault");
  assert_string_equal (ti.fault_msg, "An error occurred while saving the "
                       "snapshot: Failed to lock the file.");
  assert_null (ti.result);
  task_info_free (&ti);

  task_info ("task-info-running.xml", &ti);
  assert_string_equal (ti.state, "running");
  assert_int_equal (ti.progress, 47);
  assert_null (ti.fault_type);
  task_info_free (&ti);

  task_info ("task-info-success.xml", &ti);
  assert_string_equal (ti.state, "success");
  assert_string_equal (ti.result, "snapshot-78");
  assert_int_equal (ti.progress, -1);
  task_info_free (&ti);
}

static void
changes (const char *file, struct vim_changes *c, int expect)
{
  xmlDoc *doc = load (file);
  xmlNode *rv;

  assert_int_equal (soap_parse_response (doc, "QueryChangedDiskAreas",
                                         &rv, NULL), 0);
  assert_int_equal (vm_parse_changes (rv, c), expect);
  xmlFreeDoc (doc);
}

static void
test_changed_areas (void **state)
{
  (void) state;
  struct vim_changes c;

  changes ("QueryChangedDiskAreas-page1.xml", &c, 0);
  assert_int_equal (c.start, 0);
  assert_int_equal (c.length, 1073741824);
  assert_int_equal (c.nr_areas, 3);
  assert_int_equal (c.areas[1].start, 8388608);
  assert_int_equal (c.areas[1].length, 65536);
  assert_int_equal (c.areas[2].start + c.areas[2].length, 1073741824);
  vim_changes_free (&c);

  /* An empty page still covers its range: the caller must go on. */
  changes ("QueryChangedDiskAreas-page2-empty.xml", &c, 0);
  assert_int_equal (c.start, 1073741824);
  assert_int_equal (c.length, 9663676416LL);
  assert_int_equal (c.nr_areas, 0);
  assert_null (c.areas);
  vim_changes_free (&c);

  /* The lab's answer after a 64 KiB write at 1 MiB. */
  changes ("lab-QueryChangedDiskAreas.xml", &c, 0);
  assert_int_equal (c.start, 0);
  assert_int_equal (c.length, 67108864);
  assert_int_equal (c.nr_areas, 1);
  assert_int_equal (c.areas[0].start, 1048576);
  assert_int_equal (c.areas[0].length, 65536);
  vim_changes_free (&c);

  changes ("QueryChangedDiskAreas-bad-area.xml", &c, -1);
  assert_non_null (strstr (v2k_errmsg (), "lies outside the range"));
  assert_null (c.areas);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_faults),
    cmocka_unit_test (test_service_content),
    cmocka_unit_test (test_envelope),
    cmocka_unit_test (test_thumbprints),
    cmocka_unit_test (test_task_info),
    cmocka_unit_test (test_changed_areas),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
