/* PropertyCollector: RetrievePropertiesEx and its continuation pages.
 *
 * The documents of all pages are kept, and the callers walk the
 * <objects> elements directly: copying the properties into another
 * structure would only duplicate the tree.
 */
#include "vsphere/soap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/error.h"

void
props_free (struct props_result *res)
{
  for (size_t i = 0; i < res->nr_docs; i++)
    xmlFreeDoc (res->docs[i]);
  free (res->docs);
  res->docs = NULL;
  res->nr_docs = 0;
}

int
props_add_page (struct props_result *res, xmlDoc *doc, xmlNode **retval)
{
  xmlDoc **d = realloc (res->docs, (res->nr_docs + 1) * sizeof *d);
  xmlNode *body;

  if (d == NULL) {
    xmlFreeDoc (doc);
    v2k_error ("out of memory");
    return -1;
  }
  res->docs = d;
  res->docs[res->nr_docs++] = doc;
  if (retval) {
    body = x_child (xmlDocGetRootElement (doc), "Body");
    *retval = x_child (x_child (body, NULL), "returnval");
  }
  return 0;
}

static xmlNode *
page_first (xmlDoc *doc)
{
  xmlNode *body = x_child (xmlDocGetRootElement (doc), "Body");

  return x_child (x_child (x_child (body, NULL), "returnval"), "objects");
}

xmlNode *
props_first (const struct props_result *res)
{
  for (size_t i = 0; i < res->nr_docs; i++) {
    xmlNode *o = page_first (res->docs[i]);
    if (o)
      return o;
  }
  return NULL;
}

xmlNode *
props_next (const struct props_result *res, xmlNode *obj)
{
  xmlNode *n = x_next (obj, "objects");
  size_t i;

  if (n)
    return n;
  for (i = 0; i < res->nr_docs; i++)
    if (res->docs[i] == obj->doc)
      break;
  for (i++; i < res->nr_docs; i++) {
    n = page_first (res->docs[i]);
    if (n)
      return n;
  }
  return NULL;
}

xmlNode *
props_val (const xmlNode *obj, const char *name)
{
  for (xmlNode *p = x_child (obj, "propSet"); p; p = x_next (p, "propSet")) {
    xmlNode *n = x_child (p, "name");
    xmlChar *s = n ? xmlNodeGetContent (n) : NULL;
    bool match = s && strcmp ((const char *) s, name) == 0;

    xmlFree (s);
    if (match)
      return x_child (p, "val");
  }
  return NULL;
}

char *
props_moref (const xmlNode *obj)
{
  return x_path_text (obj, "obj");
}

int
props_new (struct vim *vim, struct soap_req *r, xmlNode **spec_set)
{
  if (soap_new (r, "RetrievePropertiesEx", "PropertyCollector",
                vim->property_collector) < 0)
    return -1;
  *spec_set = soap_add (r->method, "specSet", NULL);
  soap_add (r->method, "options", NULL);
  return 0;
}

/* A missingSet entry means a property could not be read.  Returns 1 if
 * the reason is an expired session (vcsim and vCenter report that here
 * instead of as a fault), -1 with the error set, 0 if all is there. */
static int
check_missing (const struct props_result *res)
{
  for (xmlNode *o = props_first (res); o; o = props_next (res, o)) {
    xmlNode *m = x_child (o, "missingSet");
    CLEANUP_FREE char *type = NULL, *path = NULL, *msg = NULL, *obj = NULL;

    if (m == NULL)
      continue;
    type = soap_fault_type (x_child (m, "fault"));
    if (type && strcmp (type, "NotAuthenticated") == 0)
      return 1;
    path = x_path_text (m, "path");
    msg = x_path_text (m, "fault/localizedMessage");
    obj = props_moref (o);
    v2k_error ("cannot read '%s' of '%s': vCenter fault '%s': %s",
               path ? path : "?", obj ? obj : "?", type ? type : "unknown",
               msg && msg[0] ? msg : "no message");
    return -1;
  }
  return 0;
}

static int
run_once (struct vim *vim, struct soap_req *r, struct props_result *out)
{
  xmlDoc *doc = NULL;
  xmlNode *rv;
  CLEANUP_FREE char *token = NULL;

  if (soap_call (vim, r, &doc, &rv) < 0 || props_add_page (out, doc, &rv) < 0)
    return -1;
  token = x_path_text (rv, "token");
  while (token) {
    struct soap_req c;
    int rc;

    if (soap_new (&c, "ContinueRetrievePropertiesEx", "PropertyCollector",
                  vim->property_collector) < 0)
      return -1;
    soap_add (c.method, "token", token);
    rc = soap_call (vim, &c, &doc, &rv);
    soap_free (&c);
    if (rc < 0 || props_add_page (out, doc, &rv) < 0)
      return -1;
    free (token);
    token = x_path_text (rv, "token");
  }
  return 0;
}

int
props_run (struct vim *vim, struct soap_req *r, struct props_result *out)
{
  int rc;

  memset (out, 0, sizeof *out);
  if (run_once (vim, r, out) < 0)
    goto err;
  rc = check_missing (out);
  if (rc == 1 && vim->logged_in) {
    props_free (out);
    if (session_login (vim) < 0) {
      v2k_error_prefix ("session expired during RetrievePropertiesEx");
      goto err;
    }
    if (run_once (vim, r, out) < 0)
      goto err;
    rc = check_missing (out);
  }
  if (rc == 1)
    v2k_error ("vCenter fault 'NotAuthenticated': the session is not "
               "authenticated");
  if (rc != 0)
    goto err;
  return 0;
 err:
  props_free (out);
  return -1;
}

int
props_get (struct vim *vim, const char *type, const char *moref,
           const char *const *paths, struct props_result *out)
{
  struct soap_req r;
  xmlNode *spec, *ps, *os;
  int ret;

  if (props_new (vim, &r, &spec) < 0)
    return -1;
  ps = soap_add (spec, "propSet", NULL);
  soap_add (ps, "type", type);
  for (size_t i = 0; paths[i]; i++)
    soap_add (ps, "pathSet", paths[i]);
  os = soap_add (spec, "objectSet", NULL);
  soap_add_moref (os, "obj", type, moref);
  ret = props_run (vim, &r, out);
  soap_free (&r);
  if (ret == 0 && props_first (out) == NULL) {
    props_free (out);
    v2k_error ("%s '%s' does not exist", type, moref);
    ret = -1;
  }
  return ret;
}
