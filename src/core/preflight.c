#include "core/preflight.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

static void
add (json_t *list, const char *code, const json_t *disk, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

static void
add (json_t *list, const char *code, const json_t *disk, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  json_t *f;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  f = json_pack ("{s:s, s:s}", "code", code, "message", msg);
  if (disk)
    jset (f, "disk_key", json_integer (jint (disk, "key")));
  json_array_append_new (list, f);
}

char *
target_name_from (const char *vm_name)
{
  size_t n = strlen (vm_name), j = 0;
  char *out = malloc (n + 3);

  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n && j < 63; i++) {
    unsigned char c = vm_name[i];
    if (isalnum (c))
      out[j++] = tolower (c);
    else if (j > 0 && out[j - 1] != '-')
      out[j++] = '-';         /* runs of anything else become one '-' */
  }
  while (j > 0 && out[j - 1] == '-')
    j--;
  if (j == 0)
    out[j++] = 'v', out[j++] = 'm';
  out[j] = '\0';
  return out;
}

json_t *
preflight_check (const json_t *inv, bool force)
{
  json_t *res = json_pack ("{s:[], s:[]}", "warnings", "refusals");
  json_t *warn = json_object_get (res, "warnings");
  json_t *refuse = json_object_get (res, "refusals");
  const json_t *vm = json_object_get (inv, "vm");
  const char *name = jstr_or (vm, "name", "");
  char *tname = target_name_from (name);
  size_t i;
  json_t *d;

  json_array_foreach (json_object_get (inv, "disks"), i, d) {
    const char *mode = jstr_or (d, "mode", "persistent");
    const char *rdm = jstr_or (d, "rdm", "none");
    const char *sharing = jstr_or (d, "sharing", "sharingNone");
    const char *label = jstr_or (d, "label", "disk");

    if (strncmp (mode, "independent", 11) == 0)
      add (force ? warn : refuse, "independent-disk", d,
           "'%s' is %s: snapshots never capture it, so a warm copy of it "
           "would be inconsistent%s", label, mode,
           force ? " (accepted with --force)" : "; use --force to migrate anyway");
    if (strcmp (rdm, "physical") == 0)
      add (refuse, "physical-rdm", d,
           "'%s' is a physical-mode RDM, which cannot be snapshotted", label);
    else if (strcmp (rdm, "virtual") == 0)
      add (warn, "virtual-rdm", d, "'%s' is a virtual-mode RDM", label);
    if (strcmp (sharing, "sharingNone") != 0)
      add (warn, "shared-disk", d,
           "'%s' is shared (%s): another VM may write it during the copy",
           label, sharing);
    if (!jbool (d, "cbt") && jbool (vm, "cbt_enabled"))
      add (warn, "disk-cbt-off", d, "changed block tracking is off on '%s'",
           label);
  }
  json_array_foreach (json_object_get (inv, "snapshots"), i, d)
    add (warn, "foreign-snapshot", NULL,
         "snapshot '%s' (%s) was not created by v2k; it stays untouched",
         jstr_or (d, "name", ""), jstr_or (d, "moref", ""));
  if (json_array_size (json_object_get (inv, "snapshots")) >= 30)
    add (refuse, "snapshot-chain", NULL,
         "the VM has %zu snapshots; vSphere allows 32 in a chain",
         json_array_size (json_object_get (inv, "snapshots")));
  json_array_foreach (json_object_get (inv, "cdroms"), i, d)
    if (jbool (d, "connected") || jbool (d, "start_connected"))
      add (warn, "cdrom-connected", NULL,
           "'%s' is connected; it is not migrated", jstr_or (d, "label", "CD/DVD"));
  if (tname && strcmp (tname, name) != 0)
    add (warn, "vm-name", NULL,
         "'%s' is not a valid libvirt/RFC 1123 name; the target is named '%s'",
         name, tname);
  if (!jbool (vm, "cbt_enabled"))
    add (warn, "cbt-off", NULL,
         "changed block tracking is off; run 'cbt enable' before 'snapshot base'");
  jset_str (res, "target_name", tname);
  free (tname);
  return res;
}

/* Sort key of a disk: controller type is not part of it, since vSphere
 * numbers buses per controller type and "Hard disk N" already tells the
 * creation order. */
static long long
position (const json_t *d)
{
  const json_t *c = json_object_get (d, "controller");
  return jint (c, "bus") * 1000 + jint (d, "unit");
}

void
assign_disk_roles (json_t *disks, const json_t *boot_order)
{
  json_t *root = NULL, *d;
  size_t i;

  if (json_array_size (boot_order) > 0) {
    json_int_t key = json_integer_value (json_array_get (boot_order, 0));
    json_array_foreach (disks, i, d)
      if (jint (d, "key") == key)
        root = d;
  }
  if (root == NULL)
    json_array_foreach (disks, i, d)
      if (strcmp (jstr_or (d, "label", ""), "Hard disk 1") == 0)
        root = d;
  if (root == NULL)
    json_array_foreach (disks, i, d)
      if (root == NULL || position (d) < position (root))
        root = d;
  json_array_foreach (disks, i, d)
    jset_str (d, "role", d == root ? "root" : "data");
}
