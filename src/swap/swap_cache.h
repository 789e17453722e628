// File: src/swap/swap_cache.h
//
// SwapCache: the slots that hold pages between "chosen for eviction" and
// "freed" (the kernel's swap cache, for swap/).
//
// MOVE path: a page chosen for eviction is moved (UFFDIO_MOVE) out of the
// program's range into a slot, so the program faults on it from then on and
// can never change it; it is compressed from the slot and the slot is freed
// (MADV_DONTNEED) when its write completed. The slots' range is registered
// with a userfaultfd of its own (the cache descriptor) so that UFFDIO_MOVE
// accepts it as a destination. That descriptor enables no events, so freeing
// slots wakes and waits for nobody, and it enables SIGBUS, so that a stray
// access to an empty slot is a crash and not a thread asleep for ever.
// WP path: a slot holds a copy of a write-protected page, compressed from
// there (the range is plain memory, registered with nothing).
//
// A slot is free or owned. The owner of a slot (the reclaimer between
// allocate and the page's move, then the page's write, then the completion
// that frees it) is the only one that changes it; free() is given slots that
// are empty (never filled, moved back, or released).
//
// Thread safety: thread-safe; allocate() and free() take mu_, a leaf lock.
// Swap fault thread: may call every method; it reads slots only through the
// kernel (UFFDIO_COPY from a slot) or while their page is present.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/mapping.h"
#include "base/thread_annotations.h"
#include "uzram/page.h"
#include "uzram/status.h"

namespace uzram::swap {

struct SlotRun {
  uint32_t first = 0;
  uint32_t count = 0;
};

class SwapCache {
 public:
  static Result<std::unique_ptr<SwapCache>> create(uint32_t slots);

  uint32_t slots() const noexcept { return slots_; }
  std::byte* base() const noexcept { return mem_.data(); }
  size_t bytes() const noexcept { return mem_.size(); }
  std::byte* addr(uint32_t slot) const noexcept { return mem_.data() + uint64_t{slot} * kPageSize; }
  uintptr_t uaddr(uint32_t slot) const noexcept { return reinterpret_cast<uintptr_t>(addr(slot)); }
  uint32_t slot_of(const std::byte* p) const noexcept {
    return static_cast<uint32_t>((p - mem_.data()) / kPageSize);
  }

  // Up to `want` consecutive free slots (fewer when the free run found is
  // shorter; count 0 when every slot is owned). Next fit from a cursor, so
  // that slots are used round robin and runs stay long.
  SlotRun allocate(uint32_t want) noexcept;
  // REQUIRES: the slots are owned and empty.
  void free(uint32_t first, uint32_t count = 1) noexcept;
  // Slots owned now.
  uint64_t used() const noexcept;

 private:
  SwapCache(uint32_t slots, Mapping mem) noexcept;

  const uint32_t slots_;
  Mapping mem_;
  mutable Mutex mu_;
  std::vector<uint64_t> owned_ UZRAM_GUARDED_BY(mu_);  // one bit a slot
  uint32_t cursor_ UZRAM_GUARDED_BY(mu_) = 0;
  uint64_t used_ UZRAM_GUARDED_BY(mu_) = 0;
};

}  // namespace uzram::swap
