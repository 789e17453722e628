// File: src/pool/pool_impl.h
//
// Pool::Impl: the parts of a Pool and the steps its methods are made of,
// shared by pool.cc (allocation, free, map, stats), compaction.cc and
// invariants.cc. Internal to src/pool.
//
// Lock order, outermost first (pool.h has the rules):
//   compact_mu -> SizeClass::mu (one class at a time) -> HandleTable::grow_mu_
//                                                     -> Arena::mu_
// No thread ever holds two class locks. The pin word of a zspage is a spin lock
// that is never waited for while holding a class lock: compaction only
// tries it.
//
// Page counters:
//   pages_held     pages of the zspages on class lists. Changed under the
//                  zspage's class lock when it is linked in or dropped, so
//                  with every class lock held it equals the sum over
//                  zspages (check_invariants).
//   pages_charged  pages_held plus zspages being grown or released right
//                  now; max_pages is checked against it with a CAS, so two
//                  threads cannot both take the last pages.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "base/thread_annotations.h"
#include "pool/arena.h"
#include "pool/handle_table.h"
#include "pool/pool.h"
#include "pool/size_class.h"
#include "pool/zspage.h"

namespace uzram::pool {

// Prints "uzram pool: <message>" and aborts: for broken invariants and
// misuse (a handle that is not allocated), never for expected outcomes.
[[noreturn]] void pool_fatal(const char* format, ...) noexcept __attribute__((format(printf, 1, 2)));

struct Pool::Impl {
  explicit Impl(const PoolOptions& options);

  const PoolOptions options;
  const SizeClassTable table;
  const uint32_t shards;  // 1..kMaxClassShards
  // shards * table.count() of them: shard s of table class i at
  // s * table.count() + i. A thread takes one class lock at a time, of
  // whichever shard; the shard only decides which zspages serve it.
  std::unique_ptr<SizeClass[]> classes;
  Arena arena;
  ZsPageTable zspages;
  HandleTable handles;
  Mutex compact_mu;  // one compaction at a time

  // Statistics and limits: relaxed atomics (see the header for the pairs).
  std::atomic<uint64_t> pages_held{0};
  std::atomic<uint64_t> pages_charged{0};
  std::atomic<uint64_t> pages_max{0};
  std::atomic<uint64_t> pages_compacted{0};
  std::atomic<uint64_t> grow_failures{0};
  std::atomic<uint64_t> max_pages{0};

  std::byte* object_address(const ClassGeometry& g, Location loc) const noexcept {
    return arena.page_address(loc.first_page) + size_t{loc.obj} * g.size;
  }
  size_t class_count() const noexcept { return shards * table.count(); }
  SizeClass& class_of_payload(size_t size, uint32_t shard) const noexcept {
    return classes[shard * table.count() + table.for_payload(size)];
  }
  // The shard for an allocation made now: the CPU's (sched_getcpu() is a
  // vDSO read). A thread moved meanwhile costs cache warmth, not correctness.
  uint32_t current_shard() const noexcept;
  // The handle index of h; aborts when h was never handed out.
  uint32_t checked_index(Handle h) const noexcept;

  // --- allocation (pool.cc) ---
  // A reusable or never-used handle index; 0 when none is at hand without
  // calling the OS.
  uint32_t take_handle(SizeClass& c) noexcept UZRAM_REQUIRES(c.mu);
  // As take_handle(), but may populate more of the handle table.
  uint32_t take_handle_or_grow(SizeClass& c) noexcept UZRAM_REQUIRES(c.mu);
  // A free handle from another class's list, when the table is full.
  uint32_t steal_handle(const SizeClass& except) noexcept;
  // Puts a new object of `size` bytes, named h, in the first free object of
  // zspage `page`. REQUIRES: the zspage is on c's lists and has a free object.
  void place(SizeClass& c, uint32_t page, uint32_t h, uint32_t size) noexcept UZRAM_REQUIRES(c.mu);
  [[gnu::noinline]] Result<Handle> alloc_slow(SizeClass& c, uint32_t size) noexcept UZRAM_EXCLUDES(c.mu);
  // Places the object in the fullest non-full zspage of another shard of
  // c's class, if there is one: the fallback when c cannot grow.
  bool place_in_another_shard(const SizeClass& c, uint32_t h, uint32_t size) noexcept UZRAM_EXCLUDES(c.mu);
  // A new zspage for c, carved and not yet linked; charges max_pages.
  Result<uint32_t> grow_zspage(SizeClass& c) noexcept UZRAM_EXCLUDES(c.mu);
  void add_zspage(SizeClass& c, uint32_t page) noexcept UZRAM_REQUIRES(c.mu);
  // Takes an empty zspage off c's lists and counters; the caller then calls
  // release_zspage() without the lock.
  void drop_zspage(SizeClass& c, uint32_t page) noexcept UZRAM_REQUIRES(c.mu);
  void release_zspage(const ClassGeometry& g, uint32_t page) noexcept;
  bool charge(uint32_t pages) noexcept;
  void uncharge(uint32_t pages) noexcept { pages_charged.fetch_sub(pages, std::memory_order_relaxed); }

  // --- compaction (compaction.cc) ---
  uint64_t compact_class(SizeClass& c) noexcept UZRAM_REQUIRES(compact_mu) UZRAM_EXCLUDES(c.mu);
  // The emptiest zspage that no reader holds, pinned exclusive and unlinked.
  uint32_t pick_source(SizeClass& c) noexcept UZRAM_REQUIRES(c.mu);
  void move_object(SizeClass& c, uint32_t src, uint16_t obj) noexcept UZRAM_REQUIRES(c.mu);

  // --- check_invariants (invariants.cc) ---
  struct ClassTotals {
    uint64_t zspages = 0;
    uint64_t inuse = 0;
    uint64_t objects = 0;  // allocated objects found by walking the zspages
    uint64_t bytes = 0;
  };
  // Checks one zspage on list `group` of c, whose list predecessor is
  // `prev`, and adds what it holds to t.
  void check_zspage(const SizeClass& c, int group, uint32_t page, uint32_t prev, ClassTotals& t) const
      UZRAM_REQUIRES(c.mu);
  // Checks c's lists, zspages, counters and free handles; adds its pages and
  // free-listed handles to the totals.
  void check_class(const SizeClass& c, uint64_t& pages, uint64_t& listed_handles) const UZRAM_REQUIRES(c.mu);
};

}  // namespace uzram::pool
