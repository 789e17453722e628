// File: include/uzram/async_engine.h
//
// AsyncEngine: asynchronous writeback in front of a Store, the user-space
// counterpart of the kernel zram's asynchronous writeback threads (the
// zram_thread / page_requests_rw of the seed, shared/seed/). submit() takes a
// batch of {slot index, page} and returns at once; worker threads drain a
// bounded queue in batches, compress and store each page, and report the
// completion of every request and of every batch.
//
// Glossary
//   request    one page to be written to one slot (WriteRequest).
//   batch      the requests of one submit() call; completes when all of its
//              requests have.
//   in flight  submitted and not yet completed (queued, or being written).
//   completion the moment the engine stops reading a request's page: the
//              page was stored, the store refused it, or a later write to the
//              same slot superseded it. request_done() reports it.
//
// The stable-page contract (the seed's rule). Store::stable_writes() says
// whether the store compresses straight from the caller's page.
//   - stable writes (the real Store): workers compress the caller's page in
//     place, so the caller promises not to change a page from submit() until
//     its request_done(). The swap front end keeps that promise the way the
//     kernel's SWP_STABLE_WRITES does: a page under writeback is never handed
//     back to the application.
//   - no stable writes: submit() copies each page before it returns, so the
//     stored version is the one at submit time and the caller may change its
//     page as soon as submit() returns.
// Either way, for a caller that keeps the promise, a stored object is one
// whole version of the page, and no path copies more bytes into an object
// than were allocated for it (the store's own rule; the engine never writes
// into store memory). A caller that breaks the promise under stable writes
// harms no other slot, but its own may read back torn or as kCorrupt (see
// uzram/store.h, "Stable writes").
//
// Ordering. Two writes to the same slot in flight take effect in submit
// order: the store never ends up holding an older version than the newest
// write submitted. A write whose slot gets a newer write before a worker has
// started it is superseded: it completes with OK without being stored. While
// an older write of a slot runs, a newer one waits for it (the worker that
// finishes the older one runs the newer one next). "Submit order" between two
// threads submitting to one slot at once is the order in which their
// requests entered the in-flight table; each submit() call registers its
// requests in their order in the span.
//
// Reads. read() of a slot with a write in flight returns the newest submitted
// version (copied from the caller's page or from the engine's copy), never
// the older content of the store.
//
// Thread safety: every method is thread-safe. Completions run on worker
// threads, without engine locks held; they may call submit() with
// WhenFull::kWouldBlock and read(), but not flush(), not a blocking submit()
// (every worker could end up waiting for room only workers can make) and not
// the destructor. Writes to a slot must all go through the engine while it
// is in front of the Store: a direct Store::write could be overtaken by an
// in-flight one.
// Swap fault thread: submit(), read() and stats() never touch memory that
// swap/ manages beyond the pages passed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "uzram/page.h"
#include "uzram/status.h"
#include "uzram/store.h"

namespace uzram {

// What submit() does when the queue has no room for the batch.
enum class WhenFull : uint8_t {
  kBlock,       // wait for room (a large batch is queued in parts as room frees up)
  kWouldBlock,  // queue nothing and return kWouldBlock
};

struct EngineOptions {
  size_t workers = 0;         // worker threads; 0 = one per online CPU
  size_t queue_depth = 0;     // requests in flight at most; 0 = 16 * workers * max_batch, within 256..4096
  size_t max_batch = 32;      // requests a worker takes from the queue at once (1..1024)
  WhenFull when_full = WhenFull::kBlock;  // the policy of submit() without one
};

struct WriteRequest {
  PageIndex index = 0;              // slot, < store.slots()
  const std::byte* page = nullptr;  // kPageSize bytes; see the stable-page contract
  void* cookie = nullptr;           // the caller's, handed back in request_done()
};

struct BatchResult {
  size_t requests = 0;  // requests in the batch
  size_t failed = 0;    // requests whose write the store refused
  Status first_error;   // the status of one failed request; OK when failed == 0
};

// How a submitter learns that its writes completed. Both callbacks run on a
// worker thread (batch_done of an empty batch runs inside submit()), one at a
// time per request, and must be short: a worker runs no other request
// meanwhile, and must not submit() with WhenFull::kBlock (the worker holds
// records that only it can give back, so it could wait for room forever).
// The object must live until batch_done() has returned; one object may serve
// any number of batches.
class WriteCompletion {
 public:
  virtual ~WriteCompletion() = default;
  // Once per request. `status` is OK when the page was stored or superseded,
  // else why the store refused it (the slot then keeps its old content).
  // From this call on the engine never reads request.page again: under
  // stable writes this is where the caller's promise ends.
  virtual void request_done(const WriteRequest& request, const Status& status) noexcept {}
  // Once per batch, after request_done() of each of its requests.
  virtual void batch_done(const BatchResult& result) noexcept {}
};

// A future for one batch: submit with it, then wait().
// Thread safety: wait() and done() from any thread; serves one batch.
class WriteLatch final : public WriteCompletion {
 public:
  WriteLatch();
  ~WriteLatch() override;
  void batch_done(const BatchResult& result) noexcept override;
  // Blocks until the batch completed and returns its result.
  BatchResult wait();
  bool done() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Latencies in nanoseconds, from a log-linear histogram (about 3 % relative
// error on each percentile).
struct LatencySummary {
  uint64_t count = 0;
  uint64_t p50_ns = 0;
  uint64_t p99_ns = 0;
  uint64_t p999_ns = 0;
  uint64_t max_ns = 0;
  double mean_ns = 0;
};

struct EngineStats {
  uint64_t workers = 0;
  uint64_t queue_depth = 0;
  uint64_t stable_writes = 0;      // 1 when workers compress the caller's page in place
  uint64_t submitted = 0;          // requests accepted by submit()
  uint64_t completed = 0;          // requests completed (stored, failed or superseded)
  uint64_t in_flight = 0;          // submitted - completed, read at one moment
  uint64_t blocked_submitters = 0; // submit() calls waiting for room at that moment
  uint64_t superseded = 0;         // completed without being stored: a newer write to the slot came first
  uint64_t failed = 0;             // completed with an error from the store
  uint64_t submit_calls = 0;       // submit() calls that queued something
  uint64_t queue_full = 0;         // submit() calls that found no room (waited or got kWouldBlock)
  uint64_t would_block = 0;        // of those, calls that returned kWouldBlock
  uint64_t worker_batches = 0;     // batches workers took from the queue
  uint64_t worker_batch_max = 0;   // largest such batch
  double worker_batch_mean = 0;    // requests per worker batch
  uint64_t in_flight_reads = 0;    // read() calls served from an in-flight write
  LatencySummary complete;         // submit() of a request to its request_done()
  LatencySummary submit_call;      // one submit() call, not counting the wait for room
  LatencySummary queue_full_wait;  // the wait for room of a blocking submit() that found none
};

// One JSON object with every field of EngineStats (latencies in ns).
std::string to_json(const EngineStats& stats);

class AsyncEngine {
 public:
  // Starts the workers. `store` must outlive the engine.
  static Result<std::unique_ptr<AsyncEngine>> create(Store& store, const EngineOptions& options = {});
  // Waits for every write in flight (flush()), then stops the workers.
  virtual ~AsyncEngine() = default;

  // Queues the requests and returns without waiting for them to be written.
  // Every request is checked first (index < slots, page not null): a bad one
  // fails the call with kOutOfRange or kInvalidArgument and queues nothing.
  // With WhenFull::kWouldBlock a batch either is queued whole or, when the
  // queue lacks room, nothing is and the result is kWouldBlock (a batch
  // larger than queue_depth can never fit: kInvalidArgument). `done` may be
  // null (no callbacks).
  // Cost (stable writes, no wait): two queue-lock round trips per call and
  // one in-flight-table lock per request; no allocation in steady state.
  virtual Status submit(std::span<const WriteRequest> requests, WriteCompletion* done,
                        WhenFull when_full) noexcept = 0;
  // As above, with EngineOptions::when_full.
  Status submit(std::span<const WriteRequest> requests, WriteCompletion* done) noexcept {
    return submit(requests, done, when_full_);
  }

  // Fills `out` with slot `index`: the newest write in flight to it, else
  // what the store holds.
  virtual Status read(PageIndex index, PageBuffer out) noexcept = 0;

  // Returns when nothing is in flight and every completion callback has
  // returned. Writes submitted meanwhile by other threads are waited for too,
  // so with submitters that never pause it may not return.
  virtual void flush() noexcept = 0;

  virtual EngineStats stats() const noexcept = 0;
  virtual const EngineOptions& options() const noexcept = 0;

 protected:
  explicit AsyncEngine(WhenFull when_full) : when_full_(when_full) {}

 private:
  WhenFull when_full_;
};

}  // namespace uzram
