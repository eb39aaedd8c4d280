/* One error message per thread, with context, after libnbd's errors.c.
 *
 * Modules never print.  They record what failed with v2k_error() and
 * return -1 (or NULL); callers up the stack may add context with
 * v2k_error_prefix(); only the CLI prints v2k_errmsg() and exits.
 *
 * Messages follow git's style: lowercase, no final period, the subject
 * quoted: "cannot open 'manifest.json': No such file or directory".
 */
#ifndef V2K_ERROR_H
#define V2K_ERROR_H

#include <stdarg.h>

/* Replace the current message. */
void v2k_error (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

/* Replace the current message, appending ": strerror(errno)". */
void v2k_error_errno (int errnum, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* Prepend context: "context: previous message". */
void v2k_error_prefix (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

/* The current message; never NULL ("unknown error" if none was set). */
const char *v2k_errmsg (void);

/* Forget the current message. */
void v2k_error_clear (void);

/* Secrets registered here are replaced by "***" in every message, so a
 * server that echoes a password back can never leak it through us. */
void v2k_error_redact (const char *secret);

#endif /* V2K_ERROR_H */
