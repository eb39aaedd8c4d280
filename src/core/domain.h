/* The libvirt domain that replaces the VMware VM, built from the manifest.
 *
 * Pure: manifest in, XML out, so every layout has a golden-file test
 * (tests/unit/data/domain/) without libvirt.
 */
#ifndef V2K_DOMAIN_H
#define V2K_DOMAIN_H

#include <stdbool.h>
#include <jansson.h>

struct domain_opts {
  const char *name;          /* NULL: the manifest's target name */
  const char *domain_type;   /* "kvm" or "qemu" */
  const char *disk_bus;      /* "auto", "virtio-blk", "virtio-scsi", "sata" */
  const char *nic_model;     /* "auto", "virtio", "e1000e" */
  int vcpus;                 /* 0: from the source */
  int memory_mb;             /* 0: from the source */
  const json_t *network_map; /* {"VM Network": "bridge:br0" | "network:default"} */
  const char *console_log;   /* serial console log file */
  const char *ovmf_code;     /* UEFI firmware (secure-boot build when needed) */
  const char *ovmf_vars;     /* UEFI variable store template */
  const char *nvram;         /* this domain's variable store */
  bool virtio_drivers;       /* the guest has virtio drivers (else sata/e1000e) */
};

/* The disk bus v2k picks for a source controller type under "auto":
 * SCSI controllers become virtio-scsi (guests keep their sdX names),
 * SATA and IDE become SATA (q35 has no IDE), NVMe becomes virtio-blk. */
const char *domain_auto_bus (const char *controller_type);

/* The domain XML, malloc'd; NULL with v2k_error() set when the manifest
 * cannot be mapped (an unmapped network names the NIC). */
char *domain_xml (const json_t *manifest, const struct domain_opts *o);

#endif /* V2K_DOMAIN_H */
