// File: src/writeback/stress.cc
//
// Locks: Writer::mu (one per writer: its ready list) and Samples::mu, both
// leaves. Completions take Writer::mu from worker threads.
#include "writeback/stress.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "base/thread_annotations.h"
#include "writeback/forwarding_store.h"
#include "writeback/request.h"
#include "writeback/versioned_page.h"
#include "base/wait.h"

namespace uzram::writeback {
namespace {

constexpr size_t kMaxSamples = 8;

struct SlotState {
  std::byte* page = nullptr;        // the slot's source page
  uint32_t submitted = 0;           // last version submitted; its writer's only
  std::atomic<uint32_t> done{0};    // last version stored: release by the completion, acquire by readers
};

struct Shared {
  const StressOptions& options;
  AsyncEngine* engine = nullptr;
  std::vector<SlotState> slots;
  std::atomic<uint64_t> budget{0};  // writes still allowed when max_writes > 0
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ops{0};
  std::atomic<uint64_t> verified{0};
  std::atomic<uint64_t> corrupt{0};
  std::atomic<uint64_t> write_errors{0};
  std::atomic<uint64_t> read_errors{0};
  Mutex samples_mu;
  std::vector<std::string> samples UZRAM_GUARDED_BY(samples_mu);

  explicit Shared(const StressOptions& o) : options(o), slots(o.pages) {}

  // Reads `slot` and checks it is one whole version in [lo, hi].
  void verify(PageIndex slot, uint32_t lo, uint32_t hi, Status read_status, PageView page) {
    verified.fetch_add(1, std::memory_order_relaxed);
    std::optional<uint32_t> v;
    if (read_status.is_ok()) v = versioned_page_version(slot, page);
    if (read_status.is_ok() && v && *v >= lo && *v <= hi) return;
    if (!read_status.is_ok()) read_errors.fetch_add(1, std::memory_order_relaxed);
    corrupt.fetch_add(1, std::memory_order_relaxed);
    std::string what = !read_status.is_ok() ? "read failed: " + read_status.to_string()
                       : v                  ? "version " + std::to_string(*v)
                                            : std::string("no whole version (torn or foreign bytes)");
    MutexLock lock(&samples_mu);
    if (samples.size() < kMaxSamples) {
      samples.push_back("slot " + std::to_string(slot) + ": " + what + ", expected " + std::to_string(lo) +
                        ".." + std::to_string(hi));
    }
  }
};

class Writer final : public WriteCompletion {
 public:
  Writer(Shared& shared, size_t id, size_t count) : shared_(shared), id_(id), count_(count), rng_(shared.options.seed * 0x9E3779B97F4A7C15ull + id + 1) {
    MutexLock lock(&mu_);
    for (PageIndex s = id; s < shared.options.pages; s += count) ready_.push_back(s);
    ready_count_ = ready_.size();
  }

  // Worker thread: the write of request.index completed.
  void request_done(const WriteRequest& request, const Status& status) noexcept override {
    const auto version = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(request.cookie));
    SlotState& st = shared_.slots[request.index];
    if (status.is_ok()) {
      st.done.store(version, std::memory_order_release);
    } else {
      shared_.write_errors.fetch_add(1, std::memory_order_relaxed);
    }
    shared_.ops.fetch_add(1, std::memory_order_relaxed);
    // The promise ends here: rewrite the page at once, as the seed's swap
    // cache reused a page the instant writeback let go of it.
    if (shared_.options.mutate && !shared_.options.break_promise) {
      fill_versioned_page(request.index, version + 1, PageBuffer(st.page, kPageSize));
    }
    {
      MutexLock lock(&mu_);
      push_ready(request.index);
    }
    cv_.notify_one();
  }

  Status run() {
    const StressOptions& o = shared_.options;
    std::vector<PageIndex> take;
    std::vector<WriteRequest> requests;
    std::unique_ptr<std::byte[]> buf(new std::byte[kPageSize]);
    const PageBuffer out(buf.get(), kPageSize);
    take.reserve(o.batch);
    requests.reserve(o.batch);
    while (!shared_.stop.load(std::memory_order_relaxed)) {
      take.clear();
      {
        MutexLock lock(&mu_);
        // Some slot of ours is always in flight when none is ready, so a
        // completion will come.
        while (ready_count_ == 0) wait_on(cv_, mu_);
        const size_t n = std::min(o.batch, ready_count_);
        for (size_t i = 0; i < n; ++i) {
          take.push_back(ready_[ready_head_]);
          ready_head_ = (ready_head_ + 1) % ready_.size();
        }
        ready_count_ -= n;
      }
      size_t n = take.size();
      if (o.max_writes > 0) n = claim_budget(n);
      requests.clear();
      for (size_t i = 0; i < n; ++i) {
        const PageIndex slot = take[i];
        SlotState& st = shared_.slots[slot];
        const uint32_t v = ++st.submitted;
        // Under `mutate` the completion of version v - 1 already wrote version v.
        if (!o.mutate || o.break_promise || v == 1) fill_versioned_page(slot, v, PageBuffer(st.page, kPageSize));
        requests.push_back(WriteRequest{slot, st.page, reinterpret_cast<void*>(static_cast<uintptr_t>(v))});
      }
      if (n < take.size()) {  // out of budget: put the rest back and stop
        MutexLock lock(&mu_);
        for (size_t i = n; i < take.size(); ++i) push_ready(take[i]);
        shared_.stop.store(true, std::memory_order_relaxed);
      }
      if (n == 0) break;
      UZRAM_RETURN_IF_ERROR(shared_.engine->submit(requests, this, WhenFull::kBlock));
      if (o.break_promise) {
        // Break the promise on purpose: the pages change while in flight.
        for (const WriteRequest& r : requests) {
          const auto v = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(r.cookie));
          fill_versioned_page(r.index, v + 1, PageBuffer(shared_.slots[r.index].page, kPageSize));
        }
      }
      // Read back one of our slots, in flight or not.
      const PageIndex slot = pick_slot();
      const uint32_t lo = shared_.slots[slot].done.load(std::memory_order_acquire);
      const uint32_t hi = shared_.slots[slot].submitted;
      const Status s = shared_.engine->read(slot, out);
      shared_.verify(slot, lo, hi, s, out);
    }
    return Status::ok();
  }

 private:
  size_t claim_budget(size_t want) {
    uint64_t left = shared_.budget.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t n = std::min<uint64_t>(left, want);
      if (shared_.budget.compare_exchange_weak(left, left - n, std::memory_order_relaxed)) return n;
    }
  }

  void push_ready(PageIndex slot) UZRAM_REQUIRES(mu_) {
    ready_[(ready_head_ + ready_count_) % ready_.size()] = slot;
    ++ready_count_;
  }

  PageIndex pick_slot() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    const uint64_t owned = (shared_.options.pages - id_ + count_ - 1) / count_;
    return id_ + (rng_ % owned) * count_;
  }

  Shared& shared_;
  const size_t id_;     // this writer owns slots id_, id_ + count_, ...
  const size_t count_;
  uint64_t rng_;        // xorshift state, this writer's thread only
  Mutex mu_;
  std::condition_variable cv_;  // signalled when a slot becomes ready
  // Our slots with no write in flight, a FIFO ring as large as our slot set
  // (so it never overflows): every slot gets its turn, the whole store churns.
  std::vector<PageIndex> ready_ UZRAM_GUARDED_BY(mu_);
  size_t ready_head_ UZRAM_GUARDED_BY(mu_) = 0;
  size_t ready_count_ UZRAM_GUARDED_BY(mu_) = 0;
};

}  // namespace

Result<StressReport> run_stress(Store& store, const StressOptions& o) {
  if (o.writers == 0 || o.writers > 1024) return Status::invalid_argument("stress: writers must be 1..1024");
  if (o.batch == 0) return Status::invalid_argument("stress: batch must be at least 1");
  if (o.pages < o.writers || o.pages > store.slots() || o.pages > (uint64_t{1} << 32)) {
    return Status::invalid_argument("stress: pages must be at least writers and at most the store's slots");
  }
  if (o.seconds < 0 || (o.seconds == 0 && o.max_writes == 0)) {
    return Status::invalid_argument("stress: give seconds > 0 or max_writes > 0");
  }
  ForwardingStore unstable(store, false);
  Store& target = o.break_promise ? static_cast<Store&>(unstable) : store;
  Shared shared(o);
  shared.budget.store(o.max_writes, std::memory_order_relaxed);
  std::unique_ptr<std::byte[]> pages(new std::byte[o.pages * kPageSize]);
  for (uint64_t s = 0; s < o.pages; ++s) shared.slots[s].page = pages.get() + s * kPageSize;

  std::vector<std::unique_ptr<Writer>> writers;
  for (size_t i = 0; i < o.writers; ++i) writers.push_back(std::make_unique<Writer>(shared, i, o.writers));
  Result<std::unique_ptr<AsyncEngine>> engine = AsyncEngine::create(target, o.engine);
  if (!engine) return engine.status();
  shared.engine = engine->get();

  const auto start = std::chrono::steady_clock::now();
  std::vector<Status> results(o.writers);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < o.writers; ++i) {
    threads.emplace_back([&, i] { results[i] = writers[i]->run(); });
  }
  if (o.seconds > 0) {
    const auto deadline = start + std::chrono::duration<double>(o.seconds);
    while (!shared.stop.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    shared.stop.store(true, std::memory_order_relaxed);
  }
  for (std::thread& t : threads) t.join();
  (*engine)->flush();
  StressReport report;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const Status& s : results) UZRAM_RETURN_IF_ERROR(s);

  // Everything completed: each slot must be exactly its last stored version,
  // through the engine and in the store itself.
  std::unique_ptr<std::byte[]> buf(new std::byte[kPageSize]);
  const PageBuffer out(buf.get(), kPageSize);
  for (PageIndex s = 0; s < o.pages; ++s) {
    const uint32_t v = shared.slots[s].done.load(std::memory_order_acquire);
    Status st = (*engine)->read(s, out);
    shared.verify(s, v, v, st, out);
    st = store.read(s, out);
    shared.verify(s, v, v, st, out);
  }
  report.engine = (*engine)->stats();
  report.ops = shared.ops.load();
  report.pages_verified = shared.verified.load();
  report.corrupt_pages = shared.corrupt.load();
  report.write_errors = shared.write_errors.load();
  report.read_errors = shared.read_errors.load();
  MutexLock lock(&shared.samples_mu);
  report.corrupt_samples = shared.samples;
  return report;
}

}  // namespace uzram::writeback
