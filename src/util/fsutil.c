#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/error.h"

char *
path_join (const char *dir, const char *name)
{
  char *p;

  if (asprintf (&p, "%s/%s", dir, name) < 0) {
    v2k_error_errno (errno, "asprintf");
    return NULL;
  }
  return p;
}

static int
write_all (int fd, const char *buf, size_t len)
{
  while (len > 0) {
    ssize_t r = write (fd, buf, len);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    buf += r;
    len -= r;
  }
  return 0;
}

static int
fsync_dir_of (const char *path)
{
  CLEANUP_FREE char *copy = strdup (path);
  CLEANUP_CLOSE int fd = -1;

  if (copy == NULL)
    return -1;
  fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync (fd) < 0)
    return -1;
  return 0;
}

static int
replace_file (const char *path, const void *data, size_t len, mode_t mode,
              bool durable)
{
  CLEANUP_FREE char *tmp = NULL;
  int fd = -1, ret = -1;

  if (asprintf (&tmp, "%s.tmp.%ld", path, (long) getpid ()) < 0) {
    v2k_error_errno (errno, "asprintf");
    return -1;
  }
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    v2k_error_errno (errno, "cannot create '%s'", tmp);
    goto cleanup;
  }
  if (write_all (fd, data, len) < 0 || (durable && fsync (fd) < 0)) {
    v2k_error_errno (errno, "cannot write '%s'", tmp);
    goto cleanup;
  }
  if (close (fd) < 0) {
    fd = -1;
    v2k_error_errno (errno, "cannot close '%s'", tmp);
    goto cleanup;
  }
  fd = -1;
  if (rename (tmp, path) < 0) {
    v2k_error_errno (errno, "cannot rename '%s' to '%s'", tmp, path);
    goto cleanup;
  }
  if (durable && fsync_dir_of (path) < 0) {
    v2k_error_errno (errno, "cannot sync the directory of '%s'", path);
    goto cleanup;
  }
  ret = 0;

 cleanup:
  if (fd >= 0)
    close (fd);
  if (ret < 0)
    unlink (tmp);
  return ret;
}

int
write_file_atomic (const char *path, const void *data, size_t len,
                   mode_t mode)
{
  return replace_file (path, data, len, mode, true);
}

int
write_file_replace (const char *path, const void *data, size_t len,
                    mode_t mode)
{
  return replace_file (path, data, len, mode, false);
}

int
read_file (const char *path, char **data, size_t *len)
{
  CLEANUP_FCLOSE FILE *fp = NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;

  fp = fopen (path, "re");
  if (fp == NULL) {
    v2k_error_errno (errno, "cannot open '%s'", path);
    return -1;
  }
  for (;;) {
    if (n + 4097 > cap) {
      char *nb;
      cap = cap ? cap * 2 : 8192;
      nb = realloc (buf, cap);
      if (nb == NULL) {
        free (buf);
        v2k_error_errno (errno, "realloc");
        return -1;
      }
      buf = nb;
    }
    size_t r = fread (buf + n, 1, cap - n - 1, fp);
    n += r;
    if (r == 0) {
      if (ferror (fp)) {
        free (buf);
        v2k_error_errno (errno, "cannot read '%s'", path);
        return -1;
      }
      break;
    }
  }
  buf[n] = '\0';
  *data = buf;
  if (len)
    *len = n;
  return 0;
}

int
mkdir_p (const char *path, mode_t mode)
{
  CLEANUP_FREE char *p = strdup (path);

  if (p == NULL) {
    v2k_error_errno (errno, "strdup");
    return -1;
  }
  for (char *s = p + 1; ; s++) {
    if (*s == '/' || *s == '\0') {
      char c = *s;
      *s = '\0';
      if (mkdir (p, mode) < 0 && errno != EEXIST) {
        v2k_error_errno (errno, "cannot create directory '%s'", p);
        return -1;
      }
      *s = c;
      if (c == '\0')
        break;
    }
  }
  return 0;
}

static int
rm_one (const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
  (void) sb; (void) ftw;
  if (type == FTW_DP)
    return rmdir (fpath);
  return unlink (fpath);
}

int
remove_tree (const char *path)
{
  if (nftw (path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT) {
    v2k_error_errno (errno, "cannot remove '%s'", path);
    return -1;
  }
  return 0;
}

int
append_line (const char *path, const char *line, mode_t mode)
{
  CLEANUP_CLOSE int fd = -1;
  size_t n = strlen (line);
  CLEANUP_FREE char *buf = malloc (n + 1);

  if (buf == NULL) {
    v2k_error_errno (errno, "malloc");
    return -1;
  }
  memcpy (buf, line, n);
  buf[n] = '\n';
  fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode);
  /* One write(2) of the whole line: with O_APPEND concurrent writers
   * (the event log from several disk threads) never interleave. */
  if (fd < 0 || write_all (fd, buf, n + 1) < 0 || fdatasync (fd) < 0) {
    v2k_error_errno (errno, "cannot append to '%s'", path);
    return -1;
  }
  return 0;
}
