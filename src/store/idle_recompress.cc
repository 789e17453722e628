// Idle marking and recompression (zram's idle and recompress attributes).
//
// Recompression re-encodes selected slots with the secondary algorithms,
// priority 1..3, each with its own StreamPool. For each slot it tries every
// configured priority above the slot's current one (or only the one asked
// for) and keeps the first result smaller than the stored object and below
// the huge class size. A slot that the highest configured algorithm could
// not shrink is flagged incompressible and never tried again (until it is
// rewritten).
#include <cstring>
#include <limits>
#include <string>

#include "store/store_impl.h"

namespace uzram::store {

uint64_t StoreImpl::mark_idle(uint64_t age_seconds) noexcept {
  const uint32_t t = now();
  uint64_t marked = 0;
  for (PageIndex i = 0; i < table_->size(); ++i) {
    // Same-filled and written-back slots hold no pool memory, so neither
    // writeback nor recompression wants them: zram skips them too.
    if (!table_->peek(i).in_pool()) continue;
    SlotLock lock((*table_)[i]);
    SlotWord& w = lock.word();
    if (!w.in_pool()) continue;
    if (age_seconds == 0 || (t >= w.atime() && t - w.atime() >= age_seconds)) {
      w.set(SlotFlag::kIdle);
      ++marked;
    } else {
      w.clear(SlotFlag::kIdle);
    }
  }
  return marked;
}

bool StoreImpl::recompress_candidate(SlotWord w, const RecompressOptions& o, uint32_t top) const noexcept {
  if (!w.in_pool() || w.test(SlotFlag::kIncompressible) || w.test(SlotFlag::kUnderWriteback)) return false;
  const auto select = static_cast<uint8_t>(o.select);
  const bool chosen = ((select & static_cast<uint8_t>(SlotSelect::kIdle)) && w.test(SlotFlag::kIdle)) ||
                      ((select & static_cast<uint8_t>(SlotSelect::kHuge)) && w.test(SlotFlag::kHuge));
  return chosen && w.size() >= o.threshold && w.priority() < top;
}

Result<bool> StoreImpl::recompress_slot(SlotLock& lock, PageIndex index, const RecompressOptions& o,
                                        uint32_t top) noexcept {
  const SlotWord w = lock.word();
  alignas(64) std::byte page[kPageSize];
  // A slot that does not decode is left alone (load counted failed_reads).
  if (!load(lock.state(), index, PageBuffer(page)).is_ok()) return false;

  const uint32_t first = o.priority > 0 ? static_cast<uint32_t>(o.priority) : w.priority() + 1;
  for (uint32_t p = first; p <= top; ++p) {
    if (streams_[p] == nullptr) continue;
    std::byte packed[kPageSize];
    size_t len;
    {
      codec::StreamGuard stream = streams_[p]->acquire();
      len = stream.ctx().compress(PageView(page), stream.scratch());
      if (len == 0 || len >= w.size() || len >= huge_size_) continue;
      std::memcpy(packed, stream.scratch().data(), len);
    }
    // The stream is released: alloc() may grow the pool.
    Result<pool::Handle> h = alloc_object(len);
    if (!h) return h.status().with_context("recompress");
    std::memcpy(pool_->map(*h).bytes().data(), packed, len);

    // Not an access: the access time and the idle mark stay.
    SlotState next{w, h->value};
    next.word.set_size(static_cast<uint32_t>(len));
    next.word.set_priority(p);
    next.word.clear(SlotFlag::kHuge);
    account(next.word, +1);
    const SlotState old = lock.replace(next);
    lock.unlock();
    release(old);
    counters_.recomp_pages.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  // As zram: only a slot that the highest-priority algorithm failed to shrink
  // is given up on; one tried with a lower priority alone may shrink later.
  if (top == top_priority_) {
    lock.word().set(SlotFlag::kIncompressible);
    counters_.incompressible_pages.fetch_add(1, std::memory_order_relaxed);
  }
  return false;
}

Result<uint64_t> StoreImpl::recompress(const RecompressOptions& o) noexcept {
  if (top_priority_ == 0) return Status::invalid_argument("recompress: no recomp_algorithms are configured");
  if (o.priority < 0 || o.priority > kMaxPriority) {
    return Status::invalid_argument("recompress: priority must be 0..3 (got " + std::to_string(o.priority) + ")");
  }
  if (o.priority > 0 && streams_[o.priority] == nullptr) {
    return Status::invalid_argument("recompress: no algorithm is configured at priority " + std::to_string(o.priority));
  }
  constexpr uint8_t kSelectable = static_cast<uint8_t>(SlotSelect::kIdle) | static_cast<uint8_t>(SlotSelect::kHuge);
  if ((static_cast<uint8_t>(o.select) & kSelectable) == 0) {
    return Status::invalid_argument("recompress: select idle and/or huge slots");
  }
  if (o.threshold > kPageSize) {
    return Status::invalid_argument("recompress: threshold must be at most 4096 bytes (got " + std::to_string(o.threshold) + ")");
  }
  const uint32_t top = o.priority > 0 ? static_cast<uint32_t>(o.priority) : top_priority_;
  // The budget counts slots tried, shrunk or not (as zram's max_pages).
  uint64_t budget = o.max_pages > 0 ? o.max_pages : std::numeric_limits<uint64_t>::max();
  uint64_t shrunk = 0;
  for (PageIndex i = 0; i < table_->size() && budget > 0; ++i) {
    if (!recompress_candidate(table_->peek(i), o, top)) continue;
    // A slot whose lock is busy is being accessed right now: not idle.
    SlotLock lock((*table_)[i], std::try_to_lock);
    if (!lock.owns_lock() || !recompress_candidate(lock.word(), o, top)) continue;
    --budget;
    Result<bool> r = recompress_slot(lock, i, o, top);
    if (!r) return r.status();
    if (*r) ++shrunk;
  }
  return shrunk;
}

}  // namespace uzram::store
