/* vim-probe: drive the vSphere client by hand (a test tool, not product).
 *
 *   VIM_PASSWORD=... vim-probe [-k] [-t THUMBPRINT] URL USER VM [STEP...]
 *
 * Steps (default: find inventory):
 *   find          resolve VM (name, /inventory/path, moref or UUID)
 *   inventory     print vim_vm_inventory JSON
 *   power         print the power state
 *   cbt-on        enable CBT          cbt-off   disable CBT
 *   snap          create snapshot "vim-probe", print its disks
 *   changes       (after snap) one QueryChangedDiskAreas page of the
 *                 first disk with changeId "*"
 *   unsnap        remove the snapshot made by "snap"
 *   on / off / shutdown
 *   expire        log out behind the client's back (next call relogs in)
 *   sleep=N       wait N seconds (to inject lab faults meanwhile)
 *   rename=NAME   rename the VM (to test ambiguous names)
 *   remove-snap=MOREF   remove a given snapshot
 *   snap-disks=MOREF    print a given snapshot's disks
 *
 * Exits 1 with the client's error message on the first failing step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsphere/vim.h"
#include "vsphere/soap.h"
#include "util/error.h"

static void
progress (void *opaque, const char *what, int percent)
{
  (void) opaque;
  fprintf (stderr, "vim-probe: %s: %d%%\n", what, percent);
}

static void
print_json (json_t *j)
{
  char *s = json_dumps (j, JSON_INDENT (2) | JSON_SORT_KEYS);

  printf ("%s\n", s ? s : "null");
  free (s);
}

static int
step (struct vim *vim, const char *vm, const char *s, char **snap)
{
  json_t *j = NULL;
  char *str = NULL;
  int r = 0;

  if (strcmp (s, "find") == 0)
    printf ("moref %s\n", vm);
  else if (strcmp (s, "inventory") == 0) {
    if ((r = vim_vm_inventory (vim, vm, &j)) == 0)
      print_json (j);
  }
  else if (strcmp (s, "power") == 0) {
    if ((r = vim_power_state (vim, vm, &str)) == 0)
      printf ("power %s\n", str);
  }
  else if (strcmp (s, "cbt-on") == 0 || strcmp (s, "cbt-off") == 0)
    r = vim_set_cbt (vim, vm, strcmp (s, "cbt-on") == 0);
  else if (strcmp (s, "snap") == 0) {
    free (*snap);
    *snap = NULL;
    r = vim_create_snapshot (vim, vm, "vim-probe", "made by vim-probe",
                             false, snap);
    if (r == 0) {
      printf ("snapshot %s\n", *snap);
      if ((r = vim_snapshot_disks (vim, *snap, &j)) == 0)
        print_json (j);
    }
  }
  else if (strncmp (s, "snap-disks=", 11) == 0) {
    if ((r = vim_snapshot_disks (vim, s + 11, &j)) == 0)
      print_json (j);
  }
  else if (strcmp (s, "changes") == 0) {
    json_t *disks = NULL;
    struct vim_changes c;

    if (*snap == NULL) {
      v2k_error ("'changes' needs a 'snap' step first");
      return -1;
    }
    if ((r = vim_snapshot_disks (vim, *snap, &disks)) == 0
        && json_array_size (disks) > 0) {
      json_t *d = json_array_get (disks, 0);
      r = vim_query_changed_areas (vim, vm, *snap,
                                   json_integer_value (json_object_get (d, "key")),
                                   0, "*", &c);
      if (r == 0) {
        printf ("changes start %lld length %lld areas %zu\n",
                (long long) c.start, (long long) c.length, c.nr_areas);
        for (size_t i = 0; i < c.nr_areas && i < 20; i++)
          printf ("  %lld+%lld\n", (long long) c.areas[i].start,
                  (long long) c.areas[i].length);
        vim_changes_free (&c);
      }
    }
    json_decref (disks);
  }
  else if (strcmp (s, "unsnap") == 0) {
    if (*snap == NULL) {
      v2k_error ("'unsnap' needs a 'snap' step first");
      return -1;
    }
    r = vim_remove_snapshot (vim, *snap);
  }
  else if (strncmp (s, "remove-snap=", 12) == 0)
    r = vim_remove_snapshot (vim, s + 12);
  else if (strcmp (s, "on") == 0)
    r = vim_power_on (vim, vm);
  else if (strcmp (s, "off") == 0)
    r = vim_power_off (vim, vm);
  else if (strcmp (s, "shutdown") == 0)
    r = vim_shutdown_guest (vim, vm);
  else if (strncmp (s, "rename=", 7) == 0) {
    struct soap_req q;

    if ((r = soap_new (&q, "Rename_Task", "VirtualMachine", vm)) == 0) {
      soap_add (q.method, "newName", s + 7);
      r = task_call (vim, &q, "rename", NULL);
      soap_free (&q);
    }
  }
  else if (strncmp (s, "sleep=", 6) == 0)
    sleep (atoi (s + 6));
  else if (strcmp (s, "expire") == 0)
    r = session_logout (vim);
  else {
    v2k_error ("unknown step '%s'", s);
    r = -1;
  }
  json_decref (j);
  free (str);
  return r;
}

int
main (int argc, char *argv[])
{
  struct vim_conn_opts o = { 0 };
  struct vim *vim;
  char *moref = NULL, *snap = NULL;
  const char *const dflt[] = { "find", "inventory" };
  int c, ret = 1;

  while ((c = getopt (argc, argv, "kt:")) != -1) {
    if (c == 'k')
      o.insecure = true;
    else if (c == 't')
      o.thumbprint = optarg;
    else
      return 2;
  }
  if (argc - optind < 3 || getenv ("VIM_PASSWORD") == NULL) {
    fprintf (stderr, "usage: VIM_PASSWORD=... vim-probe [-k] [-t THUMBPRINT] "
             "URL USER VM [STEP...]\n");
    return 2;
  }
  o.url = argv[optind];
  o.username = argv[optind + 1];
  o.password = getenv ("VIM_PASSWORD");
  vim = vim_connect (&o);
  if (vim == NULL)
    goto out;
  vim_set_progress_callback (vim, progress, NULL);
  fprintf (stderr, "vim-probe: connected to %s, thumbprint %s\n",
           vim_about_fullname (vim) ? vim_about_fullname (vim) : "?",
           vim_server_thumbprint (vim) ? vim_server_thumbprint (vim) : "?");
  if (vim_find_vm (vim, argv[optind + 2], &moref) < 0)
    goto out;
  if (argc - optind == 3) {
    for (size_t i = 0; i < 2; i++)
      if (step (vim, moref, dflt[i], &snap) < 0)
        goto out;
  }
  for (int i = optind + 3; i < argc; i++)
    if (step (vim, moref, argv[i], &snap) < 0)
      goto out;
  ret = 0;
 out:
  if (ret)
    fprintf (stderr, "vim-probe: %s\n", v2k_errmsg ());
  vim_close (vim);
  free (moref);
  free (snap);
  return ret;
}
