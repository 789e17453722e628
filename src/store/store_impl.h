// File: src/store/store_impl.h
//
// StoreImpl: the zram core behind uzram::Store (include/uzram/store.h). It
// joins the slot table (slot_table.h), the pool (pool/pool.h), per-CPU
// compression streams for the primary and up to three recompression codecs
// (codec/per_cpu_streams.h) and an optional backing file (writeback.h).
//
// The code is split by path: store_write.cc (prepare, publish, release,
// discard), store_read.cc, byte_range.cc, idle_recompress.cc, writeback.cc,
// stats.cc, open.cc (validation and construction).
//
// Thread safety: every public method is thread-safe. Per-page work is
// serialized by the slot lock (entry locking rules in slot_table.h);
// writeback() and set_backing_file() are serialized by wb_mu_, the outermost
// lock. Statistics are relaxed atomics, read without a lock.
//
// Invariants (check_invariants() verifies them when the store is quiet):
//   - counters_.pages_stored == stored slots; same_pages, huge_pages,
//     bd_count, incompressible_pages == slots with that state;
//   - counters_.compr_data_size == sum of the sizes of slots in the pool ==
//     the pool's object_bytes; the pool's objects == slots in the pool;
//   - the backing bitmap's used blocks == bd_count when no writeback runs.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "base/thread_annotations.h"
#include "codec/codec.h"
#include "codec/per_cpu_streams.h"
#include "pool/pool.h"
#include "store/backing_file.h"
#include "store/counters.h"
#include "store/slot_table.h"
#include "store/writeback.h"
#include "uzram/store.h"

namespace uzram::store {

class WritebackBatch;  // writeback.cc

// What tests and tools may see of one slot: a lock-free snapshot.
struct SlotInfo {
  bool stored = false;
  bool same = false;
  bool huge = false;
  bool idle = false;
  bool writeback = false;
  bool wb_compressed = false;
  bool incompressible = false;
  uint32_t size = 0;      // bytes of the object (see slot_table.h)
  uint32_t priority = 0;  // codec that compressed it: 0 primary, 1..3 recompression
  uint32_t atime = 0;     // seconds since open, by the store's clock
};

class StoreImpl final : public Store {
 public:
  // Validates the options (kInvalidArgument with a message naming the
  // option) and builds the store. Store::open() calls this.
  static Result<std::unique_ptr<StoreImpl>> create(const StoreOptions& options);
  ~StoreImpl() override;

  uint64_t disksize() const noexcept override { return disksize_; }
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

  uint64_t compact() noexcept override;
  void set_mem_limit(uint64_t bytes) noexcept override;
  void reset_mem_used_max() noexcept override;
  StoreStats stats() const noexcept override;

  // ---- internals for tests and tools ------------------------------------------
  SlotInfo slot_info(PageIndex index) const noexcept;
  pool::Pool& pool() noexcept { return *pool_; }
  // The fake clock: moves the store's notion of "now" forward (idle tests).
  void advance_clock(uint32_t seconds) noexcept { clock_skew_.fetch_add(seconds, std::memory_order_relaxed); }
  // Seconds since open, by the store's clock (the slots' access times).
  uint32_t now() const noexcept;
  // Uses `device` for writeback, as set_backing_file() does with the file it
  // opens; tests pass a fake. kBusy while slots live on the current one.
  Status set_backing_device(std::unique_ptr<BackingDevice> device) noexcept;
  uint64_t backing_blocks_used() const noexcept;
  // Aborts with a message when an invariant (see above) is broken, including
  // the pool's. REQUIRES: no other operation runs on the store.
  void check_invariants() const;

 private:
  StoreImpl() = default;

  // ---- write path (store_write.cc) ----
  // Builds the new state of a page without any slot lock: same-filled, or an
  // object allocated and filled. Counts failed_writes on kNoSpace.
  Result<SlotState> prepare(PageView page) noexcept;
  [[gnu::noinline]] Result<SlotState> prepare_slow(codec::StreamGuard& stream, size_t len) noexcept;
  [[gnu::noinline]] Result<SlotState> prepare_huge(PageView page) noexcept;
  Result<pool::Handle> alloc_object(size_t size) noexcept;
  bool inject_fast_path_failure() const noexcept;
  // Swaps `next` into the locked slot (access time now, idle clear); returns
  // the old state, which the caller passes to release() after unlocking.
  SlotState publish(SlotLock& lock, SlotState next) noexcept;
  // Frees what an old state held (pool object or backing block) and takes it
  // out of the counters. REQUIRES: the state is unreachable (slot unlocked).
  void release(const SlotState& old) noexcept;
  Status write_page(PageIndex index, PageView page) noexcept;
  bool discard_slot(PageIndex index) noexcept;  // true if it held a page

  // ---- read path (store_read.cc) ----
  // Decodes a slot's state into a page. REQUIRES: the slot's lock is held.
  Status load(const SlotState& state, PageIndex index, PageBuffer out) noexcept;
  Status decompress(uint32_t priority, std::span<const std::byte> src, PageIndex index, PageBuffer out) noexcept;
  Status read_backing(const SlotState& state, PageIndex index, PageBuffer out) noexcept;

  // ---- byte ranges (byte_range.cc) ----
  Status check_range(uint64_t offset, uint64_t length) noexcept;
  // Read-modify-write of part of one page under its lock: copies `src` over
  // [offset, offset + n), or zeroes that range when src is null.
  Status modify_page(PageIndex index, size_t offset, size_t n, const std::byte* src) noexcept;

  // ---- recompression (idle_recompress.cc) ----
  bool recompress_candidate(SlotWord w, const RecompressOptions& options, uint32_t top) const noexcept;
  // Recompresses one locked-and-selected slot. Returns true when it shrank.
  Result<bool> recompress_slot(SlotLock& lock, PageIndex index, const RecompressOptions& options, uint32_t top) noexcept;

  // ---- writeback (writeback.cc) ----
  // Pages writeback may still write now: what is left of max_pages (0 = no
  // budget) and of the writeback limit when enabled.
  uint64_t writeback_budget(uint64_t max_pages, uint64_t written) const noexcept;
  void take_writeback_limit() noexcept;
  // Fills a batch with up to `budget` selected slots from *cursor on: marks
  // each kUnderWriteback, copies it out and gives it a block. Sets *full when
  // the backing file has no free block.
  void collect(WritebackBatch& batch, Backing& backing, const WritebackOptions& options, PageIndex* cursor,
               uint64_t budget, bool* full) noexcept;
  // After the batch is on the file: moves each slot still kUnderWriteback to
  // its block and frees its object. Returns the pages moved.
  uint64_t commit(WritebackBatch& batch, Backing& backing) noexcept;
  // After a failed write: clears the marks and frees the blocks.
  void abort(WritebackBatch& batch, Backing& backing) noexcept;

  // ---- statistics (stats.cc) ----
  void account(SlotWord w, int sign) noexcept;

  // Read-mostly after create().
  uint64_t disksize_ = 0;
  std::unique_ptr<SlotTable> table_;
  std::unique_ptr<pool::Pool> pool_;
  size_t huge_size_ = kPageSize;  // pool_->huge_class_size()
  // streams_[0]: the primary codec; [1..3]: recompression by priority (null
  // when that priority is not configured).
  std::array<std::unique_ptr<codec::StreamPool>, kMaxPriority + 1> streams_;
  uint32_t top_priority_ = 0;  // highest configured recompression priority, 0 if none
  double inject_rate_ = 0.0;
  int64_t epoch_ = 0;  // coarse monotonic seconds at open

  alignas(64) std::atomic<uint32_t> clock_skew_{0};
  std::atomic<uint64_t> mem_limit_{0};

  StoreCounters counters_;

  // Serializes writeback() and set_backing_file(); outermost lock.
  mutable Mutex wb_mu_;
  std::unique_ptr<Backing> backing_ UZRAM_GUARDED_BY(wb_mu_);  // owner
  // The same object for the read and discard paths, which load it only for a
  // slot that is on it (kWriteback under the slot lock, or just released from
  // it): such a slot keeps bd_count above zero, and the device is replaced
  // only when bd_count is zero, so it never changes under them.
  std::atomic<Backing*> backing_ptr_{nullptr};

  mutable Mutex wb_limit_mu_;  // zram's wb_limit_lock; a leaf
  bool wb_limit_enabled_ UZRAM_GUARDED_BY(wb_limit_mu_) = false;
  uint64_t wb_limit_pages_ UZRAM_GUARDED_BY(wb_limit_mu_) = 0;
};

}  // namespace uzram::store
