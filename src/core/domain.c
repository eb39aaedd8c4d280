#include "core/domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#include "util/error.h"
#include "util/json.h"

const char *
domain_auto_bus (const char *ctl)
{
  if (ctl == NULL)
    return "virtio-blk";
  if (strcmp (ctl, "sata") == 0 || strcmp (ctl, "ide") == 0)
    return "sata";
  if (strcmp (ctl, "nvme") == 0)
    return "virtio-blk";
  return "virtio-scsi";
}

static xmlNodePtr
child (xmlNodePtr parent, const char *name, const char *text)
{
  return xmlNewTextChild (parent, NULL, BAD_CAST name, BAD_CAST text);
}

static void
attr (xmlNodePtr n, const char *name, const char *val)
{
  xmlNewProp (n, BAD_CAST name, BAD_CAST val);
}

static void
attr_int (xmlNodePtr n, const char *name, long long v)
{
  char buf[32];
  snprintf (buf, sizeof buf, "%lld", v);
  attr (n, name, buf);
}

static bool
is_windows (const json_t *vm)
{
  const char *g = jstr_or (vm, "guest_id", "");
  return strncmp (g, "win", 3) == 0;
}

/* Disks in boot order: the root disk first, then the source's order. */
static void
ordered_disks (const json_t *disks, const json_t **out, size_t n)
{
  size_t k = 0, i;
  json_t *d;

  json_array_foreach (disks, i, d)
    if (strcmp (jstr_or (d, "role", ""), "root") == 0 && k < n)
      out[k++] = d;
  json_array_foreach (disks, i, d)
    if (strcmp (jstr_or (d, "role", ""), "root") != 0 && k < n)
      out[k++] = d;
}

static const char *
target_dev (const char *bus, int *counters, char *buf, size_t n)
{
  int idx;
  const char *prefix;

  if (strcmp (bus, "virtio-blk") == 0)
    idx = counters[0]++, prefix = "vd";
  else
    idx = counters[1]++, prefix = "sd";  /* virtio-scsi and sata share sdX */
  if (idx < 26)
    snprintf (buf, n, "%s%c", prefix, 'a' + idx);
  else
    snprintf (buf, n, "%s%c%c", prefix, 'a' + idx / 26 - 1, 'a' + idx % 26);
  return buf;
}

static int
add_disks (xmlNodePtr devs, const json_t *m, const struct domain_opts *o,
           bool *need_scsi)
{
  const json_t *disks = json_object_get (m, "disks");
  size_t n = json_array_size (disks);
  const json_t **ord = calloc (n ? n : 1, sizeof *ord);
  int counters[2] = { 0, 0 };

  if (ord == NULL) {
    v2k_error ("out of memory");
    return -1;
  }
  ordered_disks (disks, ord, n);
  for (size_t i = 0; i < n; i++) {
    const json_t *d = ord[i], *t = json_object_get (d, "target");
    const char *bus = o->disk_bus && strcmp (o->disk_bus, "auto") != 0
      ? o->disk_bus
      : o->virtio_drivers ? domain_auto_bus (jstr (json_object_get (d, "controller"), "type"))
      : "sata";
    const char *path = jstr_or (t, "path", "");
    bool is_dev = strncmp (path, "/dev/", 5) == 0;
    bool is_rbd = strncmp (path, "rbd:", 4) == 0;
    char dev[16];
    xmlNodePtr disk, n2;

    disk = child (devs, "disk", NULL);
    attr (disk, "type", is_rbd ? "network" : is_dev ? "block" : "file");
    attr (disk, "device", "disk");
    n2 = child (disk, "driver", NULL);
    attr (n2, "name", "qemu");
    attr (n2, "type", jstr_or (t, "format", "qcow2"));
    attr (n2, "cache", "none");
    attr (n2, "discard", "unmap");
    n2 = child (disk, "source", NULL);
    if (is_rbd) {
      /* "rbd:POOL/IMAGE[:option=value...]" as qemu-nbd takes it; the
       * monitors and the key come from the host's ceph.conf, as for
       * qemu-nbd. */
      char name[1024];
      snprintf (name, sizeof name, "%.*s", (int) strcspn (path + 4, ":"),
                path + 4);
      attr (n2, "protocol", "rbd");
      attr (n2, "name", name);
    }
    else
      attr (n2, is_dev ? "dev" : "file", path);
    n2 = child (disk, "target", NULL);
    attr (n2, "dev", target_dev (bus, counters, dev, sizeof dev));
    attr (n2, "bus", strcmp (bus, "virtio-blk") == 0 ? "virtio"
          : strcmp (bus, "virtio-scsi") == 0 ? "scsi" : "sata");
    if (strcmp (bus, "virtio-scsi") == 0)
      *need_scsi = true;
    if (i == 0) {
      n2 = child (disk, "boot", NULL);
      attr (n2, "order", "1");
    }
    if (jstr (d, "uuid"))
      child (disk, "serial", jstr (d, "uuid"));
  }
  free (ord);
  return 0;
}

static int
add_nics (xmlNodePtr devs, const json_t *m, const struct domain_opts *o)
{
  size_t i;
  json_t *nic;

  json_array_foreach (json_object_get (m, "nics"), i, nic) {
    const char *net = jstr_or (nic, "network", "");
    const char *map = jstr (o->network_map, net);
    const char *model = o->nic_model && strcmp (o->nic_model, "auto") != 0
      ? o->nic_model : o->virtio_drivers ? "virtio" : "e1000e";
    xmlNodePtr ifc, n2;

    if (map == NULL) {
      v2k_error ("'%s' (%s) is on network '%s', which has no --network-map "
                 "'%s=bridge:NAME' or '%s=network:NAME'",
                 jstr_or (nic, "label", "NIC"), jstr_or (nic, "mac", "?"),
                 net, net, net);
      return -1;
    }
    ifc = child (devs, "interface", NULL);
    if (strncmp (map, "bridge:", 7) == 0) {
      attr (ifc, "type", "bridge");
      attr (child (ifc, "source", NULL), "bridge", map + 7);
    }
    else if (strncmp (map, "network:", 8) == 0) {
      attr (ifc, "type", "network");
      attr (child (ifc, "source", NULL), "network", map + 8);
    }
    else {
      v2k_error ("network map '%s=%s': expected bridge:NAME or network:NAME",
                 net, map);
      return -1;
    }
    attr (child (ifc, "mac", NULL), "address", jstr_or (nic, "mac", ""));
    n2 = child (ifc, "model", NULL);
    attr (n2, "type", model);
  }
  return 0;
}

char *
domain_xml (const json_t *m, const struct domain_opts *o)
{
  const json_t *vm = json_object_get (m, "vm");
  const json_t *target = json_object_get (m, "target");
  bool efi = strcmp (jstr_or (vm, "firmware", "bios"), "efi") == 0;
  bool secure = efi && jbool (vm, "secure_boot");
  int vcpus = o->vcpus > 0 ? o->vcpus : (int) jint (vm, "cpus");
  int cores = (int) jint (vm, "cores_per_socket");
  int mem = o->memory_mb > 0 ? o->memory_mb : (int) jint (vm, "memory_mb");
  bool need_scsi = false;
  xmlDocPtr doc = xmlNewDoc (BAD_CAST "1.0");
  xmlNodePtr dom, os, n, feat, devs;
  xmlChar *out = NULL;
  char *ret = NULL;
  int len;

  if (vcpus < 1)
    vcpus = 1;
  /* Keep the source topology when it divides the vCPU count (also after
   * --vcpu), else one core per socket. */
  if (cores < 1 || vcpus % cores != 0)
    cores = 1;
  if (mem < 1) {
    v2k_error ("the manifest has no memory size for the VM");
    goto cleanup;
  }
  dom = xmlNewNode (NULL, BAD_CAST "domain");
  xmlDocSetRootElement (doc, dom);
  attr (dom, "type", o->domain_type ? o->domain_type : "kvm");
  child (dom, "name", o->name ? o->name : jstr_or (target, "name", "vm"));
  if (jstr (vm, "uuid"))
    child (dom, "uuid", jstr (vm, "uuid"));
  {
    /* child() escapes; xmlNodeSetContent would read a VM name's '&' as
     * the start of an entity. */
    char *desc;
    if (asprintf (&desc, "migrated by v2k from %s (%s), run %s",
                  jstr_or (vm, "name", "?"), jstr_or (vm, "moref", "?"),
                  jstr_or (m, "run_id", "?")) < 0) {
      v2k_error ("out of memory");
      goto cleanup;
    }
    child (dom, "description", desc);
    free (desc);
  }
  n = child (dom, "memory", NULL);
  attr (n, "unit", "MiB");
  {
    char buf[32];
    snprintf (buf, sizeof buf, "%d", mem);
    xmlNodeSetContent (n, BAD_CAST buf);
    snprintf (buf, sizeof buf, "%d", vcpus);
    n = child (dom, "vcpu", buf);
    attr (n, "placement", "static");
  }
  os = child (dom, "os", NULL);
  n = child (os, "type", "hvm");
  attr (n, "arch", "x86_64");
  attr (n, "machine", "q35");
  if (efi) {
    n = child (os, "loader", o->ovmf_code ? o->ovmf_code : "");
    attr (n, "readonly", "yes");
    attr (n, "secure", secure ? "yes" : "no");
    attr (n, "type", "pflash");
    n = child (os, "nvram", o->nvram ? o->nvram : "");
    if (o->ovmf_vars)
      attr (n, "template", o->ovmf_vars);
  }
  feat = child (dom, "features", NULL);
  child (feat, "acpi", NULL);
  child (feat, "apic", NULL);
  if (secure)
    attr (child (feat, "smm", NULL), "state", "on");
  /* host-passthrough aborted QEMU on nested/PVM hosts; host-model lets
   * libvirt pick a model the host really offers.  Under TCG ("qemu")
   * QEMU's default model is the safe choice. */
  n = child (dom, "cpu", NULL);
  if (o->domain_type == NULL || strcmp (o->domain_type, "kvm") == 0)
    attr (n, "mode", "host-model");
  {
    xmlNodePtr topo = child (n, "topology", NULL);
    attr_int (topo, "sockets", vcpus / cores);
    attr_int (topo, "dies", 1);
    attr_int (topo, "cores", cores);
    attr_int (topo, "threads", 1);
  }
  /* Windows keeps its RTC in local time; everything else in UTC. */
  attr (child (dom, "clock", NULL), "offset", is_windows (vm) ? "localtime" : "utc");
  child (dom, "on_poweroff", "destroy");
  child (dom, "on_reboot", "restart");
  child (dom, "on_crash", "destroy");
  devs = child (dom, "devices", NULL);
  if (add_disks (devs, m, o, &need_scsi) < 0)
    goto cleanup;
  if (need_scsi) {
    n = child (devs, "controller", NULL);
    attr (n, "type", "scsi");
    attr (n, "index", "0");
    attr (n, "model", "virtio-scsi");
  }
  if (add_nics (devs, m, o) < 0)
    goto cleanup;
  n = child (devs, "serial", NULL);
  attr (n, "type", "pty");
  if (o->console_log) {
    xmlNodePtr l = child (n, "log", NULL);
    attr (l, "file", o->console_log);
    attr (l, "append", "on");
  }
  attr (child (n, "target", NULL), "port", "0");
  n = child (devs, "console", NULL);
  attr (n, "type", "pty");
  n = child (n, "target", NULL);
  attr (n, "type", "serial");
  attr (n, "port", "0");
  n = child (devs, "channel", NULL);
  attr (n, "type", "unix");
  n = child (n, "target", NULL);
  attr (n, "type", "virtio");
  attr (n, "name", "org.qemu.guest_agent.0");
  n = child (devs, "graphics", NULL);
  attr (n, "type", "vnc");
  attr (n, "listen", "127.0.0.1");
  attr (child (child (devs, "video", NULL), "model", NULL), "type", "vga");
  attr (child (devs, "memballoon", NULL), "model", "virtio");
  n = child (devs, "rng", NULL);
  attr (n, "model", "virtio");
  n = child (n, "backend", "/dev/urandom");
  attr (n, "model", "random");

  xmlDocDumpFormatMemoryEnc (doc, &out, &len, "UTF-8", 1);
  if (out == NULL) {
    v2k_error ("cannot serialize the domain XML");
    goto cleanup;
  }
  /* Drop the XML declaration: libvirt and virsh show domains without. */
  {
    const char *body = strstr ((const char *) out, "<domain");
    ret = strdup (body ? body : (const char *) out);
  }

 cleanup:
  xmlFree (out);
  xmlFreeDoc (doc);
  return ret;
}
