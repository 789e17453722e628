// File: src/pool/size_class.h
//
// Size classes: the table of class geometries (SizeClassTable, fixed when a
// Pool is made) and the run-time state of one class (SizeClass: its lock,
// fullness lists and counters).
//
// Geometry. Class sizes run from 32 to 4096 bytes, 16 apart (255 raw
// classes). Each raw class gets the zspage length (1..max_pages_per_zspage
// pages) that wastes the smallest fraction of the zspage, the shortest on a
// tie (zsmalloc's get_pages_per_zspage, with exact fractions instead of
// rounded percents). A raw class whose (pages_per_zspage, objs_per_zspage)
// equals that of the next larger class is merged into it, as zsmalloc
// does: same objects per zspage means no extra waste, and fewer classes mean
// fuller zspages. A ClassIndex names a class after merging, 0 = smallest.
//
// A class with one object per zspage is huge; only the 4096-byte class is
// (every raw class that holds one object in each of its 1..N pages has the
// geometry 1 page / 1 object and merges into it). Objects of other classes
// carry a 4-byte header (their handle index) before the payload, so the
// class of a payload of n bytes is the class of n + 4 bytes; huge objects
// have no header, so a 4096-byte payload fits.
//
// Fullness groups (zsmalloc's inuse ratios): 0 = empty, 1 = 1..9 % in use,
// ..., 10 = 90..99 %, 11 = full. Allocation takes from the fullest non-full
// group; compaction moves objects out of the emptiest.
//
// Thread safety: SizeClassTable is immutable after construction. SizeClass:
// everything but the statistics is guarded by mu; the statistics are
// written under mu and read without it.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/thread_annotations.h"
#include "pool/zspage.h"
#include "uzram/page.h"

namespace uzram::pool {

using ClassIndex = uint16_t;

inline constexpr uint32_t kMinClassSize = 32;
inline constexpr uint32_t kClassDelta = 16;
inline constexpr uint32_t kRawClasses = (kPageSize - kMinClassSize) / kClassDelta + 1;  // 255
inline constexpr uint32_t kObjHeaderSize = sizeof(uint32_t);
inline constexpr uint32_t kMaxPagesPerZspage = Arena::kMaxRun;
inline constexpr int kFullnessGroups = 12;
inline constexpr int kGroupEmpty = 0;
inline constexpr int kGroupFull = kFullnessGroups - 1;

// 0 when empty, 11 when full, else 1 + the tens of the percentage in use.
inline int fullness_group(uint32_t inuse, uint32_t objs) noexcept {
  if (inuse == 0) return kGroupEmpty;
  if (inuse == objs) return kGroupFull;
  return static_cast<int>(inuse * 100 / objs / 10) + 1;
}

struct ClassGeometry {
  uint32_t size = 0;              // bytes per object slot
  uint32_t pages_per_zspage = 0;
  uint32_t objs_per_zspage = 0;
  bool huge() const noexcept { return objs_per_zspage == 1; }
  // Bytes before the payload: the handle index, except in a huge class.
  uint32_t header_size() const noexcept { return huge() ? 0 : kObjHeaderSize; }
  // Bytes of the zspage that no object uses.
  uint32_t waste() const noexcept {
    return pages_per_zspage * static_cast<uint32_t>(kPageSize) - objs_per_zspage * size;
  }
};

// The zspage length (1..max_pages) with the least wasted fraction for
// objects of class_size bytes; the shortest among equals.
uint32_t pages_per_zspage_for(uint32_t class_size, uint32_t max_pages) noexcept;

class SizeClassTable {
 public:
  // REQUIRES: 1 <= max_pages_per_zspage <= kMaxPagesPerZspage.
  explicit SizeClassTable(uint32_t max_pages_per_zspage);

  size_t count() const noexcept { return classes_.size(); }
  const ClassGeometry& geometry(ClassIndex c) const noexcept { return classes_[c]; }
  // The class that holds a payload of `size` bytes. REQUIRES: 1..kPageSize.
  ClassIndex for_payload(size_t size) const noexcept { return payload_class_[size]; }
  // The smallest payload that lands in a huge class.
  size_t huge_class_size() const noexcept { return huge_class_size_; }
  // Raw class i (size 32 + 16 i) maps to this class after merging.
  ClassIndex for_raw(uint32_t raw) const noexcept { return raw_class_[raw]; }

 private:
  std::vector<ClassGeometry> classes_;              // ascending size, merged
  std::array<uint8_t, kRawClasses> raw_class_{};
  std::array<uint8_t, kPageSize + 1> payload_class_{};
  size_t huge_class_size_ = 0;
};

// The run-time state of one class. Cache-line aligned: each class has its
// own lock, and allocations of different sizes should not share a line.
struct alignas(64) SizeClass {
  ClassGeometry geo;          // fixed when the pool is made
  uint16_t index = 0;         //   " : position in Pool::Impl::classes, which
                              //     ZsPage::class_index records
  ClassIndex table_index = 0; //   " : its class in the SizeClassTable
  uint8_t shard = 0;          //   " : index / table.count()
  mutable Mutex mu;

  // Fullness lists: doubly linked through ZsPage::prev/next, heads by group.
  // nonempty has bit g set when heads[g] != kNoPage, so the fullest
  // non-full group is one bit scan.
  uint32_t heads[kFullnessGroups] UZRAM_GUARDED_BY(mu);
  uint32_t nonempty UZRAM_GUARDED_BY(mu) = 0;
  uint64_t zspages UZRAM_GUARDED_BY(mu) = 0;     // on the lists
  uint64_t objs_inuse UZRAM_GUARDED_BY(mu) = 0;  // allocated, in those zspages
  // Handles freed by this class and ready for reuse: a list through the
  // handle table (HandleTable::push_free), 0 = empty.
  uint32_t free_handles UZRAM_GUARDED_BY(mu) = 0;
  // Bumped by every change to the class's objects or zspages, so that
  // check_invariants() can tell that a class stood still between two looks.
  uint64_t generation UZRAM_GUARDED_BY(mu) = 0;

  // Statistics. Written only under mu (so a plain load + store, no locked
  // instruction), read without it (relaxed: a sum of counters that moves).
  std::atomic<uint64_t> objects{0};
  std::atomic<uint64_t> object_bytes{0};

  SizeClass() {
    for (uint32_t& h : heads) h = kNoPage;
  }

  // Links a zspage in at the head of the list of its fullness group.
  void link(const ZsPageTable& t, uint32_t page) noexcept UZRAM_REQUIRES(mu) {
    ZsPage& z = t.at(page);
    int g = fullness_group(z.inuse, geo.objs_per_zspage);
    z.group = static_cast<uint8_t>(g);
    z.prev = kNoPage;
    z.next = heads[g];
    if (z.next != kNoPage) t.at(z.next).prev = page;
    heads[g] = page;
    nonempty |= 1u << g;
    z.live = 1;
  }

  void unlink(const ZsPageTable& t, uint32_t page) noexcept UZRAM_REQUIRES(mu) {
    ZsPage& z = t.at(page);
    if (z.prev != kNoPage) {
      t.at(z.prev).next = z.next;
    } else {
      heads[z.group] = z.next;
      if (z.next == kNoPage) nonempty &= ~(1u << z.group);
    }
    if (z.next != kNoPage) t.at(z.next).prev = z.prev;
    z.prev = z.next = kNoPage;
    z.live = 0;
  }

  // Moves a zspage whose inuse changed to the list of its new group.
  void regroup(const ZsPageTable& t, uint32_t page) noexcept UZRAM_REQUIRES(mu) {
    const ZsPage& z = t.at(page);
    if (fullness_group(z.inuse, geo.objs_per_zspage) == z.group) return;
    unlink(t, page);
    link(t, page);
  }

  // The first zspage of the fullest group that has a free object.
  uint32_t fullest_nonfull() const noexcept UZRAM_REQUIRES(mu) {
    uint32_t partial = nonempty & ((1u << kGroupFull) - 1);
    if (partial == 0) return kNoPage;
    return heads[31 - std::countl_zero(partial)];
  }

  // Free object slots in the class's zspages.
  uint64_t free_objects() const noexcept UZRAM_REQUIRES(mu) {
    return zspages * geo.objs_per_zspage - objs_inuse;
  }

  // Statistics: see the comment at objects.
  void count_alloc(size_t size) noexcept UZRAM_REQUIRES(mu) {
    objects.store(objects.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    object_bytes.store(object_bytes.load(std::memory_order_relaxed) + size, std::memory_order_relaxed);
  }
  void count_free(size_t size) noexcept UZRAM_REQUIRES(mu) {
    objects.store(objects.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    object_bytes.store(object_bytes.load(std::memory_order_relaxed) - size, std::memory_order_relaxed);
  }
};

}  // namespace uzram::pool
