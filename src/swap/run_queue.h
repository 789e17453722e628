// File: src/swap/run_queue.h
//
// RunQueue: a FIFO of page runs, the lists of swap/'s LRU approximation.
//
//   active list    runs of pages in the order they were installed (a fault's
//                  window, a refault). The reclaimer takes the oldest.
//   inactive list  runs of pages the reclaimer took off the active list and
//                  moved out, uncompressed, into the swap cache (MOVE path) or
//                  write-protected (WP path). A page touched while inactive
//                  faults cheaply, goes back without compression and onto the
//                  tail of the active list: it is hot. Pages that reach the
//                  head of the inactive list untouched are compressed.
// This is the kernel's two-list scheme with "referenced" read from refaults
// instead of page-table accessed bits (which user space cannot see); it keeps
// a hot set that fits the limit off the store, where FIFO cycles it through
// compression (tests/swap/lru_test.cc).
//
// Entries are hints: a page's state in the PageTable decides. A run may hold
// pages that left the list meanwhile (refaulted, discarded); the reclaimer
// checks each page under its chunk lock and skips those.
//
// Thread safety: thread-safe; every method takes mu_, a leaf lock.
// Swap fault thread: push() only (no allocation in steady state: the deque
// reuses its blocks).
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "base/thread_annotations.h"
#include "swap/page_table.h"

namespace uzram::swap {

struct Run {
  PageId first = 0;
  uint32_t pages = 0;
  uint32_t slot = PageTable::kNoSlot;  // inactive list, MOVE path: slot of `first`; then consecutive
};

class RunQueue {
 public:
  void push(const Run& run) noexcept;
  // Takes runs from the head until about `pages` pages are taken (a run is
  // never split); appends them to `out`. Returns the pages taken.
  uint64_t pop(uint64_t pages, std::vector<Run>* out) noexcept;
  // Pages in the queued runs (with the hints that went stale).
  uint64_t pages() const noexcept;
  bool empty() const noexcept;

 private:
  mutable Mutex mu_;
  std::deque<Run> runs_ UZRAM_GUARDED_BY(mu_);
  uint64_t pages_ UZRAM_GUARDED_BY(mu_) = 0;
};

}  // namespace uzram::swap
