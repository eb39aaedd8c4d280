/* Compare two endpoints (source snapshot vs target).
 *
 * All modes read both sides in pieces of 'chunk' bytes (0: 4 MiB), both
 * reads in flight together, so memory is two chunks.  They return 0 when
 * the comparison ran (result->equal says whether the data matched,
 * result->first_diff where it first did not) and -1 with v2k_error set
 * when a read failed (or got no reply for the I/O timeout, 300 s unless
 * set with v2k_verify_set_io_timeout: the process-wide setting of the
 * command line).  Offsets are disk offsets of 'a'.
 */
#ifndef V2K_COPY_VERIFY_H
#define V2K_COPY_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "copy/endpoint.h"
#include "copy/ranges.h"

struct v2k_verify_result {
  bool equal;
  uint64_t first_diff;         /* lowest differing offset if !equal */
  uint64_t bytes_compared;
  char sha256_a[65];           /* full mode: hex digests of a and b */
  char sha256_b[65];
};

void v2k_verify_set_io_timeout (unsigned secs);

/* Byte for byte over the given ranges. */
int v2k_verify_ranges (struct v2k_ep *a, struct v2k_ep *b,
                       const struct v2k_ranges *ranges, uint64_t chunk,
                       struct v2k_verify_result *result);

/* 'samples' random ranges of 'sample_len' bytes (0: 1 MiB), 4 KiB
 * aligned, from a PRNG seeded by 'seed' (same seed, same ranges). */
int v2k_verify_sample (struct v2k_ep *a, struct v2k_ep *b,
                       unsigned samples, uint64_t sample_len,
                       uint64_t seed, struct v2k_verify_result *result);

/* Every byte of a (b must be at least as large), with SHA-256 of both
 * sides streamed through libcrypto's EVP interface. */
int v2k_verify_full (struct v2k_ep *a, struct v2k_ep *b, uint64_t chunk,
                     struct v2k_verify_result *result);

/* The sample ranges v2k_verify_sample() would check (sorted, merged),
 * exposed so a caller can log or reproduce them. */
int v2k_verify_sample_ranges (uint64_t size, unsigned samples,
                              uint64_t sample_len, uint64_t seed,
                              struct v2k_ranges *out);

#endif /* V2K_COPY_VERIFY_H */
