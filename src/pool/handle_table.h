// File: src/pool/handle_table.h
//
// HandleTable: the indirection that lets compaction move objects. A handle
// is an index into an array of 64-bit entries; a live entry holds where the
// object is now and the size asked for it, so moving an object is one store.
//
// Entry layout (one uint64_t):
//   live  bits  0..15  object index in its zspage
//         bits 16..47  first arena page of the zspage
//         bits 48..60  size asked for, 1..4096
//         bits 61..62  class shard (Pool::Impl::classes); with the size it
//                      names the object's class, and neither ever changes
//         bit  63      0
//   free  bits  0..31  next free handle index of the same class list, 0 = end
//         bit  63      1
// Bits 0..47 are the location: (first page << 16) | object index. A live
// entry is never 0 (its size is at least 1) and index 0 is never handed out,
// so Handle{0} means "no object".
//
// The table is one MAP_NORESERVE reservation sized for the most objects the
// arena can hold (one per 32 bytes), populated a chunk of kChunkEntries at a
// time. New indexes come from an atomic bump pointer bounded by the populated
// part, so try_bump() never calls the OS; grow() populates the next chunk.
// Freed indexes go on a list per size class, kept under that class's lock
// (SizeClass::free_handles), so reusing a handle takes no other lock.
//
// Thread safety and memory orders:
//   - entries of live handles are written under their class lock and read
//     without it by Pool::map(): the store of a location (release, in
//     Pool alloc and in compaction) pairs with map()'s load (acquire), so a
//     reader that sees a location sees the object bytes put there first;
//   - entries of free handles are touched only under their class lock;
//   - next_ and populated_: see the fields.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/mapping.h"
#include "base/thread_annotations.h"
#include "uzram/status.h"

namespace uzram::pool {

struct Location {
  uint32_t first_page = 0;
  uint16_t obj = 0;
  friend bool operator==(Location a, Location b) noexcept {
    return a.first_page == b.first_page && a.obj == b.obj;
  }
};

namespace entry {
inline constexpr uint64_t kFree = uint64_t{1} << 63;
inline constexpr int kSizeShift = 48;
inline constexpr int kShardShift = 61;
inline constexpr uint64_t kLocationMask = (uint64_t{1} << kSizeShift) - 1;

inline uint64_t live(Location loc, uint32_t size, uint32_t shard) noexcept {
  return (uint64_t{shard} << kShardShift) | (uint64_t{size} << kSizeShift) | (uint64_t{loc.first_page} << 16) |
         loc.obj;
}
inline bool is_free(uint64_t e) noexcept { return (e & kFree) != 0; }
inline uint32_t size(uint64_t e) noexcept { return static_cast<uint32_t>((e >> kSizeShift) & 0x1FFF); }
inline uint32_t shard(uint64_t e) noexcept { return static_cast<uint32_t>((e >> kShardShift) & 0x3); }
inline Location location(uint64_t e) noexcept {
  return {static_cast<uint32_t>((e & kLocationMask) >> 16), static_cast<uint16_t>(e)};
}
// The same entry with the object at another location (compaction).
inline uint64_t moved(uint64_t e, Location to) noexcept { return live(to, size(e), shard(e)); }
}  // namespace entry

class HandleTable {
 public:
  static constexpr uint32_t kChunkEntries = 8192;  // 64 KiB populated at a time

  HandleTable() = default;
  HandleTable(const HandleTable&) = delete;
  HandleTable& operator=(const HandleTable&) = delete;

  // Reserves room for `capacity` entries (index 0 included, never used) and
  // populates the first chunk. Call once, before use.
  Status init(uint64_t capacity);

  std::atomic<uint64_t>& at(uint32_t h) const noexcept { return entries_[h]; }

  // A never-used index, or 0 when the populated part is used up. Lock-free;
  // never calls the OS.
  uint32_t try_bump() noexcept;

  // Populates the next chunk. false when the table is at its capacity, or
  // the kernel has no memory for the chunk.
  bool grow() noexcept UZRAM_EXCLUDES(grow_mu_);

  // One past the highest index ever handed out (check_invariants).
  uint32_t end() const noexcept { return next_.load(std::memory_order_relaxed); }
  uint64_t capacity() const noexcept { return capacity_; }

  // The per-class free lists. REQUIRES: the lock of the class owning `head`.
  void push_free(uint32_t& head, uint32_t h) const noexcept {
    entries_[h].store(entry::kFree | head, std::memory_order_relaxed);
    head = h;
  }
  uint32_t pop_free(uint32_t& head) const noexcept {
    uint32_t h = head;
    if (h != 0) head = static_cast<uint32_t>(entries_[h].load(std::memory_order_relaxed));
    return h;
  }

 private:
  Mapping map_;
  std::atomic<uint64_t>* entries_ = nullptr;
  uint64_t capacity_ = 0;
  // Next index to hand out. CAS from any class lock's holder; relaxed: the
  // index only has to be unique, its entry is published by its class lock.
  std::atomic<uint32_t> next_{1};
  // Entries [0, populated_) are backed. Stored (release) after the populate
  // under grow_mu_, loaded (acquire) by try_bump().
  std::atomic<uint32_t> populated_{0};
  Mutex grow_mu_;  // one populate at a time; taken under a class lock
};

}  // namespace uzram::pool
