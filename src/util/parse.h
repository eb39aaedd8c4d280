/* Parsers for the command line's sizes and durations (header-only). */
#ifndef V2K_PARSE_H
#define V2K_PARSE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* "4M", "64MiB", "1G", "512K", "1048576" -> bytes; false when bad or
 * when the value does not fit 64 bits. */
static inline bool
parse_bytes (const char *s, uint64_t *out)
{
  char *end;
  unsigned long long n;
  unsigned shift = 0;

  if (s == NULL || *s < '0' || *s > '9')
    return false;
  errno = 0;
  n = strtoull (s, &end, 10);
  if (errno == ERANGE)
    return false;
  switch (*end) {
  case 'k': case 'K': shift = 10; end++; break;
  case 'm': case 'M': shift = 20; end++; break;
  case 'g': case 'G': shift = 30; end++; break;
  case 't': case 'T': shift = 40; end++; break;
  }
  if (shift && *end == 'i' && end[1] == 'B')
    end += 2;
  if (*end != '\0' || (shift && n > (UINT64_MAX >> shift)))
    return false;
  *out = (uint64_t) n << shift;
  return true;
}

/* "30s", "10m", "2h", "90" (seconds) -> seconds, at most a week; -1 when
 * bad. */
static inline int
parse_duration (const char *s)
{
  char *end;
  long n;

  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  n = strtol (s, &end, 10);
  if (*end == 'm')
    n *= 60, end++;
  else if (*end == 'h')
    n *= 3600, end++;
  else if (*end == 's')
    end++;
  if (*end != '\0' || n < 0 || n > 7 * 86400)
    return -1;
  return (int) n;
}

#endif /* V2K_PARSE_H */
