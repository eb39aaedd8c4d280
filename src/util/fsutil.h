/* File-system helpers with the durability the manifest needs. */
#ifndef V2K_FSUTIL_H
#define V2K_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Write data to path atomically: a temporary file in the same directory,
 * fsync, rename over path, fsync of the directory.  After a crash at any
 * point, path holds either the old or the new content, never a mix. */
int write_file_atomic (const char *path, const void *data, size_t len,
                       mode_t mode);

/* The same without the fsyncs: readers see the old or the new content,
 * but a crash may leave either (or an empty file).  For files that are
 * rewritten often and need not survive one (progress.json): an fsync
 * there commits the filesystem journal in the middle of a copy. */
int write_file_replace (const char *path, const void *data, size_t len,
                        mode_t mode);

/* Read a whole file; *data is NUL-terminated and malloc'd. */
int read_file (const char *path, char **data, size_t *len);

/* mkdir -p with mode for every directory it creates. */
int mkdir_p (const char *path, mode_t mode);

/* rm -rf of a directory tree (does not follow symlinks). */
int remove_tree (const char *path);

/* Append one line (a '\n' is added) with O_APPEND and fsync. */
int append_line (const char *path, const char *line, mode_t mode);

/* Join a directory and a name into a malloc'd path. */
char *path_join (const char *dir, const char *name);

#endif /* V2K_FSUTIL_H */
