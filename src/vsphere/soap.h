/* Internal interface of the vSphere client: the map of src/vsphere/.
 *
 * One section per source file, after libnbd's lib/internal.h.  Nothing
 * here is part of the public API (vim.h); the unit tests include it to
 * feed recorded SOAP responses to the parsers without a network.
 */
#ifndef V2K_VSPHERE_SOAP_H
#define V2K_VSPHERE_SOAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <curl/curl.h>
#include <libxml/tree.h>
#include <jansson.h>

#include "vsphere/vim.h"

static inline void
v2k_cleanup_xmldoc (xmlDoc **doc)
{
  if (*doc)
    xmlFreeDoc (*doc);
}
#define CLEANUP_XMLDOC __attribute__ ((cleanup (v2k_cleanup_xmldoc)))

#define VIM25_NS "urn:vim25"
#define SOAPENV_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"

/* The SOAP methods v2k calls, written once (after nbdkit's vddk-stubs.h).
 * VIM_METHOD(name, type of _this) expands to the method table that
 * documents which managed objects we talk to. */
#define VIM_METHODS(M)                                                \
  M (RetrieveServiceContent,       "ServiceInstance")                 \
  M (Login,                        "SessionManager")                  \
  M (Logout,                       "SessionManager")                  \
  M (RetrievePropertiesEx,         "PropertyCollector")               \
  M (ContinueRetrievePropertiesEx, "PropertyCollector")               \
  M (CreateContainerView,          "ViewManager")                     \
  M (DestroyView,                  "ContainerView")                   \
  M (FindByInventoryPath,          "SearchIndex")                     \
  M (FindByUuid,                   "SearchIndex")                     \
  M (ReconfigVM_Task,              "VirtualMachine")                  \
  M (CreateSnapshot_Task,          "VirtualMachine")                  \
  M (RemoveSnapshot_Task,          "VirtualMachineSnapshot")          \
  M (QueryChangedDiskAreas,        "VirtualMachine")                  \
  M (PowerOnVM_Task,               "VirtualMachine")                  \
  M (PowerOffVM_Task,              "VirtualMachine")                  \
  M (ShutdownGuest,                "VirtualMachine")                  \
  M (CancelTask,                   "Task")

/* The VM properties the inventory reads, one RetrievePropertiesEx. */
#define VIM_VM_PROPERTIES(P)                    \
  P ("name")                                    \
  P ("config.uuid")                             \
  P ("config.instanceUuid")                     \
  P ("config.guestId")                          \
  P ("config.guestFullName")                    \
  P ("config.firmware")                         \
  P ("config.bootOptions")                      \
  P ("config.version")                          \
  P ("config.changeTrackingEnabled")            \
  P ("config.extraConfig")                      \
  P ("config.hardware")                         \
  P ("runtime.powerState")                      \
  P ("runtime.host")                            \
  P ("guest.toolsStatus")                       \
  P ("guest.toolsRunningStatus")                \
  P ("snapshot")

/* soap.c: transport, envelopes, faults. */
struct vim {
  CURL *curl;
  struct curl_slist *headers;
  char errbuf[CURL_ERROR_SIZE];
  char *url;                    /* https://host[:port]/sdk */
  char *host;                   /* for messages: "vc.example.com" */
  char *username;
  char *password;
  char *thumbprint;             /* expected, normalised "AA:BB:..." */
  char server_thumbprint[64];   /* what the peer presented */
  bool mismatch;                /* set by the TLS callback */
  bool insecure;
  long timeout;
  int task_timeout;
  bool logged_in;
  char *last_fault;             /* detail type of the last SOAP fault */
  char *soap_action;            /* "urn:vim25/7.0.3.0" */

  /* ServiceContent. */
  char *root_folder, *property_collector, *view_manager;
  char *search_index, *session_manager;
  char *authorization_manager;  /* optional: absent on some servers */
  char *about_fullname, *api_version;

  void (*progress) (void *opaque, const char *task, int percent);
  void *progress_opaque;
};

/* A request: the envelope's document and its method element. */
struct soap_req {
  xmlDoc *doc;
  xmlNode *method;
  const char *name;             /* method name, for messages */
};

extern int soap_transport_init (struct vim *vim);
extern void soap_transport_free (struct vim *vim);

/* Start a request "<METHOD><_this type=THIS_TYPE>THIS</_this>". */
extern int soap_new (struct soap_req *r, const char *method,
                     const char *this_type, const char *this);
extern void soap_free (struct soap_req *r);

/* Children in urn:vim25; all return the new element or NULL (which the
 * next call tolerates and soap_call reports as out of memory). */
extern xmlNode *soap_add (xmlNode *parent, const char *name, const char *text);
extern xmlNode *soap_add_typed (xmlNode *parent, const char *name,
                                const char *xsi_type, const char *text);
extern xmlNode *soap_add_moref (xmlNode *parent, const char *name,
                                const char *type, const char *moref);
extern xmlNode *soap_add_int (xmlNode *parent, const char *name, int64_t v);
extern xmlNode *soap_add_bool (xmlNode *parent, const char *name, bool v);

/* Send the request; on success *resp is the response document and
 * *retval its <returnval> (NULL for methods that return nothing).  A
 * NotAuthenticated fault logs in again once and repeats the call. */
extern int soap_call (struct vim *vim, struct soap_req *r,
                      xmlDoc **resp, xmlNode **retval);
/* The same without the relogin (used by Login itself). */
extern int soap_call_once (struct vim *vim, struct soap_req *r,
                           xmlDoc **resp, xmlNode **retval,
                           char **fault_type);

/* Parse a response document: 0 and *retval, or -1 with the fault's
 * message set ("vCenter fault 'TYPE': TEXT") and *fault_type (if not
 * NULL) the malloc'd detail type. */
extern int soap_parse_response (xmlDoc *doc, const char *method,
                                xmlNode **retval, char **fault_type);
/* The fault type and text of a Fault or LocalizedMethodFault element. */
extern char *soap_fault_type (const xmlNode *detail_or_fault);

/* Tree helpers: elements are matched by local name only. */
extern xmlNode *x_child (const xmlNode *n, const char *name);
extern xmlNode *x_next (const xmlNode *n, const char *name);
extern xmlNode *x_path (const xmlNode *n, const char *path);
extern char *x_text (const xmlNode *n);           /* malloc'd or NULL */
extern char *x_path_text (const xmlNode *n, const char *path);
extern char *x_type (const xmlNode *n);           /* xsi:type, no prefix */
extern bool x_path_bool (const xmlNode *n, const char *path, bool dflt);
extern int64_t x_path_int (const xmlNode *n, const char *path, int64_t dflt);
extern bool x_path_has (const xmlNode *n, const char *path);
extern xmlDoc *x_parse (const char *buf, size_t len);

/* SHA-1 "AA:BB:..." of a DER certificate; 0 or -1. */
extern int soap_thumbprint_der (const unsigned char *der, size_t len,
                                char *out, size_t outlen);
/* Upper-case and colon-separate a user-given thumbprint. */
extern char *soap_normalise_thumbprint (const char *s);

/* session.c: login and relogin. */
extern int session_login (struct vim *vim);
extern int session_parse_service_content (struct vim *vim,
                                          const xmlNode *retval);
/* Log out but keep the handle: the next call sees NotAuthenticated
 * (tests and vim-probe use it to simulate an expired session). */
extern int session_logout (struct vim *vim);

/* props.c: PropertyCollector.  A result holds every page's document. */
struct props_result {
  xmlDoc **docs;
  size_t nr_docs;
};
/* Start a RetrievePropertiesEx request; *spec_set is the specSet to
 * fill with propSet and objectSet. */
extern int props_new (struct vim *vim, struct soap_req *r,
                      xmlNode **spec_set);
/* Run it and every ContinueRetrievePropertiesEx page. */
extern int props_run (struct vim *vim, struct soap_req *r,
                      struct props_result *out);
/* The properties PATHS (NULL-terminated) of one object. */
extern int props_get (struct vim *vim, const char *type, const char *moref,
                      const char *const *paths, struct props_result *out);
extern void props_free (struct props_result *res);
/* Add a page (takes the document); used by props_run and the tests. */
extern int props_add_page (struct props_result *res, xmlDoc *doc,
                           xmlNode **retval);
/* Iterate over the <objects> of all pages. */
extern xmlNode *props_first (const struct props_result *res);
extern xmlNode *props_next (const struct props_result *res, xmlNode *obj);
/* The <val> of property NAME in an <objects> element, or NULL. */
extern xmlNode *props_val (const xmlNode *obj, const char *name);
/* The moref text of an <objects> element's <obj>, malloc'd. */
extern char *props_moref (const xmlNode *obj);

/* inventory.c: pure parsers of recorded properties. */
extern int inv_parse_vm (const xmlNode *obj, json_t **out);
extern int inv_parse_disks (const xmlNode *hardware, const xmlNode *extra,
                            bool cbt_enabled, json_t **disks);
extern int inv_parse_snapshot_disks (const xmlNode *hardware, json_t **out);
extern int inv_inventory_path (struct vim *vim, const char *type,
                               const char *moref, char **path);
extern void inv_flatten_snapshots (const xmlNode *list, const char *parent,
                                   json_t *out);

/* tasks.c */
struct task_info {
  char *state;          /* queued, running, success, error */
  int progress;         /* -1 if unknown */
  char *result;         /* a moref result, or NULL */
  char *fault_type;     /* error only */
  char *fault_msg;      /* error only */
  char *name;           /* e.g. "CreateSnapshot_Task" or descriptionId */
};
extern int task_parse_info (const xmlNode *info, struct task_info *ti);
extern void task_info_free (struct task_info *ti);
/* Wait for a task; *result (if not NULL) is its moref result. */
extern int task_wait (struct vim *vim, const char *task, const char *what,
                      char **result);
/* Call METHOD (already built) that returns a Task and wait for it. */
extern int task_call (struct vim *vim, struct soap_req *r, const char *what,
                      char **result);

/* vm.c */
extern int vm_parse_changes (const xmlNode *retval, struct vim_changes *out);

/* find.c */
extern bool find_looks_like_uuid (const char *s);
extern bool find_looks_like_moref (const char *s);

#endif /* V2K_VSPHERE_SOAP_H */
