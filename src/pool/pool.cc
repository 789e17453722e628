// Pool: allocation, free, map and statistics. See pool.h for the contract
// and pool_impl.h for the lock order; compaction is in compaction.cc and
// check_invariants() in invariants.cc.
#include "pool/pool.h"

#include <sched.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <string>
#include <thread>
#include <utility>

#include "pool/pool_impl.h"

namespace uzram::pool {

void pool_fatal(const char* format, ...) noexcept {
  std::fputs("uzram pool: ", stderr);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::abort();
}

// ---------------------------------------------------------------------------
// Creation
// ---------------------------------------------------------------------------

namespace {

static_assert(kMaxClassShards - 1 <= 0x3, "the shard must fit entry bits 61..62");

uint32_t shards_for(uint32_t asked) {
  if (asked != 0) return asked;
  return std::clamp(std::thread::hardware_concurrency(), 1u, kMaxClassShards);
}

}  // namespace

Pool::Impl::Impl(const PoolOptions& o)
    : options(o),
      table(o.max_pages_per_zspage),
      shards(shards_for(o.class_shards)),
      classes(new SizeClass[shards * table.count()]) {
  for (size_t i = 0; i < class_count(); ++i) {
    const auto t = static_cast<ClassIndex>(i % table.count());
    classes[i].geo = table.geometry(t);
    classes[i].index = static_cast<uint16_t>(i);
    classes[i].table_index = t;
    classes[i].shard = static_cast<uint8_t>(i / table.count());
  }
  max_pages.store(o.max_pages, std::memory_order_relaxed);
}

uint32_t Pool::Impl::current_shard() const noexcept {
  if (shards == 1) return 0;
  const int cpu = ::sched_getcpu();
  return cpu < 0 ? 0 : static_cast<uint32_t>(cpu) % shards;
}

Result<std::unique_ptr<Pool>> Pool::create(const PoolOptions& o) {
  if (o.max_pages_per_zspage < 1 || o.max_pages_per_zspage > kMaxPagesPerZspage) {
    return Status::invalid_argument("max_pages_per_zspage must be 1..16, not " +
                                    std::to_string(o.max_pages_per_zspage));
  }
  if (o.class_shards > kMaxClassShards) {
    return Status::invalid_argument("class_shards must be 0 (one per CPU) or 1.." + std::to_string(kMaxClassShards) +
                                    ", not " + std::to_string(o.class_shards));
  }
  if (o.arena_bytes % kPageSize != 0 || o.arena_bytes < size_t{Arena::kMinPages} * kPageSize ||
      o.arena_bytes > size_t{Arena::kMaxPages} * kPageSize) {
    return Status::invalid_argument("arena_bytes must be a multiple of 4096 from 64 KiB to 8 TiB, not " +
                                    std::to_string(o.arena_bytes));
  }
  auto impl = std::make_unique<Impl>(o);
  uint32_t pages = static_cast<uint32_t>(o.arena_bytes / kPageSize);
  UZRAM_RETURN_IF_ERROR(impl->arena.init(pages));
  UZRAM_RETURN_IF_ERROR(impl->zspages.init(pages));
  // The most objects the arena can hold: one per 32 bytes.
  UZRAM_RETURN_IF_ERROR(impl->handles.init(uint64_t{pages} * (kPageSize / kMinClassSize) + 1));
  return std::unique_ptr<Pool>(new Pool(std::move(impl)));
}

Pool::Pool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pool::~Pool() = default;

size_t Pool::huge_class_size() const noexcept { return impl_->table.huge_class_size(); }

uint32_t Pool::Impl::checked_index(Handle h) const noexcept {
  if (h.value == 0 || h.value >= handles.end()) {
    pool_fatal("handle %llu was never handed out by this pool", static_cast<unsigned long long>(h.value));
  }
  return static_cast<uint32_t>(h.value);
}

// ---------------------------------------------------------------------------
// Allocation
// ---------------------------------------------------------------------------

uint32_t Pool::Impl::take_handle(SizeClass& c) noexcept {
  uint32_t h = handles.pop_free(c.free_handles);
  return h != 0 ? h : handles.try_bump();
}

uint32_t Pool::Impl::take_handle_or_grow(SizeClass& c) noexcept {
  for (;;) {
    if (uint32_t h = take_handle(c)) return h;
    if (!handles.grow()) return 0;
  }
}

uint32_t Pool::Impl::steal_handle(const SizeClass& except) noexcept {
  for (size_t i = 0; i < class_count(); ++i) {
    if (i == except.index) continue;
    SizeClass& other = classes[i];
    MutexLock l(&other.mu);
    if (uint32_t h = handles.pop_free(other.free_handles)) return h;
  }
  return 0;
}

void Pool::Impl::place(SizeClass& c, uint32_t page, uint32_t h, uint32_t size) noexcept {
  ZsPage& z = zspages.at(page);
  Location loc{page, z.free_head};
  std::byte* p = object_address(c.geo, loc);
  uint32_t header = c.geo.header_size();
  z.free_head = static_cast<uint16_t>(load_word(p));
  ++z.inuse;
  ++c.objs_inuse;
  c.regroup(zspages, page);
  unpoison(p, header + size);
  if (header != 0) {
    store_word(p, h);
  } else {
    z.huge_handle = h;
  }
  // Release: pairs with map()'s acquire load (handle_table.h).
  handles.at(h).store(entry::live(loc, size, c.shard), std::memory_order_release);
  c.count_alloc(size);
  ++c.generation;
}

// Fast path: the size check, one table load, a try-lock, a bit scan for the
// fullest zspage, a free-list pop and a handle-list pop, the header and
// entry stores, unlock: about 100 instructions and the lock's two atomic
// operations; a try_alloc + free pair takes about 22 ns of CPU
// (bench/pool_bench.cc, BM_TryAllocFree/100).
Handle Pool::try_alloc(size_t size) noexcept {
  if (size - 1 >= kPageSize) return Handle{};  // also rejects 0
  Impl& m = *impl_;
  SizeClass& c = m.class_of_payload(size, m.current_shard());
  if (!c.mu.try_lock()) return Handle{};
  Handle h;
  uint32_t page = c.fullest_nonfull();
  if (page != kNoPage) {
    if (uint32_t index = m.take_handle(c)) {
      m.place(c, page, index, static_cast<uint32_t>(size));
      h.value = index;
    }
  }
  c.mu.unlock();
  return h;
}

Result<Handle> Pool::alloc(size_t size) noexcept {
  if (size - 1 >= kPageSize) {
    return Status::invalid_argument("pool object size must be 1..4096, not " + std::to_string(size));
  }
  Impl& m = *impl_;
  SizeClass& c = m.class_of_payload(size, m.current_shard());
  {
    MutexLock l(&c.mu);
    uint32_t page = c.fullest_nonfull();
    if (page != kNoPage) {
      if (uint32_t index = m.take_handle(c)) {
        m.place(c, page, index, static_cast<uint32_t>(size));
        return Handle{index};
      }
    }
  }
  return m.alloc_slow(c, static_cast<uint32_t>(size));
}

Result<Handle> Pool::Impl::alloc_slow(SizeClass& c, uint32_t size) noexcept {
  uint32_t h = 0;  // kept across rounds: taken, not yet placed
  for (;;) {
    {
      MutexLock l(&c.mu);
      if (h == 0) h = take_handle_or_grow(c);
      if (h != 0) {
        uint32_t page = c.fullest_nonfull();
        if (page != kNoPage) {  // another thread made room meanwhile
          place(c, page, h, size);
          return Handle{h};
        }
      }
    }
    if (h == 0) {
      // The table is at capacity but other classes hold freed handles.
      h = steal_handle(c);
      if (h == 0) {
        grow_failures.fetch_add(1, std::memory_order_relaxed);
        return Status::no_space("pool handle table is full or cannot be populated");
      }
      continue;
    }
    // Grow without the class lock: populating pages is a system call, and
    // try_alloc() callers of this class should not wait for it.
    Result<uint32_t> page = grow_zspage(c);
    if (!page && place_in_another_shard(c, h, size)) return Handle{h};
    MutexLock l(&c.mu);
    if (!page) {
      handles.push_free(c.free_handles, h);
      return page.status();
    }
    add_zspage(c, *page);
    place(c, *page, h, size);
    return Handle{h};
  }
}

// max_pages or the arena refused c a zspage: a free object in a sibling
// shard is still room, and a write must not fail while the pool has it.
bool Pool::Impl::place_in_another_shard(const SizeClass& c, uint32_t h, uint32_t size) noexcept {
  for (uint32_t s = 1; s < shards; ++s) {
    SizeClass& other = classes[((c.shard + s) % shards) * table.count() + c.table_index];
    MutexLock l(&other.mu);
    uint32_t page = other.fullest_nonfull();
    if (page != kNoPage) {
      place(other, page, h, size);
      return true;
    }
  }
  return false;
}

bool Pool::Impl::charge(uint32_t pages) noexcept {
  uint64_t limit = max_pages.load(std::memory_order_relaxed);
  uint64_t cur = pages_charged.load(std::memory_order_relaxed);
  do {
    if (limit != 0 && cur + pages > limit) return false;
  } while (!pages_charged.compare_exchange_weak(cur, cur + pages, std::memory_order_relaxed));
  return true;
}

Result<uint32_t> Pool::Impl::grow_zspage(SizeClass& c) noexcept {
  uint32_t n = c.geo.pages_per_zspage;
  if (!charge(n)) {
    grow_failures.fetch_add(1, std::memory_order_relaxed);
    return Status::no_space("pool max_pages of " + std::to_string(max_pages.load(std::memory_order_relaxed)) +
                            " reached");
  }
  Result<uint32_t> run = arena.alloc_run(n);
  if (!run) {
    uncharge(n);
    grow_failures.fetch_add(1, std::memory_order_relaxed);
    return run.status();
  }
  carve_zspage(zspages.at(*run), arena.page_address(*run), size_t{n} * kPageSize, c.index, c.geo.size,
               c.geo.objs_per_zspage);
  return *run;
}

void Pool::Impl::add_zspage(SizeClass& c, uint32_t page) noexcept {
  c.link(zspages, page);
  ++c.zspages;
  ++c.generation;
  uint64_t held = pages_held.fetch_add(c.geo.pages_per_zspage, std::memory_order_relaxed) + c.geo.pages_per_zspage;
  uint64_t peak = pages_max.load(std::memory_order_relaxed);
  while (held > peak && !pages_max.compare_exchange_weak(peak, held, std::memory_order_relaxed)) {
  }
}

// ---------------------------------------------------------------------------
// Free
// ---------------------------------------------------------------------------

void Pool::Impl::drop_zspage(SizeClass& c, uint32_t page) noexcept {
  if (zspages.at(page).live) c.unlink(zspages, page);
  --c.zspages;
  ++c.generation;
  pages_held.fetch_sub(c.geo.pages_per_zspage, std::memory_order_relaxed);
}

void Pool::Impl::release_zspage(const ClassGeometry& g, uint32_t page) noexcept {
  size_t bytes = size_t{g.pages_per_zspage} * kPageSize;
  unpoison(arena.page_address(page), bytes);
  arena.free_run(page, g.pages_per_zspage);
  uncharge(g.pages_per_zspage);
}

void Pool::free(Handle h) noexcept {
  Impl& m = *impl_;
  uint32_t index = m.checked_index(h);
  std::atomic<uint64_t>& slot = m.handles.at(index);
  // The size and shard bits never change while the handle lives, and they
  // name the class; the location may change (compaction) until we hold the
  // lock.
  uint64_t e = slot.load(std::memory_order_relaxed);
  if (entry::is_free(e)) pool_fatal("free of handle %u, which is not allocated", index);
  uint32_t size = entry::size(e);
  SizeClass& c = m.class_of_payload(size, entry::shard(e));
  uint32_t empty_page = kNoPage;
  {
    MutexLock l(&c.mu);
    Location loc = entry::location(slot.load(std::memory_order_relaxed));
    ZsPage& z = m.zspages.at(loc.first_page);
    std::byte* p = m.object_address(c.geo, loc);
    poison(p + kObjHeaderSize, c.geo.size - kObjHeaderSize);
    store_word(p, z.free_head);
    z.free_head = loc.obj;
    --z.inuse;
    --c.objs_inuse;
    m.handles.push_free(c.free_handles, index);
    c.count_free(size);
    ++c.generation;
    if (z.inuse == 0) {
      m.drop_zspage(c, loc.first_page);
      empty_page = loc.first_page;
    } else {
      c.regroup(m.zspages, loc.first_page);
    }
  }
  if (empty_page != kNoPage) m.release_zspage(c.geo, empty_page);
}

size_t Pool::object_size(Handle h) const noexcept {
  uint64_t e = impl_->handles.at(impl_->checked_index(h)).load(std::memory_order_relaxed);
  return entry::is_free(e) ? 0 : entry::size(e);
}

// ---------------------------------------------------------------------------
// Map
// ---------------------------------------------------------------------------

Pool::Mapped::Mapped(Mapped&& o) noexcept : pin_(std::exchange(o.pin_, nullptr)), bytes_(o.bytes_) {}

Pool::Mapped::~Mapped() {
  if (pin_ != nullptr) unpin_shared(*pin_);
}

Pool::Mapped Pool::map(Handle h) noexcept {
  Impl& m = *impl_;
  auto [e, z] = pin_current(m.handles.at(m.checked_index(h)), [&](uint64_t value) -> ZsPage& {
    if (entry::is_free(value)) pool_fatal("map of handle %llu, which is not allocated", (unsigned long long)h.value);
    return m.zspages.at(entry::location(value).first_page);
  });
  uint32_t size = entry::size(e);
  const ClassGeometry& g = m.class_of_payload(size, entry::shard(e)).geo;
  std::byte* p = m.object_address(g, entry::location(e)) + g.header_size();
  return Mapped(&z->pin, {p, size});
}

// ---------------------------------------------------------------------------
// Limits and statistics
// ---------------------------------------------------------------------------

void Pool::set_max_pages(size_t pages) noexcept { impl_->max_pages.store(pages, std::memory_order_relaxed); }
size_t Pool::max_pages() const noexcept { return impl_->max_pages.load(std::memory_order_relaxed); }

void Pool::reset_pages_max() noexcept {
  impl_->pages_max.store(impl_->pages_held.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

PoolStats Pool::stats() const noexcept {
  const Impl& m = *impl_;
  PoolStats s;
  s.pages_held = m.pages_held.load(std::memory_order_relaxed);
  s.pages_max = std::max(m.pages_max.load(std::memory_order_relaxed), s.pages_held);
  s.pages_compacted = m.pages_compacted.load(std::memory_order_relaxed);
  s.grow_failures = m.grow_failures.load(std::memory_order_relaxed);
  for (size_t i = 0; i < m.class_count(); ++i) {
    s.objects += m.classes[i].objects.load(std::memory_order_relaxed);
    s.object_bytes += m.classes[i].object_bytes.load(std::memory_order_relaxed);
  }
  return s;
}

// One entry per table class, its shards summed.
std::vector<ClassStats> Pool::class_stats() const {
  const Impl& m = *impl_;
  std::vector<ClassStats> out(m.table.count());
  for (size_t i = 0; i < m.class_count(); ++i) {
    SizeClass& c = m.classes[i];
    MutexLock l(&c.mu);
    ClassStats& s = out[c.table_index];
    s.class_size = c.geo.size;
    s.pages_per_zspage = c.geo.pages_per_zspage;
    s.objs_per_zspage = c.geo.objs_per_zspage;
    s.zspages += c.zspages;
    s.objs_inuse += c.objs_inuse;
    s.objs_allocated += c.zspages * c.geo.objs_per_zspage;
  }
  return out;
}

}  // namespace uzram::pool
