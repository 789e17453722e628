// File: src/swap/space_core.h
//
// Core: the state a SwapSpace shares between its threads (the program's
// threads in map/unmap, the fault threads, the reclaimer and the engine's
// workers), and the operations more than one of them makes.
//
// Glossary (docs/swap.md has the whole picture)
//   page id       a page's slot in the Store; see page_table.h.
//   program uffd  the userfaultfd the regions are registered with (missing
//                 faults, write-protect faults on the WP path, and events).
//   cache uffd    MOVE path: the userfaultfd of the swap cache's range.
//   resident      pages that take memory: mapped in the program, or held in
//                 the swap cache (moved-out pages, WP path copies).
//   pending free  resident pages that writes in flight will free when they
//                 complete; the reclaimer counts them as gone already.
//
// Thread contract: the members are set at open() and never reassigned; each
// one's own header says how it may be shared. The counters are relaxed
// atomics (statistics). resident_ pairs with mem_cv_: a thread that lowers
// it notifies the fault threads waiting for room.
//
// Lock order, outermost first: RegionMap's mutex; one chunk lock
// (PageTable); then the leaves: SwapCache, RunQueue, mem_mu_, zap_mu_, the
// store's slot locks (inside Store calls).
//
// Swap fault thread: it never touches memory that swap/ manages (the
// regions, the swap cache's slots); it reaches them only through ioctls.
// Everything here may be called from it, except wait_for_room() while it
// holds a chunk lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/mapping.h"
#include "base/thread_annotations.h"
#include "swap/page_table.h"
#include "swap/region_map.h"
#include "swap/run_queue.h"
#include "swap/swap_cache.h"
#include "swap/uffd.h"
#include "uzram/async_engine.h"
#include "uzram/store.h"
#include "uzram/swap_space.h"
#include "writeback/latency_histogram.h"

namespace uzram::swap {

struct Counters {
  std::atomic<uint64_t> major_faults{0};
  std::atomic<uint64_t> minor_faults{0};
  std::atomic<uint64_t> zero_fill_pages{0};
  std::atomic<uint64_t> refaults{0};
  std::atomic<uint64_t> readahead_pages{0};
  std::atomic<uint64_t> readahead_hits{0};
  std::atomic<uint64_t> swap_ins{0};
  std::atomic<uint64_t> swap_outs{0};
  std::atomic<uint64_t> stale_writes{0};
  std::atomic<uint64_t> store_full{0};
  std::atomic<uint64_t> limit_waits{0};
  std::atomic<uint64_t> events_remove{0};
  std::atomic<uint64_t> events_unmap{0};
  std::atomic<uint64_t> events_remap{0};
  std::atomic<uint64_t> unmanaged_faults{0};
  std::atomic<uint64_t> failed_reads{0};   // store reads that failed: the page was installed as zeros
  std::atomic<uint64_t> unmovable{0};      // pages the kernel would not move or protect (pinned, mlocked)
};

inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }

class Core {
 public:
  Core(const SwapOptions& options, SwapPath path, Store& store, AsyncEngine& engine, Uffd program_uffd,
       Uffd cache_uffd, std::unique_ptr<PageTable> table, std::unique_ptr<SwapCache> cache, Mapping zeros);

  const SwapOptions options;
  const SwapPath path;  // kMove or kWriteProtect
  bool move_path() const noexcept { return path == SwapPath::kMove; }
  Store& store;
  AsyncEngine& engine;
  Uffd uffd;        // program uffd
  Uffd cache_uffd;  // MOVE path only
  const std::unique_ptr<PageTable> table;
  RegionMap regions;
  const std::unique_ptr<SwapCache> cache;
  RunQueue active;
  RunQueue inactive;
  const Mapping zeros;  // read-only zeros, the source of zero-filled windows
  Counters counters;
  writeback::LatencyHistogram fault_latency;

  // Limits, in pages.
  const uint64_t limit_pages;
  const uint64_t high_pages;
  const uint64_t low_pages;
  const uint64_t inactive_target;
  const uint32_t max_window;  // 2^readahead_order

  // ---- resident accounting --------------------------------------------------
  int64_t resident() const noexcept { return resident_.load(std::memory_order_relaxed); }
  int64_t resident_peak() const noexcept { return resident_peak_.load(std::memory_order_relaxed); }
  void add_resident(int64_t pages) noexcept;
  void sub_resident(int64_t pages) noexcept;  // notifies waiters
  int64_t pending_free() const noexcept { return pending_free_.load(std::memory_order_relaxed); }
  void add_pending_free(int64_t pages) noexcept { pending_free_.fetch_add(pages, std::memory_order_relaxed); }

  // How many pages a fault may install now (at least 1). Over the limit, it
  // wakes the reclaimer and waits a bounded time for room, so that a limit
  // below the working set still makes progress.
  // REQUIRES: no chunk lock held (completions need them to make room).
  uint64_t wait_for_room(uint64_t want) noexcept;

  // The reclaimer's doorbell (set by the reclaimer at start).
  void set_reclaim_kick(void (*kick)(void*), void* arg) noexcept {
    kick_ = kick;
    kick_arg_ = arg;
  }
  void kick_reclaimer() noexcept {
    if (kick_) kick_(kick_arg_);
  }

  // The store refused a write (mem_limit): writeback pauses for a while and
  // pages stay resident. Relaxed: a hint for the reclaimer and the faults.
  void note_store_full() noexcept;
  bool store_full() const noexcept;
  void clear_store_full() noexcept { store_full_until_ns_.store(0, std::memory_order_relaxed); }

  // ---- pages the program gave up ---------------------------------------------
  // The program discarded (REMOVE: to kNever) or unmapped (to kUnmapped) the
  // pages [first, first + count): frees their compressed copies and
  // swap-cache slots; writes in flight of them are marked stale.
  void release_pages(PageId first, uint64_t count, PageState to) noexcept;
  // The same for one page. Returns the resident pages freed; the caller
  // passes the sum to sub_resident() once its lock is released.
  // REQUIRES: the page's chunk lock.
  int64_t release_page_locked(PageId id, PageState to) noexcept;

  // ---- WP path: our own MADV_DONTNEED of program pages ------------------------
  // The reclaimer drops stored pages from the program's range with
  // MADV_DONTNEED, which sends the fault threads a REMOVE event like the
  // program's own. Protocol:
  //   1. under the pages' chunk lock, the reclaimer registers each range it
  //      will zap, cut at VMA boundaries, so that each madvise sends exactly
  //      one event whose range equals a registration;
  //   2. it zaps them holding RegionMap's shared lock (no other region can
  //      appear at those addresses);
  //   3. a fault thread that reads a REMOVE equal to an unclaimed
  //      registration claims it, finishes the zap (kZapping -> kSwapped, wake
  //      the sleepers) and marks it done; any other REMOVE is the program's.
  //      A program madvise of exactly the same range at the same time gives
  //      two equal events: whichever comes first is taken as ours, the other
  //      as the program's, and the end state is the program's (zeros);
  //   4. the reclaimer waits for done and unregisters.
  // While a range is registered, missing faults in it are deferred: a page
  // the program discarded meanwhile must not be refilled before the zap.
  void add_self_zap(uintptr_t start, uintptr_t end) noexcept;
  bool claim_self_zap(uintptr_t start, uintptr_t end) noexcept;
  void self_zap_done(uintptr_t start, uintptr_t end) noexcept;
  bool in_self_zap(uintptr_t addr) noexcept;
  // Waits until the registration was marked done, or `timeout_ns` passed;
  // then unregisters it. Returns true when done.
  // REQUIRES: no chunk lock, not a fault thread.
  bool wait_self_zap(uintptr_t start, uintptr_t end, uint64_t timeout_ns) noexcept;

 private:
  std::atomic<int64_t> resident_{0};
  std::atomic<int64_t> resident_peak_{0};
  std::atomic<int64_t> pending_free_{0};
  std::atomic<uint64_t> store_full_until_ns_{0};
  Mutex mem_mu_;
  std::condition_variable mem_cv_;  // waits on mem_mu_.native(); see wait_for_room
  void (*kick_)(void*) = nullptr;
  void* kick_arg_ = nullptr;
  std::atomic<int> self_zaps_active_{0};
  Mutex zap_mu_;
  struct SelfZap {
    uintptr_t start;
    uintptr_t end;
    bool claimed;  // its event was read
    bool done;     // and applied
  };
  std::vector<SelfZap> self_zaps_ UZRAM_GUARDED_BY(zap_mu_);
};

uint64_t now_ns() noexcept;

}  // namespace uzram::swap
