/* Privileges of the logged-in user (doctor). */
#include "vsphere/soap.h"

#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/error.h"

const char *
vim_root_folder (struct vim *vim)
{
  return vim->root_folder;
}

int
vim_user_privileges (struct vim *vim, const char *type, const char *moref,
                     json_t **privs)
{
  struct soap_req r;
  CLEANUP_XMLDOC xmlDoc *resp = NULL;
  xmlNode *rv = NULL, *p;
  int ret = -1;

  *privs = NULL;
  if (vim->authorization_manager == NULL) {
    v2k_error ("'%s' has no AuthorizationManager", vim->host);
    return -1;
  }
  if (soap_new (&r, "FetchUserPrivilegeOnEntities", "AuthorizationManager",
                vim->authorization_manager) < 0)
    return -1;
  soap_add_moref (r.method, "entities", type, moref);
  soap_add (r.method, "userName", vim->username);
  if (soap_call (vim, &r, &resp, &rv) < 0) {
    v2k_error_prefix ("cannot read the privileges of '%s' on '%s'",
                      vim->username, moref);
    goto cleanup;
  }
  *privs = json_array ();
  /* One UserPrivilegeResult per entity: <returnval><entity/><privileges/>... */
  for (; rv; rv = x_next (rv, "returnval"))
    for (p = x_child (rv, "privileges"); p; p = x_next (p, "privileges")) {
      CLEANUP_FREE char *t = x_text (p);
      if (t)
        json_array_append_new (*privs, json_string (t));
    }
  ret = 0;

 cleanup:
  soap_free (&r);
  return ret;
}
