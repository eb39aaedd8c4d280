/* The data files of a VMDK snapshot chain, for qemu-nbd's options.
 *
 * qemu's VMDK driver serializes its reads, and each read through qemu's
 * thread pool costs two thread wake-ups: io_uring halves the time of an
 * incremental copy's scattered reads.  But qemu 7.2's io_uring never
 * finishes a read that ends past the end of a file, which is every read
 * of an ESXi descriptor (a small text file): qemu-nbd hangs.  So io_uring
 * goes only to the chain's data files, named by their place in qemu's
 * block graph ("extents.0", "backing.file", ...), and only where no read
 * can run past their end; descriptors keep the thread pool.
 *
 * The walk follows qemu's own rules (block/vmdk.c): a file starting with
 * the sparse magic "KDMV" is its own extent and holds its descriptor; any
 * other file is a text descriptor whose "RW <sectors> <TYPE> "<file>""
 * lines, for TYPE FLAT, VMFS, SPARSE, VMFSSPARSE or SESPARSE, are extents
 * numbered in order; parentFileNameHint names the next link, relative to
 * the file's directory, under the "backing." prefix. */
#ifndef V2K_COPY_VMDK_H
#define V2K_COPY_VMDK_H

/* Set *opts to a malloc'ed comma-separated list such as
 * "extents.0.aio=io_uring,backing.file.aio=io_uring" for the chain that
 * starts at 'path', or to NULL when no file qualifies.  Anything the walk
 * does not understand (an unknown magic, a parent that is missing, a
 * chain deeper than 64) ends the list there: what is not named keeps
 * the thread pool, which is always safe.  -1 only when out of memory. */
int v2k_vmdk_uring_opts (const char *path, char **opts);

#endif /* V2K_COPY_VMDK_H */
