/* The workdir: lock, event log and stored credentials. */
#ifndef V2K_WORKDIR_H
#define V2K_WORKDIR_H

#include <stdbool.h>
#include <jansson.h>

#define LOCK_NAME ".lock"
#define EVENTS_NAME "events.log"
#define CREDS_NAME "credentials"

/* Take the exclusive lock of the workdir without waiting.  A second v2k
 * on the same workdir fails at once, naming the holder's pid.  The lock
 * is an flock(2) and dies with the process, so kill -9 never leaves a
 * stale lock behind.  Returns the fd to keep open, or -1. */
int workdir_lock (const char *workdir);

/* Append one event (a JSON line) to WORKDIR/events.log: ts, run_id,
 * level, phase, disk_id, event, detail.  detail may be NULL, a string or
 * an object; the reference is stolen.  Failure to log is reported but a
 * caller may choose to ignore it. */
struct event_log {
  char *path;
  char *run_id;
};
int event_log_open (struct event_log *log, const char *workdir,
                    const char *run_id);
void event_log_close (struct event_log *log);
int event_emit (struct event_log *log, const char *level, const char *phase,
                const char *disk_id, const char *event, json_t *detail);

/* Credentials, as govc takes them. */
struct creds {
  char *url;
  char *username;
  char *password;
  bool insecure;
  char *thumbprint;   /* optional pin of the vCenter certificate */
};

/* Fill unset fields from, in order: a cred file (KEY=VALUE lines:
 * GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD, GOVC_INSECURE,
 * GOVC_THUMBPRINT), then the environment.  file may be NULL. */
int creds_load_file (struct creds *c, const char *file);
void creds_load_env (struct creds *c);
/* Store in WORKDIR/credentials, mode 0600, atomically. */
int creds_save (const struct creds *c, const char *workdir);
void creds_free (struct creds *c);

/* The account VDDK (nbdkit's vddk plugin) logs in with, when it is not
 * the vCenter one (init --vddk-cred-file): user=/password= lines (also
 * username=, VDDK_USER=, VDDK_PASSWORD=, GOVC_USERNAME=, GOVC_PASSWORD=).
 * Kept in WORKDIR/vddk-credentials, mode 0600, never in the manifest. */
#define VDDK_CREDS_NAME "vddk-credentials"
struct vddk_creds {
  char *user;
  char *password;
};
int vddk_creds_load (struct vddk_creds *c, const char *file);
int vddk_creds_save (const struct vddk_creds *c, const char *workdir);
void vddk_creds_free (struct vddk_creds *c);

#endif /* V2K_WORKDIR_H */
