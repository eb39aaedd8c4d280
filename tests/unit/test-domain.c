/* Golden files for the generated domain XML, after libvirt's
 * genericxml2xmltest: tests/unit/data/domain/NAME.json holds
 * {"manifest": {...}, "opts": {...}} and NAME.xml the expected domain, or
 * NAME.err the expected error.  V2K_REGENERATE=1 rewrites the outputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/domain.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/json.h"

#ifndef DATADIR
#error "DATADIR must be defined"
#endif

static const char *cases[] = {
  "bios-pvscsi-two-nics",
  "uefi-secure-nvme",
  "windows-no-virtio",
  "sata-root-beside-scsi",
  "override-bus-vcpu-memory",
  "block-and-rbd-targets",
  "network-unmapped",
  "special-characters",
};

static void
run_case (void **state)
{
  const char *name = *state;
  char in[1024], xmlf[1024], errf[1024];
  json_t *j, *o;
  struct domain_opts opts = { 0 };
  char *got, *want = NULL;

  snprintf (in, sizeof in, "%s/%s.json", DATADIR, name);
  snprintf (xmlf, sizeof xmlf, "%s/%s.xml", DATADIR, name);
  snprintf (errf, sizeof errf, "%s/%s.err", DATADIR, name);
  j = json_load_file (in, 0, NULL);
  assert_non_null (j);
  o = json_object_get (j, "opts");
  opts.name = jstr (o, "name");
  opts.domain_type = jstr_or (o, "domain_type", "kvm");
  opts.disk_bus = jstr_or (o, "disk_bus", "auto");
  opts.nic_model = jstr_or (o, "nic_model", "auto");
  opts.vcpus = jint (o, "vcpus");
  opts.memory_mb = jint (o, "memory_mb");
  opts.network_map = json_object_get (o, "network_map");
  opts.console_log = jstr (o, "console_log");
  opts.ovmf_code = jstr (o, "ovmf_code");
  opts.ovmf_vars = jstr (o, "ovmf_vars");
  opts.nvram = jstr (o, "nvram");
  opts.virtio_drivers = !json_is_false (json_object_get (o, "virtio_drivers"));

  got = domain_xml (json_object_get (j, "manifest"), &opts);
  if (getenv ("V2K_REGENERATE")) {
    const char *text = got ? got : v2k_errmsg ();
    FILE *fp = fopen (got ? xmlf : errf, "w");
    fprintf (fp, "%s%s", text, got ? "" : "\n");
    fclose (fp);
  }
  if (got) {
    assert_int_equal (read_file (xmlf, &want, NULL), 0);
    assert_string_equal (got, want);
  }
  else {
    assert_int_equal (read_file (errf, &want, NULL), 0);
    want[strcspn (want, "\n")] = '\0';
    assert_string_equal (v2k_errmsg (), want);
  }
  free (got);
  free (want);
  json_decref (j);
}

int
main (void)
{
  struct CMUnitTest tests[sizeof cases / sizeof cases[0]];

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tests[i] = (struct CMUnitTest) cmocka_unit_test (run_case);
    tests[i].name = cases[i];
    tests[i].initial_state = (void *) cases[i];
  }
  return _cmocka_run_group_tests ("domain", tests, sizeof cases / sizeof cases[0],
                                  NULL, NULL);
}
