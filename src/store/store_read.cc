// The read of one page: under the slot lock, fill (empty, same-filled), copy
// (huge), decompress (compressed) or read the backing file (written back).
#include <cstring>
#include <string>

#include "store/store_impl.h"

namespace uzram::store {
namespace {

void fill_pattern(PageBuffer out, uint64_t pattern) noexcept {
  for (size_t off = 0; off < kPageSize; off += sizeof(pattern)) std::memcpy(out.data() + off, &pattern, sizeof(pattern));
}

bool page_aligned(const void* p) noexcept { return reinterpret_cast<uintptr_t>(p) % kPageSize == 0; }

}  // namespace

Status StoreImpl::decompress(uint32_t priority, std::span<const std::byte> src, PageIndex index, PageBuffer out) noexcept {
  assert(priority <= kMaxPriority && streams_[priority] != nullptr);
  codec::StreamGuard stream = streams_[priority]->acquire();
  if (!stream.ctx().decompress(src, out)) [[unlikely]] {
    counters_.failed_reads.fetch_add(1, std::memory_order_relaxed);
    return Status::corrupt("page " + std::to_string(index) + ": " + std::to_string(src.size()) +
                           " stored bytes do not decompress to a page (codec priority " + std::to_string(priority) + ")");
  }
  return Status::ok();
}

// May sleep on I/O with the slot lock held: the entry locking rules allow it.
Status StoreImpl::read_backing(const SlotState& state, PageIndex index, PageBuffer out) noexcept {
  Backing* backing = backing_ptr_.load(std::memory_order_acquire);
  assert(backing != nullptr);
  const SlotWord w = state.word;
  // The device takes whole aligned blocks (O_DIRECT), so a compressed block,
  // or a caller's buffer that is not page-aligned, goes through a bounce block.
  const bool direct = !w.test(SlotFlag::kWbCompressed) && page_aligned(out.data());
  alignas(kPageSize) std::byte bounce[kPageSize];
  const std::span<std::byte> dst = direct ? std::span<std::byte>(out) : std::span<std::byte>(bounce);
  Status s = backing->device().pread(state.value, dst);
  if (!s.is_ok()) {
    counters_.failed_reads.fetch_add(1, std::memory_order_relaxed);
    return s.with_context("page " + std::to_string(index));
  }
  counters_.bd_reads.fetch_add(1, std::memory_order_relaxed);
  if (direct) return Status::ok();
  if (w.test(SlotFlag::kWbCompressed)) return decompress(w.priority(), std::span(bounce, w.size()), index, out);
  std::memcpy(out.data(), bounce, kPageSize);
  return Status::ok();
}

Status StoreImpl::load(const SlotState& state, PageIndex index, PageBuffer out) noexcept {
  const SlotWord w = state.word;
  if (!w.stored()) {
    std::memset(out.data(), 0, kPageSize);
    return Status::ok();
  }
  if (w.test(SlotFlag::kSame)) {
    fill_pattern(out, state.value);
    return Status::ok();
  }
  if (w.test(SlotFlag::kWriteback)) return read_backing(state, index, out);

  const pool::Pool::Mapped obj = pool_->map(pool::Handle{state.value});
  assert(obj.bytes().size() >= w.size());
  if (w.test(SlotFlag::kHuge)) {
    std::memcpy(out.data(), obj.bytes().data(), kPageSize);
    return Status::ok();
  }
  return decompress(w.priority(), obj.bytes().first(w.size()), index, out);
}

Status StoreImpl::read(PageIndex index, PageBuffer out) noexcept {
  if (index >= table_->size()) [[unlikely]] {
    counters_.invalid_io.fetch_add(1, std::memory_order_relaxed);
    return Status::out_of_range("read: page " + std::to_string(index) + " is past the end (" +
                                std::to_string(table_->size()) + " pages)");
  }
  SlotLock lock((*table_)[index]);
  Status s = load(lock.state(), index, out);
  if (s.is_ok() && lock.word().stored()) {
    lock.word().set_atime(now());
    lock.word().clear(SlotFlag::kIdle);
  }
  return s;
}

// An index past the end holds nothing.
bool StoreImpl::is_empty(PageIndex index) const noexcept {
  if (index >= table_->size()) return true;
  return !table_->peek(index).stored();
}

bool StoreImpl::is_zero(PageIndex index) const noexcept {
  if (index >= table_->size()) return true;
  const SlotWord w = table_->peek(index);
  if (!w.stored()) return true;
  return w.test(SlotFlag::kSame) && (*table_)[index].value.load(std::memory_order_relaxed) == 0;
}

}  // namespace uzram::store
