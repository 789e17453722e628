// File: src/pool/zspage.h
//
// ZsPage: the descriptor of one zspage, and ZsPageTable, the array that holds
// the descriptors.
//
// A zspage is a run of 1..16 contiguous arena pages carved into the objects
// of one size class. Its descriptor lives in ZsPageTable at the index of the
// zspage's first page, so a location (first page, object index) finds it
// without a lookup and no descriptor id is ever allocated. The table is one
// MAP_NORESERVE reservation (pool/os.cc) touched lazily: a descriptor page
// (170 descriptors) is backed the first time a zspage starts in its range,
// and never given back (24 bytes per arena page at most: 0.6 %).
//
// Free objects of a zspage form a singly linked list through the first four
// bytes of each free object (the next object index, kNoObj at the end), as
// in zsmalloc; allocated objects of a non-huge class hold their handle index
// in those same four bytes (the object header).
//
// Thread safety:
//   - every field but pin is guarded by the lock of the zspage's size class
//     (SizeClass::mu); a descriptor not on any list belongs to the one thread
//     that holds its run (growing, or freeing the zspage);
//   - pin is a reader/writer spin word, used without any lock (below).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <utility>

#include "base/mapping.h"
#include "pool/arena.h"
#include "pool/poison.h"
#include "uzram/status.h"

namespace uzram::pool {

inline constexpr uint16_t kNoObj = 0xFFFF;  // end of a zspage's free-object list

struct ZsPage {
  // Pin word, the zspage lock of zsmalloc in user space:
  //    n > 0  n readers (map()) use objects of this zspage;
  //    0      nobody;
  //   -1      compaction is moving objects out (exclusive).
  // Readers only ever change n >= 0 to n + 1 (spinning while -1) and back;
  // compaction only tries 0 -> -1 and later stores 0. A pin is never reset
  // by anything else, because a reader holding a stale location may pin a
  // zspage that has since been freed and reused (it then sees that its handle
  // moved, and unpins). Memory orders: see pin_shared() and friends.
  std::atomic<int32_t> pin;
  uint32_t prev;          // fullness list links: first pages of the
  uint32_t next;          //   neighbouring zspages, kNoPage at the ends
  uint32_t huge_handle;   // huge class only: the handle of its one object
  uint16_t class_index;   // the owning SizeClass: its place in Pool::Impl::classes
  uint16_t inuse;         // allocated objects
  uint16_t free_head;     // first free object, kNoObj when full
  uint8_t group;          // fullness group, the list it is on
  uint8_t live;           // 1 while on a fullness list (check_invariants)
};
static_assert(sizeof(ZsPage) == 24, "descriptor layout");
static_assert(std::atomic<int32_t>::is_always_lock_free);

// ---------------------------------------------------------------------------
// Pin helpers. Pairings:
//   unpin_shared (release)   -> try_pin_exclusive (acquire): a reader's last
//       access to an object happens before compaction copies or frees it;
//   unpin_exclusive (release) -> pin_shared (acquire): a reader that pins
//       after compaction sees the handle entries compaction stored, so its
//       re-check of the handle finds the object moved.
// ---------------------------------------------------------------------------

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

inline void pin_shared(ZsPage& z) noexcept {
  int32_t v = z.pin.load(std::memory_order_relaxed);
  for (;;) {
    if (v < 0) {  // compaction holds it for a few microseconds at most
      cpu_relax();
      v = z.pin.load(std::memory_order_relaxed);
      continue;
    }
    if (z.pin.compare_exchange_weak(v, v + 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
  }
}

inline void unpin_shared(std::atomic<int32_t>& pin) noexcept {
  pin.fetch_sub(1, std::memory_order_release);
}

// Fails when any reader holds the zspage; compaction then skips it.
[[nodiscard]] inline bool try_pin_exclusive(ZsPage& z) noexcept {
  int32_t expected = 0;
  return z.pin.compare_exchange_strong(expected, -1, std::memory_order_acquire, std::memory_order_relaxed);
}

inline void unpin_exclusive(ZsPage& z) noexcept { z.pin.store(0, std::memory_order_release); }

// The reader's side of moving objects (Pool::map): loads a handle entry,
// pins the zspage that zspage_of(entry) names, and loads the entry again.
// Unchanged: the object is there and stays there while the pin is held,
// because compaction cannot pin that zspage exclusive now. Changed (the
// object moved between the two loads): unpin and follow the new entry. If
// it moved, compaction's unpin_exclusive (release) came before our pin
// (acquire), so the second load sees the new entry. Returns the entry and
// the pinned zspage.
template <typename ZsPageOf>
inline std::pair<uint64_t, ZsPage*> pin_current(const std::atomic<uint64_t>& slot, ZsPageOf&& zspage_of) noexcept {
  // Acquire: pairs with the release store of the entry, so the bytes at
  // its location are the object's.
  uint64_t e = slot.load(std::memory_order_acquire);
  for (;;) {
    ZsPage& z = zspage_of(e);
    pin_shared(z);
    uint64_t now = slot.load(std::memory_order_acquire);
    if (now == e) return {e, &z};
    unpin_shared(z.pin);
    e = now;
  }
}

// ---------------------------------------------------------------------------
// Object words
// ---------------------------------------------------------------------------

// Objects start 16-byte aligned (class sizes are multiples of 16), so the
// word is aligned; memcpy keeps the compiler honest about aliasing.
inline uint32_t load_word(const std::byte* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_word(std::byte* p, uint32_t v) noexcept { std::memcpy(p, &v, sizeof v); }

// Prepares the descriptor and the free-object list of a new zspage of `objs`
// objects of `class_size` bytes at `start` (pages_bytes long). Leaves pin
// alone (see ZsPage::pin). REQUIRES: the run is private to the caller.
void carve_zspage(ZsPage& z, std::byte* start, size_t pages_bytes, uint16_t class_index,
                  uint32_t class_size, uint32_t objs) noexcept;

// ---------------------------------------------------------------------------
// ZsPageTable
// ---------------------------------------------------------------------------

class ZsPageTable {
 public:
  ZsPageTable() = default;
  ZsPageTable(const ZsPageTable&) = delete;
  ZsPageTable& operator=(const ZsPageTable&) = delete;

  // Reserves one descriptor per arena page. Call once, before use.
  Status init(uint32_t pages);

  ZsPage& at(uint32_t first_page) const noexcept { return descs_[first_page]; }

 private:
  Mapping map_;
  ZsPage* descs_ = nullptr;
};

}  // namespace uzram::pool
