// File: src/writeback/request_queue.cc
//
// Locks: RequestQueue::mu_ only, a leaf (see request_queue.h).
#include "writeback/request_queue.h"

#include "base/wait.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <ctime>

namespace uzram::writeback {

uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

RequestQueue::RequestQueue(size_t depth, bool copy_buffers)
    : depth_(depth), records_(std::make_unique<Request[]>(depth)) {
  assert(depth > 0);
  if (copy_buffers) copy_pages_ = std::make_unique<std::byte[]>(depth * kPageSize);
  MutexLock lock(&mu_);
  for (size_t i = depth; i-- > 0;) {
    Request& r = records_[i];
    if (copy_pages_) r.copy = copy_pages_.get() + i * kPageSize;
    r.next = free_;
    free_ = &r;
  }
  free_count_ = depth;
}

RequestQueue::~RequestQueue() = default;

RequestQueue::Reserved RequestQueue::reserve(size_t want, bool block, size_t min_chunk,
                                             bool with_batch) noexcept {
  assert(want > 0);
  Reserved out;
  MutexLock lock(&mu_);
  if (free_count_ < want) {
    out.found_full = true;
    if (!block) return out;
    const size_t need = std::max({size_t{1}, std::min(want, std::min(min_chunk, depth_)), room_low_water()});
    const uint64_t start = now_ns();
    ++room_waiters_;
    while (free_count_ < need && !stopping_) wait_on(room_, mu_);
    --room_waiters_;
    out.waited_ns = now_ns() - start;
    if (stopping_) return out;
  }
  const size_t take = std::min(want, free_count_);
  Request* head = free_;
  Request* last = free_;
  for (size_t i = 1; i < take; ++i) last = last->next;
  free_ = last->next;
  last->next = nullptr;
  free_count_ -= take;
  out.head = head;
  out.count = take;
  if (with_batch) out.batch = take_batch();
  return out;
}

Batch* RequestQueue::take_batch() {
  if (free_batches_ == nullptr) {
    batches_.push_back(std::make_unique<Batch>());
    return batches_.back().get();
  }
  Batch* b = free_batches_;
  free_batches_ = b->next;
  b->next = nullptr;
  return b;
}

void RequestQueue::push(Request* head, Request* tail, size_t count) noexcept {
  assert(count > 0 && tail->next == nullptr);
  bool wake_all;
  bool wake;
  {
    MutexLock lock(&mu_);
    if (ready_tail_ == nullptr) {
      ready_head_ = head;
    } else {
      ready_tail_->next = head;
    }
    ready_tail_ = tail;
    ready_count_ += count;
    wake = work_waiters_ > 0;
    wake_all = count > 1 && work_waiters_ > 1;
  }
  // Outside the lock: the woken worker does not block on mu_ at once. A batch
  // of several requests may keep several workers busy, so wake them all; a
  // worker that finds nothing goes back to sleep.
  if (wake_all) {
    work_.notify_all();
  } else if (wake) {
    work_.notify_one();
  }
}

size_t RequestQueue::pop(Request** out, size_t max) noexcept {
  assert(max > 0);
  MutexLock lock(&mu_);
  ++work_waiters_;
  while (ready_count_ == 0 && !stopping_) wait_on(work_, mu_);
  --work_waiters_;
  const size_t n = std::min(max, ready_count_);
  for (size_t i = 0; i < n; ++i) {
    Request* r = ready_head_;
    ready_head_ = r->next;
    r->next = nullptr;
    out[i] = r;
  }
  if (ready_head_ == nullptr) ready_tail_ = nullptr;
  ready_count_ -= n;
  return n;
}

void RequestQueue::release(Request* requests, size_t count, Batch* batches) noexcept {
  bool wake_room;
  bool wake_idle;
  {
    MutexLock lock(&mu_);
    size_t seen = 0;
    while (requests != nullptr) {
      Request* r = requests;
      requests = r->next;
      r->next = free_;
      free_ = r;
      ++seen;
    }
    assert(seen == count);
    (void)seen;
    free_count_ += count;
    while (batches != nullptr) {
      Batch* b = batches;
      batches = b->next;
      b->next = free_batches_;
      free_batches_ = b;
    }
    wake_room = room_waiters_ > 0 && count > 0 && free_count_ >= room_low_water();
    wake_idle = free_count_ == depth_;
  }
  if (wake_room) room_.notify_all();
  if (wake_idle) idle_.notify_all();
}

void RequestQueue::wait_idle() noexcept {
  MutexLock lock(&mu_);
  while (free_count_ != depth_) wait_on(idle_, mu_);
}

size_t RequestQueue::in_flight() const noexcept {
  MutexLock lock(&mu_);
  return depth_ - free_count_;
}

size_t RequestQueue::room_waiters() const noexcept {
  MutexLock lock(&mu_);
  return room_waiters_;
}

void RequestQueue::stop() noexcept {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_.notify_all();
  room_.notify_all();
}

void RequestQueue::check_invariants() const noexcept {
  MutexLock lock(&mu_);
  size_t n = 0;
  for (const Request* r = free_; r != nullptr; r = r->next) {
    if (r < records_.get() || r >= records_.get() + depth_) std::abort();
    ++n;
  }
  if (n != free_count_) std::abort();
  n = 0;
  const Request* last = nullptr;
  for (const Request* r = ready_head_; r != nullptr; r = r->next) {
    last = r;
    ++n;
  }
  if (n != ready_count_ || last != ready_tail_) std::abort();
  if (free_count_ + ready_count_ > depth_) std::abort();
}

}  // namespace uzram::writeback
