/* doctor: is this host ready to migrate, and can it reach the source?
 *
 * One line per item, OK / WARN / FAIL.  FAIL is for what a migration
 * needs (with the transport the workdir uses; vddk when there is no
 * workdir yet); WARN for what only slows or limits it.  Exit 1 when an
 * item failed.  It reads, never changes: no lock, no event, no manifest
 * write.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/endpoints.h"
#include "core/virt.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "vsphere/vim.h"

#define CONNECT_TIMEOUT_MS 3000

struct doctor {
  bool json;
  int fails, warns;
  json_t *items;
  bool vddk;                /* the vddk transport is in use (or planned) */
};

static void item (struct doctor *d, const char *status, const char *name,
                  const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

static void
item (struct doctor *d, const char *status, const char *name,
      const char *fmt, ...)
{
  char detail[1024];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (detail, sizeof detail, fmt, ap);
  va_end (ap);
  if (strcmp (status, "FAIL") == 0)
    d->fails++;
  else if (strcmp (status, "WARN") == 0)
    d->warns++;
  json_array_append_new (d->items, json_pack ("{s:s, s:s, s:s}", "item", name,
                                              "status", status, "detail", detail));
  if (!d->json)
    printf ("%-4s  %-18s %s\n", status, name, detail);
}

/* FAIL when the item is needed, else WARN. */
static const char *
needed (bool need)
{
  return need ? "FAIL" : "WARN";
}

/* Run argv, capture the first line of its output (stdout and stderr).
 * Returns the exit status, or -1 when it cannot be run. */
static int
run_capture (const char *const *argv, char *out, size_t n)
{
  int fds[2], status;
  pid_t pid;
  ssize_t r;
  size_t len = 0;

  out[0] = '\0';
  if (pipe2 (fds, O_CLOEXEC) < 0)
    return -1;
  pid = fork ();
  if (pid < 0) {
    close (fds[0]);
    close (fds[1]);
    return -1;
  }
  if (pid == 0) {
    dup2 (fds[1], 1);
    dup2 (fds[1], 2);
    execvp (argv[0], (char **) argv);
    _exit (127);
  }
  close (fds[1]);
  while (len + 1 < n && (r = read (fds[0], out + len, n - len - 1)) > 0)
    len += r;
  out[len] = '\0';
  close (fds[0]);
  out[strcspn (out, "\n")] = '\0';
  if (waitpid (pid, &status, 0) < 0)
    return -1;
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
check_tool (struct doctor *d, const char *name, const char *bin, bool need)
{
  const char *argv[] = { bin, "--version", NULL };
  char out[512];
  int r = run_capture (argv, out, sizeof out);

  if (r == 0)
    item (d, "OK", name, "%s", out);
  else
    item (d, needed (need), name, "'%s --version' %s%s%s", bin,
          r == 127 || r < 0 ? "cannot be run" : "failed",
          out[0] && r != 127 ? ": " : "", r != 127 ? out : "");
}

static void
check_vddk (struct doctor *d, const char *nbdkit)
{
  const char *libdir = getenv ("VDDK_LIBDIR");
  char arg[4200], out[512], lib[4200];
  struct stat st;

  if (libdir == NULL || *libdir == '\0') {
    item (d, needed (d->vddk), "VDDK_LIBDIR", "not set: point it at VMware's "
          "VDDK (the directory holding lib64/libvixDiskLib.so)");
    return;
  }
  snprintf (lib, sizeof lib, "%s/lib64/libvixDiskLib.so", libdir);
  if (stat (libdir, &st) < 0 || !S_ISDIR (st.st_mode))
    item (d, needed (d->vddk), "VDDK_LIBDIR", "'%s' is not a directory", libdir);
  else {
    CLEANUP_FREE char *dir = strdup (lib);
    bool found = access (lib, R_OK) == 0;
    if (!found && dir) {
      /* libvixDiskLib.so.8 and similar. */
      char probe[4300];
      for (int v = 5; v <= 9 && !found; v++) {
        snprintf (probe, sizeof probe, "%s.%d", lib, v);
        found = access (probe, R_OK) == 0;
      }
    }
    if (found)
      item (d, "OK", "VDDK_LIBDIR", "%s", libdir);
    else
      item (d, needed (d->vddk), "VDDK_LIBDIR", "no lib64/libvixDiskLib.so* in '%s'",
            libdir);
  }
  snprintf (arg, sizeof arg, "libdir=%s", libdir);
  const char *argv[] = { nbdkit, "vddk", arg, "--version", NULL };
  int r = run_capture (argv, out, sizeof out);
  if (r == 0)
    item (d, "OK", "nbdkit vddk plugin", "%s vddk %s --version works", nbdkit, arg);
  else
    item (d, needed (d->vddk), "nbdkit vddk plugin", "'%s vddk %s --version' %s%s",
          nbdkit, arg, r == 127 || r < 0 ? "cannot be run" : "failed: ",
          r == 127 ? "" : out);
}

/* /dev/kvm must be usable by the user qemu runs as, not only by root:
 * libvirt probes as root, and when qemu's user cannot open it, libvirt
 * throws its capability cache away on every call (see
 * tests/integration/libvirt-lib.sh). */
static void
check_kvm (struct doctor *d)
{
  struct stat st;
  struct group *g;
  struct passwd *pw;
  bool user_ok = false;

  if (stat ("/dev/kvm", &st) < 0) {
    item (d, "WARN", "/dev/kvm", "missing: domains run under TCG emulation "
          "(--domain-type qemu), much slower");
    return;
  }
  pw = getpwnam ("libvirt-qemu");
  g = getgrnam ("kvm");
  if (st.st_mode & 0006)
    user_ok = true;
  else if (g && st.st_gid == g->gr_gid && (st.st_mode & 0060) == 0060 && pw) {
    user_ok = pw->pw_gid == g->gr_gid;
    for (char **m = g->gr_mem; m && *m && !user_ok; m++)
      user_ok = strcmp (*m, pw->pw_name) == 0;
  }
  if (user_ok)
    item (d, "OK", "/dev/kvm", "mode %04o, group %s, usable by libvirt-qemu",
          st.st_mode & 07777, g && st.st_gid == g->gr_gid ? "kvm" : "other");
  else
    item (d, "WARN", "/dev/kvm", "mode %04o gid %u: not usable by libvirt's qemu "
          "user (%s); fix with 'chgrp kvm /dev/kvm && chmod 0660 /dev/kvm' "
          "(libvirt otherwise re-probes its capabilities on every call)",
          st.st_mode & 07777, (unsigned) st.st_gid,
          pw ? "libvirt-qemu" : "no libvirt-qemu user");
}

static void
check_space (struct doctor *d, const char *dst, json_t *disks, json_int_t allocated)
{
  CLEANUP_FREE char *p = dst ? strdup (dst) : NULL;
  struct statvfs vfs;
  json_int_t cap = 0;
  unsigned long long avail;
  size_t i;
  json_t *x;

  if (p == NULL) {
    item (d, "WARN", "free space", "no --dst (and no workdir): not checked");
    return;
  }
  /* The nearest existing ancestor: --dst may not exist yet. */
  while (statvfs (p, &vfs) < 0) {
    char *slash = strrchr (p, '/');
    if (slash == NULL || slash == p) {
      if (statvfs ("/", &vfs) < 0) {
        item (d, "FAIL", "free space", "cannot stat '%s': %s", dst, strerror (errno));
        return;
      }
      break;
    }
    *slash = '\0';
  }
  avail = (unsigned long long) vfs.f_bavail * vfs.f_frsize;
  /* Disks on block devices or rbd images (--target-map) take no space
   * here; the base round's byte count then says nothing about it. */
  json_array_foreach (disks, i, x) {
    if (json_object_get (x, "target") && !target_starts_zero (x))
      allocated = -1;
    else
      cap += jint (x, "capacity");
  }
  if (disks == NULL)
    item (d, "OK", "free space", "%llu MiB free under '%s' (no VM known: "
          "disk sizes not compared)", avail >> 20, dst);
  else if (avail >= (unsigned long long) cap)
    item (d, "OK", "free space", "%llu MiB free under '%s', disks' capacity %lld MiB",
          avail >> 20, dst, (long long) cap >> 20);
  else if (allocated >= 0 && avail < (unsigned long long) allocated)
    item (d, "FAIL", "free space", "%llu MiB free under '%s', the disks hold "
          "%lld MiB of data", avail >> 20, dst, (long long) allocated >> 20);
  else
    item (d, "WARN", "free space", "%llu MiB free under '%s' < capacity %lld MiB "
          "(thin targets need only the allocated size%s)", avail >> 20, dst,
          (long long) cap >> 20, allocated >= 0 ? ", which fits" : ", not known yet");
}

/* TCP connect with a timeout. */
static int
tcp_probe (const char *host, int port, char *err, size_t n)
{
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *a;
  char ps[16];
  int rc, ok = -1;

  snprintf (ps, sizeof ps, "%d", port);
  rc = getaddrinfo (host, ps, &hints, &res);
  if (rc != 0) {
    snprintf (err, n, "cannot resolve '%s': %s", host, gai_strerror (rc));
    return -1;
  }
  snprintf (err, n, "no address");
  for (a = res; a && ok < 0; a = a->ai_next) {
    int fd = socket (a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
      continue;
    if (connect (fd, a->ai_addr, a->ai_addrlen) == 0)
      ok = 0;
    else if (errno == EINPROGRESS) {
      struct pollfd pfd = { .fd = fd, .events = POLLOUT };
      int e = 0;
      socklen_t el = sizeof e;
      if (poll (&pfd, 1, CONNECT_TIMEOUT_MS) == 1
          && getsockopt (fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
        ok = 0;
      else
        snprintf (err, n, "%s", e ? strerror (e) : "timed out");
    }
    else
      snprintf (err, n, "%s", strerror (errno));
    close (fd);
  }
  freeaddrinfo (res);
  return ok;
}

static void
check_host (struct doctor *d, const json_t *host, const char *vddk_server)
{
  const char *name = jstr (host, "name");
  static const int ports[] = { 902, 443 };

  if (name == NULL) {
    item (d, "WARN", "ESXi host", "not known (give --workdir or --vm)");
    return;
  }
  for (size_t i = 0; i < 2; i++) {
    char err[256], label[64];
    /* Through vCenter, VDDK still moves data over NFC on the host's 902;
     * its 443 is then not used. */
    bool need = d->vddk && (ports[i] == 902 || strcmp (vddk_server, "vcenter") != 0);
    snprintf (label, sizeof label, "ESXi %s:%d", "host", ports[i]);
    if (tcp_probe (name, ports[i], err, sizeof err) == 0)
      item (d, "OK", label, "%s:%d reachable", name, ports[i]);
    else
      item (d, needed (need), label, "%s:%d: %s", name, ports[i], err);
  }
}

/* What v2k asks vCenter to do, by privilege id. */
static const char *const privileges[] = {
  "VirtualMachine.State.CreateSnapshot",
  "VirtualMachine.State.RemoveSnapshot",
  "VirtualMachine.Config.ChangeTracking",
  "VirtualMachine.Provisioning.DiskRandomRead",
  "VirtualMachine.Interact.PowerOff",
  "VirtualMachine.Interact.PowerOn",
};

static void
check_privileges (struct doctor *d, struct v2k *v, const char *vm)
{
  CLEANUP_JSON json_t *have = NULL;
  char missing[1024] = "";
  const char *type = vm ? "VirtualMachine" : "Folder";
  const char *ent = vm ? vm : vim_root_folder (v->vim);

  if (vim_user_privileges (v->vim, type, ent, &have) < 0) {
    item (d, "WARN", "vCenter privileges", "cannot be checked: %s", v2k_errmsg ());
    return;
  }
  for (size_t i = 0; i < sizeof privileges / sizeof privileges[0]; i++) {
    bool found = false;
    size_t k;
    json_t *p;
    json_array_foreach (have, k, p)
      if (strcmp (json_string_value (p), privileges[i]) == 0)
        found = true;
    if (!found)
      snprintf (missing + strlen (missing), sizeof missing - strlen (missing),
                "%s%s", missing[0] ? ", " : "", privileges[i]);
  }
  if (missing[0])
    item (d, "FAIL", "vCenter privileges", "missing on %s: %s", ent, missing);
  else
    item (d, "OK", "vCenter privileges", "snapshot, CBT, disk read and power "
          "privileges on %s", ent);
}

static void
check_cbt (struct doctor *d, const json_t *inv)
{
  size_t i, off = 0, n = 0;
  json_t *x;

  json_array_foreach (json_object_get (inv, "disks"), i, x) {
    n++;
    off += !jbool (x, "cbt");
  }
  if (!jbool (json_object_get (inv, "vm"), "cbt_enabled"))
    item (d, "WARN", "CBT", "off on the VM: 'cbt enable' (or 'run') turns it on");
  else if (off)
    item (d, "WARN", "CBT", "enabled, but not active on %zu of %zu disks yet "
          "('cbt enable' activates it)", off, n);
  else
    item (d, "OK", "CBT", "enabled and active on %zu disks", n);
}

/* Log in as a later command would: the workdir's vCenter, or --vcenter
 * with the credentials of the environment or --cred-file. */
static int
login (struct v2k *v, const char *vcenter)
{
  struct vim_conn_opts co = { 0 };

  if (v->m)
    return v2k_connect (v);
  if (v->cred_file && creds_load_file (&v->creds, v->cred_file) < 0)
    return -1;
  creds_load_env (&v->creds);
  if (v->creds.password)
    v2k_error_redact (v->creds.password);
  co.url = vcenter ? vcenter : v->creds.url;
  co.username = v->creds.username;
  co.password = v->creds.password;
  co.insecure = v->creds.insecure;
  co.thumbprint = v->creds.thumbprint;
  if (co.url == NULL) {
    v2k_error ("no vCenter: give --workdir, --vcenter URL or GOVC_URL");
    return -1;
  }
  if (co.username == NULL || co.password == NULL) {
    v2k_error ("no vCenter credentials: set GOVC_USERNAME and GOVC_PASSWORD "
               "or give --cred-file FILE");
    return -1;
  }
  v->vim = vim_connect (&co);
  return v->vim ? 0 : -1;
}

int
cmd_doctor (struct v2k *v, int argc, char **argv)
{
  enum { O_VCENTER = 256, O_DST, O_VM, O_URI, O_JSON, O_TRANSPORT };
  static const struct option opts[] = {
    { "vcenter", required_argument, NULL, O_VCENTER },
    { "dst", required_argument, NULL, O_DST },
    { "vm", required_argument, NULL, O_VM },
    { "libvirt-uri", required_argument, NULL, O_URI },
    { "transport", required_argument, NULL, O_TRANSPORT },
    { "json", no_argument, NULL, O_JSON },
    { NULL, 0, NULL, 0 },
  };
  const struct cmd *self = find_cmd ("doctor");
  struct doctor d = { .json = v->json };
  CLEANUP_JSON json_t *items = json_array ();
  CLEANUP_JSON json_t *inv = NULL;
  CLEANUP_FREE char *moref = NULL;
  const char *vcenter = NULL, *dst = NULL, *vmspec = NULL, *transport = NULL;
  const char *uri = "qemu:///system", *nbdkit = getenv ("V2K_NBDKIT");
  const char *vddk_server = "esxi";
  json_t *disks = NULL, *host = NULL, *t;
  json_int_t allocated = -1;
  int opt;

  d.items = items;
  while ((opt = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case O_VCENTER: vcenter = optarg; break;
    case O_DST: dst = optarg; break;
    case O_VM: vmspec = optarg; break;
    case O_URI: uri = optarg; break;
    case O_TRANSPORT: transport = optarg; break;
    case O_JSON: d.json = v->json = true; break;
    default: return usage_error (self, "bad option");
    }
  }
  if (optind != argc)
    return usage_error (self, "unexpected argument '%s'", argv[optind]);
  if (v->workdir && v2k_setup (v, NEEDS_WORKDIR, "doctor") < 0)
    return EXIT_FAIL;
  if (v->m) {
    size_t i;
    json_t *r;
    t = json_object_get (v->m->root, "transfer");
    transport = transport ? transport : jstr (t, "transport");
    vddk_server = jstr_or (t, "vddk_server", "esxi");
    if (jstr (t, "nbdkit"))
      nbdkit = jstr (t, "nbdkit");
    dst = dst ? dst : jstr (json_object_get (v->m->root, "target"), "dst");
    disks = manifest_disks (v->m);
    host = json_object_get (v->m->root, "host");
    /* A base sync copied the allocated areas: the data's size. */
    json_array_foreach (json_object_get (v->m->root, "rounds"), i, r)
      if (strcmp (jstr_or (r, "kind", ""), "base") == 0)
        allocated = jint (r, "bytes");
  }
  d.vddk = transport == NULL || strcmp (transport, "vddk") == 0;
  if (nbdkit == NULL || *nbdkit == '\0')
    nbdkit = "nbdkit";

  /* The KVM host. */
  check_tool (&d, "nbdkit", nbdkit, d.vddk);
  check_vddk (&d, nbdkit);
  check_tool (&d, "qemu-img", "qemu-img", true);
  check_tool (&d, "qemu-nbd", "qemu-nbd", true);
  {
    CLEANUP_FREE char *info = NULL;
    if (virt_probe (uri, &info) == 0)
      item (&d, "OK", "libvirt", "%s: %s", uri, info);
    else
      item (&d, "FAIL", "libvirt", "%s", v2k_errmsg ());
  }
  check_kvm (&d);

  /* The source. */
  if (login (v, vcenter) < 0)
    item (&d, "FAIL", "vCenter login", "%s", v2k_errmsg ());
  else {
    const char *vm = v->m ? jstr (json_object_get (v->m->root, "vm"), "moref") : NULL;
    item (&d, "OK", "vCenter login", "%s", vim_about_fullname (v->vim)
          ? vim_about_fullname (v->vim) : "logged in");
    if (vm == NULL && vmspec) {
      if (vim_find_vm (v->vim, vmspec, &moref) < 0)
        item (&d, "FAIL", "VM", "%s", v2k_errmsg ());
      vm = moref;
    }
    check_privileges (&d, v, vm);
    if (vm && vim_vm_inventory (v->vim, vm, &inv) == 0) {
      if (disks == NULL)
        disks = json_object_get (inv, "disks");
      if (host == NULL)
        host = json_object_get (inv, "host");
      check_cbt (&d, inv);
    }
    else if (vm)
      item (&d, "FAIL", "VM", "%s", v2k_errmsg ());
  }
  check_host (&d, host, vddk_server);
  check_space (&d, dst, disks, allocated);

  if (d.json && print_json (items) < 0)
    return EXIT_FAIL;
  if (!d.json)
    printf ("%d failed, %d warnings\n", d.fails, d.warns);
  if (d.fails) {
    v2k_error ("%d check%s failed", d.fails, d.fails == 1 ? "" : "s");
    return EXIT_FAIL;
  }
  return EXIT_OK;
}
