/* Finding a VM by moref, UUID, inventory path or name. */
#include "vsphere/soap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "util/cleanup.h"
#include "util/error.h"

bool
find_looks_like_moref (const char *s)
{
  if (strncmp (s, "vm-", 3) != 0 || s[3] == '\0')
    return false;
  for (s += 3; *s; s++)
    if (!isdigit ((unsigned char) *s))
      return false;
  return true;
}

/* 8-4-4-4-12 hex digits (the BIOS UUID and the instance UUID). */
bool
find_looks_like_uuid (const char *s)
{
  static const int groups[] = { 8, 4, 4, 4, 12 };

  for (size_t g = 0; g < 5; g++) {
    for (int i = 0; i < groups[g]; i++, s++)
      if (!isxdigit ((unsigned char) *s))
        return false;
    if (g < 4 && *s++ != '-')
      return false;
  }
  return *s == '\0';
}

static int
by_moref (struct vim *vim, const char *spec, char **moref)
{
  static const char *const paths[] = { "name", NULL };
  struct props_result pr;

  if (props_get (vim, "VirtualMachine", spec, paths, &pr) < 0)
    return vim->last_fault
      && strcmp (vim->last_fault, "ManagedObjectNotFound") == 0 ? 0 : -1;
  props_free (&pr);
  *moref = strdup (spec);
  return *moref ? 1 : -1;
}

/* 1 found, 0 not found, -1 error. */
static int
by_uuid (struct vim *vim, const char *uuid, bool instance, char **moref)
{
  struct soap_req r;
  CLEANUP_XMLDOC xmlDoc *resp = NULL;
  xmlNode *rv;
  int ret = -1;

  if (soap_new (&r, "FindByUuid", "SearchIndex", vim->search_index) < 0)
    return -1;
  soap_add (r.method, "uuid", uuid);
  soap_add_bool (r.method, "vmSearch", true);
  soap_add_bool (r.method, "instanceUuid", instance);
  if (soap_call (vim, &r, &resp, &rv) < 0)
    goto cleanup;
  ret = 0;
  if (rv) {
    *moref = x_text (rv);
    ret = *moref ? 1 : -1;
  }
 cleanup:
  soap_free (&r);
  return ret;
}

static int
by_path (struct vim *vim, const char *path, char **moref)
{
  struct soap_req r;
  CLEANUP_XMLDOC xmlDoc *resp = NULL;
  xmlChar *type = NULL;
  xmlNode *rv;
  int ret = -1;

  if (soap_new (&r, "FindByInventoryPath", "SearchIndex",
                vim->search_index) < 0)
    return -1;
  /* vCenter's inventory paths have no leading slash. */
  soap_add (r.method, "inventoryPath", path + strspn (path, "/"));
  if (soap_call (vim, &r, &resp, &rv) < 0)
    goto cleanup;
  ret = 0;
  if (rv == NULL)
    goto cleanup;
  type = xmlGetNoNsProp (rv, BAD_CAST "type");
  if (type == NULL || strcmp ((const char *) type, "VirtualMachine") != 0) {
    v2k_error ("'%s' is a %s, not a VM", path,
               type ? (const char *) type : "thing");
    ret = -1;
    goto cleanup;
  }
  *moref = x_text (rv);
  ret = *moref ? 1 : -1;
 cleanup:
  xmlFree (type);
  soap_free (&r);
  return ret;
}

static void
destroy_view (struct vim *vim, const char *view)
{
  struct soap_req r;
  CLEANUP_XMLDOC xmlDoc *resp = NULL;

  if (soap_new (&r, "DestroyView", "ContainerView", view) == 0) {
    soap_call (vim, &r, &resp, NULL);
    soap_free (&r);
  }
}

/* The morefs of every VM called NAME, through a ContainerView of all
 * VMs (one PropertyCollector call, paged, whatever the inventory size). */
static int
by_name (struct vim *vim, const char *name, char ***morefs, size_t *n)
{
  struct soap_req r = { 0 };
  CLEANUP_XMLDOC xmlDoc *resp = NULL;
  CLEANUP_FREE char *view = NULL;
  struct props_result pr = { 0 };
  xmlNode *rv, *spec, *ps, *os, *ts;
  int ret = -1;

  *morefs = NULL;
  *n = 0;
  if (vim->view_manager == NULL) {
    v2k_error ("'%s' has no ViewManager: give the VM's inventory path",
               vim->host);
    return -1;
  }
  if (soap_new (&r, "CreateContainerView", "ViewManager",
                vim->view_manager) < 0)
    return -1;
  soap_add_moref (r.method, "container", "Folder", vim->root_folder);
  soap_add (r.method, "type", "VirtualMachine");
  soap_add_bool (r.method, "recursive", true);
  if (soap_call (vim, &r, &resp, &rv) < 0 || (view = x_text (rv)) == NULL)
    goto cleanup;
  soap_free (&r);

  if (props_new (vim, &r, &spec) < 0)
    goto cleanup;
  ps = soap_add (spec, "propSet", NULL);
  soap_add (ps, "type", "VirtualMachine");
  soap_add (ps, "pathSet", "name");
  os = soap_add (spec, "objectSet", NULL);
  soap_add_moref (os, "obj", "ContainerView", view);
  soap_add_bool (os, "skip", true);
  ts = soap_add_typed (os, "selectSet", "TraversalSpec", NULL);
  soap_add (ts, "name", "traverseView");
  soap_add (ts, "type", "ContainerView");
  soap_add (ts, "path", "view");
  soap_add_bool (ts, "skip", false);
  if (props_run (vim, &r, &pr) < 0)
    goto cleanup;
  for (xmlNode *o = props_first (&pr); o; o = props_next (&pr, o)) {
    CLEANUP_FREE char *vname = x_text (props_val (o, "name"));
    char **p;

    if (vname == NULL || strcmp (vname, name) != 0)
      continue;
    p = realloc (*morefs, (*n + 1) * sizeof *p);
    if (p == NULL) {
      v2k_error ("out of memory");
      goto cleanup;
    }
    *morefs = p;
    if (((*morefs)[*n] = props_moref (o)) != NULL)
      ++*n;
  }
  ret = 0;
 cleanup:
  props_free (&pr);
  soap_free (&r);
  if (view)
    destroy_view (vim, view);
  return ret;
}

static void
ambiguous (struct vim *vim, const char *name, char **morefs, size_t n)
{
  char list[3072] = "";
  size_t len = 0;

  for (size_t i = 0; i < n && len < sizeof list - 1; i++) {
    CLEANUP_FREE char *path = NULL;

    if (inv_inventory_path (vim, "VirtualMachine", morefs[i], &path) < 0)
      path = NULL;
    len += snprintf (list + len, sizeof list - len, "%s'%s' (%s, %s)",
                     i ? ", " : "", name, morefs[i], path ? path : "?");
  }
  v2k_error ("VM name '%s' is ambiguous, %zu VMs have it: %s; give an "
             "inventory path or a moref", name, n, list);
}

int
vim_find_vm (struct vim *vim, const char *spec, char **moref)
{
  char **morefs = NULL;
  size_t n = 0;
  int rc, ret = -1;

  *moref = NULL;
  if (spec == NULL || spec[0] == '\0') {
    v2k_error ("no VM given");
    return -1;
  }
  if (spec[0] == '/') {
    rc = by_path (vim, spec, moref);
    if (rc == 0)
      v2k_error ("no VM at inventory path '%s' in '%s'", spec, vim->host);
    return rc == 1 ? 0 : -1;
  }
  if (find_looks_like_uuid (spec)) {
    rc = by_uuid (vim, spec, false, moref);
    if (rc == 0)
      rc = by_uuid (vim, spec, true, moref);
    if (rc == 0)
      v2k_error ("no VM with UUID '%s' in '%s'", spec, vim->host);
    return rc == 1 ? 0 : -1;
  }
  /* A moref-like spec can still be a VM's name. */
  if (find_looks_like_moref (spec)) {
    rc = by_moref (vim, spec, moref);
    if (rc != 0)
      return rc == 1 ? 0 : -1;
  }
  if (by_name (vim, spec, &morefs, &n) < 0)
    goto cleanup;
  if (n == 0)
    v2k_error ("no VM named '%s' in '%s'", spec, vim->host);
  else if (n > 1)
    ambiguous (vim, spec, morefs, n);
  else {
    *moref = morefs[0];
    morefs[0] = NULL;
    ret = 0;
  }
 cleanup:
  for (size_t i = 0; i < n; i++)
    free (morefs[i]);
  free (morefs);
  return ret;
}
