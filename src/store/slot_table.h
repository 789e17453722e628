// File: src/store/slot_table.h
//
// SlotTable: one 16-byte Slot per 4 KiB page of a Store, and the per-slot bit
// lock that serializes everything done to one page.
//
// Glossary (the words of the kernel's zram, each defined once)
//   slot          the entry of one page: empty, same-filled, compressed in the
//                 pool, huge (raw in the pool) or written back to the backing
//                 file.
//   same-filled   a page that is one 8-byte word repeated; the word is kept in
//                 the slot and the page takes no pool memory.
//   huge          a page that did not compress below the pool's huge class
//                 size, so it is kept raw (4096 bytes) in the pool.
//   idle          a mark set by mark_idle() and cleared by any read or write;
//                 recompression and writeback pick idle slots.
//   priority      which codec compressed the object: 0 is the primary
//                 algorithm, 1..3 the recompression algorithms.
//
// Layout of Slot::word (one 64-bit atomic, as zram packs its table):
//   bits  0-12  object size, 0..4096 bytes (compressed size; 4096 for huge
//               and raw written-back pages; 0 for empty and same-filled)
//   bit  13     lock           bit 14  waiters (someone sleeps on the word)
//   bits 15-22  flags (SlotFlag)
//   bits 23-24  codec priority 0..3
//   bits 32-63  last access, in seconds since the store was opened
// Slot::value holds the pool handle (compressed, huge), the repeated word
// (same-filled) or the backing block number (written back).
//
// Why a bit lock and not a mutex: a std::mutex is 40 bytes, more than the
// whole slot; 512 MiB of disksize is 131072 slots, 2 MiB of table with the bit
// lock against 7 MiB with a mutex each. Contention on one slot is rare (two
// threads on the same page), so the lock spins briefly and then sleeps on the
// word with std::atomic::wait (a futex), paying for the wake-up only when the
// waiters bit says someone sleeps.
//
// Thread safety: see "Entry locking rules" above the lock helpers.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "uzram/page.h"
#include "uzram/status.h"

namespace uzram::store {

enum class SlotFlag : uint8_t {
  kSame = 0,           // value is the repeated word
  kHuge,               // raw 4096 bytes in the pool
  kIdle,               // marked idle, not accessed since
  kWriteback,          // on the backing file; value is the block number
  kIncompressible,     // no recompression algorithm could shrink it; never retried
  kUnderWriteback,     // writeback copied it out and is writing it; any change clears it
  kWbCompressed,       // on the backing file as compressed bytes (size, priority kept)
};

inline constexpr uint64_t kSlotSizeMask = (uint64_t{1} << 13) - 1;
inline constexpr uint64_t kSlotLockBit = uint64_t{1} << 13;
inline constexpr uint64_t kSlotWaitersBit = uint64_t{1} << 14;
inline constexpr int kSlotFlagShift = 15;
inline constexpr int kSlotPriorityShift = 23;
inline constexpr uint64_t kSlotPriorityMask = 3;
inline constexpr int kSlotTimeShift = 32;
inline constexpr uint64_t kSlotLockBits = kSlotLockBit | kSlotWaitersBit;
inline constexpr int kMaxPriority = 3;

// ---- slot accessors: the only code that knows the bits ---------------------
// A SlotWord is a copy of Slot::word without the lock bits; code under the
// slot lock edits the copy that SlotLock publishes at unlock.
class SlotWord {
 public:
  constexpr SlotWord() noexcept = default;
  constexpr explicit SlotWord(uint64_t bits) noexcept : bits_(bits & ~kSlotLockBits) {}
  constexpr uint64_t bits() const noexcept { return bits_; }

  constexpr uint32_t size() const noexcept { return static_cast<uint32_t>(bits_ & kSlotSizeMask); }
  constexpr void set_size(uint32_t s) noexcept { assert(s <= kPageSize); bits_ = (bits_ & ~kSlotSizeMask) | s; }
  constexpr bool test(SlotFlag f) const noexcept { return (bits_ & bit(f)) != 0; }
  constexpr void set(SlotFlag f) noexcept { bits_ |= bit(f); }
  constexpr void clear(SlotFlag f) noexcept { bits_ &= ~bit(f); }
  constexpr uint32_t priority() const noexcept { return static_cast<uint32_t>((bits_ >> kSlotPriorityShift) & kSlotPriorityMask); }
  constexpr void set_priority(uint32_t p) noexcept {
    assert(p <= kMaxPriority);
    bits_ = (bits_ & ~(kSlotPriorityMask << kSlotPriorityShift)) | (uint64_t{p} << kSlotPriorityShift);
  }
  constexpr uint32_t atime() const noexcept { return static_cast<uint32_t>(bits_ >> kSlotTimeShift); }
  constexpr void set_atime(uint32_t t) noexcept { bits_ = (bits_ & ((uint64_t{1} << kSlotTimeShift) - 1)) | (uint64_t{t} << kSlotTimeShift); }

  // Holds a page (not empty). Compressed objects are at least one byte, so
  // size 0 without kSame is exactly "empty".
  constexpr bool stored() const noexcept { return size() != 0 || test(SlotFlag::kSame); }
  // Holds an object in the pool (compressed or huge).
  constexpr bool in_pool() const noexcept { return size() != 0 && !test(SlotFlag::kWriteback); }

 private:
  static constexpr uint64_t bit(SlotFlag f) noexcept { return uint64_t{1} << (kSlotFlagShift + static_cast<int>(f)); }
  uint64_t bits_ = 0;
};

struct Slot {
  std::atomic<uint64_t> word{0};   // SlotWord bits + lock bits; changed under the lock only
  // Handle, pattern or block. Written under the lock only; it is atomic
  // (relaxed, free on x86) so that lock-free hints such as is_zero() may read
  // it without a data race, accepting a value a concurrent write replaces.
  std::atomic<uint64_t> value{0};
};
static_assert(sizeof(Slot) == 16, "a slot is 16 bytes, as in zram's table");

// A slot's content as one value: what publish swaps in and release frees.
struct SlotState {
  SlotWord word;
  uint64_t value = 0;
};

// ---- Entry locking rules ------------------------------------------------------
// - Slot::word and Slot::value change only under the slot's lock. Lock-free
//   readers (is_empty, stats and selection scans) load the word with acquire
//   or relaxed order and treat what they see as a hint, rechecked under the
//   lock before anything is done with it.
// - A holder may sleep: read the backing file, wait for a compression stream,
//   allocate from the pool (which may grow it). Nothing that waits for a slot
//   lock is ever held by those (streams, pool locks and the backing bitmap are
//   leaves), so this cannot deadlock.
// - A holder never takes the lock of another slot. Code that walks many slots
//   (byte ranges, mark_idle, recompress, writeback, discard) takes one at a
//   time and releases it before the next.
// - Lock order: writeback mutex -> slot lock -> stream mutex -> pool locks;
//   slot lock -> backing block bitmap mutex.
// - The old object or block of a slot is freed after the unlock that made it
//   unreachable: nobody can have it mapped then, since mapping needs the lock.
// - Non-blocking code uses try_lock_slot() (SlotLock with std::try_to_lock)
//   and skips the slot when it is busy.
//
// The unlock publishes the holder's SlotWord with one exchange (release) that
// also clears the lock and waiters bits; a waiter that set the waiters bit
// after the holder locked is seen in the exchanged-out word and woken.

// Slow path of lock_slot(): spins, then sleeps on the word.
uint64_t lock_slot_slow(Slot& slot) noexcept;

// Acquires the lock; returns the word as it was (without lock bits).
inline uint64_t lock_slot(Slot& slot) noexcept {
  uint64_t w = slot.word.load(std::memory_order_relaxed);
  if ((w & kSlotLockBit) == 0 &&
      slot.word.compare_exchange_weak(w, w | kSlotLockBit, std::memory_order_acquire, std::memory_order_relaxed)) {
    return w & ~kSlotLockBits;
  }
  return lock_slot_slow(slot);
}

// Acquires the lock if it is free now; never waits.
[[nodiscard]] inline bool try_lock_slot(Slot& slot, uint64_t* word) noexcept {
  uint64_t w = slot.word.load(std::memory_order_relaxed);
  while ((w & kSlotLockBit) == 0) {
    if (slot.word.compare_exchange_weak(w, w | kSlotLockBit, std::memory_order_acquire, std::memory_order_relaxed)) {
      *word = w & ~kSlotLockBits;
      return true;
    }
  }
  return false;
}

// Publishes `word` (lock bits ignored) and releases the lock.
inline void unlock_slot(Slot& slot, uint64_t word) noexcept {
  const uint64_t old = slot.word.exchange(word & ~kSlotLockBits, std::memory_order_release);
  assert(old & kSlotLockBit);
  if (old & kSlotWaitersBit) slot.word.notify_all();
}

// RAII holder of one slot lock. It reads the slot's state at lock time; the
// holder edits word() / replaces the state, and the unlock publishes it.
// Neither copyable nor movable.
class SlotLock {
 public:
  explicit SlotLock(Slot& slot) noexcept : slot_(&slot) {
    state_.word = SlotWord(lock_slot(slot));
    state_.value = slot.value.load(std::memory_order_relaxed);
  }
  SlotLock(Slot& slot, std::try_to_lock_t) noexcept {
    uint64_t w;
    if (try_lock_slot(slot, &w)) {
      slot_ = &slot;
      state_.word = SlotWord(w);
      state_.value = slot.value.load(std::memory_order_relaxed);
    }
  }
  SlotLock(const SlotLock&) = delete;
  SlotLock& operator=(const SlotLock&) = delete;
  ~SlotLock() {
    if (slot_ != nullptr) unlock();
  }

  [[nodiscard]] bool owns_lock() const noexcept { return slot_ != nullptr; }

  // REQUIRES: owns_lock().
  SlotWord& word() noexcept { assert(slot_); return state_.word; }
  const SlotState& state() const noexcept { assert(slot_); return state_; }
  // Swaps in a new state; returns the old one, to be freed after unlock().
  SlotState replace(const SlotState& next) noexcept {
    assert(slot_);
    SlotState old = state_;
    state_ = next;
    return old;
  }

  void unlock() noexcept {
    assert(slot_);
    slot_->value.store(state_.value, std::memory_order_relaxed);
    unlock_slot(*slot_, state_.word.bits());
    slot_ = nullptr;
  }

 private:
  Slot* slot_ = nullptr;
  SlotState state_;
};

// The table: a fixed array of slots, one per page of disksize. It is
// allocated and zeroed at open, 16 bytes a slot (as zram's vzalloc'd table).
// Thread safety: the array never moves or changes size; slots follow the
// entry locking rules.
class SlotTable {
 public:
  // kNoSpace when the memory for the table cannot be had.
  static Result<std::unique_ptr<SlotTable>> create(uint64_t slots) noexcept;

  uint64_t size() const noexcept { return size_; }
  uint64_t bytes() const noexcept { return size_ * sizeof(Slot); }
  Slot& operator[](PageIndex i) noexcept { assert(i < size_); return slots_[i]; }
  const Slot& operator[](PageIndex i) const noexcept { assert(i < size_); return slots_[i]; }

  // The word of a slot, lock-free (a hint; see the locking rules).
  SlotWord peek(PageIndex i) const noexcept { return SlotWord((*this)[i].word.load(std::memory_order_acquire)); }

 private:
  SlotTable(std::unique_ptr<Slot[]> slots, uint64_t size) noexcept : slots_(std::move(slots)), size_(size) {}
  std::unique_ptr<Slot[]> slots_;
  uint64_t size_;
};

}  // namespace uzram::store
