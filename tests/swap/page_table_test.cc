// PageTable (src/swap/page_table.cc): entries, counters, slots.
#include "swap/page_table.h"

#include <gtest/gtest.h>

namespace uzram::swap {
namespace {

TEST(PageEntryTest, StateAndFlagsAreIndependent) {
  PageEntry e(PageState::kWriteback);
  e = e.with_in_flight(true).with_stale(true);
  EXPECT_EQ(e.state(), PageState::kWriteback);
  EXPECT_TRUE(e.in_flight());
  EXPECT_TRUE(e.stale());
  e = e.with_state(PageState::kResident);
  EXPECT_EQ(e.state(), PageState::kResident);
  EXPECT_TRUE(e.in_flight());
  e = e.with_in_flight(false).with_stale(false);
  EXPECT_EQ(e.bits(), static_cast<uint8_t>(PageState::kResident));
}

TEST(PageTableTest, StartsNeverWithNoSlots) {
  auto t = PageTable::create(100000);
  ASSERT_TRUE(t);
  PageTable& table = **t;
  EXPECT_EQ(table.count(PageState::kNever), 100000u);
  EXPECT_EQ(table.get(99999).state(), PageState::kNever);
  EXPECT_EQ(table.slot(12345), PageTable::kNoSlot);
  table.check_invariants();
}

TEST(PageTableTest, CountersFollowChanges) {
  auto t = PageTable::create(4096);
  ASSERT_TRUE(t);
  PageTable& table = **t;
  {
    MutexLock lock(&table.lock_of(10));
    table.set(10, PageEntry(PageState::kCached));
    table.set_slot(10, 7);
    table.set(11, PageEntry(PageState::kWriteback).with_in_flight(true));
    table.set_slot(11, 0);
  }
  EXPECT_EQ(table.count(PageState::kCached), 1u);
  EXPECT_EQ(table.count(PageState::kWriteback), 1u);
  EXPECT_EQ(table.count(PageState::kNever), 4094u);
  EXPECT_EQ(table.in_flight(), 1u);
  EXPECT_EQ(table.slot(10), 7u);
  EXPECT_EQ(table.slot(11), 0u);
  table.check_invariants();
  EXPECT_FALSE(table.quiet(0, 512));
  EXPECT_TRUE(table.quiet(512, 512));
  {
    MutexLock lock(&table.lock_of(11));
    table.set(11, table.get(11).with_state(PageState::kSwapped).with_in_flight(false));
    table.set_slot(11, PageTable::kNoSlot);
  }
  EXPECT_EQ(table.in_flight(), 0u);
  EXPECT_TRUE(table.quiet(0, 4096));
  table.check_invariants();
}

TEST(PageTableTest, ChunksShareALockAndNeverCrossIt) {
  EXPECT_EQ(PageTable::chunk_of(511), 0u);
  EXPECT_EQ(PageTable::chunk_of(512), 1u);
  EXPECT_EQ(PageTable::chunk_end(0), 512u);
  EXPECT_EQ(PageTable::chunk_end(511), 512u);
  auto t = PageTable::create(1 << 20);
  ASSERT_TRUE(t);
  EXPECT_EQ(&(*t)->lock_of(0), &(*t)->lock_of(511));
  EXPECT_NE(&(*t)->lock_of(0), &(*t)->lock_of(512));
}

TEST(PageTableDeathTest, InvariantCheckCatchesASlotOutsideTheCache) {
  auto t = PageTable::create(1024);
  ASSERT_TRUE(t);
  {
    MutexLock lock(&(*t)->lock_of(3));
    (*t)->set(3, PageEntry(PageState::kResident));
    (*t)->set_slot(3, 5);
  }
  EXPECT_DEATH((*t)->check_invariants(), "keeps swap-cache slot");
}

}  // namespace
}  // namespace uzram::swap
