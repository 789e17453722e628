// Compaction: moves objects out of the sparsest zspages of each class into
// the fullest ones and frees the emptied zspages (zsmalloc's
// zs_compact / __zs_compact, with the pin word in place of the zspage lock).
//
// Per class, one source zspage at a time, under the class lock:
//   1. stop unless the class has at least one zspage's worth of free
//      objects: then the others have room for all of any one source's objects
//      (free - (objs - inuse_src) >= inuse_src  <=>  free >= objs);
//   2. pick the emptiest zspage that can be pinned exclusive (no reader has it
//      mapped; a mapped one is skipped, never waited for) and unlink it, so it
//      is never chosen as a destination;
//   3. copy each of its objects (header and payload) into a free object of the
//      fullest zspage, and store the new location in the handle entry
//      (release, pairs with map()'s acquire);
//   4. drop the emptied zspage from the class's counters;
// then, without the class lock, unpin it and give its pages back to the arena.
// Dropping the lock between sources lets allocation and free go on.
//
// Lock order: compact_mu (one compaction at a time) -> class lock.
#include <bitset>
#include <cstring>

#include "pool/pool_impl.h"

namespace uzram::pool {

uint32_t Pool::Impl::pick_source(SizeClass& c) noexcept {
  for (int g = kGroupEmpty; g < kGroupFull; ++g) {
    for (uint32_t page = c.heads[g]; page != kNoPage; page = zspages.at(page).next) {
      if (try_pin_exclusive(zspages.at(page))) {
        c.unlink(zspages, page);
        return page;
      }
    }
  }
  return kNoPage;
}

void Pool::Impl::move_object(SizeClass& c, uint32_t src, uint16_t obj) noexcept {
  const ClassGeometry& g = c.geo;
  std::byte* from = object_address(g, {src, obj});
  uint32_t h = load_word(from);
  std::atomic<uint64_t>& slot = handles.at(h);
  uint64_t e = slot.load(std::memory_order_relaxed);
  uint32_t size = entry::size(e);

  uint32_t dst = c.fullest_nonfull();  // exists: see step 1 above
  ZsPage& d = zspages.at(dst);
  Location to{dst, d.free_head};
  std::byte* p = object_address(g, to);
  d.free_head = static_cast<uint16_t>(load_word(p));
  ++d.inuse;
  unpoison(p, kObjHeaderSize + size);
  std::memcpy(p, from, kObjHeaderSize + size);
  // Release: the copy above is visible to whoever loads this location.
  slot.store(entry::moved(e, to), std::memory_order_release);
  c.regroup(zspages, dst);
  --zspages.at(src).inuse;
  ++c.generation;
}

uint64_t Pool::Impl::compact_class(SizeClass& c) noexcept {
  const ClassGeometry& g = c.geo;
  uint64_t freed = 0;
  for (;;) {
    uint32_t src;
    {
      MutexLock l(&c.mu);
      if (c.free_objects() < g.objs_per_zspage) break;
      src = pick_source(c);
      if (src == kNoPage) break;  // every candidate is mapped right now
      ZsPage& s = zspages.at(src);
      std::bitset<kMaxPagesPerZspage * kPageSize / kMinClassSize> is_free;
      for (uint16_t o = s.free_head; o != kNoObj; o = static_cast<uint16_t>(load_word(object_address(g, {src, o})))) {
        is_free.set(o);
      }
      for (uint32_t o = 0; o < g.objs_per_zspage && s.inuse > 0; ++o) {
        if (!is_free.test(o)) move_object(c, src, static_cast<uint16_t>(o));
      }
      if (s.inuse != 0) pool_fatal("compaction left %u objects in zspage %u", s.inuse, src);
      drop_zspage(c, src);
    }
    // Unpin before the pages can be reused: a reader that pinned a stale
    // location spins on -1 and must get past it to see that its handle moved.
    unpin_exclusive(zspages.at(src));
    release_zspage(g, src);
    pages_compacted.fetch_add(g.pages_per_zspage, std::memory_order_relaxed);
    freed += g.pages_per_zspage;
  }
  return freed;
}

uint64_t Pool::compact() noexcept {
  Impl& m = *impl_;
  MutexLock l(&m.compact_mu);
  uint64_t freed = 0;
  for (size_t i = 0; i < m.class_count(); ++i) {
    SizeClass& c = m.classes[i];
    if (c.geo.huge()) continue;  // one object per zspage: nothing to merge
    freed += m.compact_class(c);
  }
  return freed;
}

}  // namespace uzram::pool
