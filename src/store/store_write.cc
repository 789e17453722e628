// The write of one page, and discard: prepare (no slot lock), publish (under
// the slot lock), release (after the unlock). See architecture.md, "The write
// of one page", and docs/store.md.
#include <cstring>
#include <string>

#include "store/store_impl.h"

namespace uzram::store {
namespace {

// A page is same-filled when it is one 8-byte word repeated: then byte i
// equals byte i + 8 for every i, which one memcmp of the page against itself
// shifted by a word tells, stopping at the first difference (almost always
// within the first words of a page that is not).
bool same_filled(PageView page, uint64_t* pattern) noexcept {
  if (std::memcmp(page.data(), page.data() + sizeof(uint64_t), kPageSize - sizeof(uint64_t)) != 0) return false;
  std::memcpy(pattern, page.data(), sizeof(uint64_t));
  return true;
}

// xorshift64*, one state per thread: cheap enough to sit in front of every
// fast-path allocation when fault injection is on, and never shared.
uint64_t next_random() noexcept {
  thread_local uint64_t state = 0;
  if (state == 0) state = reinterpret_cast<uintptr_t>(&state) * 0x9E3779B97F4A7C15ull | 1;
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

SlotState same_state(uint64_t pattern) noexcept {
  SlotState s;
  s.word.set(SlotFlag::kSame);
  s.value = pattern;
  return s;
}

SlotState object_state(size_t size, pool::Handle h, uint32_t priority, bool huge) noexcept {
  SlotState s;
  s.word.set_size(static_cast<uint32_t>(size));
  s.word.set_priority(priority);
  if (huge) s.word.set(SlotFlag::kHuge);
  s.value = h.value;
  return s;
}

}  // namespace

bool StoreImpl::inject_fast_path_failure() const noexcept {
  if (inject_rate_ <= 0.0) return false;
  return static_cast<double>(next_random() >> 11) * 0x1.0p-53 < inject_rate_;
}

Result<pool::Handle> StoreImpl::alloc_object(size_t size) noexcept {
  pool::Handle h = pool_->try_alloc(size);
  if (h) return h;
  return pool_->alloc(size);
}

// The fast path. Cost: one memcmp that stops early, the compression (several
// microseconds for lz4 on 4 KiB, all the rest is small beside it), one
// try_alloc (a class lock, no system call), one memcpy of the compressed
// bytes. The stream is held throughout, so its scratch buffer holds the only
// copy of the compressed bytes until they are in the object.
Result<SlotState> StoreImpl::prepare(PageView page) noexcept {
  uint64_t pattern;
  if (same_filled(page, &pattern)) return same_state(pattern);

  codec::StreamGuard stream = streams_[0]->acquire();
  const size_t len = stream.ctx().compress(page, stream.scratch());
  if (len == 0 || len >= huge_size_) {
    stream.release();
    return prepare_huge(page);
  }
  const pool::Handle h = inject_fast_path_failure() ? pool::Handle{} : pool_->try_alloc(len);
  if (!h) [[unlikely]] return prepare_slow(stream, len);
  std::memcpy(pool_->map(h).bytes().data(), stream.scratch().data(), len);
  return object_state(len, h, 0, false);
}

// The slow path: the pool must grow (or the fast path was made to fail). The
// stream cannot be held across a pool alloc() that may grow the pool, so the
// len compressed bytes are copied out first and exactly those are stored.
// Compressing the page again after alloc() would be the seed's bug: the
// caller's page may have changed, and a second result larger than the object
// sized by the first would overrun it.
Result<SlotState> StoreImpl::prepare_slow(codec::StreamGuard& stream, size_t len) noexcept {
  assert(len > 0 && len < kPageSize);
  std::byte buf[kPageSize];
  std::memcpy(buf, stream.scratch().data(), len);
  stream.release();

  Result<pool::Handle> h = pool_->alloc(len);
  if (!h) {
    counters_.failed_writes.fetch_add(1, std::memory_order_relaxed);
    return h.status().with_context("write");
  }
  std::memcpy(pool_->map(*h).bytes().data(), buf, len);
  return object_state(len, *h, 0, false);
}

// A page that did not compress below the huge class size is stored raw. The
// object is kPageSize bytes and exactly kPageSize bytes are copied into it.
Result<SlotState> StoreImpl::prepare_huge(PageView page) noexcept {
  Result<pool::Handle> h = alloc_object(kPageSize);
  if (!h) {
    counters_.failed_writes.fetch_add(1, std::memory_order_relaxed);
    return h.status().with_context("write");
  }
  std::memcpy(pool_->map(*h).bytes().data(), page.data(), kPageSize);
  return object_state(kPageSize, *h, 0, true);
}

SlotState StoreImpl::publish(SlotLock& lock, SlotState next) noexcept {
  next.word.set_atime(now());
  account(next.word, +1);
  return lock.replace(next);
}

void StoreImpl::release(const SlotState& old) noexcept {
  const SlotWord w = old.word;
  if (!w.stored()) return;
  if (w.test(SlotFlag::kWriteback)) {
    backing_ptr_.load(std::memory_order_acquire)->discard_block(old.value);
  } else if (w.in_pool()) {
    pool_->free(pool::Handle{old.value});
  }
  account(w, -1);  // last: bd_count drops only once the block is returned
}

Status StoreImpl::write_page(PageIndex index, PageView page) noexcept {
  Result<SlotState> next = prepare(page);
  if (!next) return next.status();
  SlotLock lock((*table_)[index]);
  const SlotState old = publish(lock, *next);
  lock.unlock();
  release(old);
  return Status::ok();
}

Status StoreImpl::write(PageIndex index, PageView page) noexcept {
  if (index >= table_->size()) [[unlikely]] {
    counters_.invalid_io.fetch_add(1, std::memory_order_relaxed);
    return Status::out_of_range("write: page " + std::to_string(index) + " is past the end (" +
                                std::to_string(table_->size()) + " pages)");
  }
  return write_page(index, page);
}

bool StoreImpl::discard_slot(PageIndex index) noexcept {
  Slot& slot = (*table_)[index];
  if (!SlotWord(slot.word.load(std::memory_order_acquire)).stored()) return false;
  SlotLock lock(slot);
  if (!lock.word().stored()) return false;
  const SlotState old = lock.replace(SlotState{});
  lock.unlock();
  release(old);
  counters_.notify_free.fetch_add(1, std::memory_order_relaxed);
  return true;
}

Status StoreImpl::discard(PageIndex index, uint64_t count) noexcept {
  const uint64_t n = table_->size();
  if (index > n || count > n - index) {
    counters_.invalid_io.fetch_add(1, std::memory_order_relaxed);
    return Status::out_of_range("discard: pages [" + std::to_string(index) + ", +" + std::to_string(count) +
                                ") reach past the end (" + std::to_string(n) + " pages)");
  }
  for (uint64_t i = 0; i < count; ++i) discard_slot(index + i);
  return Status::ok();
}

}  // namespace uzram::store
