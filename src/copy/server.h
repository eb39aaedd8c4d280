/* Child NBD servers on a private UNIX socket, and target creation.
 *
 * v2k_server_start() creates a private directory (mode 0700), substitutes
 * "@SOCKET@" and "@PIDFILE@" inside the caller's argv elements with the
 * socket and pidfile paths in it, runs argv[0] (PATH searched) with stdin
 * from /dev/null and stdout+stderr appended to 'logfile', and returns once
 * the server wrote its pidfile and the socket exists: that is when nbdkit
 * and qemu-nbd accept connections.  It fails if the child exits first
 * (the message quotes the last line of the log) or after timeout_ms.
 *
 * The child gets SIGTERM (qemu-nbd: SIGKILL, see server.c) if the thread
 * that started it dies (PR_SET_PDEATHSIG), so a kill -9 of v2k never
 * leaves a server behind; start and stop a server from the same thread.  Secrets never belong in
 * argv: nbdkit takes password=+FILE.
 */
#ifndef V2K_COPY_SERVER_H
#define V2K_COPY_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct v2k_server {
  pid_t pid;
  char *dir;          /* private directory, removed on stop */
  char *socket;       /* dir/nbd.sock: pass to v2k_ep_nbd_unix() */
  char *pidfile;      /* dir/server.pid */
  char *logfile;
};

/* argv is NULL-terminated.  tmpdir NULL means $TMPDIR or /tmp (keep it
 * short: a UNIX socket path is limited to 107 bytes). */
struct v2k_server *v2k_server_start (const char *const *argv,
                                     const char *tmpdir,
                                     const char *logfile, int timeout_ms);

/* SIGTERM, wait up to 5 s, then SIGKILL; remove the directory.  Returns
 * -1 if the server had died with an error status (it may have lost
 * writes).  NULL is fine. */
int v2k_server_stop (struct v2k_server *srv);

/* qemu-nbd serving one image. */
#define V2K_QNBD_READONLY 1u   /* -r: a source snapshot */
#define V2K_QNBD_SPARSE   2u   /* --discard=unmap --detect-zeroes=unmap */
#define V2K_QNBD_DIRECT   4u   /* --cache=none --aio=native (O_DIRECT) */
#define V2K_QNBD_SHARE    8u   /* --force-share: read an image a running
                                * domain holds (verify after cutover) */
#define V2K_QNBD_NO_URING 16u  /* no io_uring for a VMDK's data files
                                * (vmdk.h): a retry after a stall */

struct v2k_server *v2k_server_qemu_nbd (const char *qemu_nbd,
                                        const char *image,
                                        const char *format,
                                        unsigned flags,
                                        const char *logfile,
                                        int timeout_ms);

/* nbdkit in the production convention:
 *   NBDKIT [-r] -f --exit-with-parent -U @SOCKET@ --pidfile @PIDFILE@ ARGS...
 * where ARGS (NULL-terminated) are filters, the plugin and its parameters,
 * e.g. { "vddk", "libdir=...", "password=+FILE", ..., NULL }. */
struct v2k_server *v2k_server_nbdkit (const char *nbdkit, bool readonly,
                                      const char *const *args,
                                      const char *logfile, int timeout_ms);

/* Create a target image of 'size' bytes if 'path' does not exist.
 * format "raw": a sparse file (ftruncate).  "qcow2": qemu-img create with
 * cluster_size (0 = 64 KiB, the qemu default).  An existing file is left
 * alone, but its virtual size must be at least 'size' for raw (checked);
 * qcow2 sizes are checked when the target is opened. */
int v2k_target_create (const char *path, const char *format, uint64_t size,
                       uint32_t cluster_size, const char *logfile);

#endif /* V2K_COPY_SERVER_H */
