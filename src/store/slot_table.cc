// SlotTable and the slow path of the slot lock. See slot_table.h.
#include "store/slot_table.h"

#include <new>
#include <string>

namespace uzram::store {
namespace {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// A slot is held for one page's work: a memcpy, a (de)compression of a few
// microseconds, or a read of the backing file. Spinning about as long as the
// short cases take avoids a futex sleep and wake-up for them.
constexpr int kSpins = 128;

}  // namespace

uint64_t lock_slot_slow(Slot& slot) noexcept {
  uint64_t w;
  for (int i = 0; i < kSpins; ++i) {
    if (try_lock_slot(slot, &w)) return w;
    cpu_relax();
  }
  w = slot.word.load(std::memory_order_relaxed);
  for (;;) {
    if ((w & kSlotLockBit) == 0) {
      // Keep the waiters bit if it is set: other sleepers may remain, and the
      // unlock that clears it then wakes them to retry.
      if (slot.word.compare_exchange_weak(w, w | kSlotLockBit, std::memory_order_acquire, std::memory_order_relaxed)) {
        return w & ~kSlotLockBits;
      }
      continue;
    }
    if ((w & kSlotWaitersBit) == 0) {
      if (!slot.word.compare_exchange_weak(w, w | kSlotWaitersBit, std::memory_order_relaxed, std::memory_order_relaxed)) {
        continue;
      }
      w |= kSlotWaitersBit;
    }
    // Returns when the word differs from w: an unlock (which notifies, since
    // the waiters bit is set) or a spurious change; either way look again.
    slot.word.wait(w, std::memory_order_relaxed);
    w = slot.word.load(std::memory_order_relaxed);
  }
}

Result<std::unique_ptr<SlotTable>> SlotTable::create(uint64_t slots) noexcept {
  std::unique_ptr<Slot[]> array(new (std::nothrow) Slot[slots]());
  if (!array) {
    return Status::no_space("cannot allocate the slot table of " + std::to_string(slots * sizeof(Slot)) + " bytes");
  }
  return std::unique_ptr<SlotTable>(new SlotTable(std::move(array), slots));
}

}  // namespace uzram::store
