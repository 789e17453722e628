// UnitStore: a Store of multi-page compression units. See unit_store.h for
// the layout and the locking rule.
#include "store/unit_store.h"

#include <bit>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "store/open_parts.h"

namespace uzram::store {
namespace {

constexpr size_t kMaxUnitBytes = UnitStore::kMaxUnitBytes;

// The largest frame a codec may write for `n` bytes: lzo1x's worst case (the
// largest of uzram's codecs); with room for it no codec takes a slow path.
constexpr size_t frame_capacity(size_t n) noexcept { return n + n / 16 + 64 + 3; }

// Per-thread buffers of the largest unit: `bytes` holds a unit's bytes (the
// read-modify-write of a partial write, a partial read), `frame` a unit's
// frame (what compress() writes, and the pieces gathered for decompress()).
// Per thread, so that no lock guards them and no write allocates: 128 KiB +
// 136 KiB for each thread that ever used a unit store.
struct UnitBuffers {
  std::unique_ptr<std::byte[]> bytes;
  std::unique_ptr<std::byte[]> frame;
};

UnitBuffers* thread_buffers() noexcept {
  thread_local UnitBuffers b;
  if (!b.bytes) b.bytes.reset(new (std::nothrow) std::byte[kMaxUnitBytes]);
  if (!b.frame) b.frame.reset(new (std::nothrow) std::byte[frame_capacity(kMaxUnitBytes)]);
  return b.bytes && b.frame ? &b : nullptr;
}

bool same_filled(std::span<const std::byte> bytes, uint64_t* pattern) noexcept {
  if (std::memcmp(bytes.data(), bytes.data() + sizeof(uint64_t), bytes.size() - sizeof(uint64_t)) != 0) return false;
  std::memcpy(pattern, bytes.data(), sizeof(uint64_t));
  return true;
}

void fill_pattern(std::span<std::byte> out, uint64_t pattern) noexcept {
  for (size_t off = 0; off < out.size(); off += sizeof(pattern)) std::memcpy(out.data() + off, &pattern, sizeof(pattern));
}

// The pages of a unit that [in, in + n) covers in part or whole, and whole.
uint32_t pages_touched(size_t in, size_t n) noexcept {
  const size_t first = in / kPageSize;
  const size_t end = (in + n + kPageSize - 1) / kPageSize;
  return static_cast<uint32_t>(((uint64_t{1} << end) - 1) & ~((uint64_t{1} << first) - 1));
}
uint32_t pages_covered(size_t in, size_t n) noexcept {
  const size_t first = (in + kPageSize - 1) / kPageSize;
  const size_t end = (in + n) / kPageSize;
  if (end <= first) return 0;
  return static_cast<uint32_t>(((uint64_t{1} << end) - 1) & ~((uint64_t{1} << first) - 1));
}

void add(std::atomic<uint64_t>& c, int sign, uint64_t v) noexcept {
  if (sign > 0) {
    c.fetch_add(v, std::memory_order_relaxed);
  } else {
    c.fetch_sub(v, std::memory_order_relaxed);
  }
}

Status no_buffers() { return Status::no_space("unit store: no memory for this thread's unit buffers"); }

}  // namespace

// ---------------------------------------------------------------------------
// Creation
// ---------------------------------------------------------------------------

Result<std::unique_ptr<UnitStore>> UnitStore::create(const StoreOptions& options) {
  assert(options.unit_pages > 1 && options.unit_pages <= kMaxUnitPages);
  std::unique_ptr<UnitStore> s(new UnitStore());
  s->disksize_ = options.disksize;
  s->pages_ = options.disksize / kPageSize;
  s->unit_pages_ = options.unit_pages;
  s->units_ = (s->pages_ + s->unit_pages_ - 1) / s->unit_pages_;
  s->unit_table_.reset(new (std::nothrow) Unit[s->units_]);
  s->handles_.reset(new (std::nothrow) pool::Handle[s->pages_]);
  s->stripes_.reset(new (std::nothrow) Stripe[kStripes]);
  if (!s->unit_table_ || !s->handles_ || !s->stripes_) {
    return Status::no_space("cannot allocate the unit table of " + std::to_string(s->units_) + " units");
  }
  Result<std::unique_ptr<pool::Pool>> pool = pool::Pool::create(pool_options_for(options));
  if (!pool) return pool.status().with_context("pool");
  s->pool_ = std::move(*pool);
  s->mem_limit_.store(options.mem_limit, std::memory_order_relaxed);
  Result<std::unique_ptr<codec::StreamPool>> streams = make_streams(options.algorithm, options.streams, "algorithm");
  if (!streams) return streams.status();
  s->streams_ = std::move(*streams);
  return s;
}

// The pool's destructor returns its whole arena; no piece needs freeing.
UnitStore::~UnitStore() = default;

uint32_t UnitStore::pages_of(uint64_t unit) const noexcept {
  const uint64_t first = unit * unit_pages_;
  return static_cast<uint32_t>(std::min<uint64_t>(unit_pages_, pages_ - first));
}

Status UnitStore::check_range(uint64_t offset, uint64_t length) noexcept {
  if (offset <= disksize_ && length <= disksize_ - offset) [[likely]] return Status::ok();
  counters_.invalid_io.fetch_add(1, std::memory_order_relaxed);
  return Status::out_of_range("bytes [" + std::to_string(offset) + ", +" + std::to_string(length) +
                              ") reach past the end of the store (" + std::to_string(disksize_) + " bytes)");
}

// ---------------------------------------------------------------------------
// Contents of one unit
// ---------------------------------------------------------------------------

// The frame is compressed into this thread's buffer and copied into the
// pieces once they exist, never compressed again: the pieces are sized by
// the one result (the seed's rule). A raw unit is copied from `bytes`
// directly, exactly its size into pieces of exactly 4096.
Result<UnitStore::Content> UnitStore::prepare(std::span<const std::byte> bytes, uint32_t present) noexcept {
  Content c;
  uint64_t pattern;
  if (same_filled(bytes, &pattern)) {
    c.word = UnitWord::make(Kind::kSame, present, 0, 0);
    c.pattern = pattern;
    return c;
  }
  UnitBuffers* b = thread_buffers();
  if (b == nullptr) {
    counters_.failed_writes.fetch_add(1, std::memory_order_relaxed);
    return no_buffers();
  }
  size_t len;
  {
    codec::StreamGuard stream = streams_->acquire();
    len = stream.ctx().compress(bytes, {b->frame.get(), frame_capacity(bytes.size())});
  }
  Kind kind = Kind::kCompressed;
  const std::byte* src = b->frame.get();
  if (len == 0 || len > bytes.size() - kRawMargin) {
    kind = Kind::kRaw;
    len = bytes.size();
    src = bytes.data();
  }
  const uint32_t pieces = static_cast<uint32_t>((len + kPageSize - 1) / kPageSize);
  for (uint32_t i = 0; i < pieces; ++i) {
    const size_t n = std::min(kPageSize, len - size_t{i} * kPageSize);
    Result<pool::Handle> h = pool_->alloc(n);
    if (!h) {
      for (uint32_t j = 0; j < i; ++j) pool_->free(c.pieces[j]);
      counters_.failed_writes.fetch_add(1, std::memory_order_relaxed);
      return h.status().with_context("write");
    }
    std::memcpy(pool_->map(*h).bytes().data(), src + size_t{i} * kPageSize, n);
    c.pieces[i] = *h;
  }
  c.word = UnitWord::make(kind, present, pieces, static_cast<uint32_t>(len));
  return c;
}

UnitStore::Content UnitStore::publish(uint64_t unit, const Content& next) noexcept {
  Unit& u = unit_table_[unit];
  pool::Handle* handles = &handles_[unit * unit_pages_];
  Content old;
  old.word = UnitWord{u.word.load(std::memory_order_relaxed)};
  old.pattern = u.pattern.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < old.word.pieces(); ++i) old.pieces[i] = handles[i];
  for (uint32_t i = 0; i < next.word.pieces(); ++i) handles[i] = next.pieces[i];
  u.pattern.store(next.pattern, std::memory_order_relaxed);
  u.word.store(next.word.bits, std::memory_order_relaxed);
  account(old.word, -1);
  account(next.word, +1);
  return old;
}

void UnitStore::release(const Content& old) noexcept {
  for (uint32_t i = 0; i < old.word.pieces(); ++i) pool_->free(old.pieces[i]);
}

Status UnitStore::load(uint64_t unit, std::span<std::byte> out) noexcept {
  assert(out.size() == bytes_of(unit));
  const UnitWord w{unit_table_[unit].word.load(std::memory_order_relaxed)};
  const pool::Handle* handles = &handles_[unit * unit_pages_];
  switch (w.kind()) {
    case Kind::kEmpty:
      std::memset(out.data(), 0, out.size());
      return Status::ok();
    case Kind::kSame:
      fill_pattern(out, unit_table_[unit].pattern.load(std::memory_order_relaxed));
      break;
    case Kind::kRaw:
      for (uint32_t i = 0; i < w.pieces(); ++i) {
        std::memcpy(out.data() + size_t{i} * kPageSize, pool_->map(handles[i]).bytes().data(), kPageSize);
      }
      break;
    case Kind::kCompressed: {
      UnitBuffers* b = thread_buffers();
      if (b == nullptr) {
        counters_.failed_reads.fetch_add(1, std::memory_order_relaxed);
        return no_buffers();
      }
      for (uint32_t i = 0; i < w.pieces(); ++i) {
        const pool::Pool::Mapped piece = pool_->map(handles[i]);
        std::memcpy(b->frame.get() + size_t{i} * kPageSize, piece.bytes().data(), piece.bytes().size());
      }
      codec::StreamGuard stream = streams_->acquire();
      if (!stream.ctx().decompress({b->frame.get(), w.length()}, out)) [[unlikely]] {
        counters_.failed_reads.fetch_add(1, std::memory_order_relaxed);
        return Status::corrupt("unit " + std::to_string(unit) + ": " + std::to_string(w.length()) +
                               " stored bytes do not decompress to its " + std::to_string(out.size()) + " bytes");
      }
      break;
    }
  }
  const uint32_t missing = static_cast<uint32_t>(~uint64_t{w.present()} & ((uint64_t{1} << pages_of(unit)) - 1));
  for (uint32_t i = 0; i < pages_of(unit); ++i) {
    if (missing >> i & 1) std::memset(out.data() + size_t{i} * kPageSize, 0, kPageSize);
  }
  return Status::ok();
}

uint32_t UnitStore::keep_present(uint64_t unit, uint32_t keep, Content* old) noexcept {
  Unit& u = unit_table_[unit];
  const UnitWord w{u.word.load(std::memory_order_relaxed)};
  if (w.kind() == Kind::kEmpty) return 0;
  const uint32_t now = w.present() & keep;
  const uint32_t dropped = static_cast<uint32_t>(std::popcount(w.present() & ~keep));
  if (dropped == 0) return 0;
  if (now == 0) {
    *old = publish(unit, Content{});
  } else {
    const UnitWord next = w.with_present(now);
    u.word.store(next.bits, std::memory_order_relaxed);
    account(w, -1);
    account(next, +1);
  }
  return dropped;
}

Status UnitStore::write_unit(uint64_t unit, size_t in, std::span<const std::byte> data) noexcept {
  const size_t size = bytes_of(unit);
  assert(in + data.size() <= size && !data.empty());
  Content old;
  if (in == 0 && data.size() == size) {
    Result<Content> next = prepare(data, static_cast<uint32_t>((uint64_t{1} << pages_of(unit)) - 1));
    if (!next) return next.status();
    MutexLock lock(&stripe(unit));
    old = publish(unit, *next);
  } else {
    UnitBuffers* b = thread_buffers();
    if (b == nullptr) return no_buffers();
    const std::span<std::byte> bytes{b->bytes.get(), size};
    MutexLock lock(&stripe(unit));
    UZRAM_RETURN_IF_ERROR(load(unit, bytes));
    std::memcpy(bytes.data() + in, data.data(), data.size());
    const uint32_t present = UnitWord{unit_table_[unit].word.load(std::memory_order_relaxed)}.present() |
                             pages_touched(in, data.size());
    Result<Content> next = prepare(bytes, present);
    if (!next) return next.status();
    old = publish(unit, *next);
  }
  release(old);
  return Status::ok();
}

Status UnitStore::zero_unit(uint64_t unit, size_t in, size_t n) noexcept {
  const uint32_t whole = pages_covered(in, n);
  const uint32_t partial = pages_touched(in, n) & ~whole;
  Content old;
  uint32_t dropped = 0;
  {
    MutexLock lock(&stripe(unit));
    const UnitWord w{unit_table_[unit].word.load(std::memory_order_relaxed)};
    if (w.kind() != Kind::kEmpty && (w.present() & partial) != 0) {
      // Part of a present page changes: the unit is rewritten.
      UnitBuffers* b = thread_buffers();
      if (b == nullptr) return no_buffers();
      const std::span<std::byte> bytes{b->bytes.get(), bytes_of(unit)};
      UZRAM_RETURN_IF_ERROR(load(unit, bytes));
      std::memset(bytes.data() + in, 0, n);
      dropped = static_cast<uint32_t>(std::popcount(w.present() & whole));
      Result<Content> next = prepare(bytes, w.present() & ~whole);
      if (!next) return next.status();
      old = publish(unit, *next);
    } else {
      dropped = keep_present(unit, ~whole, &old);
    }
  }
  release(old);
  counters_.notify_free.fetch_add(dropped, std::memory_order_relaxed);
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Pages and byte ranges
// ---------------------------------------------------------------------------

Status UnitStore::write(PageIndex index, PageView page) noexcept {
  if (index >= pages_) [[unlikely]] {
    counters_.invalid_io.fetch_add(1, std::memory_order_relaxed);
    return Status::out_of_range("write: page " + std::to_string(index) + " is past the end (" +
                                std::to_string(pages_) + " pages)");
  }
  return write_unit(index / unit_pages_, (index % unit_pages_) * kPageSize, page);
}

Status UnitStore::read(PageIndex index, PageBuffer out) noexcept {
  if (index >= pages_) [[unlikely]] {
    counters_.invalid_io.fetch_add(1, std::memory_order_relaxed);
    return Status::out_of_range("read: page " + std::to_string(index) + " is past the end (" +
                                std::to_string(pages_) + " pages)");
  }
  return read_bytes(index * kPageSize, out);
}

Status UnitStore::write_bytes(uint64_t offset, std::span<const std::byte> data) noexcept {
  UZRAM_RETURN_IF_ERROR(check_range(offset, data.size()));
  const uint64_t unit_bytes = uint64_t{unit_pages_} * kPageSize;
  for (size_t pos = 0; pos < data.size();) {
    const uint64_t unit = (offset + pos) / unit_bytes;
    const size_t in = static_cast<size_t>(offset + pos - unit * unit_bytes);
    const size_t n = std::min(bytes_of(unit) - in, data.size() - pos);
    UZRAM_RETURN_IF_ERROR(write_unit(unit, in, data.subspan(pos, n)));
    pos += n;
  }
  return Status::ok();
}

Status UnitStore::read_bytes(uint64_t offset, std::span<std::byte> out) noexcept {
  UZRAM_RETURN_IF_ERROR(check_range(offset, out.size()));
  const uint64_t unit_bytes = uint64_t{unit_pages_} * kPageSize;
  for (size_t pos = 0; pos < out.size();) {
    const uint64_t unit = (offset + pos) / unit_bytes;
    const size_t in = static_cast<size_t>(offset + pos - unit * unit_bytes);
    const size_t size = bytes_of(unit);
    const size_t n = std::min(size - in, out.size() - pos);
    if (n == size) {  // the whole unit: straight into the caller's buffer
      MutexLock lock(&stripe(unit));
      UZRAM_RETURN_IF_ERROR(load(unit, out.subspan(pos, n)));
    } else {
      UnitBuffers* b = thread_buffers();
      if (b == nullptr) return no_buffers();
      MutexLock lock(&stripe(unit));
      UZRAM_RETURN_IF_ERROR(load(unit, {b->bytes.get(), size}));
      std::memcpy(out.data() + pos, b->bytes.get() + in, n);
    }
    pos += n;
  }
  return Status::ok();
}

Status UnitStore::zero_bytes(uint64_t offset, uint64_t length) noexcept {
  UZRAM_RETURN_IF_ERROR(check_range(offset, length));
  const uint64_t unit_bytes = uint64_t{unit_pages_} * kPageSize;
  for (uint64_t pos = 0; pos < length;) {
    const uint64_t unit = (offset + pos) / unit_bytes;
    const size_t in = static_cast<size_t>(offset + pos - unit * unit_bytes);
    const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes_of(unit) - in, length - pos));
    UZRAM_RETURN_IF_ERROR(zero_unit(unit, in, n));
    pos += n;
  }
  return Status::ok();
}

Status UnitStore::discard(PageIndex index, uint64_t count) noexcept {
  if (index > pages_ || count > pages_ - index) {
    counters_.invalid_io.fetch_add(1, std::memory_order_relaxed);
    return Status::out_of_range("discard: pages [" + std::to_string(index) + ", +" + std::to_string(count) +
                                ") reach past the end (" + std::to_string(pages_) + " pages)");
  }
  for (uint64_t page = index; page < index + count;) {
    const uint64_t unit = page / unit_pages_;
    const uint64_t first = page - unit * unit_pages_;
    const uint64_t end = std::min<uint64_t>(pages_of(unit), first + (index + count - page));
    const uint32_t mask = static_cast<uint32_t>(((uint64_t{1} << end) - 1) & ~((uint64_t{1} << first) - 1));
    Content old;
    uint32_t dropped;
    {
      MutexLock lock(&stripe(unit));
      dropped = keep_present(unit, ~mask, &old);
    }
    release(old);
    counters_.notify_free.fetch_add(dropped, std::memory_order_relaxed);
    page = unit * unit_pages_ + end;
  }
  return Status::ok();
}

bool UnitStore::is_empty(PageIndex index) const noexcept {
  if (index >= pages_) return true;
  const UnitWord w{unit_table_[index / unit_pages_].word.load(std::memory_order_relaxed)};
  return w.kind() == Kind::kEmpty || (w.present() >> (index % unit_pages_) & 1) == 0;
}

bool UnitStore::is_zero(PageIndex index) const noexcept {
  if (is_empty(index)) return true;
  const Unit& u = unit_table_[index / unit_pages_];
  return UnitWord{u.word.load(std::memory_order_relaxed)}.kind() == Kind::kSame &&
         u.pattern.load(std::memory_order_relaxed) == 0;
}

// ---------------------------------------------------------------------------
// What a unit store does not have
// ---------------------------------------------------------------------------

uint64_t UnitStore::mark_idle(uint64_t) noexcept { return 0; }

Result<uint64_t> UnitStore::recompress(const RecompressOptions&) noexcept {
  return Status::unsupported("recompression needs unit_pages 1 (this store compresses units of " +
                             std::to_string(unit_pages_) + " pages)");
}

Status UnitStore::set_backing_file(std::string_view) noexcept {
  return Status::unsupported("a backing file needs unit_pages 1 (this store compresses units of " +
                             std::to_string(unit_pages_) + " pages)");
}

void UnitStore::set_writeback_limit(bool enabled, uint64_t pages) noexcept {
  writeback_limit_.store(enabled ? pages : 0, std::memory_order_relaxed);
}

uint64_t UnitStore::writeback_limit() const noexcept { return writeback_limit_.load(std::memory_order_relaxed); }

Result<uint64_t> UnitStore::writeback(const WritebackOptions&) noexcept {
  return Status::unsupported("writeback needs unit_pages 1 (this store has no backing file)");
}

// ---------------------------------------------------------------------------
// Statistics and invariants
// ---------------------------------------------------------------------------

void UnitStore::account(UnitWord w, int sign) noexcept {
  if (w.kind() == Kind::kEmpty) return;
  const uint32_t pages = static_cast<uint32_t>(std::popcount(w.present()));
  add(counters_.pages_stored, sign, pages);
  if (w.kind() == Kind::kSame) {
    add(counters_.same_pages, sign, pages);
    return;
  }
  add(counters_.compr_data_size, sign, w.length());
  if (w.kind() == Kind::kRaw) {
    add(counters_.huge_pages, sign, pages);
    if (sign > 0) counters_.huge_pages_since.fetch_add(pages, std::memory_order_relaxed);
  }
}

void UnitStore::set_mem_limit(uint64_t bytes) noexcept {
  mem_limit_.store(bytes, std::memory_order_relaxed);
  pool_->set_max_pages(static_cast<size_t>((bytes + kPageSize - 1) / kPageSize));
}

StoreStats UnitStore::stats() const noexcept {
  StoreStats s = stats_from(counters_, pool_->stats(), mem_limit_.load(std::memory_order_relaxed));
  s.slots = pages_;
  s.slot_table_bytes = units_ * sizeof(Unit) + pages_ * sizeof(pool::Handle);
  return s;
}

void UnitStore::check_invariants() const {
  const auto fail = [](const std::string& what) {
    std::fprintf(stderr, "uzram unit store: invariant broken: %s\n", what.c_str());
    std::abort();
  };
  uint64_t stored = 0, same = 0, raw = 0, bytes = 0, pieces = 0;
  for (uint64_t unit = 0; unit < units_; ++unit) {
    const UnitWord w{unit_table_[unit].word.load(std::memory_order_relaxed)};
    const uint32_t present = static_cast<uint32_t>(std::popcount(w.present()));
    if (w.kind() == Kind::kEmpty) {
      if (w.bits != 0) fail("empty unit " + std::to_string(unit) + " has a non-zero word");
      continue;
    }
    if (present == 0) fail("unit " + std::to_string(unit) + " is kept with no page present");
    if (uint64_t{w.present()} >> pages_of(unit) != 0) fail("unit " + std::to_string(unit) + " has pages past its end");
    stored += present;
    if (w.kind() == Kind::kSame) {
      same += present;
      if (w.pieces() != 0) fail("same-filled unit " + std::to_string(unit) + " has pieces");
      continue;
    }
    if (w.kind() == Kind::kRaw) raw += present;
    if (w.pieces() != (w.length() + kPageSize - 1) / kPageSize || w.pieces() > pages_of(unit)) {
      fail("unit " + std::to_string(unit) + ": " + std::to_string(w.pieces()) + " pieces for " +
           std::to_string(w.length()) + " bytes");
    }
    bytes += w.length();
    pieces += w.pieces();
    for (uint32_t i = 0; i < w.pieces(); ++i) {
      const size_t want = std::min<size_t>(kPageSize, w.length() - size_t{i} * kPageSize);
      if (pool_->object_size(handles_[unit * unit_pages_ + i]) != want) {
        fail("unit " + std::to_string(unit) + ": piece " + std::to_string(i) + " has the wrong size");
      }
    }
  }
  const auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  if (stored != get(counters_.pages_stored)) fail("pages_stored differs from the present pages");
  if (same != get(counters_.same_pages)) fail("same_pages differs from the units");
  if (raw != get(counters_.huge_pages)) fail("huge_pages differs from the raw units");
  if (bytes != get(counters_.compr_data_size)) fail("compr_data_size differs from the units' lengths");
  const pool::PoolStats ps = pool_->stats();
  if (ps.objects != pieces) fail("the pool holds " + std::to_string(ps.objects) + " objects for " +
                                 std::to_string(pieces) + " pieces");
  if (ps.object_bytes != bytes) fail("the pool's object bytes differ from the units' lengths");
  pool_->check_invariants();
}

}  // namespace uzram::store
