/* run: the whole migration in one command (written below). */
#include "cmd/cmd.h"

int
cmd_run (struct v2k *v, int argc, char **argv)
{
  (void) v; (void) argc; (void) argv;
  return EXIT_FAIL;
}
