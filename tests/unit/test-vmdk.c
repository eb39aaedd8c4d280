/* Unit tests for v2k_vmdk_uring_opts: which files of a VMDK chain are
 * named for io_uring, on descriptors written as ESXi writes them (small,
 * unpadded text).  tests/copy/copy-vmdk.sh runs qemu-nbd on real chains. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "copy/vmdk.h"

static char dir[] = "/tmp/v2k-test-vmdk.XXXXXX";

static char *
path (const char *name)
{
  static char buf[256];
  snprintf (buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

static void
text (const char *name, const char *s)
{
  FILE *f = fopen (path (name), "w");
  assert_non_null (f);
  fputs (s, f);
  fclose (f);
}

/* A file of 'size' bytes starting with 'magic' (may be NULL). */
static void
data (const char *name, const char *magic, off_t size)
{
  int fd = open (path (name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true (fd >= 0);
  if (magic)
    assert_int_equal (write (fd, magic, strlen (magic)), (ssize_t) strlen (magic));
  assert_int_equal (ftruncate (fd, size), 0);
  close (fd);
}

static void
expect (const char *top, const char *want)
{
  char *opts = (char *) 1;
  assert_int_equal (v2k_vmdk_uring_opts (path (top), &opts), 0);
  if (want == NULL)
    assert_null (opts);
  else {
    assert_non_null (opts);
    assert_string_equal (opts, want);
  }
  free (opts);
}

static int
setup (void **state)
{
  assert_non_null (mkdtemp (dir));
  return 0;
}

static int
teardown (void **state)
{
  char cmd[300];
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system (cmd);
}

/* ESXi: a vmfs base and two vmfsSparse deltas, each a small text
 * descriptor naming one data file; only the data files are named. */
static void
test_esxi_chain (void **state)
{
  text ("vm.vmdk", "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n"
        "createType=\"vmfs\"\n\n# Extent description\nRW 8192 VMFS \"vm-flat.vmdk\"\n");
  data ("vm-flat.vmdk", NULL, 8192 * 512);
  text ("vm-000001.vmdk", "# Disk DescriptorFile\nversion=1\nCID=2\nparentCID=1\n"
        "createType=\"vmfsSparse\"\nparentFileNameHint=\"vm.vmdk\"\n"
        "RW 8192 VMFSSPARSE \"vm-000001-delta.vmdk\"\n");
  data ("vm-000001-delta.vmdk", "COWD", 64 * 1024);
  text ("vm-000002.vmdk", "# Disk DescriptorFile\nversion=1\nCID=3\nparentCID=2\n"
        "createType=\"vmfsSparse\"\nparentFileNameHint=\"vm-000001.vmdk\"\n"
        "RW 8192 VMFSSPARSE \"vm-000002-delta.vmdk\"\n");
  data ("vm-000002-delta.vmdk", "COWD", 32 * 1024);
  expect ("vm-000002.vmdk", "extents.0.aio=io_uring,backing.extents.0.aio=io_uring,"
          "backing.backing.extents.0.aio=io_uring");
  expect ("vm.vmdk", "extents.0.aio=io_uring");

  /* A delta that is not a whole number of sectors could be read past
   * its end: left to the thread pool, the rest of the chain still named. */
  data ("vm-000001-delta.vmdk", "COWD", 64 * 1024 + 100);
  expect ("vm-000002.vmdk", "extents.0.aio=io_uring,backing.backing.extents.0.aio=io_uring");
}

/* Numbering is qemu's: every RW extent of a known type counts, named or
 * not; other access modes and types are not opened and do not count. */
static void
test_extent_numbering (void **state)
{
  text ("multi.vmdk", "# Disk DescriptorFile\ncreateType=\"twoGbMaxExtentFlat\"\n"
        "RW 4096 FLAT \"multi-f001.vmdk\" 0\n"
        "RDONLY 4096 FLAT \"multi-ro.vmdk\" 0\n"
        "RW 4096 ZERO\n"
        "RW 4096 FLAT \"multi-f002.vmdk\" 0\n"
        "RW 4096 FLAT \"multi-f003.vmdk\" 2048\n");
  data ("multi-f001.vmdk", NULL, 4096 * 512 - 512);   /* too short */
  data ("multi-ro.vmdk", NULL, 4096 * 512);
  data ("multi-f002.vmdk", NULL, 4096 * 512);
  data ("multi-f003.vmdk", NULL, 6144 * 512);          /* offset + size */
  expect ("multi.vmdk", "extents.1.aio=io_uring,extents.2.aio=io_uring");
}

/* A hosted sparse disk holds its own descriptor: the file itself is the
 * data; its parent (absolute here) is followed. */
static void
test_sparse_top (void **state)
{
  char desc[1024], abs_hint[300];
  int fd;

  text ("base.vmdk", "# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\n"
        "RW 4096 FLAT \"base-flat.vmdk\" 0\n");
  data ("base-flat.vmdk", NULL, 4096 * 512);
  data ("top.vmdk", "KDMV", 128 * 1024);
  snprintf (abs_hint, sizeof abs_hint, "%s", path ("base.vmdk"));
  snprintf (desc, sizeof desc, "# Disk DescriptorFile\ncreateType=\"monolithicSparse\"\n"
            "parentFileNameHint=\"%s\"\nRW 4096 SPARSE \"top.vmdk\"\n", abs_hint);
  fd = open (path ("top.vmdk"), O_WRONLY);
  assert_true (fd >= 0);
  assert_int_equal (pwrite (fd, desc, strlen (desc), 0x200), (ssize_t) strlen (desc));
  close (fd);
  expect ("top.vmdk", "file.aio=io_uring,backing.extents.0.aio=io_uring");

  /* Not a whole number of sectors: nothing named, not even below. */
  data ("odd.vmdk", "KDMV", 128 * 1024 + 1);
  expect ("odd.vmdk", NULL);
}

/* What the walk cannot follow ends the list there. */
static void
test_unknown (void **state)
{
  text ("orphan.vmdk", "createType=\"vmfsSparse\"\nparentFileNameHint=\"gone.vmdk\"\n"
        "RW 8192 VMFSSPARSE \"orphan-delta.vmdk\"\n");
  data ("orphan-delta.vmdk", "COWD", 64 * 1024);
  expect ("orphan.vmdk", "extents.0.aio=io_uring");
  expect ("missing.vmdk", NULL);
  /* A chain that loops stops at the depth limit. */
  text ("loop.vmdk", "parentFileNameHint=\"loop.vmdk\"\nRW 4096 FLAT \"base-flat.vmdk\" 0\n");
  {
    char *opts = NULL;
    assert_int_equal (v2k_vmdk_uring_opts (path ("loop.vmdk"), &opts), 0);
    assert_non_null (opts);
    assert_true (strlen (opts) < 64 * 64 * 9);
    free (opts);
  }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_esxi_chain),
    cmocka_unit_test (test_extent_numbering),
    cmocka_unit_test (test_sparse_top),
    cmocka_unit_test (test_unknown),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
