/* Operations on a VM: CBT, snapshots, changed areas, power. */
#include "vsphere/soap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/error.h"

static bool
last_fault_is (struct vim *vim, const char *type)
{
  return vim->last_fault && strcmp (vim->last_fault, type) == 0;
}

int
vim_set_cbt (struct vim *vim, const char *vm, bool enable)
{
  struct soap_req r;
  char what[256];
  int ret;

  snprintf (what, sizeof what, "%s changed block tracking on VM '%s'",
            enable ? "enable" : "disable", vm);
  if (soap_new (&r, "ReconfigVM_Task", "VirtualMachine", vm) < 0)
    return -1;
  soap_add_bool (soap_add (r.method, "spec", NULL), "changeTrackingEnabled",
                 enable);
  ret = task_call (vim, &r, what, NULL);
  soap_free (&r);
  return ret;
}

int
vim_create_snapshot (struct vim *vim, const char *vm, const char *name,
                     const char *description, bool quiesce, char **snap)
{
  struct soap_req r;
  char what[512];
  int ret;

  *snap = NULL;
  snprintf (what, sizeof what, "create snapshot '%s' of VM '%s'", name, vm);
  if (soap_new (&r, "CreateSnapshot_Task", "VirtualMachine", vm) < 0)
    return -1;
  soap_add (r.method, "name", name);
  if (description)
    soap_add (r.method, "description", description);
  soap_add_bool (r.method, "memory", false);
  soap_add_bool (r.method, "quiesce", quiesce);
  ret = task_call (vim, &r, what, snap);
  soap_free (&r);
  if (ret == 0 && *snap == NULL) {
    v2k_error ("%s: the task returned no snapshot", what);
    ret = -1;
  }
  return ret;
}

int
vim_remove_snapshot (struct vim *vim, const char *snap)
{
  struct soap_req r;
  char what[256];
  int ret;

  snprintf (what, sizeof what, "remove snapshot '%s'", snap);
  if (soap_new (&r, "RemoveSnapshot_Task", "VirtualMachineSnapshot", snap) < 0)
    return -1;
  soap_add_bool (r.method, "removeChildren", false);
  soap_add_bool (r.method, "consolidate", true);
  ret = task_call (vim, &r, what, NULL);
  soap_free (&r);
  return ret;
}

int
vim_snapshot_disks (struct vim *vim, const char *snap, json_t **out)
{
  static const char *const paths[] = { "config.hardware", NULL };
  struct props_result pr;
  xmlNode *hw;
  int ret;

  *out = NULL;
  if (props_get (vim, "VirtualMachineSnapshot", snap, paths, &pr) < 0) {
    if (last_fault_is (vim, "ManagedObjectNotFound"))
      v2k_error ("snapshot '%s' no longer exists (removed outside v2k?)",
                 snap);
    else
      v2k_error_prefix ("cannot read the disks of snapshot '%s'", snap);
    return -1;
  }
  hw = props_val (props_first (&pr), "config.hardware");
  if (hw == NULL) {
    v2k_error ("snapshot '%s' has no hardware configuration", snap);
    ret = -1;
  }
  else
    ret = inv_parse_snapshot_disks (hw, out);
  props_free (&pr);
  return ret;
}

/* ---- QueryChangedDiskAreas ---- */

void
vim_changes_free (struct vim_changes *c)
{
  if (c == NULL)
    return;
  free (c->areas);
  memset (c, 0, sizeof *c);
}

int
vm_parse_changes (const xmlNode *rv, struct vim_changes *out)
{
  size_t n = 0, i = 0;

  memset (out, 0, sizeof *out);
  if (rv == NULL || !x_path_has (rv, "startOffset")
      || !x_path_has (rv, "length")) {
    v2k_error ("QueryChangedDiskAreas: the answer has no DiskChangeInfo");
    return -1;
  }
  out->start = x_path_int (rv, "startOffset", -1);
  out->length = x_path_int (rv, "length", -1);
  if (out->start < 0 || out->length < 0) {
    v2k_error ("QueryChangedDiskAreas: invalid range %lld+%lld",
               (long long) out->start, (long long) out->length);
    return -1;
  }
  for (xmlNode *a = x_child (rv, "changedArea"); a; a = x_next (a, "changedArea"))
    n++;
  if (n > 0) {
    out->areas = calloc (n, sizeof *out->areas);
    if (out->areas == NULL) {
      v2k_error ("out of memory");
      return -1;
    }
  }
  for (xmlNode *a = x_child (rv, "changedArea"); a;
       a = x_next (a, "changedArea"), i++) {
    out->areas[i].start = x_path_int (a, "start", -1);
    out->areas[i].length = x_path_int (a, "length", -1);
    /* An area outside the range it claims to describe would make the
     * caller copy (or skip) the wrong bytes: refuse the page. */
    if (out->areas[i].start < out->start || out->areas[i].length < 0
        || out->areas[i].start + out->areas[i].length
           > out->start + out->length) {
      v2k_error ("QueryChangedDiskAreas: area %lld+%lld lies outside "
                 "the range %lld+%lld",
                 (long long) out->areas[i].start,
                 (long long) out->areas[i].length,
                 (long long) out->start, (long long) out->length);
      vim_changes_free (out);
      return -1;
    }
  }
  out->nr_areas = n;
  return 0;
}

int
vim_query_changed_areas (struct vim *vim, const char *vm, const char *snap,
                         int32_t device_key, int64_t start_offset,
                         const char *change_id, struct vim_changes *out)
{
  struct soap_req r;
  CLEANUP_XMLDOC xmlDoc *resp = NULL;
  xmlNode *rv;
  int ret = -1;

  memset (out, 0, sizeof *out);
  if (soap_new (&r, "QueryChangedDiskAreas", "VirtualMachine", vm) < 0)
    return -1;
  soap_add_moref (r.method, "snapshot", "VirtualMachineSnapshot", snap);
  soap_add_int (r.method, "deviceKey", device_key);
  soap_add_int (r.method, "startOffset", start_offset);
  soap_add (r.method, "changeId", change_id);
  if (soap_call (vim, &r, &resp, &rv) < 0 || vm_parse_changes (rv, out) < 0)
    goto cleanup;
  ret = 0;
 cleanup:
  if (ret < 0)
    v2k_error_prefix ("cannot query the changed areas of disk %d of VM '%s' "
                      "(snapshot '%s', changeId '%s', offset %lld)",
                      (int) device_key, vm, snap, change_id,
                      (long long) start_offset);
  soap_free (&r);
  return ret;
}

/* ---- power ---- */

static int
power_task (struct vim *vim, const char *method, const char *verb,
            const char *vm)
{
  struct soap_req r;
  char what[256];
  int ret;

  snprintf (what, sizeof what, "%s VM '%s'", verb, vm);
  if (soap_new (&r, method, "VirtualMachine", vm) < 0)
    return -1;
  ret = task_call (vim, &r, what, NULL);
  soap_free (&r);
  return ret;
}

int
vim_power_on (struct vim *vim, const char *vm)
{
  return power_task (vim, "PowerOnVM_Task", "power on", vm);
}

int
vim_power_off (struct vim *vim, const char *vm)
{
  return power_task (vim, "PowerOffVM_Task", "power off", vm);
}

int
vim_shutdown_guest (struct vim *vim, const char *vm)
{
  struct soap_req r;
  CLEANUP_XMLDOC xmlDoc *resp = NULL;
  int ret;

  if (soap_new (&r, "ShutdownGuest", "VirtualMachine", vm) < 0)
    return -1;
  ret = soap_call (vim, &r, &resp, NULL);
  if (ret < 0)
    v2k_error_prefix ("cannot shut down the guest of VM '%s'", vm);
  soap_free (&r);
  return ret;
}
