// Tests of src/nbd/block_status.cc: extents from page states.
#include "nbd/block_status.h"

#include <gtest/gtest.h>

#include <vector>

#include "nbd/protocol.h"

namespace uzram::nbd {
namespace {

constexpr uint32_t kHole = kStateHole | kStateZero;
constexpr uint32_t kZero = kStateZero;
constexpr uint32_t kData = 0;

// Pages 0-1 data, 2-4 holes, 5 zero, 6.. data.
uint32_t layout(PageIndex i) {
  if (i < 2) return kData;
  if (i < 5) return kHole;
  if (i == 5) return kZero;
  return kData;
}

TEST(BlockStatusTest, NeighbouringPagesWithTheSameStateMerge) {
  const auto e = allocation_extents(0, 8 * kPageSize, false, kMaxExtents, layout);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].length, 2 * kPageSize);
  EXPECT_EQ(e[0].flags, kData);
  EXPECT_EQ(e[1].length, 3 * kPageSize);
  EXPECT_EQ(e[1].flags, kHole);
  EXPECT_EQ(e[2].length, kPageSize);
  EXPECT_EQ(e[2].flags, kZero);
  EXPECT_EQ(e[3].length, 2 * kPageSize);
}

TEST(BlockStatusTest, ByteOffsetsCutTheFirstAndLastExtent) {
  const auto e = allocation_extents(kPageSize + 100, 2 * kPageSize, false, kMaxExtents, layout);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].length, kPageSize - 100);
  EXPECT_EQ(e[0].flags, kData);
  EXPECT_EQ(e[1].length, kPageSize + 100);
  EXPECT_EQ(e[1].flags, kHole);
  uint64_t total = 0;
  for (const auto& x : e) total += x.length;
  EXPECT_EQ(total, 2 * kPageSize);
}

TEST(BlockStatusTest, ARangeInsideOnePageIsOneExtent) {
  const auto e = allocation_extents(5 * kPageSize + 7, 9, false, kMaxExtents, layout);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].length, 9u);
  EXPECT_EQ(e[0].flags, kZero);
}

TEST(BlockStatusTest, ReqOneGivesExactlyOneExtentNoLongerThanAsked) {
  const auto e = allocation_extents(0, 8 * kPageSize, true, kMaxExtents, layout);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].length, 2 * kPageSize);
}

TEST(BlockStatusTest, TheExtentLimitGivesAPrefix) {
  auto alternating = [](PageIndex i) { return i % 2 ? kHole : kData; };
  const auto e = allocation_extents(0, 100 * kPageSize, false, 10, alternating);
  ASSERT_EQ(e.size(), 10u);
  for (const auto& x : e) EXPECT_EQ(x.length, kPageSize);
}

TEST(BlockStatusTest, EncodingIsContextIdThenPairs) {
  const std::string s = encode_block_status(7, {{4096, kHole}, {10, kData}});
  ASSERT_EQ(s.size(), 4u + 16u);
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  EXPECT_EQ(load_be32(p), 7u);
  EXPECT_EQ(load_be32(p + 4), 4096u);
  EXPECT_EQ(load_be32(p + 8), kHole);
  EXPECT_EQ(load_be32(p + 12), 10u);
  EXPECT_EQ(load_be32(p + 16), kData);
}

}  // namespace
}  // namespace uzram::nbd
