#include "core/workdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/manifest.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"

int
workdir_lock (const char *workdir)
{
  CLEANUP_FREE char *path = path_join (workdir, LOCK_NAME);
  char pid[32];
  int fd;

  if (path == NULL)
    return -1;
  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    v2k_error_errno (errno, "cannot open lock '%s'", path);
    return -1;
  }
  if (flock (fd, LOCK_EX | LOCK_NB) < 0) {
    int e = errno;
    ssize_t n = pread (fd, pid, sizeof pid - 1, 0);

    pid[n > 0 ? n : 0] = '\0';
    pid[strcspn (pid, "\n")] = '\0';
    close (fd);
    if (e == EWOULDBLOCK)
      v2k_error ("workdir '%s' is in use by another v2k command (pid %s); "
                 "wait for it to finish", workdir, pid[0] ? pid : "unknown");
    else
      v2k_error_errno (e, "cannot lock '%s'", path);
    return -1;
  }
  snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
  if (ftruncate (fd, 0) == 0 && pwrite (fd, pid, strlen (pid), 0) < 0) {
    /* The pid is only a hint for the message above. */
  }
  return fd;
}

int
event_log_open (struct event_log *log, const char *workdir,
                const char *run_id)
{
  log->path = path_join (workdir, EVENTS_NAME);
  log->run_id = strdup (run_id ? run_id : "");
  if (log->path == NULL || log->run_id == NULL) {
    event_log_close (log);
    v2k_error ("cannot open the event log");
    return -1;
  }
  return 0;
}

void
event_log_close (struct event_log *log)
{
  free (log->path);
  free (log->run_id);
  log->path = log->run_id = NULL;
}

int
event_emit (struct event_log *log, const char *level, const char *phase,
            const char *disk_id, const char *event, json_t *detail)
{
  CLEANUP_JSON json_t *ev = NULL;
  CLEANUP_FREE char *line = NULL;

  if (log == NULL || log->path == NULL) {
    json_decref (detail);
    return 0;
  }
  ev = json_pack ("{s:s, s:s, s:s, s:s?, s:s?, s:s, s:o}",
                  "ts", rfc3339_now (), "run_id", log->run_id,
                  "level", level, "phase", phase, "disk_id", disk_id,
                  "event", event, "detail", detail ? detail : json_null ());
  if (ev == NULL) {
    v2k_error ("cannot build event '%s'", event);
    return -1;
  }
  line = json_dumps (ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (line == NULL) {
    v2k_error ("cannot serialize event '%s'", event);
    return -1;
  }
  return append_line (log->path, line, 0600);
}

static int
set_field (struct creds *c, const char *key, const char *val)
{
  char **dst = NULL;

  if (strcmp (key, "GOVC_URL") == 0)
    dst = &c->url;
  else if (strcmp (key, "GOVC_USERNAME") == 0)
    dst = &c->username;
  else if (strcmp (key, "GOVC_PASSWORD") == 0)
    dst = &c->password;
  else if (strcmp (key, "GOVC_THUMBPRINT") == 0)
    dst = &c->thumbprint;
  else if (strcmp (key, "GOVC_INSECURE") == 0) {
    c->insecure = c->insecure || strcmp (val, "1") == 0
      || strcasecmp (val, "true") == 0;
    return 0;
  }
  if (dst == NULL || *dst != NULL)
    return 0;
  *dst = strdup (val);
  return *dst ? 0 : -1;
}

/* KEY=VALUE lines (blank lines, '#' comments, "export " and quotes
 * allowed); fn is called for each pair. */
static int
parse_kv_file (const char *file, int (*fn) (void *opaque, const char *key,
                                            const char *val), void *opaque)
{
  CLEANUP_FCLOSE FILE *fp = NULL;
  CLEANUP_FREE char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int lineno = 0;

  fp = fopen (file, "re");
  if (fp == NULL) {
    v2k_error_errno (errno, "cannot open credentials file '%s'", file);
    return -1;
  }
  while ((n = getline (&line, &cap, fp)) >= 0) {
    char *p = line, *eq, *val;
    lineno++;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      line[--n] = '\0';
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == '\0' || *p == '#')
      continue;
    if (strncmp (p, "export ", 7) == 0)
      p += 7;
    eq = strchr (p, '=');
    if (eq == NULL) {
      /* Never echo the line: it could be a password. */
      v2k_error ("'%s' line %d: expected KEY=VALUE", file, lineno);
      return -1;
    }
    *eq = '\0';
    val = eq + 1;
    size_t vl = strlen (val);
    if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
      val[vl - 1] = '\0';
      val++;
    }
    if (fn (opaque, p, val) < 0) {
      v2k_error_errno (errno, "strdup");
      return -1;
    }
  }
  if (line)
    explicit_bzero (line, cap);
  return 0;
}

static int
creds_field (void *opaque, const char *key, const char *val)
{
  return set_field (opaque, key, val);
}

int
creds_load_file (struct creds *c, const char *file)
{
  return parse_kv_file (file, creds_field, c);
}

static int
vddk_field (void *opaque, const char *key, const char *val)
{
  struct vddk_creds *c = opaque;
  char **dst = NULL;

  if (!strcasecmp (key, "user") || !strcasecmp (key, "username")
      || !strcmp (key, "VDDK_USER") || !strcmp (key, "GOVC_USERNAME"))
    dst = &c->user;
  else if (!strcasecmp (key, "password") || !strcmp (key, "VDDK_PASSWORD")
           || !strcmp (key, "GOVC_PASSWORD"))
    dst = &c->password;
  if (dst == NULL || *dst != NULL)
    return 0;
  *dst = strdup (val);
  return *dst ? 0 : -1;
}

int
vddk_creds_load (struct vddk_creds *c, const char *file)
{
  if (parse_kv_file (file, vddk_field, c) < 0)
    return -1;
  if (c->user == NULL || c->password == NULL) {
    v2k_error ("'%s' must hold a user and a password (user=NAME and "
               "password=SECRET lines)", file);
    return -1;
  }
  return 0;
}

/* Write WORKDIR/name (0600, atomically) and scrub the caller's text, a
 * malloc'd copy that holds a password. */
static int
save_secret_text (const char *workdir, const char *name, char *text)
{
  CLEANUP_FREE char *path = path_join (workdir, name);
  int r = -1;

  if (path)
    r = write_file_atomic (path, text, strlen (text), 0600);
  explicit_bzero (text, strlen (text));
  free (text);
  return r;
}

int
vddk_creds_save (const struct vddk_creds *c, const char *workdir)
{
  char *text;

  if (asprintf (&text, "VDDK_USER=%s\nVDDK_PASSWORD=%s\n", c->user,
                c->password) < 0) {
    v2k_error_errno (errno, "asprintf");
    return -1;
  }
  return save_secret_text (workdir, VDDK_CREDS_NAME, text);
}

void
vddk_creds_free (struct vddk_creds *c)
{
  if (c->password)
    explicit_bzero (c->password, strlen (c->password));
  free (c->password);
  free (c->user);
  c->user = c->password = NULL;
}

void
creds_load_env (struct creds *c)
{
  static const char *keys[] = { "GOVC_URL", "GOVC_USERNAME", "GOVC_PASSWORD",
                                "GOVC_INSECURE", "GOVC_THUMBPRINT" };
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *v = getenv (keys[i]);
    if (v && *v)
      set_field (c, keys[i], v);
  }
}

int
creds_save (const struct creds *c, const char *workdir)
{
  char *text;

  if (asprintf (&text, "GOVC_URL=%s\nGOVC_USERNAME=%s\nGOVC_PASSWORD=%s\n"
                "GOVC_INSECURE=%d\n%s%s%s",
                c->url ? c->url : "", c->username ? c->username : "",
                c->password ? c->password : "", c->insecure ? 1 : 0,
                c->thumbprint ? "GOVC_THUMBPRINT=" : "",
                c->thumbprint ? c->thumbprint : "",
                c->thumbprint ? "\n" : "") < 0) {
    v2k_error_errno (errno, "asprintf");
    return -1;
  }
  return save_secret_text (workdir, CREDS_NAME, text);
}

void
creds_free (struct creds *c)
{
  free (c->url);
  if (c->password)
    explicit_bzero (c->password, strlen (c->password));
  free (c->password);
  free (c->username);
  free (c->thumbprint);
  memset (c, 0, sizeof *c);
}
