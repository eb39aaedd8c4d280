/* The data files of a VMDK snapshot chain (see vmdk.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy/vmdk.h"
#include "util/cleanup.h"
#include "util/error.h"

#define SECTOR 512
/* qemu reads a descriptor's first 10 KiB for its parent (DESC_SIZE), a
 * sparse file's embedded one at 0x200, and at most 1 MiB of a text
 * descriptor when it opens it (vmdk_read_desc). */
#define DESC_SIZE (20 * SECTOR)
#define EMBEDDED_DESC 0x200
#define MAX_TEXT_DESC (1 << 20)
#define MAX_DEPTH 64

struct list {
  char *s;
  size_t len;
};

static int
add (struct list *l, const char *prefix, const char *node)
{
  size_t n = strlen (prefix) + strlen (node) + sizeof ".aio=io_uring" + 1;
  char *s = realloc (l->s, l->len + n);

  if (s == NULL) {
    v2k_error_errno (errno, "cannot allocate qemu options");
    return -1;
  }
  l->s = s;
  l->len += snprintf (s + l->len, n, "%s%s%s.aio=io_uring",
                      l->len ? "," : "", prefix, node);
  return 0;
}

/* Read up to len bytes at off; returns the count read, -1 on error. */
static ssize_t
read_at (int fd, char *buf, size_t len, off_t off)
{
  size_t got = 0;

  while (got < len) {
    ssize_t r = pread (fd, buf + got, len - got, off + got);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (r == 0)
      break;
    got += r;
  }
  return got;
}

/* What follows 'parentFileNameHint="' up to the next quote, as qemu's
 * vmdk_parent_open reads it (from the first DESC_SIZE bytes). */
static char *
parent_hint (const char *desc)
{
  const char *p = strstr (desc, "parentFileNameHint=\""), *e;

  if (p == NULL)
    return NULL;
  p += strlen ("parentFileNameHint=\"");
  e = strchr (p, '"');
  if (e == NULL || e == p)
    return NULL;
  return strndup (p, e - p);
}

/* dir of 'path' (with its slash) + name, unless name is absolute. */
static char *
relative_to (const char *path, const char *name)
{
  const char *slash = strrchr (path, '/');
  size_t dl = slash ? (size_t) (slash - path + 1) : 0;
  char *s;

  if (name[0] == '/')
    return strdup (name);
  s = malloc (dl + strlen (name) + 1);
  if (s) {
    memcpy (s, path, dl);
    strcpy (s + dl, name);
  }
  return s;
}

/* A sparse file is read in whole sectors, its header and descriptor
 * within its first 1 MiB: no read can pass its end if its size is a
 * whole number of sectors. */
static bool
sparse_ok (const struct stat *st)
{
  return S_ISREG (st->st_mode) && st->st_size % SECTOR == 0
         && st->st_size >= EMBEDDED_DESC + DESC_SIZE;
}

/* The extents of a text descriptor: qemu's sscanf pattern and its order
 * (block/vmdk.c, vmdk_parse_extents); numbering counts every extent it
 * opens, named or not. */
static int
text_extents (struct list *l, const char *prefix, const char *path,
              char *desc)
{
  int k = 0;

  for (char *sp, *line = strtok_r (desc, "\n", &sp); line;
       line = strtok_r (NULL, "\n", &sp)) {
    char access[11], type[11], fname[512], node[32];
    int64_t sectors = 0, flat_offset = -1;
    CLEANUP_FREE char *file = NULL;
    struct stat st;
    bool flat, ok;
    int m = sscanf (line, "%10s %" SCNd64 " %10s \"%511[^\n\r\"]\" %" SCNd64,
                    access, &sectors, type, fname, &flat_offset);

    if (m < 4 || strcmp (access, "RW") != 0 || sectors <= 0)
      continue;
    flat = strcmp (type, "FLAT") == 0 || strcmp (type, "VMFS") == 0;
    if (!flat && strcmp (type, "SPARSE") != 0 &&
        strcmp (type, "VMFSSPARSE") != 0 && strcmp (type, "SESPARSE") != 0)
      continue;
    /* Otherwise qemu refuses the descriptor and opens nothing more. */
    if (strcmp (type, "FLAT") == 0 ? m != 5 || flat_offset < 0 : m != 4)
      return 0;
    if (strcmp (type, "VMFS") == 0)
      flat_offset = 0;
    file = relative_to (path, fname);
    if (file == NULL) {
      v2k_error_errno (errno, "cannot allocate a path");
      return -1;
    }
    /* A flat extent is read only within [offset, offset + sectors). */
    ok = stat (file, &st) == 0 && S_ISREG (st.st_mode) &&
         (flat ? (uint64_t) st.st_size >= (uint64_t) (flat_offset + sectors) * SECTOR
               : sparse_ok (&st));
    snprintf (node, sizeof node, "extents.%d", k++);
    if (ok && add (l, prefix, node) == -1)
      return -1;
  }
  return 0;
}

static int
walk (struct list *l, const char *path, const char *prefix, int depth)
{
  CLEANUP_CLOSE int fd = -1;
  CLEANUP_FREE char *desc = NULL;
  CLEANUP_FREE char *head = NULL;
  CLEANUP_FREE char *parent = NULL;
  CLEANUP_FREE char *parent_path = NULL;
  CLEANUP_FREE char *next = NULL;
  struct stat st;
  ssize_t n;

  if (depth >= MAX_DEPTH)
    return 0;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1 || fstat (fd, &st) == -1 || !S_ISREG (st.st_mode))
    return 0;
  desc = calloc (1, MAX_TEXT_DESC + 1);
  if (desc == NULL) {
    v2k_error_errno (errno, "cannot allocate a descriptor buffer");
    return -1;
  }
  n = read_at (fd, desc, 4, 0);
  if (n == 4 && memcmp (desc, "KDMV", 4) == 0) {
    /* Its own extent; its descriptor (and parent) is embedded. */
    if (!sparse_ok (&st))
      return 0;
    if (add (l, prefix, "file") == -1)
      return -1;
    n = read_at (fd, desc, DESC_SIZE, EMBEDDED_DESC);
    if (n <= 0)
      return 0;
    desc[n] = '\0';
    parent = parent_hint (desc);
  }
  else if (n == 4 && memcmp (desc, "COWD", 4) == 0)
    return 0;                 /* only ever an extent of a descriptor */
  else {
    /* Like qemu, read it as a C string: qemu-img pads descriptors with
     * NUL bytes to a sector. */
    n = read_at (fd, desc, MAX_TEXT_DESC, 0);
    if (n <= 0)
      return 0;
    head = strndup (desc, DESC_SIZE);
    if (head == NULL) {
      v2k_error_errno (errno, "cannot allocate a descriptor buffer");
      return -1;
    }
    parent = parent_hint (head);
    if (text_extents (l, prefix, path, desc) == -1)
      return -1;
  }
  if (parent == NULL)
    return 0;
  free (desc);                /* not held through the whole chain */
  desc = NULL;
  parent_path = relative_to (path, parent);
  if (parent_path == NULL || asprintf (&next, "%sbacking.", prefix) == -1) {
    v2k_error_errno (errno, "cannot allocate a path");
    return -1;
  }
  return walk (l, parent_path, next, depth + 1);
}

int
v2k_vmdk_uring_opts (const char *path, char **opts)
{
  struct list l = { NULL, 0 };

  *opts = NULL;
  if (walk (&l, path, "", 0) == -1) {
    free (l.s);
    return -1;
  }
  *opts = l.s;
  return 0;
}
