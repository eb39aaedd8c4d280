/* The VM inventory and snapshot disks, parsed from recorded properties. */
#include "test-vsphere-common.h"

#include "util/json.h"

static json_t *
disk (json_t *inv, size_t i)
{
  return json_array_get (json_object_get (inv, "disks"), i);
}

static void
test_vm (void **state)
{
  (void) state;
  struct props_result pr;
  xmlNode *o = load_objects ("vm-props.xml", &pr);
  json_t *inv = NULL, *vm, *d, *c, *snaps, *n;

  assert_int_equal (inv_parse_vm (o, &inv), 0);
  vm = json_object_get (inv, "vm");
  assert_string_equal (jstr (vm, "name"), "web01");
  assert_string_equal (jstr (vm, "moref"), "vm-42");
  assert_string_equal (jstr (vm, "uuid"), "420a1b2c-3d4e-5f60-7182-93a4b5c6d7e8");
  assert_string_equal (jstr (vm, "instance_uuid"),
                       "500a3c7e-1122-3344-5566-778899aabbcc");
  assert_string_equal (jstr (vm, "guest_id"), "debian12_64Guest");
  assert_string_equal (jstr (vm, "firmware"), "efi");
  assert_true (jbool (vm, "secure_boot"));
  assert_int_equal (jint (vm, "cpus"), 4);
  assert_int_equal (jint (vm, "cores_per_socket"), 2);
  assert_int_equal (jint (vm, "memory_mb"), 8192);
  assert_string_equal (jstr (vm, "hw_version"), "vmx-19");
  assert_string_equal (jstr (vm, "power_state"), "poweredOn");
  assert_string_equal (jstr (vm, "tools_status"), "toolsOk");
  assert_string_equal (jstr (vm, "tools_running"), "guestToolsRunning");
  assert_true (jbool (vm, "cbt_enabled"));
  /* Only disks, in vCenter's order; the NIC in between is skipped. */
  assert_int_equal (json_array_size (json_object_get (vm, "boot_order")), 2);
  assert_int_equal (json_integer_value (json_array_get (json_object_get (vm, "boot_order"), 0)), 2001);
  assert_string_equal (jstr (json_object_get (inv, "host"), "moref"), "host-1009");

  assert_int_equal (json_array_size (json_object_get (inv, "disks")), 5);
  d = disk (inv, 0);
  c = json_object_get (d, "controller");
  assert_int_equal (jint (d, "key"), 2000);
  assert_string_equal (jstr (d, "label"), "Hard disk 1");
  assert_string_equal (jstr (c, "type"), "pvscsi");
  assert_int_equal (jint (c, "key"), 1000);
  assert_string_equal (jstr (d, "disk_id"), "scsi0:0");
  assert_int_equal (jint (d, "capacity"), 42949672960LL);
  assert_string_equal (jstr (d, "file"), "[datastore1] web01/web01.vmdk");
  assert_string_equal (jstr (d, "datastore"), "datastore1");
  assert_true (jbool (d, "thin"));
  assert_string_equal (jstr (d, "mode"), "persistent");
  assert_string_equal (jstr (d, "sharing"), "sharingNone");
  assert_string_equal (jstr (d, "rdm"), "none");
  assert_string_equal (jstr (d, "change_id"),
                       "52 3c 9e 4a 1b 2d 6f 80-7e 11 53 0a 9c 8d 44 21/12");
  assert_true (jbool (d, "cbt"));

  d = disk (inv, 1);            /* independent, thick, no changeId */
  assert_string_equal (jstr (d, "disk_id"), "scsi0:1");
  assert_string_equal (jstr (d, "datastore"), "datastore2");
  assert_false (jbool (d, "thin"));
  assert_string_equal (jstr (d, "mode"), "independent_persistent");
  assert_true (json_is_null (json_object_get (d, "change_id")));
  assert_false (jbool (d, "cbt"));

  d = disk (inv, 2);            /* physical RDM, multi-writer */
  c = json_object_get (d, "controller");
  assert_string_equal (jstr (c, "type"), "lsilogic-sas");
  assert_int_equal (jint (c, "bus"), 1);
  assert_string_equal (jstr (d, "disk_id"), "scsi1:0");
  assert_string_equal (jstr (d, "rdm"), "physical");
  assert_string_equal (jstr (d, "sharing"), "sharingMultiWriter");

  d = disk (inv, 3);            /* SATA, SE sparse */
  assert_string_equal (jstr (json_object_get (d, "controller"), "type"), "sata");
  assert_string_equal (jstr (d, "disk_id"), "sata0:0");
  assert_true (jbool (d, "thin"));
  assert_true (jbool (d, "cbt"));

  d = disk (inv, 4);            /* NVMe: changeId but ctkEnabled FALSE */
  assert_string_equal (jstr (json_object_get (d, "controller"), "type"), "nvme");
  assert_string_equal (jstr (d, "disk_id"), "nvme0:0");
  assert_int_equal (jint (d, "capacity"), 17179869184LL);
  assert_false (jbool (d, "cbt"));

  n = json_object_get (inv, "nics");
  assert_int_equal (json_array_size (n), 2);
  assert_string_equal (jstr (json_array_get (n, 0), "model"), "vmxnet3");
  assert_string_equal (jstr (json_array_get (n, 0), "mac"), "00:50:56:8a:4b:01");
  assert_string_equal (jstr (json_array_get (n, 0), "network"), "VM Network");
  assert_null (json_object_get (json_array_get (n, 0), "portgroup_key"));
  assert_string_equal (jstr (json_array_get (n, 1), "model"), "e1000e");
  assert_string_equal (jstr (json_array_get (n, 1), "portgroup_key"),
                       "dvportgroup-2051");

  c = json_object_get (inv, "cdroms");
  assert_int_equal (json_array_size (c), 2);
  assert_true (jbool (json_array_get (c, 0), "connected"));
  assert_false (jbool (json_array_get (c, 0), "start_connected"));
  assert_false (jbool (json_array_get (c, 1), "connected"));

  /* The whole tree, depth first, with parents. */
  snaps = json_object_get (inv, "snapshots");
  assert_int_equal (json_array_size (snaps), 4);
  assert_string_equal (jstr (json_array_get (snaps, 0), "name"), "before-upgrade");
  assert_true (json_is_null (json_object_get (json_array_get (snaps, 0), "parent")));
  assert_string_equal (jstr (json_array_get (snaps, 1), "moref"), "snapshot-311");
  assert_string_equal (jstr (json_array_get (snaps, 1), "parent"), "snapshot-290");
  assert_string_equal (jstr (json_array_get (snaps, 2), "moref"), "snapshot-312");
  assert_string_equal (jstr (json_array_get (snaps, 2), "parent"), "snapshot-311");
  assert_string_equal (jstr (json_array_get (snaps, 2), "created"),
                       "2024-03-05T11:00:04.1Z");
  assert_string_equal (jstr (json_array_get (snaps, 3), "parent"), "snapshot-290");

  json_decref (inv);
  props_free (&pr);
}

/* vcsim's own serialisation (another xsi prefix, DVS NIC, a CD-ROM on a
 * SCSI controller, capacityInKB only). */
static void
test_vcsim_vm (void **state)
{
  (void) state;
  struct props_result pr;
  xmlNode *o = load_objects ("vcsim-vm-props.xml", &pr);
  json_t *inv = NULL, *d;

  assert_int_equal (inv_parse_vm (o, &inv), 0);
  assert_string_equal (jstr (json_object_get (inv, "vm"), "name"), "DC0_H0_VM0");
  assert_string_equal (jstr (json_object_get (inv, "vm"), "firmware"), "bios");
  d = disk (inv, 0);
  assert_string_equal (jstr (d, "disk_id"), "scsi0:0");
  assert_int_equal (jint (d, "capacity"), 1048576);
  assert_string_equal (jstr (d, "datastore"), "LocalDS_0");
  assert_false (jbool (d, "cbt"));
  assert_string_equal (jstr (json_array_get (json_object_get (inv, "nics"), 0), "model"), "e1000");
  json_decref (inv);
  props_free (&pr);
}

static void
test_snapshot_disks (void **state)
{
  (void) state;
  struct props_result pr;
  xmlNode *o = load_objects ("snapshot-config.xml", &pr);
  json_t *disks = NULL;

  assert_int_equal (inv_parse_snapshot_disks (props_val (o, "config.hardware"),
                                              &disks), 0);
  /* Snapshot order, not the VM's: callers match by key. */
  assert_int_equal (json_array_size (disks), 3);
  assert_int_equal (jint (json_array_get (disks, 0), "key"), 16000);
  assert_string_equal (jstr (json_array_get (disks, 1), "file"),
                       "[datastore1] web01/web01-000001.vmdk");
  assert_string_equal (jstr (json_array_get (disks, 1), "change_id"),
                       "52 3c 9e 4a 1b 2d 6f 80-7e 11 53 0a 9c 8d 44 21/14");
  assert_true (json_is_null (json_object_get (json_array_get (disks, 2), "change_id")));
  json_decref (disks);
  props_free (&pr);
}

static void
test_spec_kinds (void **state)
{
  (void) state;
  assert_true (find_looks_like_moref ("vm-42"));
  assert_false (find_looks_like_moref ("vm-"));
  assert_false (find_looks_like_moref ("vm-42a"));
  assert_false (find_looks_like_moref ("web01"));
  assert_true (find_looks_like_uuid ("420a1b2c-3d4e-5f60-7182-93a4b5c6d7e8"));
  assert_false (find_looks_like_uuid ("420a1b2c-3d4e-5f60-7182-93a4b5c6d7e"));
  assert_false (find_looks_like_uuid ("420a1b2c3d4e5f60718293a4b5c6d7e8"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_vm),
    cmocka_unit_test (test_vcsim_vm),
    cmocka_unit_test (test_snapshot_disks),
    cmocka_unit_test (test_spec_kinds),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
