// RegionMap (src/swap/region_map.cc): ids, extents, splits and moves.
#include "swap/region_map.h"

#include <gtest/gtest.h>

namespace uzram::swap {
namespace {

constexpr uintptr_t kBase = 0x10000000;

TEST(RegionMapTest, AllocationsStartOnChunksAndRunOut) {
  RegionMap m(4 * PageTable::kChunkPages);
  Result<PageId> a = m.allocate(10);
  Result<PageId> b = m.allocate(600);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a % PageTable::kChunkPages, 0u);
  EXPECT_EQ(*b % PageTable::kChunkPages, 0u);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(m.allocate(2 * PageTable::kChunkPages).status().code(), Status::Code::kNoSpace);
  EXPECT_TRUE(m.allocate(PageTable::kChunkPages));
  m.release(*b, 600);
  EXPECT_TRUE(m.allocate(2 * PageTable::kChunkPages));
}

TEST(RegionMapTest, FindsPagesByAddressAndById) {
  RegionMap m(8192);
  PageId first = *m.allocate(100);
  m.add(kBase, 100, first);
  std::optional<Extent> e = m.find(kBase + 5 * 4096 + 17);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id_of(kBase + 5 * 4096), first + 5);
  EXPECT_FALSE(m.find(kBase + 100 * 4096));
  EXPECT_FALSE(m.find(kBase - 1));
  ASSERT_TRUE(m.find_id(first + 99));
  EXPECT_EQ(m.find_id(first + 99)->addr_of(first + 99), kBase + 99 * 4096);
  EXPECT_FALSE(m.find_id(first + 100));
  EXPECT_TRUE(m.covers(kBase, 100));
  EXPECT_FALSE(m.covers(kBase, 101));
  EXPECT_EQ(m.mapped_pages(), 100u);
}

TEST(RegionMapTest, RemovingTheMiddleSplitsAndRetiresWhenAllIsGone) {
  RegionMap m(8192);
  PageId first = *m.allocate(100);
  m.add(kBase, 100, first);
  std::vector<Extent> gone = m.remove(kBase + 10 * 4096, 20);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].first, first + 10);
  EXPECT_EQ(gone[0].pages, 20u);
  EXPECT_TRUE(m.covers(kBase, 10));
  EXPECT_FALSE(m.covers(kBase, 11));
  EXPECT_TRUE(m.covers(kBase + 30 * 4096, 70));
  EXPECT_EQ(m.extents().size(), 2u);
  EXPECT_TRUE(m.reclaim_retired([](PageId, uint64_t) { return true; }).empty());  // still live
  m.remove(kBase, 100);
  int asked = 0;
  EXPECT_TRUE(m.reclaim_retired([&](PageId, uint64_t) { return ++asked, false; }).empty());  // in flight
  EXPECT_EQ(asked, 1);
  std::vector<Extent> freed = m.reclaim_retired([](PageId, uint64_t) { return true; });
  ASSERT_EQ(freed.size(), 1u);
  EXPECT_EQ(freed[0].first, first);
  EXPECT_EQ(m.mapped_pages(), 0u);
}

TEST(RegionMapTest, MoveKeepsIdsAtNewAddresses) {
  RegionMap m(8192);
  PageId first = *m.allocate(64);
  m.add(kBase, 64, first);
  const uintptr_t to = kBase + 0x1000000;
  m.move(kBase + 16 * 4096, to, 16);
  EXPECT_FALSE(m.find(kBase + 16 * 4096));
  std::optional<Extent> e = m.find(to + 4096);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id_of(to + 4096), first + 17);
  EXPECT_EQ(m.find_id(first + 17)->addr_of(first + 17), to + 4096);
  EXPECT_EQ(m.find_id(first + 40)->addr_of(first + 40), kBase + 40 * 4096);
  auto lock = m.lock_shared();
  std::vector<Extent> parts = m.overlapping_locked(kBase, kBase + 64 * 4096);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].pages + parts[1].pages, 48u);
}

}  // namespace
}  // namespace uzram::swap
