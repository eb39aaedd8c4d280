/* Scope-bound cleanup helpers, after nbdkit's common/utils/cleanup.h.
 *
 * A variable declared CLEANUP_FREE char *s = NULL; is freed whenever it
 * goes out of scope, so early returns cannot leak.  Each helper takes a
 * pointer to the variable and tolerates NULL.
 */
#ifndef V2K_CLEANUP_H
#define V2K_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void
v2k_cleanup_free (void *ptr)
{
  free (*(void **) ptr);
}
#define CLEANUP_FREE __attribute__ ((cleanup (v2k_cleanup_free)))

static inline void
v2k_cleanup_fclose (FILE **fp)
{
  if (*fp)
    fclose (*fp);
}
#define CLEANUP_FCLOSE __attribute__ ((cleanup (v2k_cleanup_fclose)))

static inline void
v2k_cleanup_close (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}
#define CLEANUP_CLOSE __attribute__ ((cleanup (v2k_cleanup_close)))

/* Library-specific variants live next to their users so that this header
 * pulls in no third-party headers:
 *   CLEANUP_JSON      util/json.h     (jansson json_t)
 *   CLEANUP_XMLDOC    vsphere/soap.h  (libxml2 xmlDoc)
 */

#endif /* V2K_CLEANUP_H */
