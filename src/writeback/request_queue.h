// File: src/writeback/request_queue.h
//
// RequestQueue: the bounded multi-producer multi-consumer queue between
// submit() and the workers, together with the fixed set of Request records
// that bounds it. A record is taken from the free list by reserve(), filled
// by the submitter, appended to the ready FIFO by push(), taken by a worker
// with pop(), and returned by release() once completed. So "full" means all
// queue_depth records are in flight (queued or being written), and the memory
// of the engine is fixed at creation (plus copy buffers when the store does
// not take stable writes).
//
// Why a mutex and condition variables and not a lock-free ring: every call
// moves a whole batch (up to max_batch records) under one lock acquisition,
// so the lock is taken twice per submit() and twice per worker batch, not per
// page; with 2-8 threads the critical sections (a few pointer moves) are far
// shorter than a compression (~5 us a page with lz4), and a blocking wait for
// room or work needs a sleeping primitive anyway.
//
// Thread safety: every method is thread-safe.
// Locking rule: mu_ is a leaf lock: no other lock is taken while holding it
// and no callback runs under it.
// Invariants (check_invariants()):
//   free_count_ == length of free_; ready_count_ == length of ready_;
//   free_count_ + ready_count_ + records out (reserved, claimed, completed) == depth.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/thread_annotations.h"
#include "writeback/request.h"

namespace uzram::writeback {

class RequestQueue {
 public:
  // `depth` records; each gets a kPageSize copy buffer when `copy_buffers`.
  RequestQueue(size_t depth, bool copy_buffers);
  ~RequestQueue();
  RequestQueue(const RequestQueue&) = delete;
  RequestQueue& operator=(const RequestQueue&) = delete;

  size_t depth() const noexcept { return depth_; }

  struct Reserved {
    Request* head = nullptr;  // `count` records linked by next
    size_t count = 0;
    bool found_full = false;  // there was no room at first
    uint64_t waited_ns = 0;   // time spent waiting for room
    Batch* batch = nullptr;   // when asked for and count > 0
  };
  // Takes records for `want` (>= 1) requests.
  //   block == false: all `want` or none (count == 0).
  //   block == true:  if fewer than `want` are free, waits until at least
  //                   max(min(want, min_chunk), depth / 2) are (the
  //                   hysteresis below), then takes as many as are free up
  //                   to `want`; count == 0 only after stop().
  // Why wait for half the queue and not for one chunk: a submitter that
  // woke at every worker batch released would take a CPU from a worker
  // (and pay a wake-up and two context switches) every max_batch pages; on
  // a machine with as many workers as CPUs that cost more than the
  // submitting itself. Half a queue still keeps every worker busy meanwhile.
  // With `with_batch`, also takes a Batch record (recycled; allocated only
  // when more batches are in flight than ever before).
  Reserved reserve(size_t want, bool block, size_t min_chunk, bool with_batch) noexcept;

  // Appends `count` filled records (head..tail linked by next) to the ready
  // FIFO and wakes workers.
  void push(Request* head, Request* tail, size_t count) noexcept;

  // Waits for ready records and moves up to `max` of them into out[].
  // Returns 0 once stop() was called and nothing is ready.
  size_t pop(Request** out, size_t max) noexcept;

  // Returns completed records (linked by next) and finished batches to the
  // free lists; wakes submitters waiting for room and flush() when idle.
  void release(Request* requests, size_t count, Batch* batches) noexcept;

  // Waits until every record is free (nothing in flight).
  void wait_idle() noexcept;
  // Records not free: reserved, queued, being written or completing.
  size_t in_flight() const noexcept;
  // Callers inside reserve() waiting for room.
  size_t room_waiters() const noexcept;
  // Wakes every waiter; pop() then drains what is ready and returns 0, a
  // blocked reserve() returns count == 0.
  void stop() noexcept;

  void check_invariants() const noexcept;

 private:
  Batch* take_batch() UZRAM_REQUIRES(mu_);

  const size_t depth_;
  std::unique_ptr<Request[]> records_;      // depth_ records, fixed
  std::unique_ptr<std::byte[]> copy_pages_;  // depth_ * kPageSize, or null

  mutable Mutex mu_;
  std::condition_variable room_;   // signalled when records are released (submitters)
  std::condition_variable work_;   // signalled when records are pushed or on stop (workers)
  std::condition_variable idle_;   // signalled when the last record in flight is released (flush)
  Request* free_ UZRAM_GUARDED_BY(mu_) = nullptr;        // LIFO: a warm record (and copy page) goes out first
  size_t free_count_ UZRAM_GUARDED_BY(mu_) = 0;
  Request* ready_head_ UZRAM_GUARDED_BY(mu_) = nullptr;  // FIFO of filled records
  Request* ready_tail_ UZRAM_GUARDED_BY(mu_) = nullptr;
  size_t ready_count_ UZRAM_GUARDED_BY(mu_) = 0;
  // Free records a blocked reserve() waits for at least (see reserve()).
  size_t room_low_water() const noexcept { return depth_ / 2; }
  size_t room_waiters_ UZRAM_GUARDED_BY(mu_) = 0;        // submitters inside reserve()'s wait
  size_t work_waiters_ UZRAM_GUARDED_BY(mu_) = 0;        // workers inside pop()'s wait
  Batch* free_batches_ UZRAM_GUARDED_BY(mu_) = nullptr;
  // Owns every Batch ever made; grows only when all are in use (a batch per
  // submit() in flight), so steady state allocates nothing.
  std::vector<std::unique_ptr<Batch>> batches_ UZRAM_GUARDED_BY(mu_);
  bool stopping_ UZRAM_GUARDED_BY(mu_) = false;
};

}  // namespace uzram::writeback
