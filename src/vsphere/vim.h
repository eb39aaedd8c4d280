/* The vSphere (vim25) client: SOAP over libcurl + libxml2.
 *
 * Every function returns 0 (or a pointer) on success and -1 (or NULL) on
 * failure with the reason recorded by v2k_error(): SOAP faults become
 * "vCenter fault 'TYPE': TEXT", network errors name the host and what
 * failed, tasks that end in error give the task's fault.  An expired
 * session (NotAuthenticated) is logged in again once and the call
 * repeated.  No function prints.
 *
 * Results that the manifest stores are returned as jansson objects whose
 * keys are the manifest's keys (docs/manifest.md), so the commands copy
 * them without translation.
 */
#ifndef V2K_VSPHERE_VIM_H
#define V2K_VSPHERE_VIM_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

struct vim;

struct vim_conn_opts {
  const char *url;         /* https://host[:port]/sdk (a bare host gets /sdk) */
  const char *username;
  const char *password;    /* never logged, never in an error message */
  bool insecure;           /* skip certificate verification (GOVC_INSECURE) */
  const char *thumbprint;  /* if set: SHA-1 "AA:BB:..." the server cert must have */
  long timeout;            /* seconds per HTTP request; 0 = default (300) */
  const char *cainfo;      /* optional CA bundle path */
};

/* RetrieveServiceContent + Login. */
struct vim *vim_connect (const struct vim_conn_opts *opts);
/* Logout (best effort) and free. NULL is fine. */
void vim_close (struct vim *vim);

/* SHA-1 thumbprint "AA:BB:..." of the certificate the server presented. */
const char *vim_server_thumbprint (struct vim *vim);
/* "VMware vCenter Server 7.0.0 build-..." from the ServiceContent about. */
const char *vim_about_fullname (struct vim *vim);

/* Find a VM by name, inventory path ("/DC0/vm/web01"), moref ("vm-42")
 * or BIOS/instance UUID.  An ambiguous name fails listing the candidates
 * (name, moref, inventory path).  *moref is malloc'd. */
int vim_find_vm (struct vim *vim, const char *spec, char **moref);

/* The VM's inventory, as the manifest records it:
 * {
 *  "vm": {"name","moref","uuid","instance_uuid","guest_id","guest_full_name",
 *         "firmware":"bios"|"efi","secure_boot":bool,"cpus":int,
 *         "cores_per_socket":int,"memory_mb":int,"hw_version":"vmx-19",
 *         "power_state":"poweredOn"|...,"tools_status":"toolsOk"|...,
 *         "tools_running":"guestToolsRunning"|...,"cbt_enabled":bool,
 *         "boot_order":[device keys of bootable disks, in order],
 *         "inventory_path":"/DC0/vm/web01"},
 *  "host": {"name","moref","version","thumbprint"},   (ESXi host, sslThumbprint)
 *  "disks": [{"key":2000,"label":"Hard disk 1",
 *             "controller":{"type":"pvscsi"|"lsilogic"|"lsilogic-sas"|"buslogic"|"sata"|"nvme"|"ide",
 *                           "key":1000,"bus":0},
 *             "unit":0,"disk_id":"scsi0:0"|"sata0:0"|"nvme0:0"|"ide0:0",
 *             "capacity":bytes,"file":"[datastore1] web01/web01.vmdk",
 *             "datastore":"datastore1","thin":bool,"mode":"persistent"|...,
 *             "sharing":"sharingNone"|...,"rdm":"none"|"physical"|"virtual",
 *             "change_id":"52 ../N" or null,"cbt":bool}],   (device order)
 *  "nics": [{"key","label","model":"vmxnet3"|"e1000"|"e1000e"|...,"mac","network"}],
 *  "cdroms": [{"key","label","connected":bool,"start_connected":bool}],
 *  "snapshots": [{"name","moref","created","parent":moref|null}]  (whole tree, flattened)
 * }
 */
int vim_vm_inventory (struct vim *vim, const char *vm, json_t **out);

/* Power state only (cheap): "poweredOn", "poweredOff", "suspended". */
int vim_power_state (struct vim *vim, const char *vm, char **state);

/* ReconfigVM_Task changeTrackingEnabled=enable, waits for the task. */
int vim_set_cbt (struct vim *vim, const char *vm, bool enable);

/* CreateSnapshot_Task (memory=false), waits; *snap is the new moref. */
int vim_create_snapshot (struct vim *vim, const char *vm, const char *name,
                         const char *description, bool quiesce, char **snap);
/* RemoveSnapshot_Task (removeChildren=false, consolidate=true), waits. */
int vim_remove_snapshot (struct vim *vim, const char *snap);

/* The disks as frozen in a snapshot (its config.hardware.device):
 * [{"key":2000,"file":"[datastore1] web01/web01-000001.vmdk",
 *   "change_id":"52 .../N" or null}]  in device order.
 * A snapshot that no longer exists fails with a message naming it. */
int vim_snapshot_disks (struct vim *vim, const char *snap, json_t **out);

/* One page of QueryChangedDiskAreas, exactly as vCenter returned it. */
struct vim_area { int64_t start, length; };
struct vim_changes {
  int64_t start;            /* DiskChangeInfo.startOffset */
  int64_t length;           /* DiskChangeInfo.length */
  struct vim_area *areas;   /* changedArea[], malloc'd */
  size_t nr_areas;
};
int vim_query_changed_areas (struct vim *vim, const char *vm, const char *snap,
                             int32_t device_key, int64_t start_offset,
                             const char *change_id, struct vim_changes *out);
void vim_changes_free (struct vim_changes *c);

int vim_power_on (struct vim *vim, const char *vm);
int vim_power_off (struct vim *vim, const char *vm);
/* ShutdownGuest (returns at once; poll vim_power_state). */
int vim_shutdown_guest (struct vim *vim, const char *vm);

/* The privileges the logged-in user holds on one entity (type "VirtualMachine",
 * "Folder", ...), through AuthorizationManager.FetchUserPrivilegeOnEntities:
 * *privs is a JSON array of privilege ids ("VirtualMachine.State.CreateSnapshot").
 * Fails when the server has no AuthorizationManager. */
int vim_user_privileges (struct vim *vim, const char *type, const char *moref,
                         json_t **privs);
/* The root folder's moref (the entity to check when no VM is known). */
const char *vim_root_folder (struct vim *vim);

/* Task waiting: the per-task timeout in seconds (default 3600). */
void vim_set_task_timeout (struct vim *vim, int seconds);

/* Optional: called with a task's progress (0-100) while waiting, and
 * with 100 when it succeeds.  WHAT describes the task ("create snapshot
 * 'v2k-base' of VM 'vm-42'"). */
void vim_set_progress_callback (struct vim *vim,
                                void (*cb) (void *opaque, const char *what,
                                            int percent),
                                void *opaque);

#endif /* V2K_VSPHERE_VIM_H */
