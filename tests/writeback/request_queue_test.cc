// Tests of src/writeback/request_queue.cc.
#include "writeback/request_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace uzram::writeback {
namespace {

Request* tail_of(Request* head) {
  while (head->next != nullptr) head = head->next;
  return head;
}

TEST(RequestQueueTest, NonBlockingReserveIsAllOrNothing) {
  RequestQueue q(8, false);
  auto a = q.reserve(5, false, 4, false);
  EXPECT_EQ(a.count, 5u);
  EXPECT_FALSE(a.found_full);
  auto b = q.reserve(4, false, 4, false);
  EXPECT_EQ(b.count, 0u);
  EXPECT_TRUE(b.found_full);
  auto c = q.reserve(3, false, 4, true);
  EXPECT_EQ(c.count, 3u);
  EXPECT_NE(c.batch, nullptr);
  EXPECT_EQ(q.in_flight(), 8u);
  q.check_invariants();
  q.release(a.head, 5, nullptr);
  q.release(c.head, 3, c.batch);
  EXPECT_EQ(q.in_flight(), 0u);
  q.check_invariants();
}

TEST(RequestQueueTest, CopyBuffersAreDistinctPages) {
  RequestQueue q(4, true);
  auto a = q.reserve(4, false, 4, false);
  std::vector<std::byte*> copies;
  for (Request* r = a.head; r != nullptr; r = r->next) copies.push_back(r->copy);
  ASSERT_EQ(copies.size(), 4u);
  std::sort(copies.begin(), copies.end());
  for (size_t i = 1; i < copies.size(); ++i) EXPECT_GE(copies[i] - copies[i - 1], static_cast<ptrdiff_t>(kPageSize));
  q.release(a.head, 4, nullptr);
}

TEST(RequestQueueTest, PopKeepsFifoOrderAndBatchesUpToMax) {
  RequestQueue q(16, false);
  auto a = q.reserve(10, false, 4, false);
  int i = 0;
  for (Request* r = a.head; r != nullptr; r = r->next) r->index = i++;
  q.push(a.head, tail_of(a.head), 10);
  Request* out[16];
  ASSERT_EQ(q.pop(out, 4), 4u);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(out[k]->index, static_cast<PageIndex>(k));
  ASSERT_EQ(q.pop(out + 4, 16), 6u);
  for (int k = 4; k < 10; ++k) EXPECT_EQ(out[k]->index, static_cast<PageIndex>(k));
  q.check_invariants();
  for (int k = 0; k < 9; ++k) out[k]->next = out[k + 1];
  out[9]->next = nullptr;
  q.release(out[0], 10, nullptr);
  EXPECT_EQ(q.in_flight(), 0u);
}

TEST(RequestQueueTest, BlockingReserveWaitsForHalfTheQueueAndTakesWhatIsFree) {
  RequestQueue q(8, false);
  auto all = q.reserve(8, false, 4, false);
  ASSERT_EQ(all.count, 8u);
  std::atomic<size_t> got{0};
  std::thread t([&] {
    auto r = q.reserve(6, true, 2, false);  // wants 6, would settle for a chunk of 2
    got = r.count;
    EXPECT_TRUE(r.found_full);
    q.release(r.head, r.count, nullptr);
  });
  while (q.room_waiters() == 0) std::this_thread::yield();
  // Give back 3: enough for the chunk of 2, but below half the queue (the
  // hysteresis), so the submitter sleeps on.
  Request* fourth = all.head->next->next->next;
  Request* rest = fourth->next;
  all.head->next->next->next = nullptr;
  fourth->next = nullptr;
  q.release(all.head, 3, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(got.load(), 0u);
  EXPECT_EQ(q.room_waiters(), 1u);
  // One more makes half the queue free: it takes those 4, not 6.
  q.release(fourth, 1, nullptr);
  t.join();
  EXPECT_EQ(got.load(), 4u);
  q.release(rest, 4, nullptr);
  q.wait_idle();
  EXPECT_EQ(q.in_flight(), 0u);
}

TEST(RequestQueueTest, StopWakesPoppersAfterTheQueueDrains) {
  RequestQueue q(4, false);
  auto a = q.reserve(1, false, 1, false);
  q.push(a.head, a.head, 1);
  std::atomic<int> popped{0};
  std::thread t([&] {
    Request* out[4];
    size_t n;
    while ((n = q.pop(out, 4)) > 0) {
      popped += static_cast<int>(n);
      q.release(out[0], 1, nullptr);
    }
  });
  q.wait_idle();
  q.stop();
  t.join();
  EXPECT_EQ(popped.load(), 1);
}

}  // namespace
}  // namespace uzram::writeback
