// SwapCache (src/swap/swap_cache.cc) and RunQueue (src/swap/run_queue.cc).
#include "swap/swap_cache.h"

#include <gtest/gtest.h>

#include "swap/run_queue.h"

namespace uzram::swap {
namespace {

TEST(SwapCacheTest, GivesRunsAndRecyclesSlots) {
  auto c = SwapCache::create(100);
  ASSERT_TRUE(c);
  SwapCache& cache = **c;
  SlotRun a = cache.allocate(60);
  EXPECT_EQ(a.count, 60u);
  SlotRun b = cache.allocate(60);
  EXPECT_EQ(b.count, 40u);  // what is left, in one run
  EXPECT_EQ(cache.allocate(1).count, 0u);
  EXPECT_EQ(cache.used(), 100u);
  cache.free(a.first + 10, 5);
  SlotRun c2 = cache.allocate(8);
  EXPECT_EQ(c2.first, a.first + 10);
  EXPECT_EQ(c2.count, 5u);
  EXPECT_EQ(cache.slot_of(cache.addr(c2.first + 2)), c2.first + 2);
  cache.free(0, 100);
  EXPECT_EQ(cache.used(), 0u);
}

TEST(RunQueueTest, PopsWholeRunsOldestFirst) {
  RunQueue q;
  q.push(swap::Run{10, 4});
  q.push(swap::Run{100, 64});
  q.push(swap::Run{7, 0});  // ignored
  q.push(swap::Run{200, 1});
  EXPECT_EQ(q.pages(), 69u);
  std::vector<swap::Run> out;
  EXPECT_EQ(q.pop(5, &out), 68u);  // never splits a run
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].first, 10u);
  EXPECT_EQ(out[1].first, 100u);
  EXPECT_EQ(q.pages(), 1u);
  EXPECT_FALSE(q.empty());
}

}  // namespace
}  // namespace uzram::swap
