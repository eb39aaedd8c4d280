/* The convergence forecast: from the rounds a warm migration synced so
 * far, how long the final sync (the copy part of the downtime) would take
 * if the cutover started now.
 *
 * Pure: rounds in, estimate out, so it has a unit test without a lab.
 */
#ifndef V2K_FORECAST_H
#define V2K_FORECAST_H

#include <jansson.h>

/* rounds: the manifest's "rounds" ([{"kind","bytes","seconds",...}]).
 * The model: a sync costs a fixed overhead (snapshot lookup, changed
 * areas walk, servers) plus bytes / throughput, fitted by least squares
 * over the rounds (the base fixes the rate, the small rounds the
 * overhead); the final round is expected
 * to carry what the last incremental round carried (the guest changes
 * about as much in the same time).  Returns
 *   {"final_sync_seconds", "final_bytes", "throughput_bytes_per_s",
 *    "overhead_seconds", "rounds", "basis"}
 * or NULL when no round was synced yet. */
json_t *forecast_final_sync (const json_t *rounds);

#endif /* V2K_FORECAST_H */
