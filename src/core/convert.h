/* Guest conversion: make the copied disks of a VMware guest boot on KVM.
 *
 * virt-v2v-in-place (libguestfs) rewrites the guest on the target disks:
 * virtio drivers into the initramfs (Linux) or the driver store
 * (Windows, from virtio-win), device names in fstab and the bootloader,
 * VMware Tools removed.  It leaves interface names alone, so before it
 * runs v2k pins the names the guest's network configuration uses
 * (ens192, ...) to the NICs' MACs with systemd .link files; the initramfs
 * that virt-v2v rebuilds then carries them too.
 *
 * Pure parts (family, plan, the pinning script) are unit-tested; the
 * runners spawn guestfish and virt-v2v-in-place with their output in a
 * log file.
 */
#ifndef V2K_CONVERT_H
#define V2K_CONVERT_H

#include <stdbool.h>
#include <stddef.h>

enum guest_family { GUEST_OTHER, GUEST_LINUX, GUEST_WINDOWS };

/* The family of a vSphere guestId ("debian12_64Guest", "windows2019srv_64Guest"). */
enum guest_family convert_guest_family (const char *guest_id);

/* What cutover does with the guest. */
struct convert_plan {
  bool run;             /* run virt-v2v-in-place */
  bool virtio;          /* the domain gets virtio disks and NICs */
  const char *disk_bus; /* the bus "auto" resolves to afterwards; NULL: by controller */
  const char *note;     /* a warning to show (static), or NULL */
};

/* mode: "auto", "virt-v2v" or "none".  -1 (v2k_error set) for a
 * combination that cannot work: --convert virt-v2v without the tool. */
int convert_make_plan (const char *mode, const char *guest_id, bool have_tool,
                       bool have_virtio_win, struct convert_plan *p);

/* The converter: $V2K_VIRT_V2V_IN_PLACE, else virt-v2v-in-place on PATH;
 * malloc'd, NULL when there is none. */
char *convert_find_tool (void);

/* Whether libguestfs must run its appliance under TCG: /dev/kvm missing
 * or not writable, or a nested software KVM (kvm_pvm) on which QEMU with
 * -cpu host aborts.  V2K_CONVERT_ACCEL=tcg|kvm overrides. */
bool convert_need_tcg (void);

/* The POSIX sh script that runs inside the guest (guestfish "sh") and
 * writes /etc/systemd/network/10-v2k-NAME.link for each interface name
 * the guest's configuration uses (ifupdown, ifcfg, NetworkManager),
 * paired in VMware's PCI slot order (ens160, ens192, ens224, ens256,
 * ens161, ...) with the MACs given as its arguments in the source's NIC
 * order.  It prints "V2K-LINK NAME MAC" per file.  $V2K_ROOT prefixes
 * every path (tests).  Static text. */
const char *convert_pin_script (void);

struct convert_disk {
  const char *path;
  const char *format;   /* "raw" or "qcow2" */
};

/* Run the pinning script on the guest's disks with guestfish.  Its output
 * is appended to log; *pinned (malloc'd, may be NULL) gets the
 * "NAME=MAC" pairs separated by spaces. */
int convert_pin_nic_names (const struct convert_disk *disks, size_t ndisks,
                           const char *const *macs, size_t nmacs,
                           const char *log, bool tcg, char **pinned);

/* virt-v2v-in-place -i libvirtxml XML, output appended to log.  On
 * failure the error names the log and quotes its last lines. */
int convert_run_virt_v2v (const char *tool, const char *xml, const char *log,
                          const char *virtio_win, bool tcg);

/* Internal qcow2 snapshots that keep the disks as synced while the
 * conversion rewrites them: op "create" before, "revert" after a failure
 * (a retry then starts from the synced disks), "delete" after success.
 * Raw files and block devices are skipped (*covered = false). */
int convert_checkpoint (const struct convert_disk *disks, size_t ndisks,
                        const char *op, const char *log, bool *covered);

/* The last n lines of a file, "; "-joined (malloc'd; "" if unreadable). */
char *convert_log_tail (const char *path, int n);

#endif /* V2K_CONVERT_H */
