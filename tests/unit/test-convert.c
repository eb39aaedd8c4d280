/* Guest conversion: families, plans, the log tail in errors, and the
 * interface-pinning script run against fake guest trees. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/convert.h"
#include "util/error.h"
#include "util/fsutil.h"

static void
test_family (void **state)
{
  assert_int_equal (convert_guest_family ("debian12_64Guest"), GUEST_LINUX);
  assert_int_equal (convert_guest_family ("rhel9_64Guest"), GUEST_LINUX);
  assert_int_equal (convert_guest_family ("other5xLinux64Guest"), GUEST_LINUX);
  assert_int_equal (convert_guest_family ("ubuntu64Guest"), GUEST_LINUX);
  assert_int_equal (convert_guest_family ("windows2019srv_64Guest"), GUEST_WINDOWS);
  assert_int_equal (convert_guest_family ("windows9_64Guest"), GUEST_WINDOWS);
  assert_int_equal (convert_guest_family ("winNetStandardGuest"), GUEST_WINDOWS);
  assert_int_equal (convert_guest_family ("otherGuest64"), GUEST_OTHER);
  assert_int_equal (convert_guest_family ("freebsd13_64Guest"), GUEST_OTHER);
  assert_int_equal (convert_guest_family (""), GUEST_OTHER);
  assert_int_equal (convert_guest_family (NULL), GUEST_OTHER);
}

static void
test_plan (void **state)
{
  struct convert_plan p;

  /* Linux with the tool: convert, then virtio-blk. */
  assert_int_equal (convert_make_plan ("auto", "debian12_64Guest", true, false, &p), 0);
  assert_true (p.run);
  assert_true (p.virtio);
  assert_string_equal (p.disk_bus, "virtio-blk");
  assert_null (p.note);
  /* none: as before, no note. */
  assert_int_equal (convert_make_plan ("none", "debian12_64Guest", true, false, &p), 0);
  assert_false (p.run);
  assert_true (p.virtio);
  assert_null (p.disk_bus);
  assert_null (p.note);
  /* auto without the tool: warn and continue. */
  assert_int_equal (convert_make_plan ("auto", "rhel9_64Guest", false, false, &p), 0);
  assert_false (p.run);
  assert_non_null (p.note);
  assert_non_null (strstr (p.note, "virt-v2v-in-place"));
  /* Asked for explicitly without the tool: an error. */
  assert_int_equal (convert_make_plan ("virt-v2v", "rhel9_64Guest", false, false, &p), -1);
  assert_non_null (strstr (v2k_errmsg (), "'virt-v2v-in-place' is not installed"));
  /* Windows: drivers from virtio-win, else SATA + e1000e, said so. */
  assert_int_equal (convert_make_plan ("auto", "windows2019srv_64Guest", true, true, &p), 0);
  assert_true (p.run);
  assert_true (p.virtio);
  assert_int_equal (convert_make_plan ("auto", "windows2019srv_64Guest", true, false, &p), 0);
  assert_false (p.run);
  assert_false (p.virtio);
  assert_non_null (strstr (p.note, "--virtio-win"));
  assert_int_equal (convert_make_plan ("virt-v2v", "windows2019srv_64Guest", true, false, &p), 0);
  assert_false (p.virtio);
  /* Neither: auto leaves it, virt-v2v forces it. */
  assert_int_equal (convert_make_plan ("auto", "freebsd13_64Guest", true, false, &p), 0);
  assert_false (p.run);
  assert_non_null (p.note);
  assert_int_equal (convert_make_plan ("virt-v2v", "freebsd13_64Guest", true, false, &p), 0);
  assert_true (p.run);
}

static char tmpdir[] = "/tmp/v2k-test-convert.XXXXXX";

static void
put (const char *rel, const char *text)
{
  char *p = path_join (tmpdir, rel), *dir = strdup (p);
  *strrchr (dir, '/') = '\0';
  assert_int_equal (mkdir_p (dir, 0755), 0);
  assert_int_equal (write_file_atomic (p, text, strlen (text), 0644), 0);
  free (p);
  free (dir);
}

static char *
slurp (const char *rel)
{
  char *p = path_join (tmpdir, rel), *data = NULL;
  size_t len;
  int r = read_file (p, &data, &len);
  free (p);
  return r == 0 ? data : NULL;
}

/* Run the pinning script on the fake tree; its stdout is returned. */
static char *
run_pin (const char *macs)
{
  char *script = path_join (tmpdir, "pin.sh"), *cmd = NULL, *out = NULL;
  const char *s = convert_pin_script ();
  size_t len = 0;
  FILE *f;
  char buf[512];

  assert_int_equal (write_file_atomic (script, s, strlen (s), 0700), 0);
  assert_true (asprintf (&cmd, "V2K_ROOT=%s/root /bin/sh %s %s", tmpdir, script, macs) > 0);
  f = popen (cmd, "r");
  assert_non_null (f);
  FILE *m = open_memstream (&out, &len);
  while (fgets (buf, sizeof buf, f))
    fputs (buf, m);
  fclose (m);
  assert_int_equal (pclose (f), 0);
  free (cmd);
  free (script);
  return out;
}

static void
test_pin_ifupdown (void **state)
{
  char *out, *link;

  put ("root/etc/network/interfaces",
       "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n"
       "auto ens192\niface ens192 inet manual\n");
  out = run_pin ("00:50:56:aa:bb:01");
  assert_string_equal (out, "V2K-LINK ens192 00:50:56:aa:bb:01\n");
  link = slurp ("root/etc/systemd/network/10-v2k-ens192.link");
  assert_non_null (link);
  assert_non_null (strstr (link, "[Match]\nMACAddress=00:50:56:aa:bb:01\n"));
  assert_non_null (strstr (link, "[Link]\nName=ens192\n"));
  free (out);
  free (link);
}

static void
test_pin_order (void **state)
{
  char *out;

  /* Two NICs, configured in another order (a VLAN on the second, an
   * eth0 leftover): VMware's slot order pairs ens192 with the first MAC. */
  put ("root/etc/network/interfaces",
       "auto lo eth0\niface lo inet loopback\niface eth0 inet dhcp\n"
       "allow-hotplug ens224\niface ens224 inet static\n  address 192.0.2.2/24\n"
       "auto ens224.10\niface ens224.10 inet manual\n");
  put ("root/etc/network/interfaces.d/first", "auto ens192\niface ens192 inet dhcp\n");
  out = run_pin ("00:50:56:00:00:01 00:50:56:00:00:02");
  assert_string_equal (out, "V2K-LINK ens192 00:50:56:00:00:01\n"
                       "V2K-LINK ens224 00:50:56:00:00:02\n");
  free (out);
  /* More names than NICs: the extra name gets nothing. */
  out = run_pin ("00:50:56:00:00:01");
  assert_string_equal (out, "V2K-LINK ens192 00:50:56:00:00:01\n");
  free (out);
}

static void
test_pin_rhel (void **state)
{
  char *out;

  remove_tree (tmpdir);
  assert_int_equal (mkdir_p (tmpdir, 0700), 0);
  put ("root/etc/sysconfig/network-scripts/ifcfg-ens161", "DEVICE=\"ens161\"\nBOOTPROTO=dhcp\n");
  put ("root/etc/NetworkManager/system-connections/a.nmconnection",
       "[connection]\nid=a\ninterface-name=ens256\n");
  out = run_pin ("m1 m2");
  assert_string_equal (out, "V2K-LINK ens256 m1\nV2K-LINK ens161 m2\n");
  free (out);
  /* No configuration naming an interface: nothing pinned, no failure. */
  remove_tree (tmpdir);
  assert_int_equal (mkdir_p (tmpdir, 0700), 0);
  out = run_pin ("m1");
  assert_string_equal (out, "");
  free (out);
}

static void
test_log_tail (void **state)
{
  char *p = path_join (tmpdir, "log"), *t;

  put ("log", "one\ntwo\nthree\nvirt-v2v-in-place: error: no bootloader detected\n\n");
  t = convert_log_tail (p, 2);
  assert_string_equal (t, "three;virt-v2v-in-place: error: no bootloader detected");
  free (t);
  t = convert_log_tail (p, 10);
  assert_string_equal (t, "one;two;three;virt-v2v-in-place: error: no bootloader detected");
  free (t);
  free (p);
  t = convert_log_tail ("/nonexistent/log", 3);
  assert_string_equal (t, "");
  free (t);
}

static void
test_run_failure (void **state)
{
  char *p = path_join (tmpdir, "convert.log");
  char *xml = path_join (tmpdir, "x.xml");

  /* A converter that fails: the error names the log and quotes it. */
  put ("fake-v2v", "#!/bin/sh\necho \"args: $*\"\necho \"backend=$LIBGUESTFS_BACKEND $LIBGUESTFS_BACKEND_SETTINGS\"\n"
       "echo 'virt-v2v-in-place: error: inspection could not detect the source guest' >&2\nexit 1\n");
  {
    char *tool = path_join (tmpdir, "fake-v2v");
    chmod (tool, 0755);
    assert_int_equal (convert_run_virt_v2v (tool, xml, p, NULL, true), -1);
    assert_non_null (strstr (v2k_errmsg (), "exit 1"));
    assert_non_null (strstr (v2k_errmsg (), p));
    assert_non_null (strstr (v2k_errmsg (), "could not detect the source guest"));
    char *log = slurp ("convert.log");
    assert_non_null (strstr (log, "args: -i libvirtxml "));
    assert_non_null (strstr (log, "backend=direct force_tcg"));
    free (log);
    free (tool);
  }
  free (p);
  free (xml);
}

static int
setup (void **state)
{
  return mkdtemp (tmpdir) ? 0 : -1;
}

static int
teardown (void **state)
{
  remove_tree (tmpdir);
  return 0;
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_family),
    cmocka_unit_test (test_plan),
    cmocka_unit_test (test_pin_ifupdown),
    cmocka_unit_test (test_pin_order),
    cmocka_unit_test (test_pin_rhel),
    cmocka_unit_test (test_log_tail),
    cmocka_unit_test (test_run_failure),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
