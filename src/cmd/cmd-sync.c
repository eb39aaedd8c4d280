/* sync: placeholder until the data path lands (issue 4). */
#include "cmd/cmd.h"
#include "util/error.h"

int
cmd_sync (struct v2k *v, int argc, char **argv)
{
  v2k_error ("sync is not available in this build");
  return EXIT_FAIL;
}

int
cmd_verify (struct v2k *v, int argc, char **argv)
{
  v2k_error ("verify is not available in this build");
  return EXIT_FAIL;
}
