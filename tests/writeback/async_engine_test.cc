// Tests of src/writeback/async_engine.cc against an in-memory store.
#include "uzram/async_engine.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "writeback/mem_store.h"

namespace uzram::writeback {
namespace {

using testing::first_word;
using testing::MemStore;
using testing::word_page;
using Page = std::array<std::byte, kPageSize>;

// Counts every callback; checks each request completes exactly once.
class Recorder final : public WriteCompletion {
 public:
  void request_done(const WriteRequest& r, const Status& status) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    ++per_cookie_[r.cookie];
    if (!status.is_ok()) ++failed_;
    ++requests_;
  }
  void batch_done(const BatchResult& result) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    batch_sizes_.push_back(result.requests);
    // Every request of the batch reported before the batch did.
    requests_at_batch_done_.push_back(requests_);
  }
  size_t requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::map<void*, int> per_cookie() {
    std::lock_guard<std::mutex> lock(mu_);
    return per_cookie_;
  }
  std::vector<size_t> batch_sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_sizes_;
  }
  std::vector<size_t> requests_at_batch_done() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_at_batch_done_;
  }

 private:
  std::mutex mu_;
  std::map<void*, int> per_cookie_;
  std::vector<size_t> batch_sizes_;
  std::vector<size_t> requests_at_batch_done_;
  size_t requests_ = 0;
  size_t failed_ = 0;
};

std::unique_ptr<AsyncEngine> make_engine(Store& store, size_t workers, size_t depth = 64, size_t batch = 8) {
  EngineOptions o;
  o.workers = workers;
  o.queue_depth = depth;
  o.max_batch = batch;
  auto e = AsyncEngine::create(store, o);
  EXPECT_TRUE(e.has_value()) << e.status().to_string();
  return std::move(*e);
}

TEST(AsyncEngineTest, CompletesEachRequestOnceAndEachBatchAfterItsRequests) {
  MemStore store(256, true);
  auto engine = make_engine(store, 2);
  std::vector<Page> pages;
  for (uint64_t i = 0; i < 200; ++i) pages.push_back(word_page(1000 + i));
  Recorder rec;
  size_t next = 0;
  const size_t sizes[] = {1, 7, 32, 60, 100};  // 100 > depth: queued in parts
  for (size_t size : sizes) {
    std::vector<WriteRequest> reqs;
    for (size_t i = 0; i < size; ++i, ++next) reqs.push_back({next, pages[next].data(), &pages[next]});
    ASSERT_TRUE(engine->submit(reqs, &rec, WhenFull::kBlock).is_ok());
  }
  engine->flush();
  EXPECT_EQ(rec.requests(), 200u);
  const auto per = rec.per_cookie();
  ASSERT_EQ(per.size(), 200u);
  for (const auto& [cookie, n] : per) EXPECT_EQ(n, 1);
  auto got = rec.batch_sizes();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, std::vector<size_t>(std::begin(sizes), std::end(sizes)));
  for (uint64_t i = 0; i < 200; ++i) {
    Page out{};
    ASSERT_TRUE(store.read(i, out).is_ok());
    EXPECT_EQ(first_word(out.data()), 1000 + i);
  }
  const EngineStats s = engine->stats();
  EXPECT_EQ(s.submitted, 200u);
  EXPECT_EQ(s.completed, 200u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.submit_calls, 5u);
  EXPECT_EQ(s.complete.count, 200u);
  EXPECT_EQ(s.submit_call.count, 5u);
  EXPECT_GE(s.worker_batches, 200u / 8);
  EXPECT_LE(s.worker_batch_max, 8u);
}

TEST(AsyncEngineTest, WriteLatchReturnsTheBatchResult) {
  MemStore store(16, true);
  auto engine = make_engine(store, 1);
  Page a = word_page(5), b = word_page(6);
  const WriteRequest reqs[] = {{3, a.data(), nullptr}, {4, b.data(), nullptr}};
  WriteLatch latch;
  ASSERT_TRUE(engine->submit(reqs, &latch).is_ok());
  const BatchResult r = latch.wait();
  EXPECT_TRUE(latch.done());
  EXPECT_EQ(r.requests, 2u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(r.first_error.is_ok());
  Page out{};
  ASSERT_TRUE(store.read(4, out).is_ok());
  EXPECT_EQ(first_word(out.data()), 6u);
}

TEST(AsyncEngineTest, EmptyBatchCompletesAtOnce) {
  MemStore store(16, true);
  auto engine = make_engine(store, 1);
  WriteLatch latch;
  ASSERT_TRUE(engine->submit({}, &latch).is_ok());
  EXPECT_TRUE(latch.done());
  EXPECT_EQ(latch.wait().requests, 0u);
}

TEST(AsyncEngineTest, BadRequestQueuesNothing) {
  MemStore store(16, true);
  auto engine = make_engine(store, 1);
  Page a = word_page(1);
  const WriteRequest past_end[] = {{1, a.data(), nullptr}, {16, a.data(), nullptr}};
  EXPECT_EQ(engine->submit(past_end, nullptr).code(), Status::Code::kOutOfRange);
  const WriteRequest no_page[] = {{1, a.data(), nullptr}, {2, nullptr, nullptr}};
  EXPECT_EQ(engine->submit(no_page, nullptr).code(), Status::Code::kInvalidArgument);
  engine->flush();
  EXPECT_EQ(engine->stats().submitted, 0u);
  EXPECT_EQ(store.writes(), 0u);
}

TEST(AsyncEngineTest, CreateRejectsBadOptions) {
  MemStore store(16, true);
  EngineOptions o;
  o.max_batch = 0;
  EXPECT_EQ(AsyncEngine::create(store, o).status().code(), Status::Code::kInvalidArgument);
  o.max_batch = 8;
  o.workers = 5000;
  EXPECT_EQ(AsyncEngine::create(store, o).status().code(), Status::Code::kInvalidArgument);
  MemStore empty(0, true);
  EXPECT_EQ(AsyncEngine::create(empty, {}).status().code(), Status::Code::kInvalidArgument);
}

TEST(AsyncEngineTest, FlushWaitsForEveryWriteInFlight) {
  MemStore store(64, true);
  auto engine = make_engine(store, 2);
  std::vector<Page> pages;
  for (uint64_t i = 0; i < 40; ++i) pages.push_back(word_page(i + 1));
  std::vector<WriteRequest> reqs;
  for (uint64_t i = 0; i < 40; ++i) reqs.push_back({i, pages[i].data(), nullptr});
  Recorder rec;
  store.close_gate();
  ASSERT_TRUE(engine->submit(reqs, &rec).is_ok());
  std::atomic<bool> flushed{false};
  std::atomic<size_t> seen_at_flush{0};
  std::thread t([&] {
    engine->flush();
    seen_at_flush = rec.requests();
    flushed = true;
  });
  store.wait_at_gate(2);  // both workers hold a write: nothing can have completed
  EXPECT_FALSE(flushed.load());
  store.open_gate();
  t.join();
  EXPECT_EQ(seen_at_flush.load(), 40u);
  EXPECT_EQ(store.writes(), 40u);
}

TEST(AsyncEngineTest, FullQueueGivesWouldBlockOrBlocksAsAsked) {
  MemStore store(64, true);
  auto engine = make_engine(store, 1, /*depth=*/4, /*batch=*/2);
  std::vector<Page> pages;
  for (uint64_t i = 0; i < 8; ++i) pages.push_back(word_page(i + 1));
  store.close_gate();
  std::vector<WriteRequest> four;
  for (uint64_t i = 0; i < 4; ++i) four.push_back({i, pages[i].data(), nullptr});
  ASSERT_TRUE(engine->submit(four, nullptr, WhenFull::kWouldBlock).is_ok());
  store.wait_at_gate(1);
  const WriteRequest one[] = {{4, pages[4].data(), nullptr}};
  EXPECT_EQ(engine->submit(one, nullptr, WhenFull::kWouldBlock).code(), Status::Code::kWouldBlock);
  std::vector<WriteRequest> five(four);
  five.push_back(one[0]);
  EXPECT_EQ(engine->submit(five, nullptr, WhenFull::kWouldBlock).code(), Status::Code::kInvalidArgument);
  EngineStats s = engine->stats();
  EXPECT_EQ(s.would_block, 1u);
  EXPECT_EQ(s.queue_full, 1u);
  EXPECT_EQ(s.in_flight, 4u);

  std::atomic<bool> returned{false};
  WriteLatch latch;
  std::thread t([&] {
    EXPECT_TRUE(engine->submit(one, &latch, WhenFull::kBlock).is_ok());
    returned = true;
  });
  // The submitter must be waiting for room before the gate opens.
  while (engine->stats().blocked_submitters == 0) std::this_thread::yield();
  EXPECT_FALSE(returned.load());
  store.open_gate();
  t.join();
  EXPECT_EQ(latch.wait().requests, 1u);
  engine->flush();
  s = engine->stats();
  EXPECT_EQ(s.queue_full, 2u);
  EXPECT_EQ(s.queue_full_wait.count, 1u);
  EXPECT_EQ(store.writes(), 5u);
}

TEST(AsyncEngineTest, ReadOfSlotInFlightReturnsTheNewContents) {
  MemStore store(16, true);
  auto engine = make_engine(store, 1);
  Page old_page = word_page(111), new_page = word_page(222);
  const WriteRequest first[] = {{7, old_page.data(), nullptr}};
  ASSERT_TRUE(engine->submit(first, nullptr).is_ok());
  engine->flush();
  store.close_gate();
  const WriteRequest second[] = {{7, new_page.data(), nullptr}};
  ASSERT_TRUE(engine->submit(second, nullptr).is_ok());
  store.wait_at_gate(1);
  Page out{};
  ASSERT_TRUE(store.read(7, out).is_ok());
  EXPECT_EQ(first_word(out.data()), 111u);  // the store still holds the old one
  ASSERT_TRUE(engine->read(7, out).is_ok());
  EXPECT_EQ(out, new_page);
  EXPECT_EQ(engine->stats().in_flight_reads, 1u);
  store.open_gate();
  engine->flush();
  ASSERT_TRUE(engine->read(7, out).is_ok());
  EXPECT_EQ(out, new_page);
}

TEST(AsyncEngineTest, NewerWriteOfASlotSupersedesOneNotStarted) {
  MemStore store(16, true);
  auto engine = make_engine(store, 2);
  Page v1 = word_page(1), v2 = word_page(2), v3 = word_page(3);
  store.close_gate();
  const WriteRequest r1[] = {{5, v1.data(), nullptr}};
  ASSERT_TRUE(engine->submit(r1, nullptr).is_ok());
  store.wait_at_gate(1);  // v1 is being written
  WriteLatch l2;
  const WriteRequest r2[] = {{5, v2.data(), nullptr}};
  ASSERT_TRUE(engine->submit(r2, &l2).is_ok());
  const WriteRequest r3[] = {{5, v3.data(), nullptr}};
  ASSERT_TRUE(engine->submit(r3, nullptr).is_ok());
  // v2 completes while v1 is still held: v3 came before it started. Neither
  // reached the store meanwhile: one write of a slot runs at a time.
  EXPECT_TRUE(l2.wait().first_error.is_ok());
  EXPECT_EQ(store.at_gate(), 1u);
  Page out{};
  ASSERT_TRUE(engine->read(5, out).is_ok());
  EXPECT_EQ(out, v3);
  store.open_gate();
  engine->flush();
  EXPECT_EQ(store.log(5), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(engine->stats().superseded, 1u);
  EXPECT_EQ(store.same_slot_overlaps(), 0u);
}

TEST(AsyncEngineTest, RapidWritesToOneSlotEndWithTheLastVersion) {
  MemStore store(8, true);
  store.set_yield_in_write(true);
  auto engine = make_engine(store, 4, /*depth=*/32, /*batch=*/4);
  constexpr uint64_t kVersions = 3000;
  std::vector<Page> pages;
  for (uint64_t v = 1; v <= kVersions; ++v) pages.push_back(word_page(v));
  uint64_t v = 0;
  size_t batch = 1;
  while (v < kVersions) {
    std::vector<WriteRequest> reqs;
    for (size_t i = 0; i < batch && v < kVersions; ++i, ++v) reqs.push_back({2, pages[v].data(), nullptr});
    ASSERT_TRUE(engine->submit(reqs, nullptr).is_ok());
    batch = batch % 5 + 1;
  }
  engine->flush();
  Page out{};
  ASSERT_TRUE(store.read(2, out).is_ok());
  EXPECT_EQ(first_word(out.data()), kVersions);
  const std::vector<uint64_t> log = store.log(2);
  ASSERT_FALSE(log.empty());
  EXPECT_TRUE(std::is_sorted(log.begin(), log.end()));  // never an older one after a newer one
  EXPECT_EQ(store.same_slot_overlaps(), 0u);
  const EngineStats s = engine->stats();
  EXPECT_EQ(s.completed, kVersions);
  EXPECT_EQ(s.superseded + log.size(), kVersions);
}

TEST(AsyncEngineTest, ConcurrentSubmittersToOneSlotNeverGoBackward) {
  MemStore store(8, true);
  store.set_yield_in_write(true);
  auto engine = make_engine(store, 2, 16, 4);
  // Two threads write increasing versions to one slot; each thread's own
  // versions must reach the store in its order.
  constexpr uint64_t kEach = 2000;
  std::vector<Page> pages;
  for (uint64_t v = 0; v < 2 * kEach; ++v) pages.push_back(word_page(v));
  auto writer = [&](uint64_t base) {
    for (uint64_t v = 0; v < kEach; ++v) {
      const WriteRequest r[] = {{1, pages[base + v].data(), nullptr}};
      ASSERT_TRUE(engine->submit(r, nullptr).is_ok());
    }
  };
  std::thread a(writer, 0), b(writer, kEach);
  a.join();
  b.join();
  engine->flush();
  uint64_t last_a = 0, last_b = 0;
  bool seen_a = false, seen_b = false;
  for (uint64_t w : store.log(1)) {
    uint64_t& last = w < kEach ? last_a : last_b;
    bool& seen = w < kEach ? seen_a : seen_b;
    if (seen) {
      EXPECT_GT(w, last);
    }
    last = w;
    seen = true;
  }
  EXPECT_EQ(store.same_slot_overlaps(), 0u);
  Page out{};
  ASSERT_TRUE(store.read(1, out).is_ok());
  const uint64_t final_word = first_word(out.data());
  EXPECT_TRUE(final_word == kEach - 1 || final_word == 2 * kEach - 1);
}

TEST(AsyncEngineTest, CopyModeStoresTheVersionOfSubmitTime) {
  MemStore store(64, /*stable=*/false);
  auto engine = make_engine(store, 2);
  EXPECT_EQ(engine->stats().stable_writes, 0u);
  std::vector<Page> pages(32);
  store.close_gate();
  std::vector<WriteRequest> reqs;
  for (uint64_t i = 0; i < 32; ++i) {
    pages[i] = word_page(100 + i);
    reqs.push_back({i, pages[i].data(), nullptr});
  }
  ASSERT_TRUE(engine->submit(reqs, nullptr).is_ok());
  // The caller changes its pages the moment submit() returns.
  for (uint64_t i = 0; i < 32; ++i) pages[i] = word_page(900 + i);
  Page out{};
  ASSERT_TRUE(engine->read(3, out).is_ok());
  EXPECT_EQ(out, word_page(103));
  store.open_gate();
  engine->flush();
  for (uint64_t i = 0; i < 32; ++i) {
    ASSERT_TRUE(store.read(i, out).is_ok());
    EXPECT_EQ(out, word_page(100 + i));
  }
}

}  // namespace
}  // namespace uzram::writeback
