#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRMAX 4096
#define MAX_SECRETS 8

static __thread char errbuf[ERRMAX];
static __thread int errset;

/* Secrets are set once at start-up by the main thread, before any worker
 * thread exists, so they need no lock. */
static char *secrets[MAX_SECRETS];
static size_t nr_secrets;

static void
redact (char *buf)
{
  for (size_t i = 0; i < nr_secrets; i++) {
    size_t n = strlen (secrets[i]);
    char *p;

    while ((p = strstr (buf, secrets[i])) != NULL) {
      memmove (p + 3, p + n, strlen (p + n) + 1);
      memcpy (p, "***", 3);
    }
  }
}

/* errbuf = a + ": " + b, cut at ERRMAX (a message that long is cut, not
 * lost).  a and b may not alias errbuf. */
static void
join (const char *a, const char *b)
{
  size_t n = 0;

  for (const char *parts[] = { a, b ? ": " : NULL, b }, **p = parts;
       p < parts + 3; p++) {
    size_t l;
    if (*p == NULL)
      continue;
    l = strlen (*p);
    if (l > ERRMAX - 1 - n)
      l = ERRMAX - 1 - n;
    memcpy (errbuf + n, *p, l);
    n += l;
  }
  errbuf[n] = '\0';
  redact (errbuf);
  errset = 1;
}

static void
set_v (const char *fmt, va_list ap, const char *suffix)
{
  char tmp[ERRMAX];

  vsnprintf (tmp, sizeof tmp, fmt, ap);
  join (tmp, suffix);
}

void
v2k_error (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  set_v (fmt, ap, NULL);
  va_end (ap);
}

void
v2k_error_errno (int errnum, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  set_v (fmt, ap, strerror (errnum));
  va_end (ap);
}

void
v2k_error_prefix (const char *fmt, ...)
{
  char ctx[ERRMAX], old[ERRMAX];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (ctx, sizeof ctx, fmt, ap);
  va_end (ap);
  snprintf (old, sizeof old, "%s", errset ? errbuf : "unknown error");
  join (ctx, old);
}

const char *
v2k_errmsg (void)
{
  return errset ? errbuf : "unknown error";
}

void
v2k_error_clear (void)
{
  errbuf[0] = '\0';
  errset = 0;
}

void
v2k_error_redact (const char *secret)
{
  /* Short strings would redact ordinary words; a 1-3 character password
   * is also refused by vCenter's password policy. */
  if (secret == NULL || strlen (secret) < 4 || nr_secrets >= MAX_SECRETS)
    return;
  for (size_t i = 0; i < nr_secrets; i++)
    if (strcmp (secrets[i], secret) == 0)
      return;
  secrets[nr_secrets] = strdup (secret);
  if (secrets[nr_secrets])
    nr_secrets++;
}
