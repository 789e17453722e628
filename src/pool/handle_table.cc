// Handle table. See handle_table.h.
#include "pool/handle_table.h"

#include <algorithm>

#include "pool/os.h"
#include "uzram/page.h"

namespace uzram::pool {

Status HandleTable::init(uint64_t capacity) {
  // The object header holds a handle index in 32 bits.
  capacity_ = std::min<uint64_t>(capacity, UINT32_MAX);
  size_t bytes = (capacity_ * sizeof(uint64_t) + kPageSize - 1) & ~(kPageSize - 1);
  Result<Mapping> m = os::reserve(bytes);
  if (!m) return m.status().with_context("pool handle table");
  map_ = std::move(*m);
  entries_ = reinterpret_cast<std::atomic<uint64_t>*>(map_.data());
  if (!grow()) return Status::no_space("pool handle table: cannot populate the first chunk");
  return Status::ok();
}

uint32_t HandleTable::try_bump() noexcept {
  uint32_t n = next_.load(std::memory_order_relaxed);
  do {
    if (n >= populated_.load(std::memory_order_acquire)) return 0;
  } while (!next_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
  return n;
}

bool HandleTable::grow() noexcept {
  MutexLock l(&grow_mu_);
  uint64_t from = populated_.load(std::memory_order_relaxed);
  if (next_.load(std::memory_order_relaxed) < from) return true;  // another thread grew it
  if (from >= capacity_) return false;
  uint64_t to = std::min<uint64_t>(from + kChunkEntries, capacity_);
  // Chunks are 64 KiB of entries, so each starts on a page of its own.
  uintptr_t begin = reinterpret_cast<uintptr_t>(entries_ + from) & ~(kPageSize - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(entries_ + to) + kPageSize - 1) & ~(kPageSize - 1);
  if (!os::populate({reinterpret_cast<std::byte*>(begin), end - begin}).is_ok()) return false;
  populated_.store(static_cast<uint32_t>(to), std::memory_order_release);
  return true;
}

}  // namespace uzram::pool
