// File: src/store/unit_store.h
//
// UnitStore: the Store that StoreOptions::unit_pages > 1 opens. It compresses
// a run of unit_pages pages (a "unit", 8..128 KiB) as one codec frame instead
// of each 4 KiB page on its own: the trade nbdkit's memory plugin makes with
// 32 KiB pages, and the one zram has grown for large folios. For a block
// device read and written in large requests (nbdcopy, qemu-img, a file
// system's extents) it buys speed and ratio at once: zstd's cost is largely
// per frame, so on a Python heap zstd-3 compresses 32 KiB units 1.3x faster
// per core than 4 KiB pages, decompresses them 1.6x faster and stores them
// 5 % smaller (docs/BENCHMARKS.md). What it costs: a write of part of a unit
// reads, changes and recompresses the whole unit, and a read of one page
// decompresses its whole unit. Keep unit_pages 1 for random 4 KiB traffic.
//
// Layout. Unit u covers pages [u * N, u * N + N), N = unit_pages; the last
// unit is shorter when disksize is not a multiple of the unit. A unit is one
// of:
//   empty       no memory; reads as zeros;
//   same-filled its bytes are one repeated 8-byte word: no memory;
//   compressed  its frame lives in the pool as a chain of pieces: every
//               piece but the last is a 4096-byte object (one page of the
//               pool's huge class, nothing wasted), the last holds the rest;
//   raw         it did not compress below its size less kRawMargin bytes:
//               its pages are kept as they are, one 4096-byte piece each.
// Piece handles sit in a table of one handle per page of the disk: unit u's
// pieces are handles_[u * N ..], so a unit never has more pieces than pages.
//
// Pages present. Bit i of a unit's state word says that page i of the unit
// holds data (was written, and not discarded since). A page not present
// reads as zeros whatever the unit's bytes hold there. So discarding some
// pages of a unit only clears their bits; the unit's memory goes when its
// last present page is discarded or the unit is rewritten. orig_data_size,
// same_pages and huge_pages count present pages, as zram counts slots.
//
// Thread safety: every method is thread-safe.
// Locking rule: one mutex per stripe of units (unit % kStripes) guards those
// units' state words, patterns and piece handles. It is held to read a unit
// (copying its pieces and decompressing them) and across the whole
// read-modify-write of a partial write (decompression, compression and pool
// alloc(), which may grow the pool), as StoreImpl holds a slot lock; a write
// of a whole unit compresses and allocates first and holds the stripe only
// to swap the state in. A thread holds at most one stripe at a time; codec
// streams (leaves) and pool locks are taken inside it, never the reverse.
// The state word and the pattern are atomics so that is_empty() and
// is_zero() can read them without the lock, as the hints the Store contract
// allows. The fields are guarded by this rule rather than UZRAM_GUARDED_BY,
// which cannot name a stripe chosen at run time. Statistics are relaxed
// atomics.
//
// Invariants (check_invariants() verifies them when the store is quiet):
//   - pages_stored == present pages of non-empty units; same_pages, and
//     huge_pages, == present pages of same-filled, and raw, units;
//   - compr_data_size == sum of the lengths of compressed and raw units ==
//     the pool's object_bytes; the pool's objects == the pieces of all units;
//   - a unit's piece count is ceil(length / 4096), at most its pages.
//
// A unit store has no idle tracking, recompression, writeback or backing
// file: those calls return kUnsupported, and mark_idle() marks nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "base/thread_annotations.h"
#include "codec/per_cpu_streams.h"
#include "pool/pool.h"
#include "store/counters.h"
#include "uzram/store.h"

namespace uzram::store {

class UnitStore final : public Store {
 public:
  static constexpr uint32_t kMaxUnitPages = 32;
  static constexpr size_t kMaxUnitBytes = size_t{kMaxUnitPages} * kPageSize;
  // A unit whose frame is longer than its size less this is kept raw: it
  // would save under an eighth of a page and cost a decompression per read.
  static constexpr size_t kRawMargin = kPageSize / 8;

  // REQUIRES: options were validated (Store::open does) and unit_pages > 1.
  static Result<std::unique_ptr<UnitStore>> create(const StoreOptions& options);
  ~UnitStore() override;

  uint64_t disksize() const noexcept override { return disksize_; }
  // It compresses from the caller's buffer: the bytes must not change while
  // write_bytes() runs (a change can only pick which version is stored).
  bool stable_writes() const noexcept override { return true; }

  Status write(PageIndex index, PageView page) noexcept override;
  Status read(PageIndex index, PageBuffer out) noexcept override;
  Status discard(PageIndex index, uint64_t count = 1) noexcept override;
  bool is_empty(PageIndex index) const noexcept override;
  bool is_zero(PageIndex index) const noexcept override;

  Status write_bytes(uint64_t offset, std::span<const std::byte> data) noexcept override;
  Status read_bytes(uint64_t offset, std::span<std::byte> out) noexcept override;
  Status zero_bytes(uint64_t offset, uint64_t length) noexcept override;

  uint64_t mark_idle(uint64_t age_seconds = 0) noexcept override;
  Result<uint64_t> recompress(const RecompressOptions& options) noexcept override;
  Status set_backing_file(std::string_view path) noexcept override;
  void set_writeback_limit(bool enabled, uint64_t pages) noexcept override;
  uint64_t writeback_limit() const noexcept override;
  Result<uint64_t> writeback(const WritebackOptions& options) noexcept override;

  uint64_t compact() noexcept override { return pool_->compact(); }
  void set_mem_limit(uint64_t bytes) noexcept override;
  void reset_mem_used_max() noexcept override { pool_->reset_pages_max(); }
  StoreStats stats() const noexcept override;

  // ---- for tests ---------------------------------------------------------------
  uint32_t unit_pages() const noexcept { return unit_pages_; }
  pool::Pool& pool() noexcept { return *pool_; }
  // Aborts with a message when an invariant (see above) is broken, including
  // the pool's. REQUIRES: no other operation runs on the store.
  void check_invariants() const;

 private:
  enum class Kind : uint8_t { kEmpty = 0, kSame = 1, kCompressed = 2, kRaw = 3 };

  // A unit's state word: bits 0..1 kind, 2..33 pages present, 34..39
  // pieces, 40..58 length in bytes of its frame (raw: of its pages).
  struct UnitWord {
    uint64_t bits = 0;
    static UnitWord make(Kind kind, uint32_t present, uint32_t pieces, uint32_t length) noexcept {
      return {uint64_t(kind) | uint64_t(present) << 2 | uint64_t(pieces) << 34 | uint64_t(length) << 40};
    }
    Kind kind() const noexcept { return static_cast<Kind>(bits & 3); }
    uint32_t present() const noexcept { return static_cast<uint32_t>(bits >> 2); }
    uint32_t pieces() const noexcept { return static_cast<uint32_t>(bits >> 34) & 0x3F; }
    uint32_t length() const noexcept { return static_cast<uint32_t>(bits >> 40) & 0x7FFFF; }
    UnitWord with_present(uint32_t p) const noexcept { return make(kind(), p, pieces(), length()); }
  };

  struct Unit {
    std::atomic<uint64_t> word{0};     // UnitWord
    std::atomic<uint64_t> pattern{0};  // the word of a same-filled unit
  };

  // A unit's contents as prepared before they are swapped in.
  struct Content {
    UnitWord word;
    uint64_t pattern = 0;
    pool::Handle pieces[kMaxUnitPages];
  };

  static constexpr size_t kStripes = 512;
  struct alignas(64) Stripe {
    Mutex mu;
  };

  UnitStore() = default;

  uint64_t units() const noexcept { return units_; }
  uint32_t pages_of(uint64_t unit) const noexcept;  // unit_pages_, or fewer for the last unit
  size_t bytes_of(uint64_t unit) const noexcept { return size_t{pages_of(unit)} * kPageSize; }
  Mutex& stripe(uint64_t unit) const noexcept { return stripes_[unit % kStripes].mu; }
  Status check_range(uint64_t offset, uint64_t length) noexcept;

  // Builds a unit's new contents from `bytes` (its whole size) without any
  // lock: same-filled, or compressed (else raw) into newly allocated pieces.
  // kNoSpace when the pool refuses the memory (failed_writes counts it).
  Result<Content> prepare(std::span<const std::byte> bytes, uint32_t present) noexcept;
  // Swaps `next` into the unit. REQUIRES: the unit's stripe is held.
  // Returns the old contents, which release() frees after the unlock.
  Content publish(uint64_t unit, const Content& next) noexcept;
  // Frees the pieces of contents no unit refers to any more.
  void release(const Content& old) noexcept;
  // Fills `out` (bytes_of(unit) bytes) with the unit's bytes, zeros for the
  // pages not present. REQUIRES: the unit's stripe is held.
  Status load(uint64_t unit, std::span<std::byte> out) noexcept;
  // Writes [in, in + data.size()) of one unit, reading the rest of the unit
  // back first unless data covers it all.
  Status write_unit(uint64_t unit, size_t in, std::span<const std::byte> data) noexcept;
  // Zeroes [in, in + n) of one unit: whole pages stop being present, a part
  // of a present page is rewritten as zeros.
  Status zero_unit(uint64_t unit, size_t in, size_t n) noexcept;
  // Leaves only `keep` of the unit's pages present; frees it when none is.
  // Returns the pages that stopped being present. REQUIRES: its stripe held.
  uint32_t keep_present(uint64_t unit, uint32_t keep, Content* old) noexcept;
  void account(UnitWord w, int sign) noexcept;

  // Read-mostly after create().
  uint64_t disksize_ = 0;
  uint64_t pages_ = 0;
  uint64_t units_ = 0;
  uint32_t unit_pages_ = 0;
  std::unique_ptr<Unit[]> unit_table_;          // [units_]; see the locking rule
  std::unique_ptr<pool::Handle[]> handles_;     // [pages_]; see the locking rule
  std::unique_ptr<pool::Pool> pool_;
  std::unique_ptr<codec::StreamPool> streams_;
  mutable std::unique_ptr<Stripe[]> stripes_;   // [kStripes]

  std::atomic<uint64_t> mem_limit_{0};
  std::atomic<uint64_t> writeback_limit_{0};    // kept for writeback_limit(); nothing to limit

  StoreCounters counters_;  // recomp_*, incompressible_pages and bd_* stay 0
};

}  // namespace uzram::store
