#include "core/virt.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "util/error.h"

/* libvirt is loaded when a command first needs it (cutover, rollback,
 * doctor): linked, the ~20 libraries it alone needs and their constructors
 * cost every command, status and sync included, tens of milliseconds.
 * The functions are called through this table, typed from the headers. */
#define LIBVIRT_FUNCS(F)                                                 \
  F (virSetErrorFunc) F (virGetLastErrorMessage)                         \
  F (virConnectOpen) F (virConnectClose) F (virConnectGetType)           \
  F (virConnectGetLibVersion) F (virConnectGetVersion)                   \
  F (virConnectGetDomainCapabilities)                                    \
  F (virDomainLookupByUUIDString) F (virDomainDefineXML)                 \
  F (virDomainGetUUIDString) F (virDomainGetName) F (virDomainIsActive)  \
  F (virDomainCreate) F (virDomainDestroy) F (virDomainUndefineFlags)    \
  F (virDomainUndefine) F (virDomainFree)

static struct {
#define DECLARE(f) __typeof__ (f) *f;
  LIBVIRT_FUNCS (DECLARE)
#undef DECLARE
} lv;

static pthread_once_t lv_once = PTHREAD_ONCE_INIT;
static char lv_error[512] = "not loaded";   /* empty once it is */

static void
load_libvirt (void)
{
  void *h = dlopen ("libvirt.so.0", RTLD_NOW | RTLD_LOCAL);
  const char *e;

  if (h == NULL) {
    snprintf (lv_error, sizeof lv_error, "%s", dlerror ());
    return;
  }
  /* POSIX's way to turn dlsym's void * into a function pointer. */
#define LOAD(f)                                                         \
  if ((*(void **) &lv.f = dlsym (h, #f)) == NULL) {                     \
    e = dlerror ();                                                     \
    snprintf (lv_error, sizeof lv_error, "no '%s': %s", #f, e ? e : ""); \
    return;                                                             \
  }
  LIBVIRT_FUNCS (LOAD)
#undef LOAD
  lv_error[0] = '\0';
}

static int
need_libvirt (void)
{
  pthread_once (&lv_once, load_libvirt);
  if (lv_error[0]) {
    v2k_error ("cannot load libvirt ('libvirt.so.0', package libvirt0): %s",
               lv_error);
    return -1;
  }
  return 0;
}

/* libvirt prints its errors to stderr by default; v2k reports them
 * through its own error path instead. */
static void
quiet (void *opaque, virErrorPtr err)
{
  (void) opaque; (void) err;
}

static virConnectPtr
open_conn (const char *uri)
{
  virConnectPtr c;

  if (need_libvirt () < 0)
    return NULL;
  lv.virSetErrorFunc (NULL, quiet);
  c = lv.virConnectOpen (uri);
  if (c == NULL)
    v2k_error ("cannot connect to libvirt at '%s': %s", uri,
               lv.virGetLastErrorMessage ());
  return c;
}

/* Any libvirt call resets the thread's last error, so the message is
 * taken before the domain's name is asked for. */
static void
dom_error (const char *what, virDomainPtr d)
{
  char msg[1024];

  snprintf (msg, sizeof msg, "%s", lv.virGetLastErrorMessage ());
  v2k_error ("cannot %s domain '%s': %s", what, lv.virDomainGetName (d), msg);
}

static virDomainPtr
lookup (virConnectPtr c, const char *uuid)
{
  return lv.virDomainLookupByUUIDString (c, uuid);
}

static void
cleanup_conn (virConnectPtr *c)
{
  if (*c)
    lv.virConnectClose (*c);
}
#define CLEANUP_CONN __attribute__ ((cleanup (cleanup_conn)))

static void
cleanup_dom (virDomainPtr *d)
{
  if (*d)
    lv.virDomainFree (*d);
}
#define CLEANUP_DOM __attribute__ ((cleanup (cleanup_dom)))

int
virt_define (const char *uri, const char *xml, char **uuid)
{
  CLEANUP_CONN virConnectPtr c = open_conn (uri);
  CLEANUP_DOM virDomainPtr d = NULL;
  char buf[VIR_UUID_STRING_BUFLEN];

  if (c == NULL)
    return -1;
  d = lv.virDomainDefineXML (c, xml);
  if (d == NULL) {
    v2k_error ("cannot define the domain: %s", lv.virGetLastErrorMessage ());
    return -1;
  }
  if (lv.virDomainGetUUIDString (d, buf) < 0 || (*uuid = strdup (buf)) == NULL) {
    v2k_error ("cannot read the domain's UUID: %s", lv.virGetLastErrorMessage ());
    return -1;
  }
  return 0;
}

int
virt_start (const char *uri, const char *uuid)
{
  CLEANUP_CONN virConnectPtr c = open_conn (uri);
  CLEANUP_DOM virDomainPtr d = NULL;

  if (c == NULL)
    return -1;
  d = lookup (c, uuid);
  if (d == NULL) {
    v2k_error ("no domain with UUID '%s': %s", uuid, lv.virGetLastErrorMessage ());
    return -1;
  }
  if (lv.virDomainIsActive (d) != 1 && lv.virDomainCreate (d) < 0) {
    dom_error ("start", d);
    return -1;
  }
  return 0;
}

int
virt_state (const char *uri, const char *uuid, bool *exists, bool *running)
{
  CLEANUP_CONN virConnectPtr c = open_conn (uri);
  CLEANUP_DOM virDomainPtr d = NULL;

  if (c == NULL)
    return -1;
  d = lookup (c, uuid);
  *exists = d != NULL;
  *running = d && lv.virDomainIsActive (d) == 1;
  return 0;
}

int
virt_remove (const char *uri, const char *uuid)
{
  CLEANUP_CONN virConnectPtr c = open_conn (uri);
  CLEANUP_DOM virDomainPtr d = NULL;

  if (c == NULL)
    return -1;
  d = lookup (c, uuid);
  if (d == NULL)
    return 0;
  if (lv.virDomainIsActive (d) == 1 && lv.virDomainDestroy (d) < 0) {
    dom_error ("stop", d);
    return -1;
  }
  if (lv.virDomainUndefineFlags (d, VIR_DOMAIN_UNDEFINE_NVRAM) < 0
      && lv.virDomainUndefine (d) < 0) {
    dom_error ("undefine", d);
    return -1;
  }
  return 0;
}

int
virt_preflight (const char *uri, const char *domain_type)
{
  CLEANUP_CONN virConnectPtr c = open_conn (uri);
  char *caps;

  if (c == NULL)
    return -1;
  caps = lv.virConnectGetDomainCapabilities (c, NULL, "x86_64", "q35",
                                          domain_type, 0);
  if (caps == NULL) {
    v2k_error ("libvirt at '%s' cannot run x86_64 q35 domains of type '%s': %s",
               uri, domain_type, lv.virGetLastErrorMessage ());
    return -1;
  }
  free (caps);
  return 0;
}

int
virt_probe (const char *uri, char **info)
{
  virConnectPtr c = open_conn (uri);
  unsigned long libver = 0, hv = 0;
  const char *type;
  int r;

  *info = NULL;
  if (c == NULL)
    return -1;
  type = lv.virConnectGetType (c);
  lv.virConnectGetLibVersion (c, &libver);
  lv.virConnectGetVersion (c, &hv);
  r = asprintf (info, "libvirt %lu.%lu.%lu, %s %lu.%lu.%lu", libver / 1000000,
                libver / 1000 % 1000, libver % 1000, type ? type : "hypervisor",
                hv / 1000000, hv / 1000 % 1000, hv % 1000);
  lv.virConnectClose (c);
  if (r < 0) {
    *info = NULL;
    v2k_error ("out of memory");
    return -1;
  }
  return 0;
}

const char *
virt_default_domain_type (void)
{
  int fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);

  if (fd < 0)
    return "qemu";
  close (fd);
  return "kvm";
}

void
virt_find_ovmf (bool secure, const char **code, const char **vars)
{
  static const char *codes[] = {
    "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd",
  };
  static const char *secure_codes[] = {
    "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", "/usr/share/OVMF/OVMF_CODE.secboot.fd",
    "/usr/share/OVMF/OVMF_CODE_4M.ms.fd", "/usr/share/OVMF/OVMF_CODE.ms.fd",
  };
  static const char *var_files[] = {
    "/usr/share/OVMF/OVMF_VARS_4M.fd", "/usr/share/OVMF/OVMF_VARS.fd",
  };
  static const char *secure_vars[] = {
    "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", "/usr/share/OVMF/OVMF_VARS.ms.fd",
  };
  const char **cl = secure ? secure_codes : codes;
  size_t cn = secure ? 4 : 2;
  const char **vl = secure ? secure_vars : var_files;

  *code = *vars = NULL;
  for (size_t i = 0; i < cn && *code == NULL; i++)
    if (access (cl[i], R_OK) == 0)
      *code = cl[i];
  for (size_t i = 0; i < 2 && *vars == NULL; i++)
    if (access (vl[i], R_OK) == 0)
      *vars = vl[i];
}
