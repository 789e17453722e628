// Byte ranges for block front ends (NBD): any offset and length inside
// disksize. Whole pages take the page path; a partial page is read, changed
// and written back under its slot lock, so that two partial writes to one
// page cannot lose each other's bytes.
#include <algorithm>
#include <cstring>
#include <string>

#include "store/store_impl.h"

namespace uzram::store {

Status StoreImpl::check_range(uint64_t offset, uint64_t length) noexcept {
  // Written so that offset + length cannot overflow.
  if (offset <= disksize_ && length <= disksize_ - offset) [[likely]] return Status::ok();
  counters_.invalid_io.fetch_add(1, std::memory_order_relaxed);
  return Status::out_of_range("bytes [" + std::to_string(offset) + ", +" + std::to_string(length) +
                              ") reach past the end of the store (" + std::to_string(disksize_) + " bytes)");
}

// Holds the slot lock across load, prepare (compression and a pool alloc()
// that may grow the pool) and publish: allowed by the entry locking rules,
// since none of those waits for a slot lock.
Status StoreImpl::modify_page(PageIndex index, size_t offset, size_t n, const std::byte* src) noexcept {
  assert(offset + n <= kPageSize && n < kPageSize);
  alignas(kPageSize) std::byte page[kPageSize];
  SlotLock lock((*table_)[index]);
  // Zeroing part of an empty page changes nothing it would read back.
  if (src == nullptr && !lock.word().stored()) return Status::ok();
  UZRAM_RETURN_IF_ERROR(load(lock.state(), index, PageBuffer(page)));
  if (src != nullptr) {
    std::memcpy(page + offset, src, n);
  } else {
    std::memset(page + offset, 0, n);
  }
  Result<SlotState> next = prepare(PageView(page));
  if (!next) return next.status();
  const SlotState old = publish(lock, *next);
  lock.unlock();
  release(old);
  return Status::ok();
}

Status StoreImpl::write_bytes(uint64_t offset, std::span<const std::byte> data) noexcept {
  UZRAM_RETURN_IF_ERROR(check_range(offset, data.size()));
  for (size_t pos = 0; pos < data.size();) {
    const uint64_t at = offset + pos;
    const size_t in = at % kPageSize;
    const size_t n = std::min(kPageSize - in, data.size() - pos);
    UZRAM_RETURN_IF_ERROR(n == kPageSize ? write_page(at / kPageSize, PageView(data.data() + pos, kPageSize))
                                         : modify_page(at / kPageSize, in, n, data.data() + pos));
    pos += n;
  }
  return Status::ok();
}

Status StoreImpl::read_bytes(uint64_t offset, std::span<std::byte> out) noexcept {
  UZRAM_RETURN_IF_ERROR(check_range(offset, out.size()));
  for (size_t pos = 0; pos < out.size();) {
    const uint64_t at = offset + pos;
    const size_t in = at % kPageSize;
    const size_t n = std::min(kPageSize - in, out.size() - pos);
    if (n == kPageSize) {
      UZRAM_RETURN_IF_ERROR(read(at / kPageSize, PageBuffer(out.data() + pos, kPageSize)));
    } else {
      alignas(kPageSize) std::byte page[kPageSize];
      UZRAM_RETURN_IF_ERROR(read(at / kPageSize, PageBuffer(page)));
      std::memcpy(out.data() + pos, page + in, n);
    }
    pos += n;
  }
  return Status::ok();
}

Status StoreImpl::zero_bytes(uint64_t offset, uint64_t length) noexcept {
  UZRAM_RETURN_IF_ERROR(check_range(offset, length));
  for (uint64_t pos = 0; pos < length;) {
    const uint64_t at = offset + pos;
    const size_t in = at % kPageSize;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kPageSize - in, length - pos));
    if (n == kPageSize) {
      discard_slot(at / kPageSize);
    } else {
      UZRAM_RETURN_IF_ERROR(modify_page(at / kPageSize, in, n, nullptr));
    }
    pos += n;
  }
  return Status::ok();
}

}  // namespace uzram::store
