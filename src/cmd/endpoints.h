/* Opening a disk's source (the transport chosen at init) and target, as
 * copy endpoints, with the child servers they need. */
#ifndef V2K_CMD_ENDPOINTS_H
#define V2K_CMD_ENDPOINTS_H

#include <jansson.h>

#include "copy/endpoint.h"
#include "copy/server.h"

struct v2k;

struct disk_io {
  struct v2k_server *src_srv, *dst_srv;
  struct v2k_ep *src, *dst;
  bool retry;          /* a retry: the source's server in its plainest way */
};

/* The source: the disk as frozen in snapshot 'snap' (its manifest
 * record), read-only, with block status.  logdir gets the server logs.
 * 'password' is for nbdkit's vddk plugin; it reaches nbdkit through a
 * 0600 file (password=+FILE) that exists only while nbdkit starts. */
int open_source (struct v2k *v, const json_t *disk, const json_t *snap,
                 const char *password, const char *logtag, struct disk_io *io);

/* The target: created when missing (fresh = remove an existing file
 * first), then opened for writing: qcow2 through qemu-nbd, raw files and
 * block devices directly, rbd through qemu-nbd. */
#define TARGET_FRESH    1u   /* remove an existing target first (new base) */
#define TARGET_READONLY 2u   /* verify: must exist, opened read-only */
int open_target (struct v2k *v, const json_t *disk, unsigned flags,
                 const char *logtag, struct disk_io *io);

/* Files are created for the base (sparse: unwritten parts read as
 * zeroes); block devices and rbd images are not, and may hold old data. */
bool target_starts_zero (const json_t *disk);

/* Does the target exist (rbd images are assumed to)?  An incremental
 * copy (or a resumed one) needs the target it continues:
 * check_target_present() fails with a clear error if it is gone. */
bool target_present (const json_t *disk);
int check_target_present (const json_t *disk);

/* Close endpoints and stop servers.  Returns -1 if a target server died
 * with an error (writes may be lost), so callers never advance a
 * changeId past such a failure. */
int close_source (struct disk_io *io);
int close_target (struct disk_io *io);

/* "[datastore1] web01/web01.vmdk" -> datastore and path parts. */
int parse_ds_path (const char *s, char **ds, char **path);

#endif /* V2K_CMD_ENDPOINTS_H */
