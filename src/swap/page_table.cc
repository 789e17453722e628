// PageTable: see page_table.h.
#include "swap/page_table.h"

#include <cstdio>
#include <cstdlib>

#include "swap/uffd.h"

namespace uzram::swap {

const char* state_name(PageState s) noexcept {
  switch (s) {
    case PageState::kNever: return "never";
    case PageState::kResident: return "resident";
    case PageState::kCached: return "cached";
    case PageState::kWriteback: return "writeback";
    case PageState::kSwapped: return "swapped";
    case PageState::kZapping: return "zapping";
    case PageState::kUnmapped: return "unmapped";
  }
  return "?";
}

Result<std::unique_ptr<PageTable>> PageTable::create(uint64_t pages) {
  if (pages == 0) return Status::invalid_argument("page table of 0 pages");
  Result<Mapping> entries = os::map_anonymous(pages, false);
  if (!entries) return entries.status();
  Result<Mapping> slots = os::map_anonymous(pages * sizeof(uint32_t), false);
  if (!slots) return slots.status();
  return std::unique_ptr<PageTable>(new PageTable(pages, std::move(*entries), std::move(*slots)));
}

PageTable::PageTable(uint64_t pages, Mapping entries, Mapping slots) noexcept
    : pages_(pages),
      entries_mem_(std::move(entries)),
      slots_mem_(std::move(slots)),
      // Fresh anonymous memory reads as zeros: every entry is kNever and
      // every slot kNoSlot. std::atomic<uint8_t> has the size and
      // representation of uint8_t (static_assert below).
      entries_(reinterpret_cast<std::atomic<uint8_t>*>(entries_mem_.data())),
      slots_(reinterpret_cast<uint32_t*>(slots_mem_.data())),
      locks_(new Shard[kLockShards]) {
  static_assert(sizeof(std::atomic<uint8_t>) == 1 && std::atomic<uint8_t>::is_always_lock_free);
  counts_[static_cast<size_t>(PageState::kNever)].store(pages, std::memory_order_relaxed);
}

void PageTable::set(PageId id, PageEntry e) noexcept {
  PageEntry old(entries_[id].load(std::memory_order_relaxed));
  entries_[id].store(e.bits(), std::memory_order_relaxed);
  if (old.state() != e.state()) {
    counts_[static_cast<size_t>(old.state())].fetch_sub(1, std::memory_order_relaxed);
    counts_[static_cast<size_t>(e.state())].fetch_add(1, std::memory_order_relaxed);
  }
  if (old.in_flight() != e.in_flight()) {
    if (e.in_flight()) {
      in_flight_.fetch_add(1, std::memory_order_relaxed);
    } else {
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
}

bool PageTable::quiet(PageId first, uint64_t count) noexcept {
  PageId end = first + count;
  for (PageId id = first; id < end;) {
    PageId stop = chunk_end(id) < end ? chunk_end(id) : end;
    MutexLock lock(&lock_of(id));
    for (; id < stop; ++id) {
      if (get(id).in_flight()) return false;
    }
  }
  return true;
}

void PageTable::check_invariants() const {
  uint64_t seen[kPageStates] = {};
  uint64_t flying = 0;
  for (PageId id = 0; id < pages_; ++id) {
    PageEntry e = get(id);
    if (static_cast<int>(e.state()) >= kPageStates) {
      std::fprintf(stderr, "page %llu: bad state %d\n", static_cast<unsigned long long>(id), e.bits());
      std::abort();
    }
    ++seen[static_cast<size_t>(e.state())];
    if (e.in_flight()) ++flying;
    bool cached = e.state() == PageState::kCached || e.state() == PageState::kWriteback;
    // A page has a slot only while it is in the swap cache (a write in flight
    // of a page that left it finds its slot through the request).
    if (!cached && slot(id) != kNoSlot) {
      std::fprintf(stderr, "page %llu (%s) keeps swap-cache slot %u\n", static_cast<unsigned long long>(id),
                   state_name(e.state()), slot(id));
      std::abort();
    }
  }
  for (int s = 0; s < kPageStates; ++s) {
    if (seen[s] != counts_[s].load(std::memory_order_relaxed)) {
      std::fprintf(stderr, "page table: %llu pages %s, counter says %llu\n",
                   static_cast<unsigned long long>(seen[s]), state_name(static_cast<PageState>(s)),
                   static_cast<unsigned long long>(counts_[s].load(std::memory_order_relaxed)));
      std::abort();
    }
  }
  if (flying != in_flight_.load(std::memory_order_relaxed)) {
    std::fprintf(stderr, "page table: %llu writes in flight, counter says %llu\n",
                 static_cast<unsigned long long>(flying),
                 static_cast<unsigned long long>(in_flight_.load(std::memory_order_relaxed)));
    std::abort();
  }
}

}  // namespace uzram::swap
