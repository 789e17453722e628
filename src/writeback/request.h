// File: src/writeback/request.h
//
// Request and Batch: the engine's records of one write in flight and of one
// submit() call. Both are preallocated or recycled, never allocated per
// write: the submit fast path takes them from RequestQueue's free lists.
//
// Ownership (who may touch a record's fields):
//   free        RequestQueue, under its mutex.
//   filling     the submitting thread, between reserve() and push().
//   queued      RequestQueue, under its mutex (only `next` changes).
//   claimed     the worker that popped it, or the worker a slot's running
//               write hands it to (InFlightTable decides, under a shard lock).
//   completed   the worker that completed it, until release().
// The in-flight table holds pointers to records but reads only `index` and
// `page` through them, under its shard lock, and only while they are
// registered (never after completion).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "uzram/async_engine.h"
#include "uzram/page.h"
#include "uzram/status.h"

namespace uzram::writeback {

struct Batch {
  WriteCompletion* done = nullptr;   // never null for a live Batch
  std::atomic<uint32_t> remaining{0};  // requests not yet completed; the one who takes it to 0 calls batch_done
  std::atomic<uint32_t> failed{0};     // failed requests; the one who takes it 0 -> 1 writes first_error
  uint32_t size = 0;                   // requests in the batch
  // Written once, by the completer that took `failed` from 0 to 1, before
  // its acq_rel decrement of `remaining`; read by the completer that takes
  // `remaining` to 0 (which acquires that decrement).
  Status first_error;
  Batch* next = nullptr;               // free-list link
};

struct Request {
  PageIndex index = 0;
  const std::byte* page = nullptr;         // what the store compresses: caller_page, or copy
  const std::byte* caller_page = nullptr;  // as submitted, handed back in request_done()
  void* cookie = nullptr;
  Batch* batch = nullptr;                  // null when the submit had no completion
  uint64_t submit_ns = 0;                  // steady clock at submit()
  Request* next = nullptr;                 // free-list / queue / local-list link
  std::byte* copy = nullptr;               // this record's kPageSize copy buffer; null under stable writes
};

// Steady-clock nanoseconds (clock_gettime through the vDSO: ~20 ns).
uint64_t now_ns() noexcept;

}  // namespace uzram::writeback
