#include "pool/arena.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "pool/os.h"
#include "pool_test_util.h"

namespace uzram::pool {
namespace {

TEST(ArenaTest, InitRejectsSizesOutOfRange) {
  Arena a;
  EXPECT_EQ(a.init(Arena::kMinPages - 1).code(), Status::Code::kInvalidArgument);
}

TEST(ArenaTest, RunsAreDisjointAndWritable) {
  Arena a;
  ASSERT_TRUE(a.init(1024).is_ok());
  std::vector<std::pair<uint32_t, uint32_t>> runs;
  for (uint32_t i = 0; i < 100; ++i) {
    uint32_t n = 1 + i % Arena::kMaxRun;
    Result<uint32_t> r = a.alloc_run(n);
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    testing::fill({a.page_address(*r), size_t{n} * kPageSize}, i);
    runs.emplace_back(*r, n);
  }
  std::sort(runs.begin(), runs.end());
  for (size_t i = 1; i < runs.size(); ++i) ASSERT_LE(runs[i - 1].first + runs[i - 1].second, runs[i].first);
  EXPECT_LE(a.spare_pages(), Arena::kMaxSparePages);
}

TEST(ArenaTest, SpareWindowStaysBounded) {
  Arena a;
  ASSERT_TRUE(a.init(4096).is_ok());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(a.alloc_run(3).has_value());
    ASSERT_LE(a.spare_pages(), Arena::kMaxSparePages);
  }
  EXPECT_EQ(a.carved_pages(), 600u);
}

TEST(ArenaTest, FreedRunIsReusedAndReadsAsZero) {
  Arena a;
  ASSERT_TRUE(a.init(1024).is_ok());
  Result<uint32_t> r = a.alloc_run(4);
  ASSERT_TRUE(r.has_value());
  testing::fill({a.page_address(*r), 4 * kPageSize}, 1);
  a.free_run(*r, 4);
  EXPECT_EQ(a.free_run_pages(), 4u);
  // Use up the spare window so that the next run must come from the list.
  while (a.spare_pages() >= 4) ASSERT_TRUE(a.alloc_run(4).has_value());
  Result<uint32_t> again = a.alloc_run(4);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *r);
  EXPECT_EQ(a.free_run_pages(), 0u);
  for (size_t i = 0; i < 4 * kPageSize; ++i) ASSERT_EQ(a.page_address(*again)[i], std::byte{0});
}

TEST(ArenaTest, ExhaustionSplitsAndCoalescesFreeRuns) {
  Arena a;
  ASSERT_TRUE(a.init(64).is_ok());
  std::vector<uint32_t> ones;
  for (int i = 0; i < 64; ++i) {
    Result<uint32_t> r = a.alloc_run(1);
    ASSERT_TRUE(r.has_value());
    ones.push_back(*r);
  }
  EXPECT_EQ(a.alloc_run(1).status().code(), Status::Code::kNoSpace);
  // Free pages 8..23: only single-page runs on the lists, but 16 in a row.
  for (uint32_t p = 8; p < 24; ++p) a.free_run(p, 1);
  Result<uint32_t> big = a.alloc_run(16);
  ASSERT_TRUE(big.has_value()) << big.status().to_string();
  EXPECT_EQ(*big, 8u);
  EXPECT_EQ(a.alloc_run(1).status().code(), Status::Code::kNoSpace);
  // A longer run is split for a shorter request.
  a.free_run(8, 16);
  ASSERT_EQ(a.alloc_run(5).value(), 8u);
  ASSERT_EQ(a.alloc_run(11).value(), 13u);
}

TEST(ArenaTest, PopulateFailureIsReportedAndLeavesTheArenaUsable) {
  Arena a;
  ASSERT_TRUE(a.init(1024).is_ok());
  os::fail_next_populates_for_testing(1);
  Result<uint32_t> r = a.alloc_run(2);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Status::Code::kNoSpace);
  Result<uint32_t> ok = a.alloc_run(2);
  ASSERT_TRUE(ok.has_value());
  // The same failure on a recycled run puts the run back.
  a.free_run(*ok, 2);
  while (a.spare_pages() >= 2) ASSERT_TRUE(a.alloc_run(2).has_value());
  os::fail_next_populates_for_testing(1);
  EXPECT_FALSE(a.alloc_run(2).has_value());
  EXPECT_EQ(a.free_run_pages(), 2u);
  EXPECT_EQ(a.alloc_run(2).value(), *ok);
}

TEST(ArenaTest, FailedRefillAheadKeepsTheRunAndTheArenaUsable) {
  Arena a;
  ASSERT_TRUE(a.init(1024).is_ok());
  // The first run refills the empty window by one batch, synchronously.
  ASSERT_TRUE(a.alloc_run(1).has_value());
  ASSERT_EQ(a.spare_pages(), Arena::kPopulateBatch - 1);
  ASSERT_TRUE(a.alloc_run(16).has_value());
  // This run leaves the window below half a batch: its thread refills ahead,
  // and that refill fails. The run itself is good.
  os::fail_next_populates_for_testing(1);
  Result<uint32_t> r = a.alloc_run(16);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  testing::fill({a.page_address(*r), 16 * kPageSize}, 7);
  EXPECT_TRUE(testing::holds({a.page_address(*r), 16 * kPageSize}, 7));
  EXPECT_EQ(a.spare_pages(), Arena::kPopulateBatch - 33);
  // Later runs refill the window again.
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(a.alloc_run(16).has_value());
  EXPECT_LE(a.spare_pages(), Arena::kMaxSparePages);
  EXPECT_EQ(a.carved_pages(), 1u + 18 * 16);
}

}  // namespace
}  // namespace uzram::pool
