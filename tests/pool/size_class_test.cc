#include "pool/size_class.h"

#include <gtest/gtest.h>

#include "pool/zspage.h"

namespace uzram::pool {
namespace {

TEST(SizeClassTest, PagesPerZspageTakesLeastWastedFraction) {
  EXPECT_EQ(pages_per_zspage_for(32, 8), 1u);    // divides a page
  EXPECT_EQ(pages_per_zspage_for(4096, 16), 1u);  // idem
  EXPECT_EQ(pages_per_zspage_for(48, 8), 3u);    // 3 pages = 256 objects, no waste
  EXPECT_EQ(pages_per_zspage_for(48, 2), 1u);    // 16 B wasted of 4 KiB beats 32 of 8 KiB
  EXPECT_EQ(pages_per_zspage_for(3632, 8), 8u);  // 9 objects in 8 pages, 80 B wasted
  EXPECT_EQ(pages_per_zspage_for(3648, 8), 1u);  // never more than one per page
  // Exhaustive: no other length wastes a smaller fraction.
  for (uint32_t max_pages = 1; max_pages <= kMaxPagesPerZspage; ++max_pages) {
    for (uint32_t size = kMinClassSize; size <= kPageSize; size += kClassDelta) {
      uint32_t best = pages_per_zspage_for(size, max_pages);
      ASSERT_GE(best, 1u);
      ASSERT_LE(best, max_pages);
      uint64_t best_waste = best * kPageSize % size;
      for (uint32_t pages = 1; pages <= max_pages; ++pages) {
        uint64_t waste = pages * kPageSize % size;
        ASSERT_GE(waste * best, best_waste * pages) << "size " << size << " pages " << pages;
        if (waste * best == best_waste * pages) {
          ASSERT_LE(best, pages) << "ties take the shortest";
        }
      }
    }
  }
}

TEST(SizeClassTest, TableIsAscendingMergedAndEndsInTheHugeClass) {
  for (uint32_t max_pages = 1; max_pages <= kMaxPagesPerZspage; ++max_pages) {
    SizeClassTable t(max_pages);
    ASSERT_GE(t.count(), 2u);
    ASSERT_LE(t.count(), kRawClasses);
    for (ClassIndex c = 0; c < t.count(); ++c) {
      const ClassGeometry& g = t.geometry(c);
      EXPECT_EQ(g.size % kClassDelta, 0u);
      EXPECT_GE(g.size, kMinClassSize);
      EXPECT_LE(g.pages_per_zspage, max_pages);
      EXPECT_EQ(g.objs_per_zspage, g.pages_per_zspage * kPageSize / g.size);
      EXPECT_LT(g.waste(), g.size) << "a zspage wastes less than one object";
      if (c > 0) {
        const ClassGeometry& below = t.geometry(c - 1);
        EXPECT_LT(below.size, g.size);
        EXPECT_FALSE(below.pages_per_zspage == g.pages_per_zspage && below.objs_per_zspage == g.objs_per_zspage)
            << "classes " << below.size << " and " << g.size << " should have merged";
      }
      EXPECT_EQ(g.huge(), c + 1u == t.count()) << "only the last class is huge";
    }
    EXPECT_EQ(t.geometry(static_cast<ClassIndex>(t.count() - 1)).size, kPageSize);
    // A raw class maps to a class at least as large with the same geometry.
    for (uint32_t raw = 0; raw < kRawClasses; ++raw) {
      uint32_t size = kMinClassSize + raw * kClassDelta;
      const ClassGeometry& g = t.geometry(t.for_raw(raw));
      EXPECT_GE(g.size, size);
      uint32_t pages = pages_per_zspage_for(size, max_pages);
      EXPECT_EQ(g.pages_per_zspage, pages);
      EXPECT_EQ(g.objs_per_zspage, pages * kPageSize / size);
    }
  }
}

TEST(SizeClassTest, MergingCutsTheClassCount) {
  SizeClassTable t(8);
  EXPECT_LT(t.count(), 150u);  // zsmalloc has ~130 with its 4-page chains
  EXPECT_EQ(t.geometry(0).size, 32u);
  EXPECT_EQ(t.geometry(0).objs_per_zspage, 128u);
}

TEST(SizeClassTest, PayloadPlusHeaderFitsItsClass) {
  for (uint32_t max_pages : {1u, 4u, 8u, 16u}) {
    SizeClassTable t(max_pages);
    for (uint32_t size = 1; size <= kPageSize; ++size) {
      const ClassGeometry& g = t.geometry(t.for_payload(size));
      ASSERT_LE(size + g.header_size(), g.size) << "payload " << size;
      if (size > 1) {
        ASSERT_GE(t.for_payload(size), t.for_payload(size - 1)) << "monotone";
      }
    }
    EXPECT_TRUE(t.geometry(t.for_payload(kPageSize)).huge()) << "a raw page goes to the huge class";
  }
}

TEST(SizeClassTest, HugeClassSizeIsTheFirstPayloadInTheHugeClass) {
  for (uint32_t max_pages = 1; max_pages <= kMaxPagesPerZspage; ++max_pages) {
    SizeClassTable t(max_pages);
    size_t huge = t.huge_class_size();
    ASSERT_GT(huge, 1u);
    EXPECT_TRUE(t.geometry(t.for_payload(huge)).huge());
    EXPECT_FALSE(t.geometry(t.for_payload(huge - 1)).huge());
  }
  // Class 3632 holds 9 objects in 8 pages; above it one per page: 3632 - 4 + 1.
  EXPECT_EQ(SizeClassTable(8).huge_class_size(), 3629u);
  EXPECT_EQ(SizeClassTable(16).huge_class_size(), 3837u);
  EXPECT_EQ(SizeClassTable(1).huge_class_size(), 2045u);
}

TEST(SizeClassTest, FullnessGroupsFollowTensOfPercent) {
  EXPECT_EQ(fullness_group(0, 128), kGroupEmpty);
  EXPECT_EQ(fullness_group(1, 128), 1);    // 0.8 %
  EXPECT_EQ(fullness_group(12, 128), 1);   // 9.4 %
  EXPECT_EQ(fullness_group(13, 128), 2);   // 10.2 %
  EXPECT_EQ(fullness_group(127, 128), 10); // 99.2 %
  EXPECT_EQ(fullness_group(128, 128), kGroupFull);
  EXPECT_EQ(fullness_group(1, 2), 6);      // 50 %
}

// A class and a descriptor table to exercise the fullness lists.
class SizeClassListTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(table_.init(64).is_ok());
    cls_.geo = ClassGeometry{32, 1, 128};
  }
  void make(uint32_t page, uint16_t inuse) UZRAM_NO_THREAD_SAFETY_ANALYSIS {
    ZsPage& z = table_.at(page);
    z.inuse = inuse;
    z.class_index = 0;
    cls_.link(table_, page);
  }
  ZsPageTable table_;
  SizeClass cls_;
};

TEST_F(SizeClassListTest, FreeMovesZspageToEmptierList) {
  MutexLock l(&cls_.mu);
  make(3, 120);
  EXPECT_EQ(table_.at(3).group, 10);
  EXPECT_EQ(cls_.heads[10], 3u);
  table_.at(3).inuse = 40;  // objects freed
  cls_.regroup(table_, 3);
  EXPECT_EQ(table_.at(3).group, 4);
  EXPECT_EQ(cls_.heads[10], kNoPage);
  EXPECT_EQ(cls_.heads[4], 3u);
  EXPECT_EQ(cls_.nonempty, 1u << 4);
}

TEST_F(SizeClassListTest, AllocationTakesTheFullestNonFullZspage) {
  MutexLock l(&cls_.mu);
  EXPECT_EQ(cls_.fullest_nonfull(), kNoPage);
  make(1, 5);
  make(2, 128);  // full: never a candidate
  make(3, 100);
  make(4, 60);
  EXPECT_EQ(cls_.fullest_nonfull(), 3u);
  table_.at(3).inuse = 128;
  cls_.regroup(table_, 3);
  EXPECT_EQ(cls_.fullest_nonfull(), 4u);
  cls_.unlink(table_, 4);
  EXPECT_EQ(cls_.fullest_nonfull(), 1u);
  cls_.unlink(table_, 1);
  EXPECT_EQ(cls_.fullest_nonfull(), kNoPage);
}

TEST_F(SizeClassListTest, UnlinkFromTheMiddleKeepsBothNeighbours) {
  MutexLock l(&cls_.mu);
  make(1, 64);
  make(2, 64);
  make(3, 64);  // list: 3, 2, 1
  cls_.unlink(table_, 2);
  EXPECT_EQ(cls_.heads[fullness_group(64, 128)], 3u);
  EXPECT_EQ(table_.at(3).next, 1u);
  EXPECT_EQ(table_.at(1).prev, 3u);
  EXPECT_EQ(table_.at(2).live, 0);
}

}  // namespace
}  // namespace uzram::pool
