/* Waiting for tasks: polls Task.info until success, error or timeout.
 *
 * Polling the one property (rather than a WaitForUpdatesEx filter) keeps
 * no server-side state that a relogin would lose; the interval grows
 * from 100 ms to 1 s so short tasks finish quickly and long ones cost
 * one call a second.
 */
#include "vsphere/soap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/cleanup.h"
#include "util/error.h"

void
task_info_free (struct task_info *ti)
{
  free (ti->state);
  free (ti->result);
  free (ti->fault_type);
  free (ti->fault_msg);
  free (ti->name);
  memset (ti, 0, sizeof *ti);
}

int
task_parse_info (const xmlNode *info, struct task_info *ti)
{
  memset (ti, 0, sizeof *ti);
  if (info == NULL) {
    v2k_error ("the task has no info");
    return -1;
  }
  ti->state = x_path_text (info, "state");
  ti->progress = (int) x_path_int (info, "progress", -1);
  ti->name = x_path_text (info, "name");
  if (ti->name == NULL)
    ti->name = x_path_text (info, "descriptionId");
  if (x_path_has (info, "result")) {
    CLEANUP_FREE char *t = x_type (x_child (info, "result"));
    if (t && strcmp (t, "ManagedObjectReference") == 0)
      ti->result = x_path_text (info, "result");
  }
  if (x_path_has (info, "error")) {
    xmlNode *e = x_child (info, "error");
    ti->fault_type = soap_fault_type (e);
    ti->fault_msg = x_path_text (e, "localizedMessage");
    /* Some faults carry their text only in faultMessage. */
    if (ti->fault_msg == NULL || ti->fault_msg[0] == '\0') {
      free (ti->fault_msg);
      ti->fault_msg = x_path_text (e, "fault/faultMessage/message");
    }
  }
  if (ti->state == NULL) {
    v2k_error ("the task info has no state");
    task_info_free (ti);
    return -1;
  }
  return 0;
}

static void
sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  while (nanosleep (&ts, &ts) == -1)
    ;
}

static void
cancel_task (struct vim *vim, const char *task)
{
  struct soap_req r;
  CLEANUP_XMLDOC xmlDoc *resp = NULL;
  char saved[4096];

  snprintf (saved, sizeof saved, "%s", v2k_errmsg ());
  if (soap_new (&r, "CancelTask", "Task", task) == 0) {
    soap_call (vim, &r, &resp, NULL);
    soap_free (&r);
  }
  v2k_error ("%s", saved);
}

int
task_wait (struct vim *vim, const char *task, const char *what,
           char **result)
{
  static const char *const paths[] = { "info", NULL };
  double deadline = mono_seconds () + vim->task_timeout;
  long interval = 100;
  int last_progress = -2;

  if (result)
    *result = NULL;
  for (;;) {
    struct props_result pr;
    struct task_info ti;
    int rc;

    if (props_get (vim, "Task", task, paths, &pr) < 0) {
      v2k_error_prefix ("cannot follow task '%s' (%s)", task, what);
      return -1;
    }
    rc = task_parse_info (props_val (props_first (&pr), "info"), &ti);
    props_free (&pr);
    if (rc < 0) {
      v2k_error_prefix ("task '%s' (%s)", task, what);
      return -1;
    }
    if (strcmp (ti.state, "success") == 0) {
      if (vim->progress)
        vim->progress (vim->progress_opaque, what, 100);
      if (result) {
        *result = ti.result;
        ti.result = NULL;
      }
      task_info_free (&ti);
      return 0;
    }
    if (strcmp (ti.state, "error") == 0) {
      v2k_error ("%s failed (task '%s'): vCenter fault '%s': %s", what, task,
                 ti.fault_type ? ti.fault_type : "unknown",
                 ti.fault_msg && ti.fault_msg[0] ? ti.fault_msg : "no message");
      task_info_free (&ti);
      return -1;
    }
    if (ti.progress != last_progress && ti.progress >= 0 && vim->progress)
      vim->progress (vim->progress_opaque, what, ti.progress);
    last_progress = ti.progress;
    if (mono_seconds () > deadline) {
      v2k_error ("%s (task '%s') did not finish within %d seconds "
                 "(state '%s', %d%% done)", what, task, vim->task_timeout,
                 ti.state, ti.progress < 0 ? 0 : ti.progress);
      task_info_free (&ti);
      cancel_task (vim, task);
      return -1;
    }
    task_info_free (&ti);
    sleep_ms (interval);
    if (interval < 1000)
      interval *= 2;
  }
}

int
task_call (struct vim *vim, struct soap_req *r, const char *what,
           char **result)
{
  CLEANUP_XMLDOC xmlDoc *resp = NULL;
  CLEANUP_FREE char *task = NULL;
  xmlNode *rv;

  if (soap_call (vim, r, &resp, &rv) < 0) {
    v2k_error_prefix ("%s", what);
    return -1;
  }
  task = x_text (rv);
  if (task == NULL || task[0] == '\0') {
    v2k_error ("%s: vCenter returned no task", what);
    return -1;
  }
  return task_wait (vim, task, what, result);
}
