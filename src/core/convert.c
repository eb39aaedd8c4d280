#include "core/convert.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"

extern char **environ;

enum guest_family
convert_guest_family (const char *g)
{
  /* vSphere's guestId values: windows9_64Guest, winNetStandardGuest,
   * windows2019srv_64Guest; the Linux ones name the distribution. */
  static const char *const linux_prefixes[] = {
    "rhel", "centos", "debian", "ubuntu", "sles", "suse", "opensuse",
    "oracleLinux", "fedora", "asianux", "amazonlinux", "almalinux",
    "rockylinux", "vmwarePhoton", "coreos", "mandrake", "mandriva",
    "redhat", "turboLinux", "genericLinux", "other", "miraclelinux",
    "pardus", "kylinux", NULL,
  };

  if (g == NULL || *g == '\0')
    return GUEST_OTHER;
  if (strncmp (g, "win", 3) == 0)
    return GUEST_WINDOWS;
  if (strcasestr (g, "linux"))
    return GUEST_LINUX;
  for (size_t i = 0; linux_prefixes[i]; i++)
    if (strncmp (g, linux_prefixes[i], strlen (linux_prefixes[i])) == 0)
      /* "otherGuest" (no Linux in it) is not a Linux guest. */
      return strcmp (linux_prefixes[i], "other") == 0 ? GUEST_OTHER : GUEST_LINUX;
  return GUEST_OTHER;
}

int
convert_make_plan (const char *mode, const char *guest_id, bool have_tool,
                   bool have_virtio_win, struct convert_plan *p)
{
  enum guest_family fam = convert_guest_family (guest_id);
  bool explicit = strcmp (mode, "virt-v2v") == 0;

  /* Without conversion the domain keeps what the manifest's controllers
   * map to: the operator says the guest already has virtio drivers. */
  p->run = false;
  p->virtio = true;
  p->disk_bus = NULL;
  p->note = NULL;
  if (strcmp (mode, "none") == 0)
    return 0;
  if (fam == GUEST_WINDOWS && !have_virtio_win) {
    /* Nothing to install the drivers from: emulated devices every
     * Windows has drivers for. */
    p->virtio = false;
    p->note = "Windows guest without --virtio-win: not converted, the domain "
      "uses SATA disks and e1000e NICs (no virtio drivers)";
    return 0;
  }
  if (!have_tool) {
    if (explicit) {
      v2k_error ("--convert virt-v2v: 'virt-v2v-in-place' is not installed "
                 "(Debian package 'virt-v2v')");
      return -1;
    }
    p->note = "'virt-v2v-in-place' is not installed (Debian package 'virt-v2v'): "
      "the guest is not converted and must already have virtio drivers";
    return 0;
  }
  if (fam == GUEST_OTHER && !explicit) {
    p->note = "the guest is neither Linux nor Windows: not converted "
      "(--convert virt-v2v forces it)";
    return 0;
  }
  p->run = true;
  /* virt-v2v converts for virtio-blk: fstab and bootloader then name vdX. */
  p->disk_bus = "virtio-blk";
  return 0;
}

char *
convert_find_tool (void)
{
  const char *env = getenv ("V2K_VIRT_V2V_IN_PLACE");
  const char *path = getenv ("PATH");
  CLEANUP_FREE char *copy = NULL;
  char *dir, *save = NULL;

  if (env && *env)
    return access (env, X_OK) == 0 ? strdup (env) : NULL;
  copy = strdup (path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save)) {
    char *p = path_join (dir, "virt-v2v-in-place");
    if (p && access (p, X_OK) == 0)
      return p;
    free (p);
  }
  return NULL;
}

bool
convert_need_tcg (void)
{
  const char *accel = getenv ("V2K_CONVERT_ACCEL");
  struct stat st;

  if (accel && strcmp (accel, "tcg") == 0)
    return true;
  if (accel && strcmp (accel, "kvm") == 0)
    return false;
  if (access ("/dev/kvm", R_OK | W_OK) != 0)
    return true;
  return stat ("/sys/module/kvm_pvm", &st) == 0;
}

const char *
convert_pin_script (void)
{
  return
    "#!/bin/sh\n"
    "# v2k: keep the interface names this guest's network configuration\n"
    "# uses.  On virtio-net the kernel names NICs by their new PCI slot\n"
    "# (ens192 becomes enp1s0); a .link file per name matches the NIC's MAC.\n"
    "R=${V2K_ROOT:-}\n"
    "names=$(\n"
    "  { for f in \"$R\"/etc/network/interfaces \"$R\"/etc/network/interfaces.d/*; do\n"
    "      [ -f \"$f\" ] || continue\n"
    "      awk '$1 == \"iface\" { print $2 }\n"
    "           $1 == \"auto\" || $1 ~ /^allow-/ { for (i = 2; i <= NF; i++) print $i }' \"$f\"\n"
    "    done\n"
    "    for f in \"$R\"/etc/sysconfig/network-scripts/ifcfg-*; do\n"
    "      [ -f \"$f\" ] && sed -n 's/^DEVICE=[\"'\\'']*\\([^\"'\\'']*\\).*/\\1/p' \"$f\"\n"
    "    done\n"
    "    for f in \"$R\"/etc/NetworkManager/system-connections/*; do\n"
    "      [ -f \"$f\" ] && sed -n 's/^interface-name=//p' \"$f\"\n"
    "    done\n"
    "  } | sed 's/[.:].*//' | grep -E '^en[a-z0-9]+$' | sort -u |\n"
    "  awk '{ k = 100000\n"
    "         if ($0 ~ /^ens[0-9]+$/) { n = substr($0, 4) + 0\n"
    "           if (n >= 160) k = ((n - 160) % 32) * 4 + int((n - 160) / 32)\n"
    "           else k = 1000 + n }\n"
    "         print k, $0 }' | sort -n -k1,1 -k2 | awk '{ print $2 }')\n"
    "mkdir -p \"$R/etc/systemd/network\" || exit 1\n"
    "for name in $names; do\n"
    "  [ $# -gt 0 ] || break\n"
    "  mac=$1; shift\n"
    "  f=\"$R/etc/systemd/network/10-v2k-$name.link\"\n"
    "  printf '%s\\n' '# Written by v2k: the name the network configuration uses,' \\\n"
    "    '# pinned to the NIC it had on VMware.' '[Match]' \"MACAddress=$mac\" \\\n"
    "    '' '[Link]' \"Name=$name\" > \"$f\" || exit 1\n"
    "  echo \"V2K-LINK $name $mac\"\n"
    "done\n"
    "exit 0\n";
}

/* Run argv with extra environment entries, stdin from /dev/null, stdout
 * to out_path (truncated) or the log, stderr to the log. */
static int
spawn_logged (const char *const *argv, const char *const *extra_env,
              const char *log, const char *out_path)
{
  size_t nenv = 0, nextra = 0, k = 0;
  char **envp;
  pid_t pid;
  int status, logfd, outfd = -1, nullfd;

  while (environ[nenv])
    nenv++;
  while (extra_env && extra_env[nextra])
    nextra++;
  envp = calloc (nenv + nextra + 1, sizeof *envp);
  if (envp == NULL) {
    v2k_error ("out of memory");
    return -1;
  }
  /* Our entries replace inherited ones of the same name. */
  for (size_t i = 0; i < nextra; i++)
    envp[k++] = (char *) extra_env[i];
  for (size_t i = 0; i < nenv; i++) {
    bool shadowed = false;
    for (size_t j = 0; j < nextra && !shadowed; j++) {
      size_t n = strcspn (extra_env[j], "=");
      shadowed = strncmp (environ[i], extra_env[j], n + 1) == 0;
    }
    if (!shadowed)
      envp[k++] = environ[i];
  }
  logfd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (logfd < 0) {
    v2k_error_errno (errno, "cannot open '%s'", log);
    free (envp);
    return -1;
  }
  if (out_path) {
    outfd = open (out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (outfd < 0) {
      v2k_error_errno (errno, "cannot open '%s'", out_path);
      close (logfd);
      free (envp);
      return -1;
    }
  }
  nullfd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  fflush (NULL);
  pid = fork ();
  if (pid < 0) {
    v2k_error_errno (errno, "cannot fork '%s'", argv[0]);
    status = -1;
    goto out;
  }
  if (pid == 0) {
    if (nullfd >= 0)
      dup2 (nullfd, 0);
    dup2 (outfd >= 0 ? outfd : logfd, 1);
    dup2 (logfd, 2);
    execvpe (argv[0], (char **) argv, envp);
    dprintf (2, "cannot run '%s': %s\n", argv[0], strerror (errno));
    _exit (127);
  }
  while (waitpid (pid, &status, 0) < 0) {
    if (errno != EINTR) {
      v2k_error_errno (errno, "waitpid '%s'", argv[0]);
      status = -1;
      goto out;
    }
  }
 out:
  if (nullfd >= 0)
    close (nullfd);
  if (outfd >= 0)
    close (outfd);
  close (logfd);
  free (envp);
  if (status == -1)
    return -1;
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return 128 + (WIFSIGNALED (status) ? WTERMSIG (status) : 0);
}

static void
guestfs_env (const char **env, size_t *n, bool tcg)
{
  env[(*n)++] = "LIBGUESTFS_BACKEND=direct";
  if (tcg)
    env[(*n)++] = "LIBGUESTFS_BACKEND_SETTINGS=force_tcg";
  env[*n] = NULL;
}

char *
convert_log_tail (const char *path, int n)
{
  CLEANUP_FREE char *data = NULL;
  size_t len = 0;
  char *end, *start, *ret;

  if (read_file (path, &data, &len) < 0) {
    v2k_error_clear ();
    return strdup ("");
  }
  end = data + len;
  while (end > data && (end[-1] == '\n' || end[-1] == '\r'))
    end--;
  start = end;
  for (int lines = 0; start > data; start--)
    if (start[-1] == '\n' && ++lines == n)
      break;
  ret = strndup (start, end - start);
  for (char *p = ret; p && *p; p++)
    if (*p == '\n')
      *p = ';';
  return ret;
}

int
convert_pin_nic_names (const struct convert_disk *disks, size_t ndisks,
                       const char *const *macs, size_t nmacs,
                       const char *log, bool tcg, char **pinned)
{
  CLEANUP_FREE char *script = NULL, *cmds = NULL, *out = NULL, *text = NULL;
  CLEANUP_FREE char *cmdline = NULL;
  const char *env[4];
  const char **argv = NULL;
  size_t n = 0, envn = 0, len = 0, cap;
  int r, ret = -1;
  FILE *f;

  *pinned = NULL;
  if (asprintf (&script, "%s.pin-nics.sh", log) < 0
      || asprintf (&cmds, "%s.guestfish", log) < 0
      || asprintf (&out, "%s.pin-nics.out", log) < 0) {
    v2k_error ("out of memory");
    return -1;
  }
  if (write_file_atomic (script, convert_pin_script (),
                         strlen (convert_pin_script ()), 0600) < 0)
    return -1;
  /* guestfish -i mounts the guest as its fstab says; the script runs
   * inside it with the MACs as arguments. */
  f = open_memstream (&cmdline, &len);
  if (f == NULL) {
    v2k_error_errno (errno, "open_memstream");
    return -1;
  }
  fprintf (f, "upload %s /v2k-pin-nics.sh\nsh \"/bin/sh /v2k-pin-nics.sh", script);
  for (size_t i = 0; i < nmacs; i++)
    fprintf (f, " %s", macs[i]);
  fprintf (f, "\"\nrm /v2k-pin-nics.sh\n");
  fclose (f);
  if (write_file_atomic (cmds, cmdline, strlen (cmdline), 0600) < 0)
    return -1;

  cap = 8 + 4 * ndisks;
  argv = calloc (cap, sizeof *argv);
  if (argv == NULL) {
    v2k_error ("out of memory");
    return -1;
  }
  argv[n++] = "guestfish";
  argv[n++] = "--rw";
  argv[n++] = "-i";
  argv[n++] = "-f";
  argv[n++] = cmds;
  for (size_t i = 0; i < ndisks; i++) {
    argv[n++] = strcmp (disks[i].format, "raw") == 0 ? "--format=raw" : "--format=qcow2";
    argv[n++] = "-a";
    argv[n++] = disks[i].path;
  }
  argv[n] = NULL;
  guestfs_env (env, &envn, tcg);
  append_line (log, "v2k: pinning interface names (guestfish)", 0600);
  r = spawn_logged (argv, env, log, out);
  if (read_file (out, &text, &len) == 0) {
    int fd = open (log, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
      if (write (fd, text, len) < 0) { /* the log is best effort */ }
      close (fd);
    }
  }
  v2k_error_clear ();
  if (r != 0) {
    CLEANUP_FREE char *tail = convert_log_tail (log, 5);
    if (r > 0)
      v2k_error ("guestfish failed (exit %d) pinning the interface names; "
                 "see '%s': %s", r, log, tail);
    goto cleanup;
  }
  /* "V2K-LINK ens192 00:50:56:aa:bb:01" -> "ens192=00:50:56:aa:bb:01" */
  {
    char *line, *save = NULL, *acc = NULL;
    size_t alen = 0;
    FILE *m = open_memstream (&acc, &alen);
    const char *sep = "";
    for (line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
      char name[64], mac[64];
      if (sscanf (line, "V2K-LINK %63s %63s", name, mac) == 2) {
        fprintf (m, "%s%s=%s", sep, name, mac);
        sep = " ";
      }
    }
    fclose (m);
    *pinned = acc;
  }
  ret = 0;
 cleanup:
  unlink (script);
  unlink (cmds);
  unlink (out);
  free (argv);
  return ret;
}

int
convert_run_virt_v2v (const char *tool, const char *xml, const char *log,
                      const char *virtio_win, bool tcg)
{
  const char *argv[] = { tool, "-i", "libvirtxml", xml, NULL };
  const char *env[6];
  CLEANUP_FREE char *vw = NULL;
  size_t n = 0;
  int r;

  if (virtio_win) {
    if (asprintf (&vw, "VIRTIO_WIN=%s", virtio_win) < 0) {
      v2k_error ("out of memory");
      return -1;
    }
    env[n++] = vw;
  }
  guestfs_env (env, &n, tcg);
  append_line (log, "v2k: running virt-v2v-in-place", 0600);
  r = spawn_logged (argv, env, log, NULL);
  if (r != 0) {
    CLEANUP_FREE char *tail = convert_log_tail (log, 5);
    if (r > 0)
      v2k_error ("'virt-v2v-in-place' failed (exit %d); see '%s': %s", r, log, tail);
    return -1;
  }
  return 0;
}

int
convert_checkpoint (const struct convert_disk *disks, size_t ndisks,
                    const char *op, const char *log, bool *covered)
{
  const char *flag = strcmp (op, "create") == 0 ? "-c"
    : strcmp (op, "revert") == 0 ? "-a" : "-d";

  *covered = true;
  for (size_t i = 0; i < ndisks; i++) {
    const char *argv[] = { "qemu-img", "snapshot", flag, "v2k-pre-convert",
                           disks[i].path, NULL };
    int r;
    if (strcmp (disks[i].format, "qcow2") != 0) {
      *covered = false;
      continue;
    }
    r = spawn_logged (argv, NULL, log, NULL);
    if (r != 0) {
      if (r > 0)
        v2k_error ("'qemu-img snapshot %s' failed on '%s' (exit %d); see '%s'",
                   flag, disks[i].path, r, log);
      return -1;
    }
  }
  return 0;
}
