/* File: include/uzram/uzram.h
 *
 * The C API of uzram: compressed swap for a program's own memory
 * (SwapSpace, include/uzram/swap_space.h, in C). Build with
 * `pkg-config --cflags --libs uzram`.
 *
 *   char err[256];
 *   uzram_space *s = uzram_space_open("limit=256M,algo=lz4", err, sizeof err);
 *   if (!s) { fprintf(stderr, "%s\n", err); ... }
 *   char *p = uzram_map(s, 1 << 30);     // 1 GiB that behaves like malloc'ed memory
 *   ...
 *   uzram_unmap(s, p, 1 << 30);
 *   uzram_space_close(s);
 *
 * Options: a comma-separated "key=value" list; NULL or "" gives the defaults.
 * Keys: limit (resident bytes, default 256M), high and low (watermarks, as
 * fractions of the limit), size (most bytes mapped at once, default 4G),
 * algo (lz4, lzo, zstd[:level=N], ...), mem_limit (compressed bytes at most),
 * fault_threads, writeback_threads, readahead (order k: up to 2^k pages),
 * inactive (share of the limit kept inactive; 0 = FIFO), backing_file,
 * path (auto, move, wp), spin_us. Sizes take K, M, G suffixes.
 *
 * Thread safety: every function is thread-safe, except that
 * uzram_space_close() must not race with the other calls on the same space.
 * Close unmaps the regions still mapped. Errors: functions returning int
 * return 0 or -1 with errno set; pointer functions return NULL with errno set.
 */
#ifndef UZRAM_UZRAM_H_
#define UZRAM_UZRAM_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uzram_space uzram_space;

/* Opens a space. On failure returns NULL, sets errno and writes a message
 * into err (when err is not NULL and errlen > 0). */
uzram_space *uzram_space_open(const char *options, char *err, size_t errlen);

/* A new region of `bytes`, reading as zeros; NULL with errno (ENOSPC when the
 * space's size is used up, EINVAL for 0 bytes). */
void *uzram_map(uzram_space *s, size_t bytes);

/* Unmaps [addr, addr + bytes): 0, or -1 with errno EINVAL when the range is
 * not (all) mapped by this space. */
int uzram_unmap(uzram_space *s, void *addr, size_t bytes);

/* Writes the statistics as one JSON object, NUL-terminated, into buf.
 * Returns the bytes written (without the NUL), or -1 with errno ERANGE when
 * len is too small. */
int uzram_stats_json(uzram_space *s, char *buf, size_t len);

/* Unmaps every region and frees the space. NULL is a no-op. */
void uzram_space_close(uzram_space *s);

#ifdef __cplusplus
}
#endif

#endif /* UZRAM_UZRAM_H_ */
