// Core: see space_core.h.
#include "swap/space_core.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

namespace uzram::swap {
namespace {

// Over the limit, a fault waits this long at most for the reclaimer, then
// installs anyway: progress beats the limit when the working set does not fit
// (or nothing can be evicted: pages pinned, the store full).
constexpr uint64_t kRoomWaitNs = 20'000'000;
// After the store refused a write, writeback pauses this long.
constexpr uint64_t kStoreFullPauseNs = 50'000'000;

uint64_t clamp_pages(double v) { return v < 1 ? 1 : static_cast<uint64_t>(v); }

}  // namespace

uint64_t now_ns() noexcept {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

Core::Core(const SwapOptions& opts, SwapPath p, Store& s, AsyncEngine& e, Uffd program_uffd, Uffd cache_fd,
           std::unique_ptr<PageTable> t, std::unique_ptr<SwapCache> c, Mapping z)
    : options(opts),
      path(p),
      store(s),
      engine(e),
      uffd(std::move(program_uffd)),
      cache_uffd(std::move(cache_fd)),
      table(std::move(t)),
      regions(table->pages()),
      cache(std::move(c)),
      zeros(std::move(z)),
      limit_pages(clamp_pages(static_cast<double>(opts.limit) / kPageSize)),
      high_pages(clamp_pages(static_cast<double>(limit_pages) * opts.high_watermark)),
      low_pages(clamp_pages(static_cast<double>(limit_pages) * opts.low_watermark)),
      inactive_target(static_cast<uint64_t>(static_cast<double>(limit_pages) * opts.inactive_ratio)),
      max_window(1u << opts.readahead_order) {}

void Core::add_resident(int64_t pages) noexcept {
  int64_t now = resident_.fetch_add(pages, std::memory_order_relaxed) + pages;
  int64_t peak = resident_peak_.load(std::memory_order_relaxed);
  while (now > peak && !resident_peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  if (now >= static_cast<int64_t>(high_pages) && now - pages < static_cast<int64_t>(high_pages)) kick_reclaimer();
}

void Core::sub_resident(int64_t pages) noexcept {
  resident_.fetch_sub(pages, std::memory_order_relaxed);
  mem_cv_.notify_all();
}

uint64_t Core::wait_for_room(uint64_t want) noexcept {
  const int64_t limit = static_cast<int64_t>(limit_pages);
  // WP path: pages being zapped are stored already; only a fault thread
  // (perhaps this one) reading their REMOVE event frees them, so waiting for
  // them could wait for ever. They count as gone.
  auto used = [this] {
    int64_t r = resident();
    if (!move_path()) r -= static_cast<int64_t>(table->count(PageState::kZapping));
    return r;
  };
  int64_t r = used();
  if (r < limit) return std::min<uint64_t>(want, static_cast<uint64_t>(limit - r));
  kick_reclaimer();
  bump(counters.limit_waits);
  uint64_t deadline = now_ns() + kRoomWaitNs;
  {
    std::unique_lock lock(mem_mu_.native());
    // A notify between the check and the wait is lost; the 1 ms timeout
    // bounds what that costs.
    while (used() >= limit && !store_full() && now_ns() < deadline) {
      mem_cv_.wait_for(lock, std::chrono::milliseconds(1));
    }
  }
  r = used();
  return r < limit ? std::min<uint64_t>(want, static_cast<uint64_t>(limit - r)) : 1;
}

void Core::note_store_full() noexcept {
  bump(counters.store_full);
  store_full_until_ns_.store(now_ns() + kStoreFullPauseNs, std::memory_order_relaxed);
}

bool Core::store_full() const noexcept {
  uint64_t until = store_full_until_ns_.load(std::memory_order_relaxed);
  return until != 0 && now_ns() < until;
}

int64_t Core::release_page_locked(PageId id, PageState to) noexcept {
  int64_t freed = 0;
  PageEntry e = table->get(id);
  PageEntry next = e.with_state(to);
  switch (e.state()) {
    case PageState::kNever:
    case PageState::kUnmapped:
      break;
    case PageState::kResident:
      freed = 1;  // the kernel frees the page itself (zap or unmap)
      break;
    case PageState::kCached:
      freed = 1;
      if (move_path()) {
        // The page sits in our slot: give the slot back ourselves. The cache
        // uffd has no events, so this waits for nobody.
        uint32_t slot = table->slot(id);
        (void)os::release(cache->addr(slot), kPageSize);
        cache->free(slot);
      }
      table->set_slot(id, PageTable::kNoSlot);
      break;
    case PageState::kWriteback:
      if (!move_path()) {
        freed = 1;             // the write-protected page in place goes with the zap
        add_pending_free(-1);  // and the write will free its copy only
      }
      // MOVE path: the slot belongs to the write until it completes; its
      // completion frees and counts it.
      table->set_slot(id, PageTable::kNoSlot);
      break;
    case PageState::kSwapped:
      (void)store.discard(id);
      break;
    case PageState::kZapping:
      freed = 1;  // the program's zap does what ours was going to
      add_pending_free(-1);
      (void)store.discard(id);  // and the page it stored is discarded
      break;
  }
  if (e.in_flight()) next = next.with_stale(true);
  table->set(id, next);
  return freed;
}

void Core::release_pages(PageId first, uint64_t count, PageState to) noexcept {
  int64_t freed = 0;
  PageId end = first + count;
  for (PageId id = first; id < end;) {
    PageId stop = std::min(end, PageTable::chunk_end(id));
    MutexLock lock(&table->lock_of(id));
    for (; id < stop; ++id) freed += release_page_locked(id, to);
  }
  if (freed > 0) sub_resident(freed);
}

void Core::add_self_zap(uintptr_t start, uintptr_t end) noexcept {
  MutexLock lock(&zap_mu_);
  self_zaps_.push_back(SelfZap{start, end, false, false});
  self_zaps_active_.fetch_add(1, std::memory_order_relaxed);
}

bool Core::claim_self_zap(uintptr_t start, uintptr_t end) noexcept {
  MutexLock lock(&zap_mu_);
  for (SelfZap& z : self_zaps_) {
    if (!z.claimed && z.start == start && z.end == end) {
      z.claimed = true;
      return true;
    }
  }
  return false;
}

void Core::self_zap_done(uintptr_t start, uintptr_t end) noexcept {
  MutexLock lock(&zap_mu_);
  for (SelfZap& z : self_zaps_) {
    if (z.claimed && !z.done && z.start == start && z.end == end) {
      z.done = true;
      return;
    }
  }
}

bool Core::in_self_zap(uintptr_t addr) noexcept {
  if (self_zaps_active_.load(std::memory_order_relaxed) == 0) return false;
  MutexLock lock(&zap_mu_);
  for (const SelfZap& z : self_zaps_) {
    if (addr >= z.start && addr < z.end) return true;
  }
  return false;
}

bool Core::wait_self_zap(uintptr_t start, uintptr_t end, uint64_t timeout_ns) noexcept {
  const uint64_t t0 = now_ns();
  const uint64_t deadline = timeout_ns > UINT64_MAX - t0 ? UINT64_MAX : t0 + timeout_ns;
  for (;;) {
    {
      MutexLock lock(&zap_mu_);
      auto it = std::find_if(self_zaps_.begin(), self_zaps_.end(),
                             [&](const SelfZap& z) { return z.start == start && z.end == end; });
      if (it == self_zaps_.end()) return false;
      bool done = it->done;
      if (done || now_ns() >= deadline) {
        *it = self_zaps_.back();
        self_zaps_.pop_back();
        self_zaps_active_.fetch_sub(1, std::memory_order_relaxed);
        return done;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

}  // namespace uzram::swap
