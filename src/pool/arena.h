// File: src/pool/arena.h
//
// Arena: the pool's one virtual reservation, handed out as runs of 1..16
// contiguous 4 KiB pages, one run per zspage. A page is named by its index in
// the arena (uint32_t), which is also how zspage descriptors and object
// locations name it.
//
// Pages come in three states:
//   carved   [0, next_): once handed out; now either in a zspage, or
//            released to the kernel and waiting on a free-run list;
//   spare    [next_, populated_end_): populated ahead of need, in no zspage;
//   virgin   [populated_end_, pages_): reserved, never backed.
// New runs come from the spare window first (no system call), then from the
// free-run list of exactly their length (one madvise to back them again),
// then by moving populated_end_ forward by a batch (one madvise for up to
// kPopulateBatch pages). Only when the virgin pages run out are longer free
// runs split, and, as a last resort, all free runs coalesced.
//
// Refilling ahead: when a run taken from the window leaves it below half a
// batch, the thread that took it populates the next batch after the window
// before it returns, without mu_ held (refill_end_ marks the range as its
// own meanwhile), so other threads keep taking runs from what is left of the
// window instead of waiting out a system call that backs 64 pages. A thread
// that finds the window too short while a refill is in flight waits for it
// (refilled_); one that finds it too short with none in flight refills it
// itself, also without mu_.
//
// Why batches: a first-touch fault costs 10-20 us a page on a virtualised
// guest, MADV_POPULATE_WRITE about 0.5 us a page (shared/design/anchors.md).
// Why a bounded window: spare pages are resident but belong to no zspage, so
// they are not in pages_held; at most kMaxSparePages of them exist at a
// time. A run given back is released (MADV_DONTNEED) at once, so a free run
// holds no memory.
//
// Thread safety: thread-safe. mu_ guards the bump pointers and the free-run
// lists; every populate (a refill, or a recycled run) and the release of a
// freed run are made outside mu_ (the range is private to the caller then).
// Lock order: a size class lock may be held when calling in (pool.h); the
// arena calls nothing that locks.
#pragma once

#include <cstddef>
#include <condition_variable>
#include <cstdint>

#include "base/mapping.h"
#include "base/thread_annotations.h"
#include "uzram/page.h"
#include "uzram/status.h"

namespace uzram::pool {

inline constexpr uint32_t kNoPage = UINT32_MAX;  // "no page" in page-index links

class Arena {
 public:
  static constexpr uint32_t kMaxRun = 16;          // max_pages_per_zspage limit
  static constexpr uint32_t kPopulateBatch = 64;   // pages backed by one refill (256 KiB)
  static constexpr uint32_t kMaxSparePages = 2 * kPopulateBatch;  // bound of the spare window
  static constexpr uint32_t kMinPages = kMaxRun;
  static constexpr uint32_t kMaxPages = uint32_t{1} << 31;

  Arena() = default;
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Reserves `pages` pages of address space. Call once, before anything else.
  // REQUIRES: kMinPages <= pages <= kMaxPages.
  Status init(uint32_t pages);

  std::byte* base() const noexcept { return base_; }
  uint32_t page_count() const noexcept { return pages_; }
  std::byte* page_address(uint32_t page) const noexcept {
    return base_ + (uint64_t{page} << kPageShift);
  }

  // A run of `pages` contiguous pages (1..kMaxRun), populated and zero-filled
  // or holding stale bytes of a former zspage of this pool. kNoSpace when the
  // arena has no run that long left, or the kernel has no memory to back it.
  Result<uint32_t> alloc_run(uint32_t pages) noexcept UZRAM_EXCLUDES(mu_);

  // Releases the run's memory to the kernel and makes it available again.
  // REQUIRES: [first, first + pages) came from alloc_run(pages) and is unused.
  void free_run(uint32_t first, uint32_t pages) noexcept UZRAM_EXCLUDES(mu_);

  // For stats and tests.
  uint32_t spare_pages() const noexcept UZRAM_EXCLUDES(mu_);     // populated, in no run
  uint64_t free_run_pages() const noexcept UZRAM_EXCLUDES(mu_);  // released, on free lists
  uint32_t carved_pages() const noexcept UZRAM_EXCLUDES(mu_);    // next_

 private:
  uint32_t& link(uint32_t page) const noexcept { return links_[page]; }
  void push_run(uint32_t length, uint32_t first) UZRAM_REQUIRES(mu_);
  uint32_t pop_run(uint32_t length) UZRAM_REQUIRES(mu_);
  // Pushes [first, end) as runs of up to kMaxRun pages.
  void push_range(uint32_t first, uint32_t end) UZRAM_REQUIRES(mu_);
  // Exact length, else the first longer run split; kNoPage when none.
  uint32_t take_run(uint32_t length) UZRAM_REQUIRES(mu_);
  // The virgin and spare pages left at the end are too few for a request:
  // turn them into free runs so that coalescing can merge them.
  void retire_tail() UZRAM_REQUIRES(mu_);
  // Merges adjacent free runs and re-cuts them into runs of up to kMaxRun.
  void coalesce() UZRAM_REQUIRES(mu_);
  // Backs [populated_end_, end) with mu_ released for the system call, then
  // moves populated_end_ to end (or, on failure, leaves it and releases the
  // range) and wakes the threads waiting for the refill.
  // REQUIRES: no refill in flight; populated_end_ < end <= pages_.
  Status refill(uint32_t end) UZRAM_REQUIRES(mu_);

  Mapping map_;            // the arena itself
  Mapping links_map_;      // uint32_t per page: next free run, at a run's first page
  Mapping bitmap_map_;     // one bit per page, used (and released) by coalesce()
  std::byte* base_ = nullptr;
  uint32_t* links_ = nullptr;
  uint32_t pages_ = 0;

  mutable Mutex mu_;
  uint32_t next_ UZRAM_GUARDED_BY(mu_) = 0;           // first spare page
  uint32_t populated_end_ UZRAM_GUARDED_BY(mu_) = 0;  // first virgin page
  uint32_t refill_end_ UZRAM_GUARDED_BY(mu_) = 0;     // > populated_end_ while a refill is in flight
  std::condition_variable refilled_;                  // refill_end_ came back to populated_end_
  uint32_t heads_[kMaxRun + 1] UZRAM_GUARDED_BY(mu_); // free runs by length; [0] unused
  uint64_t free_pages_ UZRAM_GUARDED_BY(mu_) = 0;     // pages on the free lists
};

}  // namespace uzram::pool
