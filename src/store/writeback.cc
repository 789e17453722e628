// Writeback to a backing file or block device (zram's writeback), and the
// backing block bitmap.
//
// Lock order: wb_mu_ (one writeback or set_backing_file at a time) -> slot
// lock -> Backing::mu_ (leaf). The I/O itself runs with no slot lock held:
// a slot is marked kUnderWriteback, copied out and unlocked; after the write,
// each slot is locked again and moved to the file only if the mark is still
// there. Every change of a slot's content builds a new word without the mark
// (publish, discard), and recompression skips marked slots, so a mark that
// survived means the file holds exactly what the slot held.
//
// Why the backing pointer needs no lock on the read path: see backing_ptr_
// in store_impl.h. The chain that makes it safe: release() returns a slot's
// block and only then decrements bd_count (release order);
// set_backing_device() replaces the device only after reading bd_count == 0
// (acquire) under wb_mu_, and only writeback (under wb_mu_) puts slots on it.
#include "store/writeback.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "store/store_impl.h"

namespace uzram::store {

// ---- Backing -----------------------------------------------------------------

Backing::Backing(std::unique_ptr<BackingDevice> device) : device_(std::move(device)) {
  MutexLock l(&mu_);
  bitmap_.assign((device_->blocks() + 63) / 64, 0);
}

uint64_t Backing::find_free(uint64_t from, uint64_t to) const noexcept {
  for (uint64_t b = from; b < to;) {
    // Bits below b count as used, so the first zero bit is at or after b.
    const uint64_t word = bitmap_[b / 64] | ((uint64_t{1} << (b % 64)) - 1);
    if (word != ~uint64_t{0}) {
      const uint64_t found = b / 64 * 64 + static_cast<uint64_t>(std::countr_one(word));
      return std::min(found, to);
    }
    b = (b / 64 + 1) * 64;
  }
  return to;
}

bool Backing::alloc_block(uint64_t* block) noexcept {
  MutexLock l(&mu_);
  const uint64_t n = device_->blocks();
  if (used_ == n) return false;
  uint64_t b = find_free(next_, n);
  if (b == n) b = find_free(0, next_);
  assert(b < n);
  bitmap_[b / 64] |= uint64_t{1} << (b % 64);
  ++used_;
  next_ = b + 1 == n ? 0 : b + 1;
  *block = b;
  return true;
}

void Backing::free_block(uint64_t block) noexcept {
  MutexLock l(&mu_);
  assert(block < device_->blocks());
  assert(bitmap_[block / 64] & (uint64_t{1} << (block % 64)));
  bitmap_[block / 64] &= ~(uint64_t{1} << (block % 64));
  --used_;
}

void Backing::discard_block(uint64_t block) noexcept {
  // A failed punch only leaves the space allocated in the file system; the
  // block is free for the store either way.
  (void)device_->punch(block);
  free_block(block);
}

uint64_t Backing::blocks_used() const noexcept {
  MutexLock l(&mu_);
  return used_;
}

bool Backing::block_in_use(uint64_t block) const noexcept {
  MutexLock l(&mu_);
  return block < device_->blocks() && (bitmap_[block / 64] & (uint64_t{1} << (block % 64))) != 0;
}

// ---- the batch ---------------------------------------------------------------

// Up to 32 slots copied out, each with its block: zram writes one page per
// bio; batching lets consecutive blocks go out in one pwritev.
class WritebackBatch {
 public:
  static constexpr size_t kMax = 32;
  struct Entry {
    PageIndex index;
    uint64_t block;
    bool compressed;  // the stored compressed bytes were copied, not the page
  };

  WritebackBatch() noexcept : pages_(static_cast<std::byte*>(std::aligned_alloc(kPageSize, kMax * kPageSize))) {}
  ~WritebackBatch() { std::free(pages_); }
  WritebackBatch(const WritebackBatch&) = delete;
  WritebackBatch& operator=(const WritebackBatch&) = delete;

  bool allocated() const noexcept { return pages_ != nullptr; }
  size_t size() const noexcept { return size_; }
  bool full() const noexcept { return size_ == kMax; }
  const Entry& entry(size_t i) const noexcept { return entries_[i]; }
  // The block-sized, block-aligned buffer of the next entry.
  std::byte* next_page() const noexcept { return pages_ + size_ * kPageSize; }
  void add(const Entry& e) noexcept { entries_[size_++] = e; }
  void clear() noexcept { size_ = 0; }

  // Writes the pages, one pwritev per run of consecutive blocks.
  Status write(BackingDevice& device) const noexcept {
    std::span<const std::byte> pages[kMax];
    for (size_t k = 0; k < size_;) {
      size_t end = k + 1;
      while (end < size_ && entries_[end].block == entries_[end - 1].block + 1) ++end;
      for (size_t j = k; j < end; ++j) pages[j - k] = {pages_ + j * kPageSize, kPageSize};
      UZRAM_RETURN_IF_ERROR(device.pwritev(entries_[k].block, std::span(pages, end - k)));
      k = end;
    }
    return Status::ok();
  }

 private:
  std::byte* pages_;
  Entry entries_[kMax];
  size_t size_ = 0;
};

namespace {

bool writeback_candidate(SlotWord w, SlotSelect select) noexcept {
  if (!w.in_pool() || w.test(SlotFlag::kUnderWriteback)) return false;
  const auto s = static_cast<uint8_t>(select);
  return ((s & static_cast<uint8_t>(SlotSelect::kIdle)) && w.test(SlotFlag::kIdle)) ||
         ((s & static_cast<uint8_t>(SlotSelect::kHuge)) && w.test(SlotFlag::kHuge)) ||
         ((s & static_cast<uint8_t>(SlotSelect::kIncompressible)) && w.test(SlotFlag::kIncompressible));
}

}  // namespace

// ---- the backing file ----------------------------------------------------------

Status StoreImpl::set_backing_file(std::string_view path) noexcept {
  {
    MutexLock l(&wb_mu_);
    if (counters_.bd_count.load(std::memory_order_acquire) > 0) {
      return Status::busy("set_backing_file: pages still live on the backing file " + backing_->device().path());
    }
  }
  Result<std::unique_ptr<BackingDevice>> device = open_backing_file(path);
  if (!device) return device.status();
  return set_backing_device(std::move(*device));
}

Status StoreImpl::set_backing_device(std::unique_ptr<BackingDevice> device) noexcept {
  MutexLock l(&wb_mu_);
  const uint64_t on_file = counters_.bd_count.load(std::memory_order_acquire);
  if (on_file > 0) {
    return Status::busy("set_backing_file: " + std::to_string(on_file) + " pages still live on the backing file " +
                        backing_->device().path() + "; discard or rewrite them first");
  }
  auto next = std::make_unique<Backing>(std::move(device));
  backing_ptr_.store(next.get(), std::memory_order_release);
  backing_ = std::move(next);
  return Status::ok();
}

uint64_t StoreImpl::backing_blocks_used() const noexcept {
  MutexLock l(&wb_mu_);
  return backing_ ? backing_->blocks_used() : 0;
}

void StoreImpl::set_writeback_limit(bool enabled, uint64_t pages) noexcept {
  MutexLock l(&wb_limit_mu_);
  wb_limit_enabled_ = enabled;
  wb_limit_pages_ = pages;
}

uint64_t StoreImpl::writeback_limit() const noexcept {
  MutexLock l(&wb_limit_mu_);
  return wb_limit_enabled_ ? wb_limit_pages_ : 0;
}

uint64_t StoreImpl::writeback_budget(uint64_t max_pages, uint64_t written) const noexcept {
  uint64_t budget = max_pages > 0 ? max_pages - std::min(max_pages, written) : std::numeric_limits<uint64_t>::max();
  MutexLock l(&wb_limit_mu_);
  if (wb_limit_enabled_) budget = std::min(budget, wb_limit_pages_);
  return budget;
}

void StoreImpl::take_writeback_limit() noexcept {
  MutexLock l(&wb_limit_mu_);
  if (wb_limit_enabled_ && wb_limit_pages_ > 0) --wb_limit_pages_;
}

// ---- writeback -------------------------------------------------------------------

void StoreImpl::collect(WritebackBatch& batch, Backing& backing, const WritebackOptions& o, PageIndex* cursor,
                        uint64_t budget, bool* full) noexcept {
  while (!batch.full() && batch.size() < budget && *cursor < table_->size()) {
    const PageIndex i = *cursor;
    if (!writeback_candidate(table_->peek(i), o.select)) {
      ++*cursor;
      continue;
    }
    // A slot whose lock is busy is being accessed right now: not idle.
    SlotLock lock((*table_)[i], std::try_to_lock);
    if (!lock.owns_lock() || !writeback_candidate(lock.word(), o.select)) {
      ++*cursor;
      continue;
    }
    uint64_t block;
    if (!backing.alloc_block(&block)) {
      *full = true;
      return;
    }
    ++*cursor;
    const SlotWord w = lock.word();
    std::byte* buf = batch.next_page();
    // A huge slot's stored bytes are the raw page: written as a raw block.
    const bool compressed = o.compressed && !w.test(SlotFlag::kHuge);
    if (compressed) {
      std::memcpy(buf, pool_->map(pool::Handle{lock.state().value}).bytes().data(), w.size());
      std::memset(buf + w.size(), 0, kPageSize - w.size());
    } else if (!load(lock.state(), i, PageBuffer(buf, kPageSize)).is_ok()) {
      backing.free_block(block);  // undecodable (counted in failed_reads): left where it is
      continue;
    }
    lock.word().set(SlotFlag::kUnderWriteback);
    batch.add({i, block, compressed});
  }
}

uint64_t StoreImpl::commit(WritebackBatch& batch, Backing& backing) noexcept {
  uint64_t moved = 0;
  for (size_t k = 0; k < batch.size(); ++k) {
    const WritebackBatch::Entry& e = batch.entry(k);
    SlotLock lock((*table_)[e.index]);
    const SlotWord w = lock.word();
    if (!w.test(SlotFlag::kUnderWriteback)) {  // rewritten or discarded meanwhile
      lock.unlock();
      backing.free_block(e.block);
      continue;
    }
    SlotState next;
    next.word.set(SlotFlag::kWriteback);
    next.word.set_atime(w.atime());
    if (e.compressed) {
      next.word.set(SlotFlag::kWbCompressed);
      next.word.set_size(w.size());
      next.word.set_priority(w.priority());
    } else {
      next.word.set_size(kPageSize);
    }
    next.value = e.block;
    account(next.word, +1);
    const SlotState old = lock.replace(next);
    lock.unlock();
    release(old);
    counters_.bd_writes.fetch_add(1, std::memory_order_relaxed);
    take_writeback_limit();
    ++moved;
  }
  return moved;
}

void StoreImpl::abort(WritebackBatch& batch, Backing& backing) noexcept {
  for (size_t k = 0; k < batch.size(); ++k) {
    const WritebackBatch::Entry& e = batch.entry(k);
    {
      SlotLock lock((*table_)[e.index]);
      lock.word().clear(SlotFlag::kUnderWriteback);
    }
    backing.free_block(e.block);
  }
}

Result<uint64_t> StoreImpl::writeback(const WritebackOptions& o) noexcept {
  constexpr uint8_t kSelectable = static_cast<uint8_t>(SlotSelect::kIdle) | static_cast<uint8_t>(SlotSelect::kHuge) |
                                  static_cast<uint8_t>(SlotSelect::kIncompressible);
  if ((static_cast<uint8_t>(o.select) & kSelectable) == 0) {
    return Status::invalid_argument("writeback: select idle, huge and/or incompressible slots");
  }
  MutexLock l(&wb_mu_);
  if (!backing_) return Status::invalid_argument("writeback: no backing file (call set_backing_file first)");
  WritebackBatch batch;
  if (!batch.allocated()) return Status::no_space("writeback: cannot allocate the batch buffer");

  uint64_t written = 0;
  PageIndex cursor = 0;
  bool full = false;
  while (!full) {
    const uint64_t budget = writeback_budget(o.max_pages, written);
    if (budget == 0) break;
    batch.clear();
    collect(batch, *backing_, o, &cursor, budget, &full);
    if (batch.size() == 0) break;
    if (Status s = batch.write(backing_->device()); !s.is_ok()) {
      abort(batch, *backing_);
      return s.with_context("writeback (" + std::to_string(written) + " pages written before the error)");
    }
    written += commit(batch, *backing_);
  }
  if (full) {
    return Status::no_space("writeback: the backing file " + backing_->device().path() + " is full (" +
                            std::to_string(backing_->device().blocks()) + " blocks); " + std::to_string(written) +
                            " pages written");
  }
  return written;
}

}  // namespace uzram::store
