/* Range lists and the CBT page validator (see ranges.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "copy/ranges.h"
#include "util/error.h"

int
v2k_ranges_add (struct v2k_ranges *r, uint64_t off, uint64_t len)
{
  if (len == 0)
    return 0;
  if (off + len < off) {
    v2k_error ("range %" PRIu64 "+%" PRIu64 " overflows", off, len);
    return -1;
  }
  /* Merging touching neighbours keeps lists built from extents short. */
  if (r->n > 0 && r->v[r->n - 1].off + r->v[r->n - 1].len == off) {
    r->v[r->n - 1].len += len;
    return 0;
  }
  if (r->n == r->cap) {
    size_t ncap = r->cap ? r->cap * 2 : 64;
    struct v2k_range *nv = realloc (r->v, ncap * sizeof *nv);
    if (nv == NULL) {
      v2k_error_errno (errno, "cannot grow range list");
      return -1;
    }
    r->v = nv;
    r->cap = ncap;
  }
  r->v[r->n].off = off;
  r->v[r->n].len = len;
  r->n++;
  return 0;
}

void
v2k_ranges_free (struct v2k_ranges *r)
{
  free (r->v);
  r->v = NULL;
  r->n = r->cap = 0;
}

uint64_t
v2k_ranges_bytes (const struct v2k_ranges *r)
{
  uint64_t t = 0;
  for (size_t i = 0; i < r->n; i++)
    t += r->v[i].len;
  return t;
}

int
v2k_ranges_check (const struct v2k_ranges *r)
{
  for (size_t i = 0; i < r->n; i++) {
    const struct v2k_range *a = &r->v[i];
    if (a->len == 0) {
      v2k_error ("range %zu at %" PRIu64 " is empty", i, a->off);
      return -1;
    }
    if (a->off + a->len < a->off) {
      v2k_error ("range %zu at %" PRIu64 " overflows", i, a->off);
      return -1;
    }
    if (i > 0 && a->off < r->v[i-1].off + r->v[i-1].len) {
      v2k_error ("range %zu at %" PRIu64 " is unsorted or overlaps "
                 "the previous one", i, a->off);
      return -1;
    }
  }
  return 0;
}

void
v2k_ranges_coalesce (struct v2k_ranges *r, uint64_t gap)
{
  size_t o = 0;

  for (size_t i = 0; i < r->n; i++) {
    if (o > 0) {
      struct v2k_range *p = &r->v[o-1];
      uint64_t pend = p->off + p->len;
      if (r->v[i].off <= pend || r->v[i].off - pend < gap) {
        uint64_t end = r->v[i].off + r->v[i].len;
        if (end > pend)
          p->len = end - p->off;
        continue;
      }
    }
    r->v[o++] = r->v[i];
  }
  r->n = o;
}

void
v2k_ranges_align (struct v2k_ranges *r, uint64_t align, uint64_t capacity)
{
  if (align <= 1)
    return;
  for (size_t i = 0; i < r->n; i++) {
    uint64_t start = r->v[i].off - r->v[i].off % align;
    uint64_t end = r->v[i].off + r->v[i].len;
    uint64_t up = end % align ? end + (align - end % align) : end;

    if (up < end || up > capacity)   /* overflow, or the disk ends first */
      up = end > capacity ? end : capacity;
    r->v[i].off = start;
    r->v[i].len = up - start;
  }
  v2k_ranges_coalesce (r, 0);
}

int
v2k_ranges_split (const struct v2k_ranges *in, uint64_t chunk,
                  struct v2k_ranges *out)
{
  if (chunk == 0) {
    v2k_error ("chunk size must not be zero");
    return -1;
  }
  for (size_t i = 0; i < in->n; i++) {
    uint64_t off = in->v[i].off, left = in->v[i].len;
    while (left > 0) {
      uint64_t n = left < chunk ? left : chunk;
      /* Not v2k_ranges_add: it would merge the pieces back together. */
      if (out->n == out->cap) {
        size_t ncap = out->cap ? out->cap * 2 : 64;
        struct v2k_range *nv = realloc (out->v, ncap * sizeof *nv);
        if (nv == NULL) {
          v2k_error_errno (errno, "cannot grow range list");
          return -1;
        }
        out->v = nv;
        out->cap = ncap;
      }
      out->v[out->n].off = off;
      out->v[out->n].len = n;
      out->n++;
      off += n;
      left -= n;
    }
  }
  return 0;
}

void
v2k_ranges_clip (struct v2k_ranges *r, uint64_t capacity)
{
  size_t o = 0;
  for (size_t i = 0; i < r->n; i++) {
    struct v2k_range a = r->v[i];
    if (a.off >= capacity)
      continue;
    if (a.len > capacity - a.off)
      a.len = capacity - a.off;
    r->v[o++] = a;
  }
  r->n = o;
}

void
v2k_ranges_after (struct v2k_ranges *r, uint64_t pos)
{
  size_t o = 0;
  for (size_t i = 0; i < r->n; i++) {
    struct v2k_range a = r->v[i];
    uint64_t end = a.off + a.len;
    if (end <= pos)
      continue;
    if (a.off < pos) {
      a.len = end - pos;
      a.off = pos;
    }
    r->v[o++] = a;
  }
  r->n = o;
}

void
v2k_cbt_init (struct v2k_cbt *cbt, uint64_t capacity)
{
  cbt->capacity = capacity;
  cbt->next = 0;
  cbt->last_area_end = 0;
  cbt->pages = 0;
  cbt->done = capacity == 0;
}

int
v2k_cbt_add_page (struct v2k_cbt *cbt, uint64_t start, uint64_t length,
                  const struct v2k_range *areas, size_t n_areas,
                  struct v2k_ranges *out)
{
  uint64_t end = start + length;
  size_t page = cbt->pages;

  if (cbt->done) {
    v2k_error ("changed areas page %zu at %" PRIu64 " follows a page that "
               "already reached the capacity %" PRIu64,
               page, start, cbt->capacity);
    return -1;
  }
  if (start > cbt->next) {
    v2k_error ("changed areas page %zu leaves a gap: expected start %"
               PRIu64 ", got %" PRIu64, page, cbt->next, start);
    return -1;
  }
  if (start < cbt->next) {
    v2k_error ("changed areas page %zu overlaps the previous page: "
               "expected start %" PRIu64 ", got %" PRIu64,
               page, cbt->next, start);
    return -1;
  }
  /* An empty page is normal (nothing changed there); a page that does
   * not advance would make the caller loop forever or stop early. */
  if (length == 0) {
    v2k_error ("changed areas page %zu at %" PRIu64 " makes no progress "
               "(length 0)", page, start);
    return -1;
  }
  if (end < start || end > cbt->capacity) {
    v2k_error ("changed areas page %zu [%" PRIu64 ", +%" PRIu64 ") "
               "overruns the capacity %" PRIu64,
               page, start, length, cbt->capacity);
    return -1;
  }
  for (size_t i = 0; i < n_areas; i++) {
    uint64_t aoff = areas[i].off, alen = areas[i].len;
    if (alen == 0)
      continue;               /* covers nothing, loses nothing */
    if (aoff < start || aoff + alen < aoff || aoff + alen > end) {
      v2k_error ("changed area %" PRIu64 "+%" PRIu64 " lies outside its "
                 "page %zu [%" PRIu64 ", +%" PRIu64 ")",
                 aoff, alen, page, start, length);
      return -1;
    }
    if (aoff < cbt->last_area_end) {
      v2k_error ("changed area %" PRIu64 "+%" PRIu64 " in page %zu is "
                 "unsorted or overlaps the previous area",
                 aoff, alen, page);
      return -1;
    }
    if (v2k_ranges_add (out, aoff, alen) == -1)
      return -1;
    cbt->last_area_end = aoff + alen;
  }
  cbt->next = end;
  cbt->pages++;
  if (end == cbt->capacity)
    cbt->done = 1;
  return 0;
}

int
v2k_cbt_finish (const struct v2k_cbt *cbt)
{
  if (!cbt->done) {
    v2k_error ("changed areas cover only %" PRIu64 " of %" PRIu64
               " bytes after %zu pages", cbt->next, cbt->capacity,
               cbt->pages);
    return -1;
  }
  return 0;
}
