/* Backend-independent endpoint helpers (see endpoint.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "copy/endpoint.h"
#include "util/error.h"

void
v2k_ep_close (struct v2k_ep *ep)
{
  if (ep == NULL)
    return;
  ep->ops->close (ep);
  free (ep->name);
  free (ep);
}

void
v2k_ep_abandon (struct v2k_ep *ep)
{
  if (ep && ep->ops->abandon)
    ep->ops->abandon (ep);
}

int
v2k_ep_set_name (struct v2k_ep *ep, const char *name)
{
  char *n = strdup (name);

  if (n == NULL) {
    v2k_error_errno (errno, "strdup");
    return -1;
  }
  free (ep->name);
  ep->name = n;
  return 0;
}

int
v2k_ep_poll2 (struct v2k_ep *a, struct v2k_ep *b, int timeout_ms)
{
  struct v2k_ep *eps[2] = { a, b };
  struct v2k_ep *owner[2];
  struct pollfd pfd[2];
  int n = 0;

  for (int i = 0; i < 2; i++) {
    int r;
    if (eps[i] == NULL)
      continue;
    r = eps[i]->ops->get_pollfd (eps[i], &pfd[n]);
    if (r == -1)
      return -1;
    if (r == 1)
      owner[n++] = eps[i];
  }
  if (n == 0)
    return 0;               /* synchronous backends: nothing to wait for */
  if (poll (pfd, n, timeout_ms) == -1) {
    if (errno == EINTR)
      return 0;
    v2k_error_errno (errno, "poll");
    return -1;
  }
  for (int i = 0; i < n; i++)
    if (pfd[i].revents && owner[i]->ops->notify (owner[i], pfd[i].revents) == -1)
      return -1;
  return 0;
}

struct sync_req {
  bool done;
  int err;
};

static void
sync_done (void *opaque, int err)
{
  struct sync_req *s = opaque;
  s->done = true;
  s->err = err;
}

int
v2k_ep_pread (struct v2k_ep *ep, void *buf, size_t len, uint64_t off)
{
  struct sync_req s = { false, 0 };

  if (ep->ops->start_read (ep, buf, len, off, sync_done, &s) == -1)
    return -1;
  while (!s.done)
    if (v2k_ep_poll2 (ep, NULL, -1) == -1) {
      v2k_ep_abandon (ep);    /* its completion points at our stack */
      return -1;
    }
  if (s.err) {
    v2k_error_errno (s.err, "cannot read '%s' at offset %llu", ep->name,
                     (unsigned long long) off);
    return -1;
  }
  return 0;
}
