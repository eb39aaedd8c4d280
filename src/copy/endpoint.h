/* Copy endpoints: one ops table, several backends (after nbdcopy's
 * struct rw / struct rw_ops).
 *
 *   ep-nbd.c   an NBD server (qemu-nbd, nbdkit) through libnbd's
 *              asynchronous API, many requests in flight
 *   ep-file.c  a raw file or block device written directly
 *
 * I/O model.  start_read/start_write/start_zero queue a request and
 * return at once; the request's completion function runs later, from
 * v2k_ep_poll() (NBD) or before start_* returns (file: synchronous
 * syscalls).  A completion function must not call back into the endpoint
 * that completes it; it records the outcome and the caller's loop acts on
 * it.  On failure start_* returns -1 with v2k_error() set and the
 * completion never runs; a request that fails later completes with an
 * errno value in err and the caller words the message (it knows the
 * offset and what the request was for).
 *
 * Threads: an endpoint is used by one thread at a time.  Parallel disks
 * each open their own endpoints.
 */
#ifndef V2K_COPY_ENDPOINT_H
#define V2K_COPY_ENDPOINT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "copy/ranges.h"

struct v2k_ep;

/* err is 0 or an errno value. */
typedef void (*v2k_ep_done_fn) (void *opaque, int err);

/* One extent: [off, off+len) either holds data or reads as zeroes. */
typedef int (*v2k_ep_extent_fn) (void *opaque, uint64_t off, uint64_t len,
                                 bool zero);

struct v2k_ep_ops {
  const char *kind;                     /* "nbd", "file", "blockdev" */
  int (*start_read) (struct v2k_ep *ep, void *buf, size_t len, uint64_t off,
                     v2k_ep_done_fn done, void *opaque);
  int (*start_write) (struct v2k_ep *ep, const void *buf, size_t len,
                      uint64_t off, v2k_ep_done_fn done, void *opaque);
  /* Make [off, off+len) read as zeroes; 'punch' allows deallocating
   * (sparse target), otherwise the blocks stay allocated. */
  int (*start_zero) (struct v2k_ep *ep, uint64_t len, uint64_t off,
                     bool punch, v2k_ep_done_fn done, void *opaque);
  /* Synchronous: every write that has completed is durable on return. */
  int (*flush) (struct v2k_ep *ep);
  /* Synchronous: report extents covering at least [off, off+something)
   * in order; may stop early (the caller asks again from where it ended).
   * NULL when the backend cannot tell: treat everything as data. */
  int (*extents) (struct v2k_ep *ep, uint64_t off, uint64_t len,
                  v2k_ep_extent_fn fn, void *opaque);
  /* Fill *pfd with what to wait for; return 0 if nothing is pending
   * (synchronous backends always return 0). */
  int (*get_pollfd) (struct v2k_ep *ep, struct pollfd *pfd);
  /* Advance after poll() reported revents on that fd. */
  int (*notify) (struct v2k_ep *ep, short revents);
  unsigned (*in_flight) (struct v2k_ep *ep);
  void (*close) (struct v2k_ep *ep);
  /* Requests in flight will never be reported: their callers are gone
   * (a stalled server).  NULL for synchronous backends. */
  void (*abandon) (struct v2k_ep *ep);
};

struct v2k_ep {
  const struct v2k_ep_ops *ops;
  char *name;              /* for messages: socket path, URI or file */
  uint64_t size;           /* virtual size in bytes */
  bool writable;
  bool can_zero;           /* efficient zeroing (else zeroes are written) */
  bool can_extents;        /* extents() gives real holes/zeroes */
  uint64_t max_request;    /* largest single request the server accepts */
};

/* Flags for the constructors. */
#define V2K_EP_WRITE     1u  /* open for writing (target) */
#define V2K_EP_EXTENTS   2u  /* ask for base:allocation (source) */

/* NBD over a UNIX socket at 'socket_path' (export name ""), or any
 * libnbd URI (nbd://, nbd+unix://, nbds://...). */
struct v2k_ep *v2k_ep_nbd_unix (const char *socket_path, unsigned flags);
struct v2k_ep *v2k_ep_nbd_uri (const char *uri, unsigned flags);

/* A raw file or block device.  A file opened for writing must exist
 * (see v2k_target_create in server.h); its size is the disk size. */
struct v2k_ep *v2k_ep_file (const char *path, unsigned flags);

/* Name an endpoint for messages by what it serves (the image behind a
 * server's socket): "cannot write target '/dst/disk0.qcow2'" tells an
 * operator more than a private socket path.  -1 if out of memory. */
int v2k_ep_set_name (struct v2k_ep *ep, const char *name);

/* Close and free; NULL is fine.  Pending requests are abandoned. */
void v2k_ep_close (struct v2k_ep *ep);

/* Forget the completions of the requests in flight (ops->abandon). */
void v2k_ep_abandon (struct v2k_ep *ep);

/* Run the event loop of up to two endpoints until one of them made
 * progress or timeout_ms elapsed (-1: wait forever).  Returns -1 on a
 * poll or protocol failure. */
int v2k_ep_poll2 (struct v2k_ep *a, struct v2k_ep *b, int timeout_ms);

/* Blocking helpers built on the ops (verify and tools). */
int v2k_ep_pread (struct v2k_ep *ep, void *buf, size_t len, uint64_t off);

#endif /* V2K_COPY_ENDPOINT_H */
