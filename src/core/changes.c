#include "core/changes.h"

#include <stdlib.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "vsphere/vim.h"

/* A bound on the walk: vCenter pages hold up to ~2000 areas and cover at
 * least one area each, so no real disk needs more pages than this; a
 * server that never reaches the capacity must not loop forever. */
#define MAX_PAGES 10000000

int
changed_ranges (struct vim *vim, const char *vm, const char *snap,
                int32_t key, uint64_t capacity, const char *change_id,
                struct v2k_ranges *out, size_t *pages)
{
  return changed_ranges_pages (vim, vm, snap, key, capacity, change_id, out,
                               pages, NULL);
}

/* A page as vCenter returned it, for diagnostics. */
static json_t *
page_json (const struct vim_changes *page)
{
  json_t *areas = json_array ();

  for (size_t i = 0; i < page->nr_areas; i++)
    json_array_append_new (areas, json_pack ("{s:I, s:I}",
        "start", (json_int_t) page->areas[i].start,
        "length", (json_int_t) page->areas[i].length));
  return json_pack ("{s:I, s:I, s:I, s:o}", "start", (json_int_t) page->start,
                    "length", (json_int_t) page->length,
                    "areas_count", (json_int_t) page->nr_areas, "areas", areas);
}

int
changed_ranges_pages (struct vim *vim, const char *vm, const char *snap,
                      int32_t key, uint64_t capacity, const char *change_id,
                      struct v2k_ranges *out, size_t *pages, json_t *log)
{
  struct v2k_cbt cbt;
  int ret = -1;

  v2k_cbt_init (&cbt, capacity);
  while (!cbt.done) {
    struct vim_changes page = { 0 };
    CLEANUP_FREE struct v2k_range *areas = NULL;
    int r;

    if (cbt.pages >= MAX_PAGES) {
      v2k_error ("QueryChangedDiskAreas did not cover the disk in %d pages",
                 MAX_PAGES);
      goto cleanup;
    }
    if (vim_query_changed_areas (vim, vm, snap, key, (int64_t) cbt.next,
                                 change_id, &page) < 0) {
      v2k_error_prefix ("QueryChangedDiskAreas(disk %d, offset %llu)",
                        (int) key, (unsigned long long) cbt.next);
      goto cleanup;
    }
    if (log)
      json_array_append_new (log, page_json (&page));
    if (page.start < 0 || page.length < 0) {
      vim_changes_free (&page);
      v2k_error ("QueryChangedDiskAreas returned a negative range");
      goto cleanup;
    }
    areas = calloc (page.nr_areas ? page.nr_areas : 1, sizeof *areas);
    for (size_t i = 0; areas && i < page.nr_areas; i++) {
      if (page.areas[i].start < 0 || page.areas[i].length < 0) {
        vim_changes_free (&page);
        v2k_error ("QueryChangedDiskAreas returned a negative area");
        goto cleanup;
      }
      areas[i].off = page.areas[i].start;
      areas[i].len = page.areas[i].length;
    }
    r = areas ? v2k_cbt_add_page (&cbt, page.start, page.length, areas,
                                  page.nr_areas, out) : -1;
    vim_changes_free (&page);
    if (r < 0) {
      v2k_error_prefix ("disk %d: changed areas rejected", (int) key);
      goto cleanup;
    }
  }
  if (v2k_cbt_finish (&cbt) < 0)
    goto cleanup;
  if (pages)
    *pages = cbt.pages;
  ret = 0;

 cleanup:
  return ret;
}
