/* File / block-device endpoint: synchronous syscalls behind the async
 * ops, so every request has completed when start_* returns.  Writing a
 * raw target directly costs about half the CPU of going through
 * qemu-nbd, which is why raw targets do not use NBD. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>

#include "copy/endpoint.h"
#include "util/error.h"

struct file_ep {
  struct v2k_ep ep;
  int fd;
  bool is_blk;
  bool try_fallocate;      /* cleared once the filesystem says no */
  char *zerobuf;           /* for zeroing by writing, allocated lazily */
};

#define ZEROBUF_SIZE (1 << 20)

static int
file_start_read (struct v2k_ep *ep, void *buf, size_t len, uint64_t off,
                 v2k_ep_done_fn done, void *opaque)
{
  struct file_ep *f = (struct file_ep *) ep;
  char *p = buf;
  int err = 0;

  while (len > 0) {
    ssize_t r = pread (f->fd, p, len, off);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0) {
      err = r == 0 ? EIO : errno;   /* reading past the end is an error */
      break;
    }
    p += r; off += r; len -= r;
  }
  done (opaque, err);
  return 0;
}

static int
pwrite_all (int fd, const char *p, size_t len, uint64_t off)
{
  while (len > 0) {
    ssize_t r = pwrite (fd, p, len, off);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return errno;
    p += r; off += r; len -= r;
  }
  return 0;
}

static int
file_start_write (struct v2k_ep *ep, const void *buf, size_t len,
                  uint64_t off, v2k_ep_done_fn done, void *opaque)
{
  struct file_ep *f = (struct file_ep *) ep;
  int err = pwrite_all (f->fd, buf, len, off);

  /* Start writeback now, without waiting: dirty pages then never pile
   * up, and the fdatasync of the next checkpoint does not stall the copy
   * for seconds.  Only a hint, so failures are ignored. */
  if (err == 0 && !f->is_blk)
    sync_file_range (f->fd, off, len, SYNC_FILE_RANGE_WRITE);
  done (opaque, err);
  return 0;
}

static int
write_zeroes (struct file_ep *f, uint64_t len, uint64_t off)
{
  if (f->zerobuf == NULL) {
    f->zerobuf = calloc (1, ZEROBUF_SIZE);
    if (f->zerobuf == NULL)
      return errno;
  }
  while (len > 0) {
    size_t n = len < ZEROBUF_SIZE ? len : ZEROBUF_SIZE;
    int err = pwrite_all (f->fd, f->zerobuf, n, off);
    if (err)
      return err;
    off += n; len -= n;
  }
  return 0;
}

static int
file_start_zero (struct v2k_ep *ep, uint64_t len, uint64_t off, bool punch,
                 v2k_ep_done_fn done, void *opaque)
{
  struct file_ep *f = (struct file_ep *) ep;
  int err = 0;

  if (f->is_blk) {
    uint64_t range[2] = { off, len };
    if (f->try_fallocate && ioctl (f->fd, BLKZEROOUT, range) == 0)
      goto out;
    f->try_fallocate = false;
  }
  else if (f->try_fallocate) {
    int mode = punch ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                     : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if (fallocate (f->fd, mode, off, len) == 0)
      goto out;
    if (errno != EOPNOTSUPP && errno != ENOSYS) {
      err = errno;
      goto out;
    }
    /* e.g. tmpfs has punch but no zero-range: punching still reads back
     * as zeroes, so use it even when we were asked to keep blocks. */
    if (!punch && fallocate (f->fd, FALLOC_FL_PUNCH_HOLE |
                             FALLOC_FL_KEEP_SIZE, off, len) == 0)
      goto out;
    f->try_fallocate = false;
  }
  err = write_zeroes (f, len, off);
 out:
  done (opaque, err);
  return 0;
}

static int
file_flush (struct v2k_ep *ep)
{
  struct file_ep *f = (struct file_ep *) ep;
  if (ep->writable && fdatasync (f->fd) == -1) {
    v2k_error_errno (errno, "cannot flush '%s'", ep->name);
    return -1;
  }
  return 0;
}

/* SEEK_DATA/SEEK_HOLE: holes read as zeroes; data may still be zero,
 * which the copy engine detects by looking. */
static int
file_extents (struct v2k_ep *ep, uint64_t off, uint64_t len,
              v2k_ep_extent_fn fn, void *opaque)
{
  struct file_ep *f = (struct file_ep *) ep;
  uint64_t end = off + len;

  while (off < end) {
    off_t data = lseek (f->fd, off, SEEK_DATA);
    uint64_t d, h;
    if (data == -1) {
      if (errno != ENXIO) {
        v2k_error_errno (errno, "cannot seek in '%s'", ep->name);
        return -1;
      }
      d = end;                        /* no data after off */
    }
    else
      d = (uint64_t) data < end ? (uint64_t) data : end;
    if (d > off) {
      if (fn (opaque, off, d - off, true) == -1)
        return -1;
      off = d;
      continue;
    }
    off_t hole = lseek (f->fd, off, SEEK_HOLE);
    if (hole == -1) {
      v2k_error_errno (errno, "cannot seek in '%s'", ep->name);
      return -1;
    }
    h = (uint64_t) hole < end ? (uint64_t) hole : end;
    if (h <= off)
      h = end;
    if (fn (opaque, off, h - off, false) == -1)
      return -1;
    off = h;
  }
  return 0;
}

static int
file_get_pollfd (struct v2k_ep *ep, struct pollfd *pfd)
{
  return 0;
}

static int
file_notify (struct v2k_ep *ep, short revents)
{
  return 0;
}

static unsigned
file_in_flight (struct v2k_ep *ep)
{
  return 0;
}

static void
file_close (struct v2k_ep *ep)
{
  struct file_ep *f = (struct file_ep *) ep;
  if (f->fd >= 0)
    close (f->fd);
  free (f->zerobuf);
}

static const struct v2k_ep_ops file_ops = {
  .kind = "file",
  .start_read = file_start_read,
  .start_write = file_start_write,
  .start_zero = file_start_zero,
  .flush = file_flush,
  .extents = file_extents,
  .get_pollfd = file_get_pollfd,
  .notify = file_notify,
  .in_flight = file_in_flight,
  .close = file_close,
};

static const struct v2k_ep_ops blk_ops = {
  .kind = "blockdev",
  .start_read = file_start_read,
  .start_write = file_start_write,
  .start_zero = file_start_zero,
  .flush = file_flush,
  .extents = NULL,
  .get_pollfd = file_get_pollfd,
  .notify = file_notify,
  .in_flight = file_in_flight,
  .close = file_close,
};

struct v2k_ep *
v2k_ep_file (const char *path, unsigned flags)
{
  struct file_ep *f = calloc (1, sizeof *f);
  struct v2k_ep *ret = NULL;
  struct stat st;

  if (f == NULL) {
    v2k_error_errno (errno, "cannot allocate a file endpoint");
    return NULL;
  }
  f->fd = -1;
  f->ep.name = strdup (path);
  if (f->ep.name == NULL) {
    v2k_error_errno (errno, "cannot allocate a file endpoint");
    goto cleanup;
  }
  f->ep.writable = (flags & V2K_EP_WRITE) != 0;
  f->fd = open (path, (f->ep.writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (f->fd == -1) {
    v2k_error_errno (errno, "cannot open '%s'", path);
    goto cleanup;
  }
  if (fstat (f->fd, &st) == -1) {
    v2k_error_errno (errno, "cannot stat '%s'", path);
    goto cleanup;
  }
  if (S_ISBLK (st.st_mode)) {
    f->is_blk = true;
    f->ep.ops = &blk_ops;
    if (ioctl (f->fd, BLKGETSIZE64, &f->ep.size) == -1) {
      v2k_error_errno (errno, "cannot get the size of '%s'", path);
      goto cleanup;
    }
  }
  else if (S_ISREG (st.st_mode)) {
    f->ep.ops = &file_ops;
    f->ep.size = st.st_size;
    f->ep.can_extents = (flags & V2K_EP_EXTENTS) != 0;
  }
  else {
    v2k_error ("'%s' is neither a regular file nor a block device", path);
    goto cleanup;
  }
  f->ep.can_zero = true;           /* fallocate/BLKZEROOUT or writing */
  f->try_fallocate = true;
  f->ep.max_request = 64 << 20;
  ret = &f->ep;
  f = NULL;

 cleanup:
  if (f) {
    file_close (&f->ep);
    free (f->ep.name);
    free (f);
  }
  return ret;
}
