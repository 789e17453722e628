// File: src/pool/os.h
//
// The pool's only door to the OS: reserving virtual memory and backing or
// releasing it with madvise. Nothing else in src/pool calls mmap or madvise
// (mimalloc's prim.h plays the same role).
//
// Thread safety: every function is thread-safe. The ranges passed in belong to
// the caller; the functions touch nothing else.
//
// Every range is page aligned and a whole number of pages (REQUIRES).
#pragma once

#include <cstddef>
#include <span>

#include "base/mapping.h"
#include "uzram/status.h"

namespace uzram::pool::os {

// Reserves `bytes` of anonymous private memory with MAP_NORESERVE: no
// physical memory and no commit charge until a page is touched or populated.
// Transparent huge pages are switched off on the range (MADV_NOHUGEPAGE) so
// that populating and releasing work page by page and the resident size the
// kernel reports matches what the pool counts. kNoSpace when the address
// space or the overcommit policy refuses the reservation.
Result<Mapping> reserve(size_t bytes);

// Backs the range with zero-filled physical pages now, with one
// madvise(MADV_POPULATE_WRITE) (Linux 5.14+) instead of one page fault per
// page: on a virtualised guest a first-touch fault costs 10-20 us a page and
// populating costs about 0.5 us a page (docs/pool.md). On older kernels it
// falls back to touch(). kNoSpace when the kernel has no memory for it.
// REQUIRES: the range holds no data the caller still needs, or only zeros.
Status populate(std::span<std::byte> range) noexcept;

// Writes a zero byte to every page of the range: the fallback of populate()
// when MADV_POPULATE_WRITE is unknown to the kernel.
// REQUIRES: the range holds no data the caller still needs.
void touch(std::span<std::byte> range) noexcept;

// Gives the pages of the range back to the kernel at once
// (MADV_DONTNEED); they read as zeros when next touched.
Status release(std::span<std::byte> range) noexcept;

// Testing only: the next `count` calls to populate() fail with ENOMEM, so
// that tests can drive the pool's grow-failure paths.
void fail_next_populates_for_testing(int count) noexcept;

}  // namespace uzram::pool::os
