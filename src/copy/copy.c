/* The copy engine (see copy.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "copy/copy.h"
#include "util/clock.h"
#include "util/error.h"

/* Zero requests carry no data, so they can be much larger than a chunk;
 * the cap keeps them under NBD's 32-bit request length. */
#define MAX_ZERO_REQUEST (1ull << 30)
/* The most one block-status query asks about. */
#define EXTENTS_LOOKAHEAD (1ull << 30)
#define BUFFER_BUDGET (64ull << 20)

enum slot_state {
  SLOT_FREE,
  SLOT_READING, SLOT_READ_DONE,
  SLOT_WRITING, SLOT_WRITE_DONE,
  SLOT_LOST,            /* will not complete: failed or abandoned */
};

struct copy;

struct slot {
  struct copy *c;
  enum slot_state state;
  bool zeroing;         /* the write phase is a zero request */
  int err;
  uint64_t off, len;
  char *buf;            /* chunk bytes, allocated on first data read */
};

struct extent {
  uint64_t off, len;
  bool zero;
};

struct copy {
  struct v2k_ep *src, *dst;
  const struct v2k_ranges *r;
  const struct v2k_copy_opts *o;
  uint64_t chunk;
  bool punch;

  size_t ri;            /* iterator: current range ... */
  uint64_t pos;         /* ... and next byte to issue (range end if done) */

  struct extent *ext;   /* source extents cache, from ext[0].off ... */
  size_t n_ext, cap_ext, ext_cur;
  uint64_t ext_end;     /* ... to ext_end */

  struct slot *slots;
  unsigned nslots;
  unsigned in_flight;
  uint64_t events;      /* completions seen, to detect a stalled loop */
  bool dst_hung;        /* the target stopped replying: do not flush */

  bool failed;
  char *errmsg;         /* first error, kept across cleanup calls */

  uint64_t ckpt_pos, ckpt_bytes;
  double ckpt_time, progress_time, start_time;
  struct v2k_copy_stats st;
};

/* Keep the first error: later ones are usually consequences of it. */
static void
fail (struct copy *c)
{
  if (!c->failed) {
    c->failed = true;
    c->errmsg = strdup (v2k_errmsg ());
  }
}

static bool
is_zero (const char *buf, size_t len)
{
  /* The first 16 bytes are checked by hand; then buffer == buffer+16
   * proves the rest is zero using libc's vectorised memcmp. */
  size_t head = len < 16 ? len : 16;
  for (size_t i = 0; i < head; i++)
    if (buf[i])
      return false;
  return len <= 16 || memcmp (buf, buf + 16, len - 16) == 0;
}

static void
slot_done (void *opaque, int err)
{
  struct slot *s = opaque;
  s->err = err;
  s->state = s->state == SLOT_READING ? SLOT_READ_DONE : SLOT_WRITE_DONE;
  s->c->in_flight--;
  s->c->events++;
}

static int
add_extent (void *opaque, uint64_t off, uint64_t len, bool zero)
{
  struct copy *c = opaque;

  if (c->n_ext > 0 && c->ext[c->n_ext-1].zero == zero &&
      c->ext[c->n_ext-1].off + c->ext[c->n_ext-1].len == off) {
    c->ext[c->n_ext-1].len += len;
  }
  else {
    if (c->n_ext == c->cap_ext) {
      size_t ncap = c->cap_ext ? c->cap_ext * 2 : 256;
      struct extent *n = realloc (c->ext, ncap * sizeof *n);
      if (n == NULL) {
        v2k_error_errno (errno, "cannot grow the extent cache");
        return -1;
      }
      c->ext = n;
      c->cap_ext = ncap;
    }
    c->ext[c->n_ext++] = (struct extent) { off, len, zero };
  }
  c->ext_end = off + len;
  return 0;
}

/* Is [pos, rend) zero on the source, and for how long at most?
 *
 * The source is asked only where its answer can save more than one
 * read, and only about the range at hand.  A piece that fits in one
 * request is read, and its zeroes are found in the buffer.  A query
 * blocks the loop for its round trip, and a server reading a VMDK chain
 * works it out, grain by grain, under the same lock as its reads: one
 * look far ahead over the gaps between an incremental copy's scattered
 * areas kept every read behind it waiting (a third of the 1% scattered
 * incremental's time in bench/sync-bench.sh). */
static int
classify (struct copy *c, uint64_t pos, uint64_t rend, bool *zero,
          uint64_t *max)
{
  *zero = false;
  if (!c->src->can_extents || c->src->ops->extents == NULL)
    return 0;
  if (c->n_ext == 0 || pos < c->ext[0].off || pos >= c->ext_end) {
    uint64_t len = rend - pos;
    if (len <= c->chunk)
      return 0;
    if (len > EXTENTS_LOOKAHEAD)
      len = EXTENTS_LOOKAHEAD;
    c->n_ext = c->ext_cur = 0;
    if (c->src->ops->extents (c->src, pos, len, add_extent, c) == -1)
      return -1;
    if (c->n_ext == 0 || c->ext[0].off != pos || c->ext_end <= pos) {
      v2k_error ("source '%s' reported no extents at offset %" PRIu64,
                 c->src->name, pos);
      return -1;
    }
  }
  while (c->ext[c->ext_cur].off + c->ext[c->ext_cur].len <= pos)
    c->ext_cur++;
  *zero = c->ext[c->ext_cur].zero;
  *max = c->ext[c->ext_cur].off + c->ext[c->ext_cur].len - pos;
  return 0;
}

static int
start_zero (struct copy *c, struct slot *s)
{
  s->zeroing = true;
  s->state = SLOT_WRITING;
  c->in_flight++;
  c->st.requests++;
  if (c->dst->can_zero) {
    if (c->dst->ops->start_zero (c->dst, s->len, s->off, c->punch,
                                 slot_done, s) == 0)
      return 0;
  }
  /* No efficient zeroing: write a zeroed buffer (len <= chunk here). */
  else if (s->buf || (s->buf = calloc (1, c->chunk)) != NULL) {
    memset (s->buf, 0, s->len);
    if (c->dst->ops->start_write (c->dst, s->buf, s->len, s->off,
                                  slot_done, s) == 0)
      return 0;
  }
  else
    v2k_error_errno (errno, "cannot allocate a buffer");
  c->in_flight--;
  s->state = SLOT_LOST;
  return -1;
}

/* Issue the next piece into slot s.  Returns 1 if a piece was issued or
 * skipped, 0 at the end of the list, -1 on error. */
static int
issue (struct copy *c, struct slot *s)
{
  const struct v2k_range *r;
  uint64_t rend, max, len;
  bool zero;

  if (c->ri >= c->r->n)
    return 0;
  r = &c->r->v[c->ri];
  rend = r->off + r->len;
  max = rend - c->pos;
  if (classify (c, c->pos, rend, &zero, &max) == -1)
    return -1;
  if (max > rend - c->pos)
    max = rend - c->pos;
  len = zero && c->dst->can_zero ? MAX_ZERO_REQUEST : c->chunk;
  if (len > max)
    len = max;

  s->off = c->pos;
  s->len = len;
  s->err = 0;
  c->pos += len;
  if (c->pos == rend && ++c->ri < c->r->n)
    c->pos = c->r->v[c->ri].off;

  if (zero && c->o->mode == V2K_COPY_BASE) {
    c->st.bytes_skipped += len;
    c->st.bytes_done += len;
    return 1;
  }
  if (zero)
    return start_zero (c, s) == -1 ? -1 : 1;

  if (s->buf == NULL && (s->buf = malloc (c->chunk)) == NULL) {
    v2k_error_errno (errno, "cannot allocate a buffer");
    s->state = SLOT_LOST;
    return -1;
  }
  s->zeroing = false;
  s->state = SLOT_READING;
  c->in_flight++;
  c->st.requests++;
  if (c->src->ops->start_read (c->src, s->buf, len, s->off,
                               slot_done, s) == -1) {
    c->in_flight--;
    s->state = SLOT_LOST;
    return -1;
  }
  return 1;
}

/* Act on one completed request. */
static void
complete (struct copy *c, struct slot *s)
{
  if (s->state == SLOT_READ_DONE) {
    if (s->err) {
      v2k_error_errno (s->err, "cannot read source '%s' at offset %" PRIu64
                       " length %" PRIu64, c->src->name, s->off, s->len);
      fail (c);
    }
    if (c->failed) {
      s->state = SLOT_LOST;
      return;
    }
    c->st.bytes_read += s->len;
    if (is_zero (s->buf, s->len)) {
      if (c->o->mode == V2K_COPY_BASE) {
        c->st.bytes_skipped += s->len;
        c->st.bytes_done += s->len;
        s->state = SLOT_FREE;
      }
      else if (start_zero (c, s) == -1)
        fail (c);
      return;
    }
    s->zeroing = false;
    s->state = SLOT_WRITING;
    c->in_flight++;
    c->st.requests++;
    if (c->dst->ops->start_write (c->dst, s->buf, s->len, s->off,
                                  slot_done, s) == -1) {
      c->in_flight--;
      s->state = SLOT_LOST;
      fail (c);
    }
  }
  else if (s->state == SLOT_WRITE_DONE) {
    if (s->err) {
      v2k_error_errno (s->err, "cannot %s target '%s' at offset %" PRIu64
                       " length %" PRIu64, s->zeroing ? "zero" : "write",
                       c->dst->name, s->off, s->len);
      fail (c);
      s->state = SLOT_LOST;
      return;
    }
    if (s->zeroing)
      c->st.bytes_zeroed += s->len;
    else
      c->st.bytes_written += s->len;
    c->st.bytes_done += s->len;
    s->state = SLOT_FREE;
  }
}

/* Everything of the list below this offset is complete. */
static uint64_t
safe_pos (const struct copy *c)
{
  uint64_t p = c->pos;
  for (unsigned i = 0; i < c->nslots; i++)
    if (c->slots[i].state != SLOT_FREE && c->slots[i].off < p)
      p = c->slots[i].off;
  return p;
}

static int
checkpoint (struct copy *c, uint64_t *out, bool force)
{
  uint64_t p = safe_pos (c);

  if (p <= c->ckpt_pos && !force)
    return 0;
  /* The flush is sent after the writes below p completed, so they are
   * durable when it returns; only then is p announced. */
  if (c->dst->ops->flush (c->dst) == -1)
    return -1;
  c->ckpt_pos = p;
  c->ckpt_bytes = c->st.bytes_done;
  c->ckpt_time = mono_seconds ();
  c->st.checkpoints++;
  if (out)
    *out = p;
  if (c->o->checkpoint && c->o->checkpoint (c->o->opaque, p) == -1)
    return -1;
  return 0;
}

static void
progress (struct copy *c, bool force)
{
  double t;
  if (c->o->progress == NULL)
    return;
  t = mono_seconds ();
  if (force || t - c->progress_time >= 0.2) {
    c->progress_time = t;
    c->o->progress (c->o->opaque, c->st.bytes_done, c->st.bytes_total);
  }
}

/* Requests that will never complete: their slots are lost (what they
 * covered stays below no checkpoint), the endpoints forget them (closing
 * a connection still retires them), and the endpoints are closed by the
 * caller without being polled again, so no late reply lands in a freed
 * buffer. */
static void
abandon (struct copy *c)
{
  v2k_ep_abandon (c->src);
  v2k_ep_abandon (c->dst);
  for (unsigned i = 0; i < c->nslots; i++)
    if (c->slots[i].state == SLOT_READING || c->slots[i].state == SLOT_WRITING)
      c->slots[i].state = SLOT_LOST;
  c->in_flight = 0;
}

static int
run (struct copy *c, uint64_t *ckpt_out)
{
  uint64_t every_bytes = c->o->checkpoint_bytes ? c->o->checkpoint_bytes
                                                : 1ull << 30;
  double every_secs = c->o->checkpoint_secs ? c->o->checkpoint_secs : 10;
  double io_timeout = c->o->io_timeout_secs ? c->o->io_timeout_secs
                                               : V2K_IO_TIMEOUT_DEFAULT;
  double t, waited = 0;

  for (;;) {
    uint64_t events = c->events;
    unsigned busy = 0;
    int r;

    for (unsigned i = 0; i < c->nslots; i++) {
      struct slot *s = &c->slots[i];
      /* Synchronous endpoints complete inside the start calls, so a
       * slot may go round several times; the bound lets checkpoints and
       * progress happen between rounds. */
      for (int rounds = 0; rounds < 8; rounds++) {
        if (s->state == SLOT_READ_DONE || s->state == SLOT_WRITE_DONE)
          complete (c, s);
        else if (!c->failed && s->state == SLOT_FREE &&
                 (r = issue (c, s)) != 0) {
          if (r == -1)
            fail (c);
        }
        else
          break;
      }
      if (s->state != SLOT_FREE && s->state != SLOT_LOST)
        busy++;
    }
    progress (c, false);
    if (busy == 0 && (c->failed || c->ri >= c->r->n))
      break;
    if (!c->failed &&
        (c->st.bytes_done - c->ckpt_bytes >= every_bytes ||
         mono_seconds () - c->ckpt_time >= every_secs) &&
        checkpoint (c, ckpt_out, false) == -1) {
      fail (c);
      continue;
    }
    if (c->in_flight == 0)
      continue;               /* completed slots wait for the next pass */
    t = mono_seconds ();
    if (v2k_ep_poll2 (c->src, c->dst, 1000) == -1) {
      fail (c);
      /* A dead handle fails its commands through their completions; if
       * it did not, nothing will ever complete them. */
      if (c->events == events)
        abandon (c);
    }
    else if (c->events != events)
      waited = 0;
    /* Only time spent waiting for replies counts, not a slow flush. */
    else if ((waited += mono_seconds () - t) >= io_timeout) {
      bool writing = false;
      for (unsigned i = 0; i < c->nslots; i++)
        writing |= c->slots[i].state == SLOT_WRITING;
      v2k_error ("no reply from the %s '%s' in %.0f s",
                 writing ? "target" : "source",
                 writing ? c->dst->name : c->src->name, io_timeout);
      fail (c);
      c->dst_hung = writing;
      abandon (c);
    }
  }
  return c->failed ? -1 : 0;
}

int
v2k_copy (struct v2k_ep *src, struct v2k_ep *dst,
          const struct v2k_ranges *ranges, const struct v2k_copy_opts *opts,
          struct v2k_copy_stats *stats, uint64_t *checkpoint_out)
{
  static const struct v2k_copy_opts defaults;
  struct copy c = { .src = src, .dst = dst, .r = ranges,
                    .o = opts ? opts : &defaults };
  uint64_t end = ranges->n ? ranges->v[ranges->n-1].off
                             + ranges->v[ranges->n-1].len : 0;
  int ret = -1;

  c.start_time = c.ckpt_time = c.progress_time = mono_seconds ();
  c.pos = ranges->n ? ranges->v[0].off : 0;
  c.ckpt_pos = c.pos;
  if (checkpoint_out)
    *checkpoint_out = c.pos;
  c.st.bytes_total = v2k_ranges_bytes (ranges);
  c.st.areas = ranges->n;
  c.punch = !c.o->keep_allocated;

  if (v2k_ranges_check (ranges) == -1)
    goto cleanup;
  if (!dst->writable) {
    v2k_error ("target '%s' is not open for writing", dst->name);
    goto cleanup;
  }
  if (end > src->size || end > dst->size) {
    v2k_error ("ranges end at %" PRIu64 ", beyond the source '%s' (%"
               PRIu64 " bytes) or the target '%s' (%" PRIu64 " bytes)",
               end, src->name, src->size, dst->name, dst->size);
    goto cleanup;
  }
  c.chunk = c.o->chunk ? c.o->chunk : V2K_COPY_DEFAULT_CHUNK;
  if (c.chunk > src->max_request)
    c.chunk = src->max_request;
  if (c.chunk > dst->max_request)
    c.chunk = dst->max_request;
  c.nslots = c.o->max_requests;
  if (c.nslots == 0) {
    c.nslots = BUFFER_BUDGET / c.chunk;
    c.nslots = c.nslots < 1 ? 1 : c.nslots > 64 ? 64 : c.nslots;
  }
  c.slots = calloc (c.nslots, sizeof *c.slots);
  if (c.slots == NULL) {
    v2k_error_errno (errno, "cannot allocate copy slots");
    goto cleanup;
  }
  for (unsigned i = 0; i < c.nslots; i++)
    c.slots[i].c = &c;

  if (run (&c, checkpoint_out) == 0 && checkpoint (&c, checkpoint_out, true) == 0)
    ret = 0;
  else {
    fail (&c);
    /* Save what completed before the error, if the target still works,
     * so a retry does not start over. */
    if (!c.dst_hung && safe_pos (&c) > c.ckpt_pos)
      checkpoint (&c, checkpoint_out, false);
    v2k_error ("%s", c.errmsg ? c.errmsg : "copy failed");
  }
  progress (&c, true);

 cleanup:
  c.st.seconds = mono_seconds () - c.start_time;
  if (stats)
    *stats = c.st;
  if (c.slots)
    for (unsigned i = 0; i < c.nslots; i++)
      free (c.slots[i].buf);
  free (c.slots);
  free (c.ext);
  free (c.errmsg);
  return ret;
}

static int
collect_data (void *opaque, uint64_t off, uint64_t len, bool zero)
{
  return zero ? 0 : v2k_ranges_add (opaque, off, len);
}

int
v2k_copy_allocated (struct v2k_ep *src, struct v2k_ranges *out)
{
  uint64_t pos = 0;

  if (!src->can_extents || src->ops->extents == NULL)
    return v2k_ranges_add (out, 0, src->size);
  while (pos < src->size) {
    struct v2k_ranges tmp = V2K_RANGES_INIT;
    uint64_t len = src->size - pos, end = pos;
    struct copy c = { .src = src };

    if (len > EXTENTS_LOOKAHEAD)
      len = EXTENTS_LOOKAHEAD;
    /* Reuse the cache logic to learn where the reply ended. */
    if (src->ops->extents (src, pos, len, add_extent, &c) == -1) {
      free (c.ext);
      return -1;
    }
    for (size_t i = 0; i < c.n_ext; i++)
      if (collect_data (&tmp, c.ext[i].off, c.ext[i].len, c.ext[i].zero) == -1)
        break;
    end = c.ext_end;
    free (c.ext);
    for (size_t i = 0; i < tmp.n; i++)
      if (v2k_ranges_add (out, tmp.v[i].off, tmp.v[i].len) == -1) {
        v2k_ranges_free (&tmp);
        return -1;
      }
    v2k_ranges_free (&tmp);
    if (end <= pos) {
      v2k_error ("source '%s' reported no extents at offset %" PRIu64,
                 src->name, pos);
      return -1;
    }
    pos = end;
  }
  return 0;
}
