// File: src/writeback/async_engine.cc
//
// The engine: submit() fills records and queues them; worker threads pop
// batches, claim each request in the in-flight table, write it to the store,
// and complete it.
//
// Lock order (outermost first); no two are ever held together in practice,
// and no lock is held while the store writes or a callback runs:
//   1. RequestQueue::mu_           (queue and free lists)
//   2. InFlightTable::Shard::mu    (one slot shard)
//   3. Store's own locks           (inside store.write / store.read)
//   4. WriteLatch::State::mu       (inside batch_done)
#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstring>
#include <memory>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "uzram/async_engine.h"
#include "writeback/in_flight_table.h"
#include "writeback/latency_histogram.h"
#include "writeback/request_queue.h"
#include "base/wait.h"

namespace uzram {

// ---- WriteLatch ------------------------------------------------------------

struct WriteLatch::State {
  mutable Mutex mu;
  std::condition_variable cv;
  bool done UZRAM_GUARDED_BY(mu) = false;
  BatchResult result UZRAM_GUARDED_BY(mu);
};

WriteLatch::WriteLatch() : state_(std::make_unique<State>()) {}
WriteLatch::~WriteLatch() = default;

void WriteLatch::batch_done(const BatchResult& result) noexcept {
  // Notify under the lock: once it is released, wait() may return and the
  // latch be destroyed, so nothing here may touch it after the unlock.
  MutexLock lock(&state_->mu);
  state_->result = result;
  state_->done = true;
  state_->cv.notify_all();
}

BatchResult WriteLatch::wait() {
  MutexLock lock(&state_->mu);
  while (!state_->done) wait_on(state_->cv, state_->mu);
  return state_->result;
}

bool WriteLatch::done() const noexcept {
  MutexLock lock(&state_->mu);
  return state_->done;
}

// ---- to_json ---------------------------------------------------------------

namespace {
nlohmann::ordered_json latency_json(const LatencySummary& s) {
  return {{"count", s.count}, {"p50_ns", s.p50_ns}, {"p99_ns", s.p99_ns}, {"p999_ns", s.p999_ns},
          {"max_ns", s.max_ns}, {"mean_ns", s.mean_ns}};
}
}  // namespace

std::string to_json(const EngineStats& s) {
  nlohmann::ordered_json j = {
      {"workers", s.workers},
      {"queue_depth", s.queue_depth},
      {"stable_writes", s.stable_writes},
      {"submitted", s.submitted},
      {"completed", s.completed},
      {"in_flight", s.in_flight},
      {"blocked_submitters", s.blocked_submitters},
      {"superseded", s.superseded},
      {"failed", s.failed},
      {"submit_calls", s.submit_calls},
      {"queue_full", s.queue_full},
      {"would_block", s.would_block},
      {"worker_batches", s.worker_batches},
      {"worker_batch_max", s.worker_batch_max},
      {"worker_batch_mean", s.worker_batch_mean},
      {"in_flight_reads", s.in_flight_reads},
      {"complete_latency", latency_json(s.complete)},
      {"submit_call_latency", latency_json(s.submit_call)},
      {"queue_full_wait", latency_json(s.queue_full_wait)},
  };
  return j.dump();
}

namespace writeback {
namespace {

constexpr size_t kMaxWorkers = 1024;
constexpr size_t kMaxBatchLimit = 1024;
constexpr size_t kMaxDepth = size_t{1} << 20;

// What a worker counts of the requests it completes. One per worker, on its
// own cache lines, written only by that worker (relaxed atomics, so that
// stats() may read them meanwhile) and summed by stats(): with one shared
// set, every page completed moved the same lines between the workers' CPUs.
struct alignas(64) WorkerCounters {
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> superseded{0};
  std::atomic<uint64_t> failed{0};
  LatencyHistogram complete_latency;
};

// Records a worker completed and has not yet returned to the queue: they go
// back in one lock round trip per worker batch, not one per request.
struct Completed {
  WorkerCounters* counters = nullptr;  // the worker's own; kept across give_back()
  Request* head = nullptr;
  size_t count = 0;
  Batch* batches = nullptr;
};

class Engine final : public AsyncEngine {
 public:
  Engine(Store& store, const EngineOptions& options)
      : AsyncEngine(options.when_full),
        store_(store),
        options_(options),
        slots_(store.slots()),
        queue_(options.queue_depth, !store.stable_writes()),
        worker_counters_(std::make_unique<WorkerCounters[]>(options.workers)) {
    for (size_t i = 0; i < options.workers; ++i) complete_latencies_.push_back(&worker_counters_[i].complete_latency);
  }

  ~Engine() override {
    flush();
    queue_.stop();
    for (std::thread& t : workers_) t.join();
  }

  Status start() {
    try {
      workers_.reserve(options_.workers);
      for (size_t i = 0; i < options_.workers; ++i) workers_.emplace_back([this, i] { worker_main(i); });
    } catch (const std::system_error& e) {
      queue_.stop();
      for (std::thread& t : workers_) t.join();
      workers_.clear();
      return Status::internal("cannot start writeback workers", e.code().value());
    }
    return Status::ok();
  }

  Status submit(std::span<const WriteRequest> requests, WriteCompletion* done,
                WhenFull when_full) noexcept override;
  Status read(PageIndex index, PageBuffer out) noexcept override;
  void flush() noexcept override { queue_.wait_idle(); }
  EngineStats stats() const noexcept override;
  const EngineOptions& options() const noexcept override { return options_; }

 private:
  void worker_main(size_t id) noexcept;
  void run(Request* r, const InFlightTable::ClaimResult& claim, Completed& c) noexcept;
  void complete(Request* r, const Status& status, bool superseded, Completed& c) noexcept;
  void give_back(Completed& c) noexcept;

  Store& store_;
  const EngineOptions options_;
  const uint64_t slots_;
  RequestQueue queue_;
  InFlightTable table_;
  std::vector<std::thread> workers_;  // written by start() before any submit, joined by the destructor
  const std::unique_ptr<WorkerCounters[]> worker_counters_;  // [options_.workers]
  std::vector<const LatencyHistogram*> complete_latencies_;  // of each worker; immutable after construction

  // Statistics: relaxed atomics, each exact on its own.
  std::atomic<uint64_t> submitted_{0};
  std::atomic<uint64_t> submit_calls_{0};
  std::atomic<uint64_t> queue_full_{0};
  std::atomic<uint64_t> would_block_{0};
  std::atomic<uint64_t> worker_batches_{0};
  std::atomic<uint64_t> worker_batch_requests_{0};
  std::atomic<uint64_t> worker_batch_max_{0};
  std::atomic<uint64_t> in_flight_reads_{0};
  LatencyHistogram submit_latency_;
  LatencyHistogram wait_latency_;
};

// ---- submit ------------------------------------------------------------------

Status Engine::submit(std::span<const WriteRequest> requests, WriteCompletion* done,
                      WhenFull when_full) noexcept {
  const uint64_t start = now_ns();
  for (const WriteRequest& q : requests) {
    if (q.page == nullptr) return Status::invalid_argument("writeback: request without a page");
    if (q.index >= slots_) return Status::out_of_range("writeback: slot index past the end of the store");
  }
  const size_t n = requests.size();
  if (n == 0) {
    if (done != nullptr) done->batch_done(BatchResult{});
    return Status::ok();
  }
  const bool block = when_full == WhenFull::kBlock;
  if (!block && n > queue_.depth()) {
    return Status::invalid_argument("writeback: batch larger than queue_depth cannot be queued without blocking");
  }
  Batch* batch = nullptr;
  bool found_full = false;
  uint64_t waited = 0;
  size_t pos = 0;
  while (pos < n) {
    RequestQueue::Reserved res = queue_.reserve(n - pos, block, options_.max_batch, done != nullptr && batch == nullptr);
    found_full |= res.found_full;
    waited += res.waited_ns;
    if (res.count == 0) {
      queue_full_.fetch_add(1, std::memory_order_relaxed);
      if (!block) {
        would_block_.fetch_add(1, std::memory_order_relaxed);
        return Status::would_block("writeback: queue full");
      }
      // Only a destructor running beside this submit() stops the queue.
      assert(pos == 0);
      return Status::internal("writeback: engine stopped");
    }
    if (res.batch != nullptr) {
      batch = res.batch;
      batch->done = done;
      batch->size = static_cast<uint32_t>(n);
      batch->failed.store(0, std::memory_order_relaxed);
      batch->remaining.store(static_cast<uint32_t>(n), std::memory_order_relaxed);
    }
    // The records are ours until push(): fill them, copy the pages when the
    // store does not take stable writes, and make each the newest of its slot
    // before a worker can see it.
    const uint64_t ts = now_ns();
    Request* tail = nullptr;
    for (Request* r = res.head; r != nullptr; r = r->next) {
      const WriteRequest& q = requests[pos++];
      r->index = q.index;
      r->caller_page = q.page;
      r->cookie = q.cookie;
      r->batch = batch;
      r->submit_ns = ts;
      if (r->copy != nullptr) {
        std::memcpy(r->copy, q.page, kPageSize);
        r->page = r->copy;
      } else {
        r->page = q.page;
      }
      tail = r;
    }
    table_.add_all(res.head);
    queue_.push(res.head, tail, res.count);
  }
  submitted_.fetch_add(n, std::memory_order_relaxed);
  submit_calls_.fetch_add(1, std::memory_order_relaxed);
  if (found_full) {
    queue_full_.fetch_add(1, std::memory_order_relaxed);
    wait_latency_.record(waited);
  }
  submit_latency_.record(now_ns() - start - waited);
  return Status::ok();
}

// ---- workers -----------------------------------------------------------------

void Engine::worker_main(size_t id) noexcept {
  std::vector<Request*> popped(options_.max_batch);
  std::vector<InFlightTable::ClaimResult> claims(options_.max_batch);
  Completed c;
  c.counters = &worker_counters_[id];
  for (;;) {
    const size_t n = queue_.pop(popped.data(), popped.size());
    if (n == 0) return;  // stopped and drained
    worker_batches_.fetch_add(1, std::memory_order_relaxed);
    worker_batch_requests_.fetch_add(n, std::memory_order_relaxed);
    uint64_t m = worker_batch_max_.load(std::memory_order_relaxed);
    while (n > m && !worker_batch_max_.compare_exchange_weak(m, n, std::memory_order_relaxed)) {
    }
    table_.claim_all(popped.data(), n, claims.data());
    for (size_t i = 0; i < n; ++i) run(popped[i], claims[i], c);
    give_back(c);
  }
}

// Writes r unless a newer write to its slot makes it moot, then whatever
// newer write of the slot was deferred behind it (the per-slot order).
void Engine::run(Request* r, const InFlightTable::ClaimResult& claim, Completed& c) noexcept {
  if (claim.superseded != nullptr) complete(claim.superseded, Status::ok(), true, c);
  if (claim.claim != InFlightTable::Claim::kRun) return;
  while (r != nullptr) {
    const Status status = store_.write(r->index, PageView(r->page, kPageSize));
    const InFlightTable::FinishResult fin = table_.finish(r);
    complete(r, status, false, c);
    if (fin.superseded != nullptr) complete(fin.superseded, Status::ok(), true, c);
    r = fin.next;
  }
}

void Engine::complete(Request* r, const Status& status, bool superseded, Completed& c) noexcept {
  WorkerCounters& counters = *c.counters;
  counters.complete_latency.record(now_ns() - r->submit_ns);
  counters.completed.fetch_add(1, std::memory_order_relaxed);
  if (superseded) counters.superseded.fetch_add(1, std::memory_order_relaxed);
  if (!status.is_ok()) counters.failed.fetch_add(1, std::memory_order_relaxed);
  if (Batch* b = r->batch; b != nullptr) {
    b->done->request_done(WriteRequest{r->index, r->caller_page, r->cookie}, status);
    if (!status.is_ok() && b->failed.fetch_add(1, std::memory_order_relaxed) == 0) b->first_error = status;
    // acq_rel: the last completer sees every earlier completer's first_error.
    if (b->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      BatchResult result{b->size, b->failed.load(std::memory_order_relaxed), std::move(b->first_error)};
      b->first_error = Status::ok();
      b->done->batch_done(result);
      b->done = nullptr;
      b->next = c.batches;
      c.batches = b;
    }
  }
  r->batch = nullptr;
  r->next = c.head;
  c.head = r;
  // A long chain of same-slot hand-overs must not hold many records back.
  if (++c.count >= options_.max_batch * 2) give_back(c);
}

void Engine::give_back(Completed& c) noexcept {
  if (c.count == 0 && c.batches == nullptr) return;
  queue_.release(c.head, c.count, c.batches);
  c.head = nullptr;
  c.count = 0;
  c.batches = nullptr;
}

// ---- read and stats ----------------------------------------------------------

Status Engine::read(PageIndex index, PageBuffer out) noexcept {
  if (table_.read(index, out)) {
    in_flight_reads_.fetch_add(1, std::memory_order_relaxed);
    return Status::ok();
  }
  // Not in the table: the newest write of the slot, if any, has reached the
  // store (a slot leaves the table only after its newest write did).
  return store_.read(index, out);
}

EngineStats Engine::stats() const noexcept {
  EngineStats s;
  s.workers = options_.workers;
  s.queue_depth = options_.queue_depth;
  s.stable_writes = store_.stable_writes() ? 1 : 0;
  for (size_t i = 0; i < options_.workers; ++i) {
    const WorkerCounters& w = worker_counters_[i];
    s.completed += w.completed.load(std::memory_order_relaxed);
    s.superseded += w.superseded.load(std::memory_order_relaxed);
    s.failed += w.failed.load(std::memory_order_relaxed);
  }
  s.submitted = submitted_.load(std::memory_order_relaxed);
  s.in_flight = queue_.in_flight();
  s.blocked_submitters = queue_.room_waiters();
  s.submit_calls = submit_calls_.load(std::memory_order_relaxed);
  s.queue_full = queue_full_.load(std::memory_order_relaxed);
  s.would_block = would_block_.load(std::memory_order_relaxed);
  s.worker_batches = worker_batches_.load(std::memory_order_relaxed);
  s.worker_batch_max = worker_batch_max_.load(std::memory_order_relaxed);
  const uint64_t reqs = worker_batch_requests_.load(std::memory_order_relaxed);
  s.worker_batch_mean = s.worker_batches ? static_cast<double>(reqs) / static_cast<double>(s.worker_batches) : 0;
  s.in_flight_reads = in_flight_reads_.load(std::memory_order_relaxed);
  s.complete = LatencyHistogram::summary_of(complete_latencies_);
  s.submit_call = submit_latency_.summary();
  s.queue_full_wait = wait_latency_.summary();
  return s;
}

}  // namespace
}  // namespace writeback

// ---- create ----------------------------------------------------------------

Result<std::unique_ptr<AsyncEngine>> AsyncEngine::create(Store& store, const EngineOptions& options) {
  EngineOptions o = options;
  if (o.workers == 0) {
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.workers = cpus > 0 ? static_cast<size_t>(cpus) : 1;
  }
  if (o.workers > writeback::kMaxWorkers) return Status::invalid_argument("writeback: workers must be at most 1024");
  if (o.max_batch == 0 || o.max_batch > writeback::kMaxBatchLimit) {
    return Status::invalid_argument("writeback: max_batch must be 1..1024");
  }
  if (o.queue_depth == 0) o.queue_depth = std::clamp<size_t>(16 * o.workers * o.max_batch, 256, 4096);
  if (o.queue_depth > writeback::kMaxDepth) return Status::invalid_argument("writeback: queue_depth must be at most 2^20");
  if (store.slots() == 0) return Status::invalid_argument("writeback: the store has no slots");
  auto engine = std::make_unique<writeback::Engine>(store, o);
  UZRAM_RETURN_IF_ERROR(engine->start());
  return std::unique_ptr<AsyncEngine>(std::move(engine));
}

}  // namespace uzram
