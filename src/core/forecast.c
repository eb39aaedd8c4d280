#include "core/forecast.h"

#include <string.h>

#include "util/json.h"

static double
jnum (const json_t *o, const char *k)
{
  return json_number_value (json_object_get (o, k));
}

/* Least squares over the rounds: seconds = overhead + bytes * k (k the
 * seconds per byte).  The base round (many bytes) fixes the slope, the
 * incremental rounds (few bytes) the overhead.  A fit that makes no
 * physical sense (no spread in bytes, negative slope) falls back to the
 * fastest round as the overhead and the overall rate as the slope. */
static void
fit (const json_t *rounds, double *overhead, double *k)
{
  double n = 0, sb = 0, ss = 0, sbb = 0, sbs = 0, min_s = -1;
  const json_t *r;
  size_t i;

  json_array_foreach (rounds, i, r) {
    double b = jnum (r, "bytes"), s = jnum (r, "seconds");
    n++;
    sb += b;
    ss += s;
    sbb += b * b;
    sbs += b * s;
    if (min_s < 0 || s < min_s)
      min_s = s;
  }
  double var = sbb - sb * sb / n;
  if (n >= 2 && var > 0) {
    *k = (sbs - sb * ss / n) / var;
    *overhead = (ss - *k * sb) / n;
    if (*k > 0 && *overhead >= 0)
      return;
    if (*k > 0) {               /* through the origin */
      *overhead = 0;
      *k = sbs / sbb;
      return;
    }
  }
  *overhead = min_s > 0 ? min_s : 0;
  *k = sb > 0 && ss > n * *overhead ? (ss - n * *overhead) / sb : 0;
}

json_t *
forecast_final_sync (const json_t *rounds)
{
  const json_t *last = NULL, *r;
  double overhead, k, bytes;
  size_t i;

  if (json_array_size (rounds) == 0)
    return NULL;
  json_array_foreach (rounds, i, r)
    if (strcmp (jstr_or (r, "kind", ""), "base") != 0)
      last = r;
  if (last == NULL)
    last = json_array_get (rounds, json_array_size (rounds) - 1);
  fit (rounds, &overhead, &k);
  bytes = jnum (last, "bytes");
  return json_pack ("{s:f, s:I, s:f, s:f, s:I, s:s}",
                    "final_sync_seconds", overhead + bytes * k,
                    "final_bytes", (json_int_t) bytes,
                    "throughput_bytes_per_s", k > 0 ? 1 / k : 0.0,
                    "overhead_seconds", overhead,
                    "rounds", (json_int_t) json_array_size (rounds),
                    "basis", strcmp (jstr_or (last, "kind", ""), "base") == 0
                    ? "base round only" : "last incremental round");
}
