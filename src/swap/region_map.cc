// RegionMap: see region_map.h.
#include "swap/region_map.h"

#include <cassert>
#include <mutex>

namespace uzram::swap {
namespace {
constexpr uint64_t kAlign = PageTable::kChunkPages;
uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
}  // namespace

RegionMap::RegionMap(uint64_t id_pages) noexcept : id_pages_(id_pages) {
  if (id_pages_ > 0) free_[0] = id_pages_;
}

Result<PageId> RegionMap::allocate(uint64_t pages) {
  if (pages == 0) return Status::invalid_argument("allocation of 0 pages");
  std::unique_lock lock(mu_);
  // First fit; every free run starts on a chunk boundary because every
  // allocation is rounded up to whole chunks.
  uint64_t want = round_up(pages, kAlign);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < want) continue;
    PageId first = it->first;
    uint64_t left = it->second - want;
    free_.erase(it);
    if (left > 0) free_[first + want] = left;
    allocations_[first] = Allocation{want, pages};
    return first;
  }
  return Status::no_space("no room for " + std::to_string(pages) +
                          " more pages: the space's size option bounds the bytes mapped at once");
}

void RegionMap::release(PageId first, uint64_t pages) {
  std::unique_lock lock(mu_);
  auto it = allocations_.find(first);
  assert(it != allocations_.end());
  uint64_t held = it->second.pages;
  allocations_.erase(it);
  free_ids_locked(first, held);
  (void)pages;
}

void RegionMap::free_ids_locked(PageId first, uint64_t pages) {
  auto next = free_.lower_bound(first);
  if (next != free_.end() && next->first == first + pages) {
    pages += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == first) {
      prev->second += pages;
      return;
    }
  }
  free_[first] = pages;
}

void RegionMap::insert_locked(const Extent& e) {
  by_addr_[e.addr] = e;
  by_id_[e.first] = e.addr;
}

void RegionMap::add(uintptr_t addr, uint64_t pages, PageId first) {
  std::unique_lock lock(mu_);
  add_locked(addr, pages, first);
}

void RegionMap::add_locked(uintptr_t addr, uint64_t pages, PageId first) {
  insert_locked(Extent{addr, pages, first});
  mapped_pages_ += pages;
}

bool RegionMap::overlaps_locked(uintptr_t addr, uint64_t pages) const {
  uintptr_t end = addr + pages * 4096;
  auto it = by_addr_.lower_bound(addr);
  if (it != by_addr_.end() && it->second.addr < end) return true;
  if (it != by_addr_.begin() && std::prev(it)->second.end() > addr) return true;
  return false;
}

std::optional<Extent> RegionMap::find(uintptr_t addr) const {
  std::shared_lock lock(mu_);
  return find_locked(addr);
}

std::optional<Extent> RegionMap::find_locked(uintptr_t addr) const {
  auto it = by_addr_.upper_bound(addr);
  if (it == by_addr_.begin()) return std::nullopt;
  --it;
  if (!it->second.contains(addr)) return std::nullopt;
  return it->second;
}

std::optional<Extent> RegionMap::find_id(PageId id) const {
  std::shared_lock lock(mu_);
  return find_id_locked(id);
}

std::optional<Extent> RegionMap::find_id_locked(PageId id) const {
  auto it = by_id_.upper_bound(id);
  if (it == by_id_.begin()) return std::nullopt;
  --it;
  const Extent& e = by_addr_.at(it->second);
  if (id >= e.first + e.pages) return std::nullopt;
  return e;
}

bool RegionMap::covers(uintptr_t addr, uint64_t pages) const {
  std::shared_lock lock(mu_);
  return covers_locked(addr, pages);
}

bool RegionMap::covers_locked(uintptr_t addr, uint64_t pages) const {
  uintptr_t end = addr + pages * 4096;
  uintptr_t at = addr;
  while (at < end) {
    auto it = by_addr_.upper_bound(at);
    if (it == by_addr_.begin()) return false;
    --it;
    if (!it->second.contains(at)) return false;
    at = it->second.end();
  }
  return true;
}

std::vector<Extent> RegionMap::overlapping_locked(uintptr_t start, uintptr_t end) const {
  std::vector<Extent> out;
  auto it = by_addr_.upper_bound(start);
  if (it != by_addr_.begin()) --it;
  for (; it != by_addr_.end() && it->second.addr < end; ++it) {
    const Extent& e = it->second;
    if (e.end() <= start) continue;
    uintptr_t lo = e.addr > start ? e.addr : start;
    uintptr_t hi = e.end() < end ? e.end() : end;
    out.push_back(Extent{lo, (hi - lo) / 4096, e.id_of(lo)});
  }
  return out;
}

std::vector<Extent> RegionMap::cut_locked(uintptr_t addr, uint64_t pages) {
  std::vector<Extent> taken;
  uintptr_t end = addr + pages * 4096;
  auto it = by_addr_.upper_bound(addr);
  if (it != by_addr_.begin()) --it;
  while (it != by_addr_.end() && it->second.addr < end) {
    Extent e = it->second;
    if (e.end() <= addr) {
      ++it;
      continue;
    }
    it = by_addr_.erase(it);
    by_id_.erase(e.first);
    uintptr_t lo = e.addr > addr ? e.addr : addr;
    uintptr_t hi = e.end() < end ? e.end() : end;
    if (e.addr < lo) insert_locked(Extent{e.addr, (lo - e.addr) / 4096, e.first});
    if (hi < e.end()) insert_locked(Extent{hi, (e.end() - hi) / 4096, e.id_of(hi)});
    taken.push_back(Extent{lo, (hi - lo) / 4096, e.id_of(lo)});
    it = by_addr_.upper_bound(hi - 1);
  }
  return taken;
}

void RegionMap::note_removed_locked(PageId first, uint64_t pages) {
  auto it = allocations_.upper_bound(first);
  assert(it != allocations_.begin());
  --it;
  assert(first >= it->first && first + pages <= it->first + it->second.pages);
  assert(it->second.live >= pages);
  it->second.live -= pages;
  if (it->second.live == 0) {
    retired_.emplace_back(it->first, it->second.pages);
    allocations_.erase(it);
  }
}

std::vector<Extent> RegionMap::remove(uintptr_t addr, uint64_t pages) {
  std::unique_lock lock(mu_);
  return remove_locked(addr, pages);
}

std::vector<Extent> RegionMap::remove_locked(uintptr_t addr, uint64_t pages) {
  std::vector<Extent> taken = cut_locked(addr, pages);
  for (const Extent& e : taken) {
    mapped_pages_ -= e.pages;
    note_removed_locked(e.first, e.pages);
  }
  return taken;
}

std::vector<Extent> RegionMap::move(uintptr_t from, uintptr_t to, uint64_t pages) {
  std::unique_lock lock(mu_);
  return move_locked(from, to, pages);
}

std::vector<Extent> RegionMap::move_locked(uintptr_t from, uintptr_t to, uint64_t pages) {
  std::vector<Extent> taken = cut_locked(from, pages);
  // Whatever was at the destination is gone: mremap(MREMAP_FIXED) unmaps it
  // first, and reports that as an UNMAP event of its own.
  for (Extent& e : taken) {
    e.addr = to + (e.addr - from);
    insert_locked(e);
  }
  return taken;
}

std::vector<Extent> RegionMap::extents() const {
  std::shared_lock lock(mu_);
  std::vector<Extent> out;
  out.reserve(by_addr_.size());
  for (const auto& [addr, e] : by_addr_) out.push_back(e);
  return out;
}

std::vector<Extent> RegionMap::reclaim_retired(const std::function<bool(PageId, uint64_t)>& quiet) {
  std::unique_lock lock(mu_);
  std::vector<Extent> freed;
  for (size_t i = 0; i < retired_.size();) {
    auto [first, pages] = retired_[i];
    if (quiet(first, pages)) {
      free_ids_locked(first, pages);
      freed.push_back(Extent{0, pages, first});
      retired_[i] = retired_.back();
      retired_.pop_back();
    } else {
      ++i;
    }
  }
  return freed;
}

uint64_t RegionMap::mapped_pages() const {
  std::shared_lock lock(mu_);
  return mapped_pages_;
}

}  // namespace uzram::swap
