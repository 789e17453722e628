// SwapCache: see swap_cache.h.
#include "swap/swap_cache.h"

#include <cassert>

#include "swap/uffd.h"

namespace uzram::swap {

Result<std::unique_ptr<SwapCache>> SwapCache::create(uint32_t slots) {
  if (slots == 0) return Status::invalid_argument("swap cache of 0 slots");
  Result<Mapping> mem = os::map_anonymous(uint64_t{slots} * kPageSize, true);
  if (!mem) return mem.status();
  return std::unique_ptr<SwapCache>(new SwapCache(slots, std::move(*mem)));
}

SwapCache::SwapCache(uint32_t slots, Mapping mem) noexcept
    : slots_(slots), mem_(std::move(mem)), owned_((slots + 63) / 64, 0) {}

SlotRun SwapCache::allocate(uint32_t want) noexcept {
  MutexLock lock(&mu_);
  if (want == 0 || used_ == slots_) return {};
  auto is_owned = [this](uint32_t s) UZRAM_REQUIRES(mu_) { return (owned_[s / 64] >> (s % 64)) & 1; };
  // Find the first free slot from the cursor (wrapping once), then extend.
  uint32_t s = cursor_;
  for (uint32_t scanned = 0; scanned < slots_; ++scanned) {
    if (s >= slots_) s = 0;
    if (is_owned(s)) {
      // Skip whole owned words quickly.
      if (s % 64 == 0 && owned_[s / 64] == ~uint64_t{0} && s + 64 <= slots_) {
        s += 64;
        scanned += 63;
      } else {
        ++s;
      }
      continue;
    }
    SlotRun run{s, 0};
    while (run.count < want && s < slots_ && !is_owned(s)) {
      owned_[s / 64] |= uint64_t{1} << (s % 64);
      ++run.count;
      ++s;
    }
    used_ += run.count;
    cursor_ = s >= slots_ ? 0 : s;
    return run;
  }
  return {};
}

void SwapCache::free(uint32_t first, uint32_t count) noexcept {
  MutexLock lock(&mu_);
  for (uint32_t s = first; s < first + count; ++s) {
    assert(s < slots_ && ((owned_[s / 64] >> (s % 64)) & 1));
    owned_[s / 64] &= ~(uint64_t{1} << (s % 64));
  }
  used_ -= count;
}

uint64_t SwapCache::used() const noexcept {
  MutexLock lock(&mu_);
  return used_;
}

}  // namespace uzram::swap
