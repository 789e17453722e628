// Stress tests of the writeback engine over the real Store: the seed's race
// for a few seconds, and many writes to a few hot slots at once. CI runs
// them under ThreadSanitizer (label "stress").
#include "uzram/async_engine.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "writeback/stress.h"
#include "writeback/versioned_page.h"

namespace uzram::writeback {
namespace {

std::unique_ptr<Store> open_store(uint64_t pages, double inject) {
  StoreOptions o;
  o.disksize = pages * kPageSize;
  o.algorithm = "lz4";
  o.inject_fast_path_failure = inject;
  auto s = Store::open(o);
  EXPECT_TRUE(s.has_value()) << s.status().to_string();
  return s.has_value() ? std::move(*s) : nullptr;
}

void expect_clean(const StressReport& r) {
  EXPECT_EQ(r.corrupt_pages, 0u);
  for (const std::string& s : r.corrupt_samples) ADD_FAILURE() << s;
  EXPECT_EQ(r.write_errors, 0u);
  EXPECT_GT(r.ops, 0u);
  EXPECT_EQ(r.engine.in_flight, 0u);
  EXPECT_EQ(r.engine.completed, r.engine.submitted);
}

TEST(AsyncEngineStressTest, MutatorsAndFailingFastPathForTwoSeconds) {
  auto store = open_store(2048, 0.5);
  ASSERT_NE(store, nullptr);
  StressOptions o;
  o.seconds = 2;
  o.writers = 2;
  o.pages = 2048;
  o.mutate = true;
  o.engine.workers = 2;
  auto r = run_stress(*store, o);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_clean(*r);
  EXPECT_GE(r->pages_verified, 2 * 2048u);
}

TEST(AsyncEngineStressTest, BrokenPromiseInCopyModeForTwoSeconds) {
  auto store = open_store(1024, 0.5);
  ASSERT_NE(store, nullptr);
  StressOptions o;
  o.seconds = 2;
  o.writers = 2;
  o.pages = 1024;
  o.break_promise = true;
  o.engine.workers = 2;
  auto r = run_stress(*store, o);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_clean(*r);
  EXPECT_EQ(r->engine.stable_writes, 0u);
}

// Several versions of each hot slot in flight at once, each from its own
// buffer: reads never go back past a completed version, and each slot ends
// with its last version.
TEST(AsyncEngineStressTest, HotSlotsWithManyVersionsInFlight) {
  constexpr uint64_t kSlots = 64;
  constexpr int kThreads = 2;
  constexpr uint64_t kHotPerThread = 4;
  constexpr size_t kRing = 128;     // buffers per thread
  constexpr uint32_t kWrites = 6000;  // per thread
  auto store = open_store(kSlots, 0.5);
  ASSERT_NE(store, nullptr);
  EngineOptions eo;
  eo.workers = 2;
  eo.queue_depth = 64;
  eo.max_batch = 4;
  auto engine = AsyncEngine::create(*store, eo);
  ASSERT_TRUE(engine.has_value());

  struct Buffer {
    std::array<std::byte, kPageSize> page;
    std::atomic<bool> busy{false};
  };
  struct SlotSeen {
    std::atomic<uint32_t> done{0};  // highest version completed
    uint32_t submitted = 0;         // its thread's only
  };
  struct Done final : WriteCompletion {
    SlotSeen* seen = nullptr;
    void request_done(const WriteRequest& r, const Status& s) noexcept override {
      EXPECT_TRUE(s.is_ok());
      auto* b = static_cast<Buffer*>(r.cookie);
      uint64_t tag;
      std::memcpy(&tag, b->page.data(), 8);
      const auto v = static_cast<uint32_t>(tag);
      std::atomic<uint32_t>& d = seen[r.index].done;
      uint32_t cur = d.load(std::memory_order_relaxed);
      while (v > cur && !d.compare_exchange_weak(cur, v, std::memory_order_release)) {
      }
      b->busy.store(false, std::memory_order_release);
    }
  };
  std::vector<SlotSeen> seen(kSlots);
  Done done;
  done.seen = seen.data();
  std::atomic<uint64_t> bad{0};
  auto writer = [&](int t) {
    std::vector<Buffer> ring(kRing);
    std::array<std::byte, kPageSize> out;
    for (uint32_t i = 0; i < kWrites; ++i) {
      const PageIndex slot = t * kHotPerThread + i % kHotPerThread;
      Buffer& b = ring[i % kRing];
      while (b.busy.load(std::memory_order_acquire)) std::this_thread::yield();
      b.busy.store(true, std::memory_order_relaxed);
      const uint32_t v = ++seen[slot].submitted;
      fill_versioned_page(slot, v, b.page);
      const WriteRequest req[] = {{slot, b.page.data(), &b}};
      ASSERT_TRUE((*engine)->submit(req, &done).is_ok());
      const PageIndex check = t * kHotPerThread + (i * 7) % kHotPerThread;
      const uint32_t lo = seen[check].done.load(std::memory_order_acquire);
      const uint32_t hi = seen[check].submitted;
      ASSERT_TRUE((*engine)->read(check, out).is_ok());
      const auto got = versioned_page_version(check, out);
      if (!got || *got < lo || *got > hi) bad.fetch_add(1);
    }
    (*engine)->flush();  // the ring's buffers must outlive their writes
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) ts.emplace_back(writer, t);
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0u);
  std::array<std::byte, kPageSize> out;
  for (PageIndex s = 0; s < kThreads * kHotPerThread; ++s) {
    ASSERT_TRUE(store->read(s, out).is_ok());
    EXPECT_EQ(versioned_page_version(s, out), seen[s].submitted) << "slot " << s;
  }
  const EngineStats st = (*engine)->stats();
  EXPECT_EQ(st.completed, uint64_t{kThreads} * kWrites);
}

}  // namespace
}  // namespace uzram::writeback
