/* Preflight: what in a VM's inventory makes a warm migration unsafe.
 *
 * Pure functions over the inventory JSON (vim_vm_inventory's shape), so
 * every rule has a unit test without a vCenter.
 */
#ifndef V2K_PREFLIGHT_H
#define V2K_PREFLIGHT_H

#include <stdbool.h>
#include <jansson.h>

/* Returns {"warnings":[{"code","message","disk_key"?}],
 *          "refusals":[...], "target_name": "web01"}.
 * Refusals are findings that lose data or cannot work: independent disks
 * (never in a snapshot) and physical RDMs.  force moves independent
 * disks to warnings; a physical RDM is refused even then, since it
 * cannot be snapshotted at all. */
json_t *preflight_check (const json_t *inventory, bool force);

/* A libvirt domain name valid as an RFC 1123 label: lowercase letters,
 * digits and '-', 1..63 characters, alphanumeric at both ends.  Returns
 * a malloc'd string (never empty: "vm" if nothing usable is left). */
char *target_name_from (const char *vm_name);

/* "root" for the disk the VM boots from, else "data": the first disk
 * of config.bootOptions.bootOrder when present, else "Hard disk 1",
 * else the lowest controller/bus/unit.  Sets "role" on every disk. */
void assign_disk_roles (json_t *disks, const json_t *boot_order);

#endif /* V2K_PREFLIGHT_H */
