#include "core/forecast.h"

#include <string.h>

#include "util/json.h"

static double
jnum (const json_t *o, const char *k)
{
  return json_number_value (json_object_get (o, k));
}

json_t *
forecast_final_sync (const json_t *rounds)
{
  double tp_bytes = 0, tp_secs = 0, overhead = -1, throughput;
  const json_t *last = NULL, *r;
  size_t i, n = 0;

  json_array_foreach (rounds, i, r) {
    double b = jnum (r, "bytes"), s = jnum (r, "seconds");
    n++;
    /* Throughput from the big copies: with few bytes the fixed costs
     * dominate and the rate says nothing about the link. */
    if (b >= 16 * 1048576.0 && s > 0) {
      tp_bytes += b;
      tp_secs += s;
    }
    if (strcmp (jstr_or (r, "kind", ""), "base") != 0)
      last = r;
  }
  if (n == 0)
    return NULL;
  if (tp_secs <= 0) {
    /* Only small rounds: their rate is a lower bound. */
    json_array_foreach (rounds, i, r) {
      tp_bytes += jnum (r, "bytes");
      tp_secs += jnum (r, "seconds");
    }
  }
  throughput = tp_secs > 0 && tp_bytes > 0 ? tp_bytes / tp_secs : 0;
  json_array_foreach (rounds, i, r) {
    double o;
    if (strcmp (jstr_or (r, "kind", ""), "base") == 0)
      continue;
    o = jnum (r, "seconds") - (throughput > 0 ? jnum (r, "bytes") / throughput : 0);
    if (o < 0)
      o = 0;
    if (overhead < 0 || o < overhead)
      overhead = o;
  }
  if (overhead < 0)
    overhead = 0;
  if (last == NULL)
    last = json_array_get (rounds, json_array_size (rounds) - 1);
  double bytes = jnum (last, "bytes");
  double secs = overhead + (throughput > 0 ? bytes / throughput : jnum (last, "seconds"));
  return json_pack ("{s:f, s:I, s:f, s:f, s:I, s:s}",
                    "final_sync_seconds", secs,
                    "final_bytes", (json_int_t) bytes,
                    "throughput_bytes_per_s", throughput,
                    "overhead_seconds", overhead,
                    "rounds", (json_int_t) n,
                    "basis", strcmp (jstr_or (last, "kind", ""), "base") == 0
                    ? "base round only" : "last incremental round");
}
