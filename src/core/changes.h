/* The areas of a disk to copy for one snapshot, from vCenter's CBT. */
#ifndef V2K_CHANGES_H
#define V2K_CHANGES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "copy/ranges.h"

struct vim;

/* Walk QueryChangedDiskAreas(vm, snap, key, startOffset, change_id) page
 * by page from 0 until the capacity is covered, validating each page
 * (no gap, overlap, overrun, page without progress, area outside its
 * page).  change_id "*" gives the allocated areas (base copy).  On
 * success out holds the sorted, disjoint areas and *pages the number of
 * calls; on any failure nothing may be trusted and -1 is returned. */
int changed_ranges (struct vim *vim, const char *vm, const char *snap,
                    int32_t key, uint64_t capacity, const char *change_id,
                    struct v2k_ranges *out, size_t *pages);

/* The same, appending every page as vCenter returned it to the JSON
 * array 'log' ({"start","length","areas_count","areas":[{"start","length"}]}),
 * including a page the validator rejects (cbt query). */
int changed_ranges_pages (struct vim *vim, const char *vm, const char *snap,
                          int32_t key, uint64_t capacity, const char *change_id,
                          struct v2k_ranges *out, size_t *pages, json_t *log);

#endif /* V2K_CHANGES_H */
