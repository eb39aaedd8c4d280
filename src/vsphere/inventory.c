/* The VM's inventory: parsing the recorded properties into the
 * manifest's JSON (pure functions, tested on recorded responses), then
 * the few extra look-ups that need the network (host, path, networks).
 */
#include "vsphere/soap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/json.h"

/* Takes ownership of S. */
static json_t *
jtake (char *s)
{
  json_t *j = s ? json_string (s) : json_null ();

  free (s);
  return j;
}

static bool
type_is (const xmlNode *n, const char *type)
{
  CLEANUP_FREE char *t = x_type (n);

  return t && strcmp (t, type) == 0;
}

/* ---- controllers ---- */

static const struct {
  const char *xsi_type, *type, *prefix;
} controller_types[] = {
  { "ParaVirtualSCSIController",    "pvscsi",       "scsi" },
  { "VirtualLsiLogicController",    "lsilogic",     "scsi" },
  { "VirtualLsiLogicSASController", "lsilogic-sas", "scsi" },
  { "VirtualBusLogicController",    "buslogic",     "scsi" },
  { "VirtualAHCIController",        "sata",         "sata" },
  { "VirtualNVMEController",        "nvme",         "nvme" },
  { "VirtualIDEController",         "ide",          "ide"  },
};

struct controller {
  int64_t key, bus;
  const char *type, *prefix;
};

/* The controller whose key is KEY among HARDWARE's devices. */
static bool
find_controller (const xmlNode *hardware, int64_t key, struct controller *c)
{
  for (xmlNode *d = x_child (hardware, "device"); d; d = x_next (d, "device")) {
    CLEANUP_FREE char *t = NULL;

    if (x_path_int (d, "key", -1) != key)
      continue;
    t = x_type (d);
    c->key = key;
    c->bus = x_path_int (d, "busNumber", 0);
    c->type = "unknown";
    c->prefix = "unknown";
    for (size_t i = 0; t && i < sizeof controller_types / sizeof controller_types[0]; i++)
      if (strcmp (t, controller_types[i].xsi_type) == 0) {
        c->type = controller_types[i].type;
        c->prefix = controller_types[i].prefix;
      }
    return true;
  }
  return false;
}

/* "[datastore1] web01/web01.vmdk" -> "datastore1". */
static char *
datastore_of (const char *file)
{
  const char *end;

  if (file == NULL || file[0] != '[' || (end = strchr (file, ']')) == NULL)
    return NULL;
  return strndup (file + 1, end - file - 1);
}

/* The value of extraConfig KEY, or NULL. */
static char *
extra_config (const xmlNode *extra, const char *key)
{
  for (xmlNode *o = x_child (extra, NULL); o; o = x_next (o, NULL)) {
    CLEANUP_FREE char *k = x_path_text (o, "key");
    if (k && strcasecmp (k, key) == 0)
      return x_path_text (o, "value");
  }
  return NULL;
}

static const char *
rdm_mode (const xmlNode *backing)
{
  CLEANUP_FREE char *mode = NULL;

  if (!type_is (backing, "VirtualDiskRawDiskMappingVer1BackingInfo"))
    return "none";
  mode = x_path_text (backing, "compatibilityMode");
  return mode && strcmp (mode, "physicalMode") == 0 ? "physical" : "virtual";
}

static bool
is_thin (const xmlNode *backing)
{
  if (type_is (backing, "VirtualDiskSeSparseBackingInfo")
      || type_is (backing, "VirtualDiskSparseVer2BackingInfo")
      || type_is (backing, "VirtualDiskSparseVer1BackingInfo"))
    return true;
  return x_path_bool (backing, "thinProvisioned", false);
}

static char *
change_id (const xmlNode *backing)
{
  char *s = x_path_text (backing, "changeId");

  if (s && s[0] == '\0') {
    free (s);
    s = NULL;
  }
  return s;
}

static json_t *
parse_disk (const xmlNode *hardware, const xmlNode *d, const xmlNode *extra,
            bool cbt_enabled)
{
  xmlNode *b = x_child (d, "backing");
  struct controller c = { .key = x_path_int (d, "controllerKey", -1),
                          .type = "unknown", .prefix = "unknown" };
  int64_t unit = x_path_int (d, "unitNumber", 0);
  int64_t cap = x_path_int (d, "capacityInBytes", -1);
  char *file = x_path_text (b, "fileName");
  char disk_id[64], key[96];
  CLEANUP_FREE char *ctk = NULL;
  char *cid = change_id (b);
  char *sharing = x_path_text (b, "sharing");
  json_t *j;
  bool cbt;

  find_controller (hardware, c.key, &c);
  snprintf (disk_id, sizeof disk_id, "%s%lld:%lld", c.prefix,
            (long long) c.bus, (long long) unit);
  if (cap < 0)
    cap = x_path_int (d, "capacityInKB", 0) * 1024;
  /* Tracking is really on for a disk once it has a changeId; the vmx's
   * per-disk ctkEnabled may still say it is switched off. */
  snprintf (key, sizeof key, "%s.ctkEnabled", disk_id);
  ctk = extra_config (extra, key);
  cbt = cbt_enabled && cid != NULL
    && !(ctk && strcasecmp (ctk, "false") == 0);
  j = json_pack ("{s:I, s:o, s:{s:s, s:I, s:I}, s:I, s:s, s:I, s:o, s:o,"
                 " s:b, s:o, s:o, s:s, s:o, s:b}",
                 "key", (json_int_t) x_path_int (d, "key", -1),
                 "label", jtake (x_path_text (d, "deviceInfo/label")),
                 "controller", "type", c.type, "key", (json_int_t) c.key,
                 "bus", (json_int_t) c.bus,
                 "unit", (json_int_t) unit,
                 "disk_id", disk_id,
                 "capacity", (json_int_t) cap,
                 "file", file ? json_string (file) : json_null (),
                 "datastore", jtake (datastore_of (file)),
                 "thin", is_thin (b),
                 "mode", jtake (x_path_text (b, "diskMode")),
                 "sharing", jtake (sharing ? sharing : strdup ("sharingNone")),
                 "rdm", rdm_mode (b),
                 "change_id", jtake (cid),
                 "cbt", cbt);
  free (file);
  return j;
}

int
inv_parse_disks (const xmlNode *hardware, const xmlNode *extra,
                 bool cbt_enabled, json_t **disks)
{
  json_t *arr = json_array ();

  if (arr == NULL)
    goto oom;
  for (xmlNode *d = x_child (hardware, "device"); d; d = x_next (d, "device")) {
    json_t *j;

    if (!type_is (d, "VirtualDisk"))
      continue;
    j = parse_disk (hardware, d, extra, cbt_enabled);
    if (j == NULL || json_array_append_new (arr, j) < 0)
      goto oom;
  }
  *disks = arr;
  return 0;
 oom:
  json_decref (arr);
  v2k_error ("out of memory");
  return -1;
}

int
inv_parse_snapshot_disks (const xmlNode *hardware, json_t **out)
{
  json_t *arr = json_array ();

  if (arr == NULL)
    goto oom;
  for (xmlNode *d = x_child (hardware, "device"); d; d = x_next (d, "device")) {
    xmlNode *b = x_child (d, "backing");
    json_t *j;

    if (!type_is (d, "VirtualDisk"))
      continue;
    j = json_pack ("{s:I, s:o, s:o}",
                   "key", (json_int_t) x_path_int (d, "key", -1),
                   "file", jtake (x_path_text (b, "fileName")),
                   "change_id", jtake (change_id (b)));
    if (j == NULL || json_array_append_new (arr, j) < 0)
      goto oom;
  }
  *out = arr;
  return 0;
 oom:
  json_decref (arr);
  v2k_error ("out of memory");
  return -1;
}

/* ---- NICs and CD-ROMs ---- */

static const struct {
  const char *xsi_type, *model;
} nic_types[] = {
  { "VirtualVmxnet3",            "vmxnet3" },
  { "VirtualVmxnet3Vrdma",       "vmxnet3vrdma" },
  { "VirtualVmxnet2",            "vmxnet2" },
  { "VirtualVmxnet",             "vmxnet" },
  { "VirtualE1000",              "e1000" },
  { "VirtualE1000e",             "e1000e" },
  { "VirtualPCNet32",            "pcnet32" },
  { "VirtualSriovEthernetCard",  "sriov" },
};

static const char *
nic_model (const xmlNode *d)
{
  CLEANUP_FREE char *t = x_type (d);

  for (size_t i = 0; t && i < sizeof nic_types / sizeof nic_types[0]; i++)
    if (strcmp (t, nic_types[i].xsi_type) == 0)
      return nic_types[i].model;
  /* Any other VirtualEthernetCard has an addressType. */
  return x_path_has (d, "addressType") ? "unknown" : NULL;
}

/* A standard port group is named in the backing; a distributed one only
 * by key, which vim_vm_inventory resolves ("portgroup_key" is removed
 * then). */
static json_t *
parse_nic (const xmlNode *d, const char *model)
{
  xmlNode *b = x_child (d, "backing");
  json_t *j;

  j = json_pack ("{s:I, s:o, s:s, s:o, s:o}",
                 "key", (json_int_t) x_path_int (d, "key", -1),
                 "label", jtake (x_path_text (d, "deviceInfo/label")),
                 "model", model,
                 "mac", jtake (x_path_text (d, "macAddress")),
                 "network", jtake (x_path_text (b, "deviceName")));
  if (j && type_is (b, "VirtualEthernetCardDistributedVirtualPortBackingInfo"))
    jset (j, "portgroup_key", jtake (x_path_text (b, "port/portgroupKey")));
  else if (j && type_is (b, "VirtualEthernetCardOpaqueNetworkBackingInfo"))
    jset (j, "network", jtake (x_path_text (b, "opaqueNetworkId")));
  return j;
}

static json_t *
parse_cdrom (const xmlNode *d)
{
  return json_pack ("{s:I, s:o, s:b, s:b}",
                    "key", (json_int_t) x_path_int (d, "key", -1),
                    "label", jtake (x_path_text (d, "deviceInfo/label")),
                    "connected", x_path_bool (d, "connectable/connected", false),
                    "start_connected",
                    x_path_bool (d, "connectable/startConnected", false));
}

/* ---- snapshots ---- */

void
inv_flatten_snapshots (const xmlNode *list, const char *parent, json_t *out)
{
  /* LIST is the first of a run of sibling tree elements. */
  for (const xmlNode *t = list; t; t = x_next (t, (const char *) list->name)) {
    CLEANUP_FREE char *moref = x_path_text (t, "snapshot");
    json_t *j = json_pack ("{s:o, s:s?, s:o, s:s?}",
                           "name", jtake (x_path_text (t, "name")),
                           "moref", moref,
                           "created", jtake (x_path_text (t, "createTime")),
                           "parent", parent);

    if (j)
      json_array_append_new (out, j);
    inv_flatten_snapshots (x_child (t, "childSnapshotList"), moref, out);
  }
}

/* ---- the VM ---- */

static json_t *
prop_str (const xmlNode *obj, const char *name)
{
  return jtake (x_text (props_val (obj, name)));
}

static json_t *
boot_order (const xmlNode *boot)
{
  json_t *arr = json_array ();

  for (xmlNode *b = x_child (boot, "bootOrder"); arr && b;
       b = x_next (b, "bootOrder"))
    if (type_is (b, "VirtualMachineBootOptionsBootableDiskDevice"))
      json_array_append_new (arr,
                             json_integer (x_path_int (b, "deviceKey", -1)));
  return arr;
}

int
inv_parse_vm (const xmlNode *obj, json_t **out)
{
  xmlNode *hw = props_val (obj, "config.hardware");
  xmlNode *boot = props_val (obj, "config.bootOptions");
  xmlNode *snap = props_val (obj, "snapshot");
  bool cbt = x_path_bool (props_val (obj, "config.changeTrackingEnabled"),
                          "", false);
  CLEANUP_FREE char *firmware = x_text (props_val (obj, "config.firmware"));
  CLEANUP_JSON json_t *inv = NULL;
  json_t *vm, *disks = NULL, *nics, *cdroms, *snaps;

  *out = NULL;
  if (hw == NULL) {
    v2k_error ("the VM has no 'config.hardware' (is it still being created?)");
    return -1;
  }
  vm = json_pack ("{s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:b, s:I, s:I, s:I,"
                  " s:o, s:o, s:o, s:o, s:b, s:o, s:n}",
                  "name", prop_str (obj, "name"),
                  "moref", jtake (props_moref (obj)),
                  "uuid", prop_str (obj, "config.uuid"),
                  "instance_uuid", prop_str (obj, "config.instanceUuid"),
                  "guest_id", prop_str (obj, "config.guestId"),
                  "guest_full_name", prop_str (obj, "config.guestFullName"),
                  "firmware", firmware && strcmp (firmware, "efi") == 0
                              ? "efi" : "bios",
                  "secure_boot", x_path_bool (boot, "efiSecureBootEnabled",
                                              false),
                  "cpus", (json_int_t) x_path_int (hw, "numCPU", 0),
                  "cores_per_socket",
                  (json_int_t) x_path_int (hw, "numCoresPerSocket", 1),
                  "memory_mb", (json_int_t) x_path_int (hw, "memoryMB", 0),
                  "hw_version", prop_str (obj, "config.version"),
                  "power_state", prop_str (obj, "runtime.powerState"),
                  "tools_status", prop_str (obj, "guest.toolsStatus"),
                  "tools_running", prop_str (obj, "guest.toolsRunningStatus"),
                  "cbt_enabled", cbt,
                  "boot_order", boot_order (boot),
                  "inventory_path");
  nics = json_array ();
  cdroms = json_array ();
  snaps = json_array ();
  inv = json_pack ("{s:o, s:{s:o}, s:o, s:o, s:o}",
                   "vm", vm,
                   "host", "moref", prop_str (obj, "runtime.host"),
                   "nics", nics, "cdroms", cdroms, "snapshots", snaps);
  if (vm == NULL || inv == NULL || nics == NULL || cdroms == NULL
      || snaps == NULL)
    goto oom;
  if (inv_parse_disks (hw, props_val (obj, "config.extraConfig"), cbt,
                       &disks) < 0)
    return -1;
  jset (inv, "disks", disks);
  for (xmlNode *d = x_child (hw, "device"); d; d = x_next (d, "device")) {
    const char *model = nic_model (d);
    json_t *j = NULL;

    if (model)
      j = parse_nic (d, model);
    else if (type_is (d, "VirtualCdrom"))
      j = parse_cdrom (d);
    else
      continue;
    if (j == NULL || json_array_append_new (model ? nics : cdroms, j) < 0)
      goto oom;
  }
  inv_flatten_snapshots (x_child (snap, "rootSnapshotList"), NULL, snaps);
  *out = inv;
  inv = NULL;
  return 0;
 oom:
  v2k_error ("out of memory");
  return -1;
}

/* ---- look-ups that need vCenter ---- */

static const char *const vm_properties[] = {
#define P(name) name,
  VIM_VM_PROPERTIES (P)
#undef P
  NULL
};

static char *
moref_type (const xmlNode *n)
{
  xmlChar *t = n ? xmlGetNoNsProp (n, BAD_CAST "type") : NULL;
  char *s = t ? strdup ((const char *) t) : NULL;

  xmlFree (t);
  return s;
}

/* Walk up the parents to the root folder: "/DC0/vm/web01". */
int
inv_inventory_path (struct vim *vim, const char *type0, const char *moref0,
                    char **out)
{
  static const char *const paths[] = { "name", "parent", NULL };
  char *type = strdup (type0), *moref = strdup (moref0);
  char *path = NULL;
  int ret = -1;

  *out = NULL;
  for (int depth = 0; type && moref && depth < 64; depth++) {
    struct props_result pr;
    xmlNode *o, *pp;
    char *name, *np;

    if (props_get (vim, type, moref, paths, &pr) < 0)
      goto cleanup;
    o = props_first (&pr);
    pp = props_val (o, "parent");
    name = x_text (props_val (o, "name"));
    free (type);
    free (moref);
    type = moref_type (pp);
    moref = x_text (pp);
    /* The root folder ("Datacenters") is not part of the path. */
    if (pp && name) {
      if (asprintf (&np, "/%s%s", name, path ? path : "") < 0)
        np = NULL;
      free (path);
      path = np;
      if (path == NULL) {
        free (name);
        props_free (&pr);
        v2k_error ("out of memory");
        goto cleanup;
      }
    }
    free (name);
    props_free (&pr);
  }
  *out = path ? path : strdup ("/");
  path = NULL;
  ret = 0;
 cleanup:
  free (path);
  free (type);
  free (moref);
  return ret;
}

static int
host_info (struct vim *vim, json_t *host)
{
  static const char *const paths[] = {
    "name", "summary.config.product.version",
    "summary.config.sslThumbprint", NULL
  };
  struct props_result pr;
  xmlNode *o;
  const char *moref = jstr (host, "moref");
  CLEANUP_FREE char *tp = NULL;

  if (moref == NULL)            /* a VM that is not on any host */
    return 0;
  if (props_get (vim, "HostSystem", moref, paths, &pr) < 0) {
    v2k_error_prefix ("cannot read the ESXi host of the VM");
    return -1;
  }
  o = props_first (&pr);
  jset (host, "name", prop_str (o, "name"));
  jset (host, "version", prop_str (o, "summary.config.product.version"));
  tp = x_text (props_val (o, "summary.config.sslThumbprint"));
  jset (host, "thumbprint", tp && tp[0] ? json_string (tp) : json_null ());
  props_free (&pr);
  return 0;
}

static int
resolve_networks (struct vim *vim, json_t *nics)
{
  static const char *const paths[] = { "name", NULL };
  size_t i;
  json_t *n;

  json_array_foreach (nics, i, n) {
    const char *key = jstr (n, "portgroup_key");
    struct props_result pr;

    if (key == NULL) {
      json_object_del (n, "portgroup_key");
      continue;
    }
    if (props_get (vim, "DistributedVirtualPortgroup", key, paths, &pr) < 0) {
      v2k_error_prefix ("cannot name the port group of '%s'",
                        jstr_or (n, "label", "a NIC"));
      return -1;
    }
    jset (n, "network", prop_str (props_first (&pr), "name"));
    json_object_del (n, "portgroup_key");
    props_free (&pr);
  }
  return 0;
}

int
vim_vm_inventory (struct vim *vim, const char *vm, json_t **out)
{
  struct props_result pr = { 0 };
  CLEANUP_JSON json_t *inv = NULL;
  CLEANUP_FREE char *path = NULL;
  xmlNode *o;
  int ret = -1;

  *out = NULL;
  if (props_get (vim, "VirtualMachine", vm, vm_properties, &pr) < 0)
    goto cleanup;
  o = props_first (&pr);
  if (inv_parse_vm (o, &inv) < 0
      || inv_inventory_path (vim, "VirtualMachine", vm, &path) < 0)
    goto cleanup;
  jset_str (json_object_get (inv, "vm"), "inventory_path", path);
  if (host_info (vim, json_object_get (inv, "host")) < 0
      || resolve_networks (vim, json_object_get (inv, "nics")) < 0)
    goto cleanup;
  *out = inv;
  inv = NULL;
  ret = 0;
 cleanup:
  if (ret < 0)
    v2k_error_prefix ("cannot read the inventory of VM '%s'", vm);
  props_free (&pr);
  return ret;
}

int
vim_power_state (struct vim *vim, const char *vm, char **state)
{
  static const char *const paths[] = { "runtime.powerState", NULL };
  struct props_result pr;

  *state = NULL;
  if (props_get (vim, "VirtualMachine", vm, paths, &pr) < 0) {
    v2k_error_prefix ("cannot read the power state of VM '%s'", vm);
    return -1;
  }
  *state = x_text (props_val (props_first (&pr), "runtime.powerState"));
  props_free (&pr);
  if (*state == NULL) {
    v2k_error ("VM '%s' has no power state", vm);
    return -1;
  }
  return 0;
}
