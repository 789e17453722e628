// File: src/swap/page_table.h
//
// PageTable: the state of every page that swap/ manages, one byte a page, and
// the swap-cache slot of the pages that have one; with the chunk locks that
// serialize all changes to them.
//
// A page is named by its page id: its slot index in the Store. A region's
// pages have consecutive ids, given out by RegionMap when the region is
// mapped; a page keeps its id when the program moves it with mremap, so the
// store slot, the swap-cache slot and this entry never need to move.
//
// The byte of a page (PageEntry):
//   bits 0-2  PageState
//   bit  3    in flight: a write of this page to the store was submitted to
//             the engine and has not completed. At most one is in flight per
//             page: the reclaimer never picks a page with this bit, so two
//             writes of one store slot never race with a discard.
//   bit  4    stale: the write in flight is out of date (the page came back,
//             or the program discarded it); its completion discards the
//             store slot instead of keeping it.
//
// Chunk locks (the locking rule of this table): the pages are cut into
// chunks of kChunkPages consecutive ids; chunk c is guarded by mutex
// c % kLockShards. Every read that decides something and every write of an
// entry or a slot is made holding the page's chunk lock. Install windows and
// eviction runs never cross a chunk, so one lock covers one operation. A lock
// may be held across an ioctl and a store read or write (microseconds), never
// across something that waits for another thread of swap/ (engine submit,
// madvise of program memory, a condition variable). Lock order: RegionMap's
// mutex, then one chunk lock, then the swap cache's and the run queues'
// mutexes (leaves). Never two chunk locks at once.
// The per-state counters are relaxed atomics, exact when no change is in
// progress; stats read them without locks.
//
// Swap fault thread: everything here may be called from it; the table's
// memory is ordinary anonymous memory, never a managed region.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/mapping.h"
#include "base/thread_annotations.h"
#include "uzram/status.h"

namespace uzram::swap {

using PageId = uint64_t;

enum class PageState : uint8_t {
  kNever = 0,      // no data: reads as zeros (never written, or discarded)
  kResident = 1,   // mapped in the program's range; the store holds no copy
  kCached = 2,     // inactive, not compressed. MOVE path: moved out into a swap-cache
                   // slot. WP path: write-protected in place.
  kWriteback = 3,  // its write to the store is in flight. MOVE path: in a swap-cache
                   // slot, compressed from there. WP path: write-protected in place,
                   // compressed from a copy in a swap-cache slot.
  kSwapped = 4,    // only in the store
  kZapping = 5,    // WP path: stored; its page is being dropped (madvise in progress)
  kUnmapped = 6,   // the program unmapped it; the id waits to be given out again
};
inline constexpr int kPageStates = 7;

const char* state_name(PageState s) noexcept;

class PageEntry {
 public:
  static constexpr uint8_t kStateMask = 0x7;
  static constexpr uint8_t kInFlightBit = 1 << 3;
  static constexpr uint8_t kStaleBit = 1 << 4;

  constexpr PageEntry() noexcept = default;
  constexpr explicit PageEntry(uint8_t bits) noexcept : bits_(bits) {}
  constexpr explicit PageEntry(PageState s) noexcept : bits_(static_cast<uint8_t>(s)) {}

  constexpr uint8_t bits() const noexcept { return bits_; }
  constexpr PageState state() const noexcept { return static_cast<PageState>(bits_ & kStateMask); }
  constexpr bool in_flight() const noexcept { return (bits_ & kInFlightBit) != 0; }
  constexpr bool stale() const noexcept { return (bits_ & kStaleBit) != 0; }

  // The same flags with another state.
  constexpr PageEntry with_state(PageState s) const noexcept {
    return PageEntry(static_cast<uint8_t>((bits_ & ~kStateMask) | static_cast<uint8_t>(s)));
  }
  constexpr PageEntry with_in_flight(bool on) const noexcept {
    return PageEntry(static_cast<uint8_t>(on ? (bits_ | kInFlightBit) : (bits_ & ~kInFlightBit)));
  }
  constexpr PageEntry with_stale(bool on) const noexcept {
    return PageEntry(static_cast<uint8_t>(on ? (bits_ | kStaleBit) : (bits_ & ~kStaleBit)));
  }

 private:
  uint8_t bits_ = 0;
};

class PageTable {
 public:
  static constexpr uint64_t kChunkPages = 512;  // 2 MiB of a region
  static constexpr size_t kLockShards = 1024;
  static constexpr uint32_t kNoSlot = UINT32_MAX;

  // A table of `pages` entries, all kNever; kNoSpace when the memory for it
  // cannot be mapped. The memory is reserved, not touched: 5 bytes a page
  // become resident only where pages are used.
  static Result<std::unique_ptr<PageTable>> create(uint64_t pages);

  uint64_t pages() const noexcept { return pages_; }
  static uint64_t chunk_of(PageId id) noexcept { return id / kChunkPages; }
  static PageId chunk_end(PageId id) noexcept { return (id / kChunkPages + 1) * kChunkPages; }

  Mutex& lock_of(PageId id) noexcept { return locks_[chunk_of(id) % kLockShards].mu; }

  // REQUIRES: the page's chunk lock (or the answer is a hint only).
  PageEntry get(PageId id) const noexcept {
    return PageEntry(entries_[id].load(std::memory_order_relaxed));
  }
  // REQUIRES: the page's chunk lock.
  void set(PageId id, PageEntry e) noexcept;
  // The swap-cache slot of a kCached or kWriteback page (kNoSlot otherwise).
  // REQUIRES: the page's chunk lock.
  // Stored plus one, so that the untouched (zero) memory reads kNoSlot.
  uint32_t slot(PageId id) const noexcept { return slots_[id] - 1; }
  void set_slot(PageId id, uint32_t slot) noexcept { slots_[id] = slot + 1; }

  // Pages in each state now, and pages with a write in flight (relaxed).
  uint64_t count(PageState s) const noexcept {
    return counts_[static_cast<size_t>(s)].load(std::memory_order_relaxed);
  }
  uint64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

  // True when no page of [first, first + count) has a write in flight.
  // Takes the chunk locks one at a time.
  bool quiet(PageId first, uint64_t count) noexcept;

  // Aborts when the counters disagree with the entries, or a page has a slot
  // without being in the swap cache. Costly (a full scan): tests only.
  // REQUIRES: no change in progress anywhere.
  void check_invariants() const;

 private:
  struct alignas(64) Shard {
    Mutex mu;
  };

  PageTable(uint64_t pages, Mapping entries, Mapping slots) noexcept;

  const uint64_t pages_;
  Mapping entries_mem_;
  Mapping slots_mem_;
  std::atomic<uint8_t>* entries_;  // guarded by the chunk locks (see above)
  uint32_t* slots_;                // guarded by the chunk locks
  std::unique_ptr<Shard[]> locks_;
  std::array<std::atomic<uint64_t>, kPageStates> counts_{};
  std::atomic<uint64_t> in_flight_{0};
};

}  // namespace uzram::swap
