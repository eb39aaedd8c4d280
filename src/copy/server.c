/* Child NBD servers and target creation (see server.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "copy/server.h"
#include "copy/vmdk.h"
#include "util/cleanup.h"
#include "util/error.h"

static void
sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep (&ts, NULL);
}

/* "a@SOCKET@b" -> "a<socket>b"; one token per element is enough. */
static char *
substitute (const char *arg, const char *sock, const char *pidfile)
{
  static const struct { const char *tok; int which; } toks[] = {
    { "@SOCKET@", 0 }, { "@PIDFILE@", 1 },
  };
  for (size_t i = 0; i < 2; i++) {
    const char *p = strstr (arg, toks[i].tok);
    if (p) {
      char *s;
      if (asprintf (&s, "%.*s%s%s", (int) (p - arg), arg,
                    toks[i].which ? pidfile : sock,
                    p + strlen (toks[i].tok)) == -1)
        return NULL;
      return s;
    }
  }
  return strdup (arg);
}

/* Last non-empty line of the log, for "exited before it was ready". */
static void
log_tail (const char *logfile, char *buf, size_t size)
{
  CLEANUP_FCLOSE FILE *fp = fopen (logfile, "r");
  char line[512];

  buf[0] = '\0';
  if (fp == NULL)
    return;
  while (fgets (line, sizeof line, fp)) {
    line[strcspn (line, "\n")] = '\0';
    if (line[0]) {
      size_t n = strlen (line) < size - 1 ? strlen (line) : size - 1;
      memcpy (buf, line, n);
      buf[n] = '\0';
    }
  }
}

static bool
ready (const struct v2k_server *srv)
{
  char buf[32] = "";
  struct stat st;
  int fd = open (srv->pidfile, O_RDONLY | O_CLOEXEC);
  ssize_t n;

  if (fd == -1)
    return false;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  /* nbdkit writes the pidfile in one go, but be safe against a reader
   * racing the writer: wait for a complete line. */
  if (n <= 0 || strchr (buf, '\n') == NULL)
    return false;
  return stat (srv->socket, &st) == 0 && S_ISSOCK (st.st_mode);
}

static void
server_free (struct v2k_server *srv)
{
  if (srv == NULL)
    return;
  if (srv->socket)
    unlink (srv->socket);
  if (srv->pidfile)
    unlink (srv->pidfile);
  if (srv->dir)
    rmdir (srv->dir);
  free (srv->dir);
  free (srv->socket);
  free (srv->pidfile);
  free (srv->logfile);
  free (srv);
}

/* deathsig: what the child gets when the thread that started it dies. */
static struct v2k_server *
start_server (const char *const *argv, const char *tmpdir,
              const char *logfile, int timeout_ms, int deathsig)
{
  struct v2k_server *srv = NULL, *ret = NULL;
  CLEANUP_FREE char *tmpl = NULL;
  char **args = NULL;
  size_t n = 0;
  int logfd = -1, nullfd = -1, status;
  pid_t parent = getpid ();

  if (argv == NULL || argv[0] == NULL) {
    v2k_error ("no server command given");
    return NULL;
  }
  if (tmpdir == NULL && (tmpdir = getenv ("TMPDIR")) == NULL)
    tmpdir = "/tmp";
  srv = calloc (1, sizeof *srv);
  if (srv == NULL || asprintf (&tmpl, "%s/v2k-nbd.XXXXXX", tmpdir) == -1) {
    v2k_error_errno (errno, "cannot allocate a server");
    goto cleanup;
  }
  srv->pid = -1;
  if (mkdtemp (tmpl) == NULL) {
    v2k_error_errno (errno, "cannot create a directory in '%s'", tmpdir);
    goto cleanup;
  }
  srv->dir = tmpl;
  tmpl = NULL;
  if (asprintf (&srv->socket, "%s/nbd.sock", srv->dir) == -1 ||
      asprintf (&srv->pidfile, "%s/server.pid", srv->dir) == -1 ||
      (srv->logfile = strdup (logfile)) == NULL) {
    v2k_error_errno (errno, "cannot allocate a server");
    goto cleanup;
  }

  /* Everything the child needs is prepared before fork: between fork and
   * exec in a threaded program only async-signal-safe calls are allowed. */
  while (argv[n])
    n++;
  args = calloc (n + 1, sizeof *args);
  if (args == NULL) {
    v2k_error_errno (errno, "cannot allocate arguments");
    goto cleanup;
  }
  for (size_t i = 0; i < n; i++)
    if ((args[i] = substitute (argv[i], srv->socket, srv->pidfile)) == NULL) {
      v2k_error_errno (errno, "cannot allocate arguments");
      goto cleanup;
    }
  logfd = open (logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (logfd == -1) {
    v2k_error_errno (errno, "cannot open '%s'", logfile);
    goto cleanup;
  }
  nullfd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (nullfd == -1) {
    v2k_error_errno (errno, "cannot open '/dev/null'");
    goto cleanup;
  }

  srv->pid = fork ();
  if (srv->pid == -1) {
    v2k_error_errno (errno, "cannot fork '%s'", args[0]);
    goto cleanup;
  }
  if (srv->pid == 0) {
    prctl (PR_SET_PDEATHSIG, deathsig);
    if (getppid () != parent)
      _exit (126);
    /* dup2 clears O_CLOEXEC on the new descriptors only. */
    if (dup2 (nullfd, 0) == -1 || dup2 (logfd, 1) == -1 ||
        dup2 (logfd, 2) == -1)
      _exit (126);
    close_range (3, ~0U, 0);     /* other disks' sockets and files */
    signal (SIGPIPE, SIG_DFL);
    execvp (args[0], args);
    dprintf (2, "v2k: cannot run '%s': %s\n", args[0], strerror (errno));
    _exit (127);
  }

  /* qemu-nbd is ready in 10-50 ms: poll finely at first. */
  for (int waited = 0, step = 1; ; waited += step, step += step < 10) {
    pid_t r = waitpid (srv->pid, &status, WNOHANG);
    if (r == srv->pid) {
      char tail[256];
      srv->pid = -1;
      log_tail (logfile, tail, sizeof tail);
      v2k_error ("'%s' exited with status %d before it was ready%s%s "
                 "(see '%s')", args[0],
                 WIFEXITED (status) ? WEXITSTATUS (status)
                                    : 128 + WTERMSIG (status),
                 tail[0] ? ": " : "", tail, logfile);
      goto cleanup;
    }
    if (ready (srv))
      break;
    if (waited >= timeout_ms) {
      v2k_error ("'%s' was not ready after %d ms (see '%s')",
                 args[0], timeout_ms, logfile);
      goto cleanup;
    }
    sleep_ms (step);
  }
  ret = srv;
  srv = NULL;

 cleanup:
  if (srv)
    v2k_server_stop (srv);
  if (args) {
    for (size_t i = 0; i < n; i++)
      free (args[i]);
    free (args);
  }
  if (logfd >= 0)
    close (logfd);
  if (nullfd >= 0)
    close (nullfd);
  return ret;
}

struct v2k_server *
v2k_server_start (const char *const *argv, const char *tmpdir,
                  const char *logfile, int timeout_ms)
{
  return start_server (argv, tmpdir, logfile, timeout_ms, SIGTERM);
}

int
v2k_server_stop (struct v2k_server *srv)
{
  int ret = 0, status;

  if (srv == NULL)
    return 0;
  if (srv->pid > 0) {
    pid_t r = 0;
    kill (srv->pid, SIGTERM);
    for (int waited = 0, step = 1; waited < 5000; waited += step,
         step += step < 10) {
      r = waitpid (srv->pid, &status, WNOHANG);
      if (r != 0)
        break;
      sleep_ms (step);
    }
    if (r == 0) {
      kill (srv->pid, SIGKILL);
      r = waitpid (srv->pid, &status, 0);
    }
    /* Dying of our SIGTERM is the normal way out. */
    if (r == srv->pid &&
        !((WIFEXITED (status) && WEXITSTATUS (status) == 0) ||
          (WIFSIGNALED (status) && WTERMSIG (status) == SIGTERM))) {
      v2k_error ("server for '%s' ended with status %d (see '%s')",
                 srv->socket, WIFEXITED (status) ? WEXITSTATUS (status)
                 : 128 + WTERMSIG (status), srv->logfile);
      ret = -1;
    }
  }
  server_free (srv);
  return ret;
}

/* "driver=FORMAT,file.driver=file,EXTRA,file.filename=IMAGE" for
 * --image-opts, commas in the path doubled (QemuOpts' escape). */
static char *
image_opts (const char *image, const char *format, const char *extra)
{
  size_t n = 0;
  char *s, *q;

  for (const char *p = image; *p; p++)
    n += *p == ',' ? 2 : 1;
  s = malloc (n + strlen (format) + strlen (extra) + 64);
  if (s == NULL) {
    v2k_error_errno (errno, "cannot allocate arguments");
    return NULL;
  }
  q = s + sprintf (s, "driver=%s,file.driver=file,%s%sfile.filename=",
                   format, extra, *extra ? "," : "");
  for (const char *p = image; *p; p++) {
    *q++ = *p;
    if (*p == ',')
      *q++ = ',';
  }
  *q = '\0';
  return s;
}

static struct v2k_server *
qemu_nbd (const char *qemu_nbd, const char *image, const char *format,
          unsigned flags, const char *extra, const char *logfile,
          int timeout_ms)
{
  const char *argv[16];
  size_t i = 0;
  CLEANUP_FREE char *fmt = NULL;
  CLEANUP_FREE char *opts = NULL;

  argv[i++] = qemu_nbd ? qemu_nbd : "qemu-nbd";
  if (*extra) {
    opts = image_opts (image, format, extra);
    if (opts == NULL)
      return NULL;
    argv[i++] = "--image-opts";
    image = opts;
  }
  else {
    if (asprintf (&fmt, "--format=%s", format) == -1) {
      v2k_error_errno (errno, "cannot allocate arguments");
      return NULL;
    }
    argv[i++] = fmt;
  }
  if (flags & V2K_QNBD_READONLY)
    argv[i++] = "--read-only";
  /* Persistent and shared: verify may open a second connection, and a
   * reconnect after a dropped connection must find the server alive. */
  argv[i++] = "--persistent";
  argv[i++] = "--shared=0";
  if (flags & V2K_QNBD_DIRECT) {
    argv[i++] = "--cache=none";
    argv[i++] = "--aio=native";
  }
  if (flags & V2K_QNBD_SPARSE) {
    argv[i++] = "--discard=unmap";
    argv[i++] = "--detect-zeroes=unmap";
  }
  argv[i++] = "--socket=@SOCKET@";
  argv[i++] = "--pid-file=@PIDFILE@";
  argv[i++] = image;
  argv[i] = NULL;
  /* qemu-nbd (7.2 and later) sets its "terminate" state from its SIGTERM
   * handler and then, once the image is open, sets it back to "running"
   * before its main loop: a SIGTERM in that window is lost and the
   * --persistent server stays for ever.  So when v2k dies it gets
   * SIGKILL, which cannot be lost.  A target killed so is like one after
   * a crash: qcow2 is consistent at every flush, and v2k trusts nothing
   * after its last flushed checkpoint; at worst it leaks clusters.  The
   * normal stop is still SIGTERM (v2k_server_stop). */
  return start_server (argv, NULL, logfile, timeout_ms, SIGKILL);
}

struct v2k_server *
v2k_server_qemu_nbd (const char *qemu_nbd_path, const char *image,
                     const char *format, unsigned flags,
                     const char *logfile, int timeout_ms)
{
  /* qemu-nbd has no --force-share: image locking is turned off through
   * the options of the file protocol instead. */
  const char *share = (flags & V2K_QNBD_SHARE) && (flags & V2K_QNBD_READONLY)
                      ? "file.locking=off" : "";
  CLEANUP_FREE char *uring = NULL;
  CLEANUP_FREE char *extra = NULL;
  struct v2k_server *srv;

  /* A snapshot's data files are read with io_uring (see vmdk.h). */
  if ((flags & V2K_QNBD_READONLY) &&
      !(flags & (V2K_QNBD_DIRECT | V2K_QNBD_NO_URING)) &&
      strcmp (format, "vmdk") == 0) {
    if (v2k_vmdk_uring_opts (image, &uring) == -1)
      return NULL;
    if (uring && asprintf (&extra, "%s%s%s", share, *share ? "," : "",
                           uring) == -1) {
      v2k_error_errno (errno, "cannot allocate arguments");
      return NULL;
    }
  }
  if (extra) {
    srv = qemu_nbd (qemu_nbd_path, image, format, flags, extra, logfile,
                    timeout_ms);
    if (srv)
      return srv;
    /* A qemu built without io_uring refuses the option: the thread pool
     * reads the same bytes. */
  }
  return qemu_nbd (qemu_nbd_path, image, format, flags, share, logfile,
                   timeout_ms);
}

struct v2k_server *
v2k_server_nbdkit (const char *nbdkit, bool readonly,
                   const char *const *args, const char *logfile,
                   int timeout_ms)
{
  CLEANUP_FREE const char **argv = NULL;
  size_t n = 0, i = 0;

  while (args && args[n])
    n++;
  argv = calloc (n + 10, sizeof *argv);
  if (argv == NULL) {
    v2k_error_errno (errno, "cannot allocate arguments");
    return NULL;
  }
  argv[i++] = nbdkit ? nbdkit : "nbdkit";
  if (readonly)
    argv[i++] = "-r";
  argv[i++] = "-f";
  argv[i++] = "--exit-with-parent";
  argv[i++] = "-U";
  argv[i++] = "@SOCKET@";
  argv[i++] = "--pidfile";
  argv[i++] = "@PIDFILE@";
  for (size_t j = 0; j < n; j++)
    argv[i++] = args[j];
  argv[i] = NULL;
  return v2k_server_start (argv, NULL, logfile, timeout_ms);
}

int
v2k_target_create (const char *path, const char *format, uint64_t size,
                   uint32_t cluster_size, const char *logfile)
{
  struct stat st;
  int ret = -1, status;
  pid_t pid;
  CLEANUP_FREE char *sizestr = NULL, *opts = NULL;

  if (stat (path, &st) == 0) {
    if (strcmp (format, "raw") == 0 && S_ISREG (st.st_mode) &&
        (uint64_t) st.st_size < size) {
      v2k_error ("target '%s' is smaller (%" PRIu64 " bytes) than the "
                 "disk (%" PRIu64 " bytes)", path, (uint64_t) st.st_size,
                 size);
      return -1;
    }
    return 0;
  }
  if (strcmp (format, "raw") == 0) {
    CLEANUP_CLOSE int fd = open (path, O_WRONLY | O_CREAT | O_EXCL |
                                 O_CLOEXEC, 0644);
    if (fd == -1 || ftruncate (fd, size) == -1) {
      v2k_error_errno (errno, "cannot create '%s'", path);
      if (fd >= 0)
        unlink (path);
      return -1;
    }
    return 0;
  }
  if (strcmp (format, "qcow2") != 0) {
    v2k_error ("unsupported target format '%s'", format);
    return -1;
  }
  if (asprintf (&sizestr, "%" PRIu64, size) == -1 ||
      asprintf (&opts, "cluster_size=%" PRIu32,
                cluster_size ? cluster_size : 65536) == -1) {
    v2k_error_errno (errno, "cannot allocate arguments");
    return -1;
  }
  {
    const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2",
                           "-o", opts, path, sizestr, NULL };
    CLEANUP_CLOSE int logfd = open (logfile ? logfile : "/dev/null",
                                    O_WRONLY | O_CREAT | O_APPEND |
                                    O_CLOEXEC, 0600);
    if (logfd == -1) {
      v2k_error_errno (errno, "cannot open '%s'", logfile);
      return -1;
    }
    pid = fork ();
    if (pid == -1) {
      v2k_error_errno (errno, "cannot fork 'qemu-img'");
      return -1;
    }
    if (pid == 0) {
      if (dup2 (logfd, 1) == -1 || dup2 (logfd, 2) == -1)
        _exit (126);
      execvp (argv[0], (char **) argv);
      _exit (127);
    }
  }
  if (waitpid (pid, &status, 0) == -1) {
    v2k_error_errno (errno, "cannot wait for 'qemu-img'");
    goto cleanup;
  }
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
    v2k_error ("'qemu-img create' failed for '%s' (status %d, see '%s')",
               path, WIFEXITED (status) ? WEXITSTATUS (status) : -1,
               logfile ? logfile : "/dev/null");
    unlink (path);
    goto cleanup;
  }
  ret = 0;
 cleanup:
  return ret;
}
