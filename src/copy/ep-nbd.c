/* NBD endpoint: libnbd's asynchronous API, driven by v2k_ep_poll2(). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

#include "copy/endpoint.h"
#include "util/error.h"

struct nbd_ep {
  struct v2k_ep ep;           /* first: the ops receive &ep */
  struct nbd_handle *h;
  unsigned gen;               /* requests of older generations were abandoned */
};

/* Carries the caller's completion through libnbd's callback. */
struct nbd_req {
  v2k_ep_done_fn done;
  void *opaque;
  struct nbd_ep *n;
  unsigned gen;
};

static int
req_complete (void *user_data, int *error)
{
  struct nbd_req *r = user_data;
  /* An abandoned request's caller is gone (nbd_shutdown still retires
   * it, with ESHUTDOWN). */
  if (r->gen == r->n->gen)
    r->done (r->opaque, *error);
  return 1;                   /* retire the command: we have its result */
}

static void
req_free (void *user_data)
{
  free (user_data);
}

static struct nbd_req *
req_new (struct nbd_ep *n, v2k_ep_done_fn done, void *opaque)
{
  struct nbd_req *r = malloc (sizeof *r);
  if (r == NULL) {
    v2k_error_errno (errno, "cannot allocate an NBD request");
    return NULL;
  }
  r->done = done;
  r->opaque = opaque;
  r->n = n;
  r->gen = n->gen;
  return r;
}

#define COMPLETION(r) \
  (nbd_completion_callback) { .callback = req_complete, .user_data = (r), \
                              .free = req_free }

static int
nbd_failed (struct v2k_ep *ep, const char *what, uint64_t off)
{
  v2k_error ("nbd '%s': cannot start %s at offset %" PRIu64 ": %s",
             ep->name, what, off, nbd_get_error ());
  return -1;
}

static int
nbd_start_read (struct v2k_ep *ep, void *buf, size_t len, uint64_t off,
                v2k_ep_done_fn done, void *opaque)
{
  struct nbd_ep *n = (struct nbd_ep *) ep;
  struct nbd_req *r = req_new (n, done, opaque);
  if (r == NULL)
    return -1;
  /* On failure libnbd has already called .free on the request. */
  if (nbd_aio_pread (n->h, buf, len, off, COMPLETION (r), 0) == -1)
    return nbd_failed (ep, "read", off);
  return 0;
}

static int
nbd_start_write (struct v2k_ep *ep, const void *buf, size_t len,
                 uint64_t off, v2k_ep_done_fn done, void *opaque)
{
  struct nbd_ep *n = (struct nbd_ep *) ep;
  struct nbd_req *r = req_new (n, done, opaque);
  if (r == NULL)
    return -1;
  if (nbd_aio_pwrite (n->h, buf, len, off, COMPLETION (r), 0) == -1)
    return nbd_failed (ep, "write", off);
  return 0;
}

static int
nbd_start_zero (struct v2k_ep *ep, uint64_t len, uint64_t off, bool punch,
                v2k_ep_done_fn done, void *opaque)
{
  struct nbd_ep *n = (struct nbd_ep *) ep;
  struct nbd_req *r = req_new (n, done, opaque);
  if (r == NULL)
    return -1;
  /* Without NO_HOLE the server may unmap: qemu-nbd --discard=unmap then
   * keeps a qcow2 target sparse. */
  if (nbd_aio_zero (n->h, len, off, COMPLETION (r),
                    punch ? 0 : LIBNBD_CMD_FLAG_NO_HOLE) == -1)
    return nbd_failed (ep, "zero", off);
  return 0;
}

static int
nbd_flush_ep (struct v2k_ep *ep)
{
  struct nbd_ep *n = (struct nbd_ep *) ep;
  /* NBD_CMD_FLUSH covers every write whose reply arrived before it was
   * sent, which is exactly the checkpoint contract. */
  if (nbd_can_flush (n->h) == 1 && nbd_flush (n->h, 0) == -1) {
    v2k_error ("nbd '%s': cannot flush: %s", ep->name, nbd_get_error ());
    return -1;
  }
  return 0;
}

struct extents_ctx {
  v2k_ep_extent_fn fn;
  void *opaque;
  uint64_t limit;
  int err;
};

static int
extent_cb (void *user_data, const char *metacontext, uint64_t offset,
           uint32_t *entries, size_t nr_entries, int *error)
{
  struct extents_ctx *c = user_data;

  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  /* entries holds nr_entries words: (length, flags) pairs. */
  for (size_t i = 0; i + 1 < nr_entries; i += 2) {
    uint64_t len = entries[i];
    if (offset >= c->limit || c->err)
      break;
    if (len > c->limit - offset)
      len = c->limit - offset;
    if (c->fn (c->opaque, offset, len,
               (entries[i+1] & LIBNBD_STATE_ZERO) != 0) == -1) {
      c->err = -1;
      break;
    }
    offset += len;
  }
  return 0;
}

static int
nbd_extents_ep (struct v2k_ep *ep, uint64_t off, uint64_t len,
                v2k_ep_extent_fn fn, void *opaque)
{
  struct nbd_ep *n = (struct nbd_ep *) ep;
  struct extents_ctx c = { fn, opaque, off + len, 0 };

  /* NBD requests are 32-bit: servers answer in pieces anyway. */
  if (len > UINT32_MAX)
    len = UINT32_MAX & ~(uint64_t) 0xfffff;
  if (nbd_block_status (n->h, len, off,
                        (nbd_extent_callback) { .callback = extent_cb,
                                                .user_data = &c }, 0) == -1) {
    v2k_error ("nbd '%s': cannot get extents at offset %" PRIu64 ": %s",
               ep->name, off, nbd_get_error ());
    return -1;
  }
  return c.err;
}

static int
nbd_get_pollfd (struct v2k_ep *ep, struct pollfd *pfd)
{
  struct nbd_ep *n = (struct nbd_ep *) ep;
  unsigned dir;

  if (nbd_aio_in_flight (n->h) <= 0)
    return 0;
  pfd->fd = nbd_aio_get_fd (n->h);
  if (pfd->fd == -1) {
    v2k_error ("nbd '%s': %s", ep->name, nbd_get_error ());
    return -1;
  }
  dir = nbd_aio_get_direction (n->h);
  pfd->events = 0;
  if (dir & LIBNBD_AIO_DIRECTION_READ)
    pfd->events |= POLLIN;
  if (dir & LIBNBD_AIO_DIRECTION_WRITE)
    pfd->events |= POLLOUT;
  pfd->revents = 0;
  return 1;
}

static int
nbd_notify (struct v2k_ep *ep, short revents)
{
  struct nbd_ep *n = (struct nbd_ep *) ep;
  unsigned dir = nbd_aio_get_direction (n->h);
  int r = 0;

  /* A hang-up is read as EOF, which moves the handle to DEAD and fails
   * every pending command with its completion. */
  if ((revents & (POLLIN | POLLHUP | POLLERR)) &&
      (dir & LIBNBD_AIO_DIRECTION_READ))
    r = nbd_aio_notify_read (n->h);
  else if ((revents & POLLOUT) && (dir & LIBNBD_AIO_DIRECTION_WRITE))
    r = nbd_aio_notify_write (n->h);
  if (r == -1) {
    v2k_error ("nbd '%s': %s", ep->name, nbd_get_error ());
    return -1;
  }
  return 0;
}

static unsigned
nbd_in_flight_ep (struct v2k_ep *ep)
{
  struct nbd_ep *n = (struct nbd_ep *) ep;
  int r = nbd_aio_in_flight (n->h);
  return r > 0 ? (unsigned) r : 0;
}

static void
nbd_abandon (struct v2k_ep *ep)
{
  ((struct nbd_ep *) ep)->gen++;
}

static void
nbd_close_ep (struct v2k_ep *ep)
{
  struct nbd_ep *n = (struct nbd_ep *) ep;
  if (n->h) {
    if (nbd_aio_is_ready (n->h) == 1)
      nbd_shutdown (n->h, 0);
    nbd_close (n->h);
  }
}

static const struct v2k_ep_ops nbd_ops = {
  .kind = "nbd",
  .start_read = nbd_start_read,
  .start_write = nbd_start_write,
  .start_zero = nbd_start_zero,
  .flush = nbd_flush_ep,
  .extents = nbd_extents_ep,
  .get_pollfd = nbd_get_pollfd,
  .notify = nbd_notify,
  .in_flight = nbd_in_flight_ep,
  .close = nbd_close_ep,
  .abandon = nbd_abandon,
};

static struct v2k_ep *
nbd_open (const char *name, bool is_uri, unsigned flags)
{
  struct nbd_ep *n = calloc (1, sizeof *n);
  struct v2k_ep *ret = NULL;
  int64_t size, maxreq;

  if (n == NULL) {
    v2k_error_errno (errno, "cannot allocate an NBD endpoint");
    return NULL;
  }
  n->ep.ops = &nbd_ops;
  n->ep.name = strdup (name);
  n->h = nbd_create ();
  if (n->ep.name == NULL || n->h == NULL) {
    v2k_error ("nbd '%s': cannot create a handle: %s", name,
               n->h ? "out of memory" : nbd_get_error ());
    goto cleanup;
  }
  if ((flags & V2K_EP_EXTENTS) &&
      nbd_add_meta_context (n->h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1)
    goto nbd_err;
  if ((is_uri ? nbd_connect_uri (n->h, name)
              : nbd_connect_unix (n->h, name)) == -1)
    goto nbd_err;

  size = nbd_get_size (n->h);
  if (size == -1)
    goto nbd_err;
  n->ep.size = size;
  n->ep.writable = (flags & V2K_EP_WRITE) != 0;
  if (n->ep.writable && nbd_is_read_only (n->h) == 1) {
    v2k_error ("nbd '%s': the server exports read-only", name);
    goto cleanup;
  }
  n->ep.can_zero = nbd_can_zero (n->h) == 1;
  n->ep.can_extents = (flags & V2K_EP_EXTENTS) &&
    nbd_can_meta_context (n->h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  /* Servers that do not advertise a maximum still take 32 MiB
   * (qemu-nbd's limit; nbdkit's is 64 MiB). */
  maxreq = nbd_get_block_size (n->h, LIBNBD_SIZE_MAXIMUM);
  n->ep.max_request = maxreq > 0 && maxreq < (32 << 20) ? maxreq : 32 << 20;
  ret = &n->ep;
  n = NULL;
  goto cleanup;

 nbd_err:
  v2k_error ("nbd '%s': %s", name, nbd_get_error ());
 cleanup:
  if (n) {
    if (n->h)
      nbd_close (n->h);
    free (n->ep.name);
    free (n);
  }
  return ret;
}

struct v2k_ep *
v2k_ep_nbd_unix (const char *socket_path, unsigned flags)
{
  return nbd_open (socket_path, false, flags);
}

struct v2k_ep *
v2k_ep_nbd_uri (const char *uri, unsigned flags)
{
  return nbd_open (uri, true, flags);
}
