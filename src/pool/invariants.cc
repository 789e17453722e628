// Pool::check_invariants(): walks every class, zspage, object and handle and
// aborts on the first broken invariant (pool.h lists them), as mimalloc's
// mi_segment_is_valid does. For tests and debugging: it costs a pass over
// all objects and handles.
#include <bitset>
#include <vector>

#include "pool/pool_impl.h"

namespace uzram::pool {
namespace {

#define CHECK_OR_DIE(cond, ...)           \
  do {                                    \
    if (!(cond)) pool_fatal(__VA_ARGS__); \
  } while (0)

}  // namespace

void Pool::Impl::check_zspage(const SizeClass& c, int group, uint32_t page, uint32_t prev,
                              ClassTotals& t) const {
  const Impl& m = *this;
  const ClassGeometry& g = c.geo;
  const ZsPage& z = m.zspages.at(page);
  CHECK_OR_DIE(uint64_t{page} + g.pages_per_zspage <= m.arena.page_count(), "zspage %u beyond the arena", page);
  CHECK_OR_DIE(z.live == 1, "zspage %u on a list but not live", page);
  CHECK_OR_DIE(z.class_index == c.index, "zspage %u of class %u on a list of class %u", page, z.class_index,
               c.index);
  CHECK_OR_DIE(z.group == group, "zspage %u says group %u, is on list %d", page, z.group, group);
  CHECK_OR_DIE(fullness_group(z.inuse, g.objs_per_zspage) == group, "zspage %u with %u/%u in use on list %d",
               page, z.inuse, g.objs_per_zspage, group);
  CHECK_OR_DIE(z.prev == prev, "zspage %u: broken back link", page);
  CHECK_OR_DIE(z.pin.load(std::memory_order_relaxed) >= 0, "zspage %u pinned exclusive outside compaction", page);

  std::bitset<kMaxPagesPerZspage * kPageSize / kMinClassSize> is_free;
  uint32_t free_count = 0;
  for (uint16_t o = z.free_head; o != kNoObj;) {
    CHECK_OR_DIE(o < g.objs_per_zspage, "zspage %u: free object %u out of range", page, o);
    CHECK_OR_DIE(!is_free.test(o), "zspage %u: free list loops at object %u", page, o);
    is_free.set(o);
    ++free_count;
    o = static_cast<uint16_t>(load_word(m.object_address(g, {page, o})));
  }
  CHECK_OR_DIE(free_count + z.inuse == g.objs_per_zspage, "zspage %u: %u free + %u in use != %u objects", page,
               free_count, z.inuse, g.objs_per_zspage);

  for (uint32_t o = 0; o < g.objs_per_zspage; ++o) {
    if (is_free.test(o)) continue;
    Location loc{page, static_cast<uint16_t>(o)};
    uint32_t h = g.huge() ? z.huge_handle : load_word(m.object_address(g, loc));
    CHECK_OR_DIE(h != 0 && h < m.handles.end(), "zspage %u object %u names handle %u, never handed out", page, o,
                 h);
    uint64_t e = m.handles.at(h).load(std::memory_order_relaxed);
    CHECK_OR_DIE(!entry::is_free(e), "zspage %u object %u names handle %u, which is free", page, o, h);
    CHECK_OR_DIE(entry::location(e) == loc, "handle %u points at %u/%u, but object %u/%u names it", h,
                 entry::location(e).first_page, entry::location(e).obj, page, o);
    uint32_t size = entry::size(e);
    CHECK_OR_DIE(size >= 1 && size <= kPageSize && m.table.for_payload(size) == c.table_index,
                 "handle %u: size %u does not belong in class %u", h, size, c.index);
    CHECK_OR_DIE(entry::shard(e) == c.shard, "handle %u names shard %u, its object is in class %u of shard %u", h,
                 entry::shard(e), c.index, c.shard);
    ++t.objects;
    t.bytes += size;
  }
  ++t.zspages;
  t.inuse += z.inuse;
}

void Pool::Impl::check_class(const SizeClass& c, uint64_t& pages, uint64_t& listed_handles) const {
  const Impl& m = *this;
  ClassTotals t;
  for (int group = 0; group < kFullnessGroups; ++group) {
    bool listed = c.heads[group] != kNoPage;
    CHECK_OR_DIE(listed == (((c.nonempty >> group) & 1) != 0), "class %u: group %d bitmap out of step", c.index,
                 group);
    CHECK_OR_DIE(group != kGroupEmpty || !listed, "class %u keeps an empty zspage", c.index);
    uint32_t prev = kNoPage;
    uint64_t steps = 0;
    for (uint32_t page = c.heads[group]; page != kNoPage; page = m.zspages.at(page).next) {
      CHECK_OR_DIE(++steps <= m.arena.page_count(), "class %u: list %d loops", c.index, group);
      check_zspage(c, group, page, prev, t);
      prev = page;
    }
  }
  CHECK_OR_DIE(t.zspages == c.zspages, "class %u: %llu zspages listed, %llu counted", c.index,
               (unsigned long long)t.zspages, (unsigned long long)c.zspages);
  CHECK_OR_DIE(t.inuse == c.objs_inuse && t.objects == t.inuse, "class %u: objects in use out of step", c.index);
  CHECK_OR_DIE(t.objects == c.objects.load(std::memory_order_relaxed), "class %u: objects statistic is off",
               c.index);
  CHECK_OR_DIE(t.bytes == c.object_bytes.load(std::memory_order_relaxed), "class %u: object_bytes statistic is off",
               c.index);
  pages += t.zspages * c.geo.pages_per_zspage;

  uint64_t steps = 0;
  for (uint32_t h = c.free_handles; h != 0;) {
    CHECK_OR_DIE(h < m.handles.end(), "class %u: free handle %u never handed out", c.index, h);
    CHECK_OR_DIE(++steps < m.handles.end(), "class %u: free handle list loops", c.index);
    uint64_t e = m.handles.at(h).load(std::memory_order_relaxed);
    CHECK_OR_DIE(entry::is_free(e), "class %u: handle %u on the free list is live", c.index, h);
    h = static_cast<uint32_t>(e);
  }
  listed_handles += steps;
}

bool Pool::check_invariants() const {
  const Impl& m = *impl_;
  size_t n = m.class_count();
  // Pass 1: each class under its own lock (holding them all at once would
  // stall the pool, and ThreadSanitizer tracks at most 64 held locks).
  std::vector<uint64_t> generations(n);
  uint64_t pages = 0;
  uint64_t listed_handles = 0;
  uint64_t objects = 0;
  for (size_t i = 0; i < n; ++i) {
    SizeClass& c = m.classes[i];
    MutexLock l(&c.mu);
    m.check_class(c, pages, listed_handles);
    objects += c.objects.load(std::memory_order_relaxed);
    generations[i] = c.generation;
  }
  // Between the passes: if no class changes until pass 2 looks again, every
  // class stood still from its pass-1 look on, so these reads see the state
  // that pass 1 summed up.
  uint64_t held = m.pages_held.load(std::memory_order_relaxed);
  uint64_t charged = m.pages_charged.load(std::memory_order_relaxed);
  uint64_t live = 0;
  uint32_t end = m.handles.end();
  for (uint32_t h = 1; h < end; ++h) {
    uint64_t e = m.handles.at(h).load(std::memory_order_relaxed);
    if (e != 0 && !entry::is_free(e)) ++live;
  }
  // Pass 2.
  for (size_t i = 0; i < n; ++i) {
    SizeClass& c = m.classes[i];
    MutexLock l(&c.mu);
    if (c.generation != generations[i]) return false;
  }
  CHECK_OR_DIE(pages == held, "pages_held is %llu, zspages hold %llu", (unsigned long long)held,
               (unsigned long long)pages);
  CHECK_OR_DIE(charged >= held, "pages charged below pages held");
  // Every live entry was found from its object in pass 1; now the other way:
  // no live entry without an object. (Handles in the hands of an alloc()
  // that is growing are neither live nor listed, hence <=.)
  CHECK_OR_DIE(live == objects, "%llu live handles for %llu objects", (unsigned long long)live,
               (unsigned long long)objects);
  CHECK_OR_DIE(live + listed_handles <= end - 1u, "more handles listed than handed out");
  CHECK_OR_DIE(m.arena.spare_pages() <= Arena::kMaxSparePages, "arena spare window too large");
  return true;
}

}  // namespace uzram::pool
