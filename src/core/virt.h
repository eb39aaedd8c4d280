/* The libvirt side: define, start, inspect and remove the target domain
 * through the libvirt C API. */
#ifndef V2K_VIRT_H
#define V2K_VIRT_H

#include <stdbool.h>

/* Define (or redefine, if a domain with this XML's UUID exists) the
 * domain.  A different domain that already has the name is an error: v2k
 * never replaces a domain it did not define.  *uuid is malloc'd. */
int virt_define (const char *uri, const char *xml, char **uuid);

/* Start the domain if it is not running. */
int virt_start (const char *uri, const char *uuid);

/* *exists, *running for the domain with this UUID. */
int virt_state (const char *uri, const char *uuid, bool *exists, bool *running);

/* Destroy (if running) and undefine, NVRAM included.  A domain that no
 * longer exists is not an error. */
int virt_remove (const char *uri, const char *uuid);

/* Connect and ask for the domain capabilities of this domain type: a
 * broken libvirt is found before the source is shut down, and the first
 * capability probe of a fresh libvirtd (slow) happens outside the
 * downtime. */
int virt_preflight (const char *uri, const char *domain_type);

/* Connect and describe the connection: "libvirt 9.0.0, QEMU 7.2.0"
 * (malloc'd in *info).  Used by doctor. */
int virt_probe (const char *uri, char **info);

/* "kvm" when /dev/kvm can be opened for writing, else "qemu" (TCG). */
const char *virt_default_domain_type (void);

/* The installed OVMF firmware: code (secure-boot build when asked) and
 * the variable-store template; NULL when none is installed. */
void virt_find_ovmf (bool secure, const char **code, const char **vars);

#endif /* V2K_VIRT_H */
