#include "cmd/endpoints.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"

#define SERVER_TIMEOUT_MS 60000

int
parse_ds_path (const char *s, char **ds, char **path)
{
  const char *close;

  if (s == NULL || s[0] != '[' || (close = strchr (s, ']')) == NULL) {
    v2k_error ("'%s' is not a datastore path like '[datastore] dir/disk.vmdk'",
               s ? s : "(null)");
    return -1;
  }
  *ds = strndup (s + 1, close - s - 1);
  close++;
  while (*close == ' ')
    close++;
  *path = strdup (close);
  return *ds && *path ? 0 : -1;
}

static char *
log_path (struct v2k *v, const char *tag, const char *what)
{
  CLEANUP_FREE char *dir = path_join (v->workdir, "logs");
  char *p = NULL;

  if (dir == NULL || mkdir_p (dir, 0700) < 0)
    return NULL;
  if (asprintf (&p, "%s/%s-%s.log", dir, tag, what) < 0)
    return NULL;
  return p;
}

static const char *
nbdkit_binary (struct v2k *v)
{
  const char *e = getenv ("V2K_NBDKIT");
  json_t *t = json_object_get (v->m->root, "transfer");

  if (jstr (t, "nbdkit"))
    return jstr (t, "nbdkit");
  return e && *e ? e : "nbdkit";
}

/* Where nbdkit's vddk plugin connects: the ESXi host (default), or
 * vCenter with --vddk-server vcenter.  The thumbprint is the one of the
 * server it connects to. */
static int
vddk_server (struct v2k *v, char *server, size_t ns, char *port, size_t np,
             const char **thumb)
{
  const json_t *host = json_object_get (v->m->root, "host");
  const json_t *src = json_object_get (v->m->root, "source");
  const char *mode = jstr_or (json_object_get (v->m->root, "transfer"),
                              "vddk_server", "esxi");

  port[0] = '\0';
  if (strcmp (mode, "vcenter") != 0) {
    snprintf (server, ns, "%s", jstr_or (host, "name", ""));
    *thumb = jstr_or (host, "thumbprint", "");
    return 0;
  }
  /* https://HOST[:PORT]/sdk */
  const char *url = jstr_or (src, "vcenter", ""), *p = strstr (url, "://");
  const char *h = p ? p + 3 : url, *end = h + strcspn (h, "/");
  const char *colon = h[0] == '[' ? strstr (h, "]:") : memchr (h, ':', end - h);
  if (colon && colon < end) {
    if (h[0] == '[')
      colon++;
    snprintf (port, np, "%.*s", (int) (end - colon - 1), colon + 1);
    end = colon;
  }
  snprintf (server, ns, "%.*s", (int) (end - h), h);
  *thumb = jstr (src, "vcenter_thumbprint_pinned")
    ? jstr (src, "vcenter_thumbprint_pinned") : jstr_or (src, "vcenter_thumbprint", "");
  if (server[0] == '\0') {
    v2k_error ("cannot find vCenter's host name in '%s'", url);
    return -1;
  }
  return 0;
}

static int
open_vddk (struct v2k *v, const json_t *disk, const json_t *snap,
           const char *password, const char *log, struct disk_io *io)
{
  char secret[4096];
  const json_t *vm = json_object_get (v->m->root, "vm");
  const char *libdir = getenv ("VDDK_LIBDIR");
  const char *file = NULL, *user, *thumb = "";
  CLEANUP_FREE char *vcpath = path_join (v->workdir, VDDK_CREDS_NAME);
  struct vddk_creds vc = { 0 };
  json_t *sd;
  size_t i;
  int ret = -1, n = 0;
  char a_libdir[4096], a_server[512], a_user[512], a_pass[4200],
    a_thumb[256], a_vm[256], a_snap[256], a_file[4200], a_port[64],
    server[256], port[16];

  if (libdir == NULL || *libdir == '\0') {
    v2k_error ("VDDK_LIBDIR is not set: point it at VMware's VDDK "
               "(the directory holding lib64/libvixDiskLib.so)");
    return -1;
  }
  json_array_foreach (json_object_get (snap, "disks"), i, sd)
    if (jint (sd, "key") == jint (disk, "key"))
      file = jstr (sd, "file");
  if (file == NULL) {
    v2k_error ("snapshot '%s' has no file for disk %lld", jstr_or (snap, "name", ""),
               (long long) jint (disk, "key"));
    return -1;
  }
  /* VDDK's own account (init --vddk-cred-file), else vCenter's. */
  user = jstr_or (json_object_get (v->m->root, "source"), "username", "");
  if (vcpath && access (vcpath, F_OK) == 0) {
    if (vddk_creds_load (&vc, vcpath) < 0)
      return -1;
    v2k_error_redact (vc.password);
    user = vc.user;
    password = vc.password;
  }
  if (password == NULL) {
    v2k_error ("no password for the vddk transport");
    goto cleanup;
  }
  if (vddk_server (v, server, sizeof server, port, sizeof port, &thumb) < 0)
    goto cleanup;
  /* nbdkit reads password=+FILE once, while it starts; the file lives
   * only for that moment (one per thread: disks start in parallel). */
  snprintf (secret, sizeof secret, "%s/.vddk-password-%ld-%lu", v->workdir,
            (long) getpid (), (unsigned long) pthread_self ());
  if (write_file_atomic (secret, password, strlen (password), 0600) < 0)
    goto cleanup;
  snprintf (a_libdir, sizeof a_libdir, "libdir=%s", libdir);
  snprintf (a_server, sizeof a_server, "server=%s", server);
  snprintf (a_user, sizeof a_user, "user=%s", user);
  snprintf (a_pass, sizeof a_pass, "password=+%s", secret);
  snprintf (a_thumb, sizeof a_thumb, "thumbprint=%s", thumb);
  snprintf (a_vm, sizeof a_vm, "vm=moref=%s", jstr_or (vm, "moref", ""));
  snprintf (a_snap, sizeof a_snap, "snapshot=%s", jstr_or (snap, "moref", ""));
  snprintf (a_file, sizeof a_file, "file=%s", file);
  snprintf (a_port, sizeof a_port, "port=%s", port);
  const char *args[13] = {
    "vddk", a_libdir, a_server, a_user, a_pass, a_thumb, a_vm, a_snap,
    "transports=file:nbdssl:nbd", a_file, NULL
  };
  n = 10;
  if (port[0])
    args[n++] = a_port;
  args[n] = NULL;
  io->src_srv = v2k_server_nbdkit (nbdkit_binary (v), true, args, log,
                                   SERVER_TIMEOUT_MS);
  unlink (secret);
  if (io->src_srv == NULL)
    goto cleanup;
  io->src = v2k_ep_nbd_unix (io->src_srv->socket, V2K_EP_EXTENTS);
  ret = io->src && v2k_ep_set_name (io->src, file) == 0 ? 0 : -1;

 cleanup:
  vddk_creds_free (&vc);
  return ret;
}

static int
open_file_transport (struct v2k *v, const json_t *disk, const json_t *snap,
                     const char *log, struct disk_io *io)
{
  json_t *map = json_object_get (json_object_get (v->m->root, "transfer"),
                                 "datastore_map");
  CLEANUP_FREE char *ds = NULL;
  CLEANUP_FREE char *rel = NULL;
  CLEANUP_FREE char *local = NULL;
  const char *file = NULL, *root;
  json_t *sd;
  size_t i;

  json_array_foreach (json_object_get (snap, "disks"), i, sd)
    if (jint (sd, "key") == jint (disk, "key"))
      file = jstr (sd, "file");
  if (parse_ds_path (file, &ds, &rel) < 0)
    return -1;
  root = jstr (map, ds);
  if (root == NULL) {
    v2k_error ("datastore '%s' has no --datastore-map entry", ds);
    return -1;
  }
  local = path_join (root, rel);
  if (local == NULL)
    return -1;
  if (access (local, R_OK) < 0) {
    v2k_error_errno (errno, "cannot read '%s' (snapshot file of '%s')", local,
                     jstr_or (disk, "label", "disk"));
    return -1;
  }
  /* A retry does without io_uring, in case that is what stopped. */
  io->src_srv = v2k_server_qemu_nbd ("qemu-nbd", local, "vmdk",
                                     V2K_QNBD_READONLY |
                                     (io->retry ? V2K_QNBD_NO_URING : 0),
                                     log, SERVER_TIMEOUT_MS);
  if (io->src_srv == NULL)
    return -1;
  io->src = v2k_ep_nbd_unix (io->src_srv->socket, V2K_EP_EXTENTS);
  return io->src && v2k_ep_set_name (io->src, local) == 0 ? 0 : -1;
}

int
open_source (struct v2k *v, const json_t *disk, const json_t *snap,
             const char *password, const char *logtag, struct disk_io *io)
{
  json_t *t = json_object_get (v->m->root, "transfer");
  const char *transport = jstr_or (t, "transport", "vddk");
  CLEANUP_FREE char *log = log_path (v, logtag, "source");
  int r;

  if (log == NULL)
    return -1;
  if (strcmp (transport, "vddk") == 0)
    r = open_vddk (v, disk, snap, password, log, io);
  else if (strcmp (transport, "file") == 0)
    r = open_file_transport (v, disk, snap, log, io);
  else {
    char idx[32];
    size_t i;
    json_t *d;
    idx[0] = '\0';
    json_array_foreach (manifest_disks (v->m), i, d)
      if (jint (d, "key") == jint (disk, "key"))
        snprintf (idx, sizeof idx, "%zu", i);
    const char *uri = jstr (json_object_get (t, "nbd_uris"), idx);
    if (uri == NULL) {
      v2k_error ("no NBD URI for disk %s", idx);
      return -1;
    }
    io->src = v2k_ep_nbd_uri (uri, V2K_EP_EXTENTS);
    r = io->src ? 0 : -1;
  }
  if (r < 0) {
    v2k_error_prefix ("cannot open the source of '%s' (log: %s)",
                      jstr_or (disk, "label", "disk"), log);
    close_source (io);
    return -1;
  }
  /* A disk grown or shrunk since init would be copied short or read past
   * its end: refuse rather than guess. */
  if (io->src->size != (uint64_t) jint (disk, "capacity")) {
    v2k_error ("'%s' has %llu bytes in this snapshot but %lld when the run "
               "started: it was resized; start a new run (init) for it",
               jstr_or (disk, "label", "disk"), (unsigned long long) io->src->size,
               (long long) jint (disk, "capacity"));
    close_source (io);
    return -1;
  }
  return 0;
}

bool
target_starts_zero (const json_t *disk)
{
  const char *path = jstr_or (json_object_get (disk, "target"), "path", "");

  return strncmp (path, "/dev/", 5) != 0 && strncmp (path, "rbd:", 4) != 0;
}

bool
target_present (const json_t *disk)
{
  const char *path = jstr_or (json_object_get (disk, "target"), "path", "");
  struct stat st;

  /* rbd: not checked here; qemu-nbd fails to open a missing image
   * clearly. */
  return strncmp (path, "rbd:", 4) == 0 || stat (path, &st) == 0;
}

int
check_target_present (const json_t *disk)
{
  const char *path = jstr_or (json_object_get (disk, "target"), "path", "");

  if (target_present (disk))
    return 0;
  v2k_error_errno (errno, "target '%s' of '%s' is gone; it holds the copy "
                   "the next changes are applied to, so v2k will not "
                   "recreate it empty: restore it, or start a new run (init)",
                   path, jstr_or (disk, "label", "disk"));
  return -1;
}

int
open_target (struct v2k *v, const json_t *disk, unsigned flags,
             const char *logtag, struct disk_io *io)
{
  bool fresh = flags & TARGET_FRESH, ro = flags & TARGET_READONLY;
  const json_t *t = json_object_get (disk, "target");
  const char *path = jstr_or (t, "path", "");
  const char *format = jstr_or (t, "format", "qcow2");
  uint64_t cap = jint (disk, "capacity");
  CLEANUP_FREE char *log = log_path (v, logtag, "target");
  CLEANUP_FREE char *dir = NULL;
  bool is_dev = strncmp (path, "/dev/", 5) == 0;
  bool is_rbd = strncmp (path, "rbd:", 4) == 0;

  if (log == NULL)
    return -1;
  if (!is_dev && !is_rbd) {
    char *slash;
    dir = strdup (path);
    if (dir && (slash = strrchr (dir, '/')) != NULL && slash != dir) {
      *slash = '\0';
      if (mkdir_p (dir, 0755) < 0)
        return -1;
    }
    if (ro && access (path, R_OK) < 0) {
      v2k_error_errno (errno, "cannot read target '%s'", path);
      return -1;
    }
    if (fresh && unlink (path) < 0 && errno != ENOENT) {
      v2k_error_errno (errno, "cannot remove stale target '%s'", path);
      return -1;
    }
    if (!ro && v2k_target_create (path, format, cap, 0, log) < 0)
      return -1;
  }
  if (is_rbd || strcmp (format, "qcow2") == 0) {
    io->dst_srv = v2k_server_qemu_nbd ("qemu-nbd", path, is_rbd ? "raw" : format,
                                       ro ? V2K_QNBD_READONLY | V2K_QNBD_SHARE : V2K_QNBD_SPARSE,
                                       log, SERVER_TIMEOUT_MS);
    if (io->dst_srv == NULL)
      return -1;
    io->dst = v2k_ep_nbd_unix (io->dst_srv->socket, ro ? 0 : V2K_EP_WRITE);
    if (io->dst && v2k_ep_set_name (io->dst, path) < 0) {
      close_target (io);
      return -1;
    }
  }
  else
    io->dst = v2k_ep_file (path, ro ? 0 : V2K_EP_WRITE);
  if (io->dst == NULL) {
    v2k_error_prefix ("cannot open target '%s'", path);
    close_target (io);
    return -1;
  }
  if (io->dst->size < cap) {
    v2k_error ("target '%s' has %llu bytes, the disk needs %llu", path,
               (unsigned long long) io->dst->size, (unsigned long long) cap);
    close_target (io);
    return -1;
  }
  return 0;
}

int
close_source (struct disk_io *io)
{
  /* A reader's exit status loses nothing, and must not replace the
   * error that made the caller close it. */
  CLEANUP_FREE char *err = strdup (v2k_errmsg ());

  v2k_ep_close (io->src);
  io->src = NULL;
  if (v2k_server_stop (io->src_srv) < 0 && err)
    v2k_error ("%s", err);
  io->src_srv = NULL;
  return 0;
}

int
close_target (struct disk_io *io)
{
  int r = 0;

  v2k_ep_close (io->dst);
  io->dst = NULL;
  if (io->dst_srv && v2k_server_stop (io->dst_srv) < 0) {
    v2k_error ("the target's qemu-nbd exited with an error; its writes may "
               "be lost");
    r = -1;
  }
  io->dst_srv = NULL;
  return r;
}
