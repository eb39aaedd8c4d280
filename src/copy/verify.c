/* Verification of a target against its source (see verify.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "copy/copy.h"
#include "copy/verify.h"
#include "util/cleanup.h"
#include "util/clock.h"
#include "util/error.h"

struct pending {
  bool done;
  int err;
};

static void
pending_done (void *opaque, int err)
{
  struct pending *p = opaque;
  p->done = true;
  p->err = err;
}

/* As long as the copy waits for a reply (copy.h, io_timeout_secs). */
static unsigned io_timeout = V2K_IO_TIMEOUT_DEFAULT;

void
v2k_verify_set_io_timeout (unsigned secs)
{
  io_timeout = secs ? secs : V2K_IO_TIMEOUT_DEFAULT;
}

/* Wait for the reads of a and b (NULL: none) to complete.  A request
 * never outlives this frame: on an error or a timeout the endpoints
 * forget it (v2k_ep_abandon), since its completion points at our stack. */
static int
wait_both (struct v2k_ep *a, struct pending *pa, struct v2k_ep *b,
           struct pending *pb)
{
  double since = mono_seconds ();

  while ((a && !pa->done) || (b && !pb->done)) {
    bool wa = a && !pa->done, wb = b && !pb->done;
    if (v2k_ep_poll2 (wa ? a : NULL, wb ? b : NULL, 1000) == -1)
      goto abandon;
    if ((a && !pa->done) != wa || (b && !pb->done) != wb)
      since = mono_seconds ();
    else if (mono_seconds () - since >= io_timeout) {
      v2k_error ("no reply from '%s' in %u s", wa ? a->name : b->name,
                 io_timeout);
      goto abandon;
    }
  }
  return 0;

 abandon:
  if (a && !pa->done)
    v2k_ep_abandon (a);
  if (b && !pb->done)
    v2k_ep_abandon (b);
  return -1;
}

/* Read the same range of both endpoints, the two reads in flight at
 * once (two different servers usually). */
static int
read_both (struct v2k_ep *a, struct v2k_ep *b, char *ba, char *bb,
           size_t len, uint64_t off)
{
  struct pending pa = { false, 0 }, pb = { false, 0 };

  if (a->ops->start_read (a, ba, len, off, pending_done, &pa) == -1)
    return -1;
  if (b->ops->start_read (b, bb, len, off, pending_done, &pb) == -1) {
    wait_both (a, &pa, NULL, NULL);
    return -1;
  }
  if (wait_both (a, &pa, b, &pb) == -1)
    return -1;
  if (pa.err || pb.err) {
    struct v2k_ep *e = pa.err ? a : b;
    v2k_error_errno (pa.err ? pa.err : pb.err,
                     "cannot read '%s' at offset %" PRIu64 " length %zu",
                     e->name, off, len);
    return -1;
  }
  return 0;
}

static void
note_diff (struct v2k_verify_result *r, const char *ba, const char *bb,
           size_t len, uint64_t off)
{
  if (!r->equal || memcmp (ba, bb, len) == 0)
    return;
  for (size_t i = 0; i < len; i++)
    if (ba[i] != bb[i]) {
      r->equal = false;
      r->first_diff = off + i;
      return;
    }
}

struct cmp {
  struct v2k_ep *a, *b;
  uint64_t chunk;
  char *ba, *bb;
  EVP_MD_CTX *ha, *hb;          /* full mode only */
};

static int
cmp_init (struct cmp *c, struct v2k_ep *a, struct v2k_ep *b, uint64_t chunk,
          struct v2k_verify_result *r)
{
  memset (r, 0, sizeof *r);
  r->equal = true;
  c->a = a;
  c->b = b;
  c->chunk = chunk ? chunk : 4u << 20;
  if (c->chunk > a->max_request)
    c->chunk = a->max_request;
  if (c->chunk > b->max_request)
    c->chunk = b->max_request;
  c->ba = malloc (c->chunk);
  c->bb = malloc (c->chunk);
  if (c->ba == NULL || c->bb == NULL) {
    v2k_error_errno (errno, "cannot allocate verify buffers");
    return -1;
  }
  return 0;
}

static void
cmp_free (struct cmp *c)
{
  free (c->ba);
  free (c->bb);
  if (c->ha)
    EVP_MD_CTX_free (c->ha);
  if (c->hb)
    EVP_MD_CTX_free (c->hb);
}

static int
cmp_ranges (struct cmp *c, const struct v2k_ranges *ranges,
            struct v2k_verify_result *r)
{
  for (size_t i = 0; i < ranges->n; i++) {
    uint64_t off = ranges->v[i].off, end = off + ranges->v[i].len;
    if (end > c->a->size || end > c->b->size) {
      v2k_error ("verify range ends at %" PRIu64 ", beyond '%s' or '%s'",
                 end, c->a->name, c->b->name);
      return -1;
    }
    while (off < end) {
      size_t n = end - off < c->chunk ? end - off : c->chunk;
      if (read_both (c->a, c->b, c->ba, c->bb, n, off) == -1)
        return -1;
      note_diff (r, c->ba, c->bb, n, off);
      if (c->ha && (EVP_DigestUpdate (c->ha, c->ba, n) != 1 ||
                    EVP_DigestUpdate (c->hb, c->bb, n) != 1)) {
        v2k_error ("sha256 update failed");
        return -1;
      }
      r->bytes_compared += n;
      off += n;
    }
  }
  return 0;
}

int
v2k_verify_ranges (struct v2k_ep *a, struct v2k_ep *b,
                   const struct v2k_ranges *ranges, uint64_t chunk,
                   struct v2k_verify_result *result)
{
  struct cmp c = { 0 };
  int ret = -1;

  if (cmp_init (&c, a, b, chunk, result) == -1 ||
      v2k_ranges_check (ranges) == -1)
    goto cleanup;
  ret = cmp_ranges (&c, ranges, result);
 cleanup:
  cmp_free (&c);
  return ret;
}

/* splitmix64: tiny, seedable, and good enough to spread samples. */
static uint64_t
next_rand (uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int
cmp_range (const void *x, const void *y)
{
  const struct v2k_range *a = x, *b = y;
  return a->off < b->off ? -1 : a->off > b->off;
}

int
v2k_verify_sample_ranges (uint64_t size, unsigned samples,
                          uint64_t sample_len, uint64_t seed,
                          struct v2k_ranges *out)
{
  CLEANUP_FREE struct v2k_range *v = NULL;
  uint64_t state = seed;

  if (sample_len == 0)
    sample_len = 1u << 20;
  if (size == 0 || samples == 0)
    return 0;
  if (sample_len > size)
    sample_len = size;
  v = calloc (samples, sizeof *v);
  if (v == NULL) {
    v2k_error_errno (errno, "cannot allocate samples");
    return -1;
  }
  for (unsigned i = 0; i < samples; i++) {
    uint64_t slots = (size - sample_len) / 4096 + 1;
    uint64_t off = (next_rand (&state) % slots) * 4096;
    v[i].off = off;
    v[i].len = off + sample_len <= size ? sample_len : size - off;
  }
  qsort (v, samples, sizeof *v, cmp_range);
  /* Random samples may overlap: merge so the list is disjoint. */
  for (unsigned i = 0; i < samples; i++) {
    uint64_t start = v[i].off, end = v[i].off + v[i].len;
    if (out->n > 0) {
      struct v2k_range *last = &out->v[out->n - 1];
      if (start <= last->off + last->len) {
        if (end > last->off + last->len)
          last->len = end - last->off;
        continue;
      }
    }
    if (v2k_ranges_add (out, start, end - start) == -1)
      return -1;
  }
  return 0;
}

int
v2k_verify_sample (struct v2k_ep *a, struct v2k_ep *b, unsigned samples,
                   uint64_t sample_len, uint64_t seed,
                   struct v2k_verify_result *result)
{
  struct v2k_ranges r = V2K_RANGES_INIT;
  int ret = -1;

  if (v2k_verify_sample_ranges (a->size, samples, sample_len, seed, &r) == 0)
    ret = v2k_verify_ranges (a, b, &r, 0, result);
  v2k_ranges_free (&r);
  return ret;
}

static void
hex (const unsigned char *md, unsigned len, char *out)
{
  for (unsigned i = 0; i < len; i++)
    sprintf (out + 2 * i, "%02x", md[i]);
}

int
v2k_verify_full (struct v2k_ep *a, struct v2k_ep *b, uint64_t chunk,
                 struct v2k_verify_result *result)
{
  struct cmp c = { 0 };
  struct v2k_ranges all = V2K_RANGES_INIT;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen;
  int ret = -1;

  if (cmp_init (&c, a, b, chunk, result) == -1)
    goto cleanup;
  if (b->size < a->size) {
    v2k_error ("'%s' (%" PRIu64 " bytes) is smaller than '%s' (%" PRIu64
               " bytes)", b->name, b->size, a->name, a->size);
    goto cleanup;
  }
  c.ha = EVP_MD_CTX_new ();
  c.hb = EVP_MD_CTX_new ();
  if (c.ha == NULL || c.hb == NULL ||
      EVP_DigestInit_ex (c.ha, EVP_sha256 (), NULL) != 1 ||
      EVP_DigestInit_ex (c.hb, EVP_sha256 (), NULL) != 1) {
    v2k_error ("cannot initialise sha256");
    goto cleanup;
  }
  if (v2k_ranges_add (&all, 0, a->size) == -1 ||
      cmp_ranges (&c, &all, result) == -1)
    goto cleanup;
  if (EVP_DigestFinal_ex (c.ha, md, &mdlen) != 1)
    goto md_err;
  hex (md, mdlen, result->sha256_a);
  if (EVP_DigestFinal_ex (c.hb, md, &mdlen) != 1)
    goto md_err;
  hex (md, mdlen, result->sha256_b);
  ret = 0;
  goto cleanup;

 md_err:
  v2k_error ("sha256 finalisation failed");
 cleanup:
  v2k_ranges_free (&all);
  cmp_free (&c);
  return ret;
}
