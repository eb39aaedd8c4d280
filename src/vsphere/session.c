/* Connecting: RetrieveServiceContent, Login, relogin, Logout. */
#include "vsphere/soap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "util/cleanup.h"
#include "util/error.h"

#define DEFAULT_TASK_TIMEOUT 3600

/* "vc", "vc:443", "https://vc", "https://u:p@vc/sdk" -> "https://vc/sdk"
 * and the host name for messages.  Credentials in the URL are dropped:
 * they would end up in messages. */
static int
normalise_url (struct vim *vim, const char *in)
{
  CURLU *u = curl_url ();
  CLEANUP_FREE char *tmp = NULL;
  char *path = NULL, *host = NULL, *url = NULL;
  int ret = -1;

  if (u == NULL) {
    v2k_error ("out of memory");
    return -1;
  }
  if (strstr (in, "://") == NULL) {
    if (asprintf (&tmp, "https://%s", in) < 0) {
      v2k_error ("out of memory");
      goto cleanup;
    }
    in = tmp;
  }
  if (curl_url_set (u, CURLUPART_URL, in, 0) != CURLUE_OK
      || curl_url_get (u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    v2k_error ("invalid vCenter URL '%s'", in);
    goto cleanup;
  }
  curl_url_set (u, CURLUPART_USER, NULL, 0);
  curl_url_set (u, CURLUPART_PASSWORD, NULL, 0);
  if (curl_url_get (u, CURLUPART_PATH, &path, 0) != CURLUE_OK
      || path == NULL || strcmp (path, "/") == 0 || path[0] == '\0')
    curl_url_set (u, CURLUPART_PATH, "/sdk", 0);
  if (curl_url_get (u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
    v2k_error ("invalid vCenter URL '%s'", in);
    goto cleanup;
  }
  vim->url = strdup (url);
  vim->host = strdup (host);
  if (vim->url == NULL || vim->host == NULL) {
    v2k_error ("out of memory");
    goto cleanup;
  }
  ret = 0;
 cleanup:
  curl_free (path);
  curl_free (host);
  curl_free (url);
  curl_url_cleanup (u);
  return ret;
}

static char *
text_or_null (const xmlNode *n, const char *path)
{
  return x_path_text (n, path);
}

int
session_parse_service_content (struct vim *vim, const xmlNode *rv)
{
  vim->root_folder = text_or_null (rv, "rootFolder");
  vim->property_collector = text_or_null (rv, "propertyCollector");
  vim->view_manager = text_or_null (rv, "viewManager");
  vim->search_index = text_or_null (rv, "searchIndex");
  vim->session_manager = text_or_null (rv, "sessionManager");
  free (vim->authorization_manager);
  vim->authorization_manager = text_or_null (rv, "authorizationManager");
  vim->about_fullname = text_or_null (rv, "about/fullName");
  vim->api_version = text_or_null (rv, "about/apiVersion");
  if (vim->root_folder == NULL || vim->property_collector == NULL
      || vim->session_manager == NULL || vim->search_index == NULL) {
    v2k_error ("the ServiceContent of '%s' lacks %s", vim->host,
               vim->session_manager ? "an inventory" : "a session manager");
    return -1;
  }
  free (vim->soap_action);
  if (asprintf (&vim->soap_action, "urn:vim25/%s",
                vim->api_version ? vim->api_version : "6.5") < 0) {
    vim->soap_action = NULL;
    v2k_error ("out of memory");
    return -1;
  }
  return 0;
}

static int
retrieve_service_content (struct vim *vim)
{
  struct soap_req r;
  CLEANUP_XMLDOC xmlDoc *resp = NULL;
  xmlNode *rv;
  int ret = -1;

  if (soap_new (&r, "RetrieveServiceContent", "ServiceInstance",
                "ServiceInstance") < 0)
    return -1;
  if (soap_call_once (vim, &r, &resp, &rv, NULL) < 0)
    goto cleanup;
  if (rv == NULL) {
    v2k_error ("'%s' returned no ServiceContent", vim->host);
    goto cleanup;
  }
  ret = session_parse_service_content (vim, rv);
 cleanup:
  soap_free (&r);
  return ret;
}

int
session_login (struct vim *vim)
{
  struct soap_req r;
  CLEANUP_XMLDOC xmlDoc *resp = NULL;
  CLEANUP_FREE char *fault = NULL;
  xmlNode *rv;
  int ret = -1;

  /* A session the server calls dead is dropped with its cookie: Login on
   * a cookie the server still knows is refused (InvalidLogin). */
  if (vim->logged_in && vim->curl)
    curl_easy_setopt (vim->curl, CURLOPT_COOKIELIST, "ALL");
  vim->logged_in = false;
  if (soap_new (&r, "Login", "SessionManager", vim->session_manager) < 0)
    return -1;
  soap_add (r.method, "userName", vim->username);
  soap_add (r.method, "password", vim->password);
  if (soap_call_once (vim, &r, &resp, &rv, &fault) < 0) {
    /* InvalidLogin, or a network error: either way, who and where. */
    v2k_error_prefix ("cannot log in to '%s' as '%s'", vim->host,
                      vim->username);
    goto cleanup;
  }
  vim->logged_in = true;
  ret = 0;
 cleanup:
  /* The envelope held the password: wipe it before freeing. */
  if (r.doc) {
    xmlNode *p = x_child (r.method, "password");
    if (p)
      xmlNodeSetContent (p, BAD_CAST "");
  }
  soap_free (&r);
  return ret;
}

int
session_logout (struct vim *vim)
{
  struct soap_req r;
  CLEANUP_XMLDOC xmlDoc *resp = NULL;
  int ret;

  if (soap_new (&r, "Logout", "SessionManager", vim->session_manager) < 0)
    return -1;
  ret = soap_call_once (vim, &r, &resp, NULL, NULL);
  soap_free (&r);
  return ret;
}

struct vim *
vim_connect (const struct vim_conn_opts *opts)
{
  struct vim *vim;

  if (opts == NULL || opts->url == NULL || opts->username == NULL
      || opts->password == NULL) {
    v2k_error ("vim_connect: url, username and password are required");
    return NULL;
  }
  v2k_error_redact (opts->password);
  /* libxml2 and libcurl global set-up; both are idempotent. */
  xmlInitParser ();
  curl_global_init (CURL_GLOBAL_DEFAULT);

  vim = calloc (1, sizeof *vim);
  if (vim == NULL) {
    v2k_error ("out of memory");
    return NULL;
  }
  vim->insecure = opts->insecure;
  vim->timeout = opts->timeout;
  vim->task_timeout = DEFAULT_TASK_TIMEOUT;
  vim->username = strdup (opts->username);
  vim->password = strdup (opts->password);
  if (vim->username == NULL || vim->password == NULL) {
    v2k_error ("out of memory");
    goto err;
  }
  if (opts->thumbprint && opts->thumbprint[0]) {
    vim->thumbprint = soap_normalise_thumbprint (opts->thumbprint);
    if (vim->thumbprint == NULL || strlen (vim->thumbprint) != 59) {
      v2k_error ("invalid thumbprint '%s': expected 20 hex bytes "
                 "(SHA-1, AA:BB:...)", opts->thumbprint);
      goto err;
    }
  }
  if (normalise_url (vim, opts->url) < 0
      || soap_transport_init (vim) < 0)
    goto err;
  if (opts->cainfo)
    curl_easy_setopt (vim->curl, CURLOPT_CAINFO, opts->cainfo);
  if (retrieve_service_content (vim) < 0 || session_login (vim) < 0)
    goto err;
  return vim;
 err:
  vim_close (vim);
  return NULL;
}

void
vim_close (struct vim *vim)
{
  if (vim == NULL)
    return;
  if (vim->logged_in && vim->curl) {
    /* Best effort: a failed Logout must not replace the caller's error. */
    char saved[4096];

    snprintf (saved, sizeof saved, "%s", v2k_errmsg ());
    session_logout (vim);
    v2k_error ("%s", saved);
  }
  soap_transport_free (vim);
  if (vim->password) {
    memset (vim->password, 0, strlen (vim->password));
    free (vim->password);
  }
  free (vim->username);
  free (vim->thumbprint);
  free (vim->url);
  free (vim->host);
  free (vim->soap_action);
  free (vim->last_fault);
  free (vim->root_folder);
  free (vim->property_collector);
  free (vim->view_manager);
  free (vim->search_index);
  free (vim->session_manager);
  free (vim->authorization_manager);
  free (vim->about_fullname);
  free (vim->api_version);
  free (vim);
}

const char *
vim_server_thumbprint (struct vim *vim)
{
  return vim->server_thumbprint[0] ? vim->server_thumbprint : NULL;
}

const char *
vim_about_fullname (struct vim *vim)
{
  return vim->about_fullname;
}

void
vim_set_task_timeout (struct vim *vim, int seconds)
{
  vim->task_timeout = seconds > 0 ? seconds : DEFAULT_TASK_TIMEOUT;
}

void
vim_set_progress_callback (struct vim *vim,
                           void (*cb) (void *opaque, const char *task,
                                       int percent),
                           void *opaque)
{
  vim->progress = cb;
  vim->progress_opaque = opaque;
}
