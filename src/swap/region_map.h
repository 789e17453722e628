// File: src/swap/region_map.h
//
// RegionMap: which program addresses hold which page ids, and which ids are
// free to give out.
//
// Glossary
//   allocation  the ids given to one map() call: a run of consecutive ids
//               whose first is a multiple of PageTable::kChunkPages, so that
//               the first page of a region starts a chunk.
//   extent      a run of pages at consecutive addresses with consecutive ids.
//               A region starts as one extent; munmap of its middle leaves two,
//               mremap moves one to other addresses with the same ids.
//   retired     an allocation whose every page was unmapped. Its ids go back
//               to the free list once no write of them is in flight
//               (reclaim_retired), so a late completion never lands on a page
//               of a newer region.
//
// Thread safety: thread-safe. Lookups take a shared lock; changes an
// exclusive one. Lock order: this map's mutex before any chunk lock.
// Swap fault thread: may call every method.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "swap/page_table.h"
#include "uzram/status.h"

namespace uzram::swap {

struct Extent {
  uintptr_t addr = 0;  // page aligned
  uint64_t pages = 0;
  PageId first = 0;    // id of the page at addr

  uintptr_t end() const noexcept { return addr + pages * 4096; }
  bool contains(uintptr_t a) const noexcept { return a >= addr && a < end(); }
  PageId id_of(uintptr_t a) const noexcept { return first + (a - addr) / 4096; }
  uintptr_t addr_of(PageId id) const noexcept { return addr + (id - first) * 4096; }
};

class RegionMap {
 public:
  // Ids [0, id_pages) are ours to give out.
  explicit RegionMap(uint64_t id_pages) noexcept;

  // Gives out `pages` consecutive ids. kNoSpace when no free run is long
  // enough (the space's `size` option bounds the bytes mapped at once).
  Result<PageId> allocate(uint64_t pages);
  // Gives ids from allocate() back at once (a map() that failed later).
  void release(PageId first, uint64_t pages);

  // Records that [addr, addr + pages * 4096) holds ids first, first + 1, ...
  // REQUIRES: the range overlaps no extent.
  void add(uintptr_t addr, uint64_t pages, PageId first);

  // The extent holding `addr`.
  std::optional<Extent> find(uintptr_t addr) const;
  // The extent holding page `id`.
  std::optional<Extent> find_id(PageId id) const;
  // True when every page of [addr, addr + pages * 4096) is in some extent.
  bool covers(uintptr_t addr, uint64_t pages) const;

  // Takes [addr, addr + pages * 4096) out of the extents (splitting them)
  // and returns the pieces taken, in address order. The ids stay allocated
  // until every page of their allocation was taken out (retired).
  std::vector<Extent> remove(uintptr_t addr, uint64_t pages);
  // mremap: the pages of [from, from + pages * 4096) now live at `to`.
  // Returns the pieces moved (at their new addresses).
  std::vector<Extent> move(uintptr_t from, uintptr_t to, uint64_t pages);

  // ---- under a lock the caller holds ----------------------------------------
  // Holding the shared lock keeps every extent where it is: the reclaimer
  // holds it from translating a page id to an address until its ioctl on that
  // address returned, so that the address cannot change hands meanwhile.
  std::shared_lock<std::shared_mutex> lock_shared() const { return std::shared_lock(mu_); }
  std::unique_lock<std::shared_mutex> try_lock_exclusive() { return std::unique_lock(mu_, std::try_to_lock); }
  std::unique_lock<std::shared_mutex> lock_exclusive() { return std::unique_lock(mu_); }
  // REQUIRES: a lock from above (shared or exclusive).
  std::optional<Extent> find_locked(uintptr_t addr) const;
  std::optional<Extent> find_id_locked(PageId id) const;
  bool covers_locked(uintptr_t addr, uint64_t pages) const;
  // The parts of extents inside [start, end), in address order.
  std::vector<Extent> overlapping_locked(uintptr_t start, uintptr_t end) const;
  // REQUIRES: the exclusive lock.
  std::vector<Extent> remove_locked(uintptr_t addr, uint64_t pages);
  std::vector<Extent> move_locked(uintptr_t from, uintptr_t to, uint64_t pages);
  void add_locked(uintptr_t addr, uint64_t pages, PageId first);
  bool overlaps_locked(uintptr_t addr, uint64_t pages) const;

  // Every extent, in address order (close() unmaps them).
  std::vector<Extent> extents() const;

  // Frees the retired allocations for which `quiet(first, pages)` is true
  // and returns them; the caller resets their pages before they are reused.
  std::vector<Extent> reclaim_retired(const std::function<bool(PageId, uint64_t)>& quiet);

  uint64_t mapped_pages() const;

 private:
  struct Allocation {
    uint64_t pages = 0;
    uint64_t live = 0;  // pages still in some extent
  };

  void free_ids_locked(PageId first, uint64_t pages);
  void note_removed_locked(PageId first, uint64_t pages);
  std::vector<Extent> cut_locked(uintptr_t addr, uint64_t pages);
  void insert_locked(const Extent& e);

  const uint64_t id_pages_;
  mutable std::shared_mutex mu_;
  std::map<uintptr_t, Extent> by_addr_;       // guarded by mu_; key: Extent::addr
  std::map<PageId, uintptr_t> by_id_;         // guarded by mu_; Extent::first -> Extent::addr
  std::map<PageId, Allocation> allocations_;  // guarded by mu_; key: first id
  std::map<PageId, uint64_t> free_;           // guarded by mu_; first id -> pages, coalesced
  std::vector<std::pair<PageId, uint64_t>> retired_;  // guarded by mu_
  uint64_t mapped_pages_ = 0;                 // guarded by mu_
};

}  // namespace uzram::swap
