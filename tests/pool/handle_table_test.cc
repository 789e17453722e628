#include "pool/handle_table.h"

#include "pool/pool.h"

#include <gtest/gtest.h>

#include <set>

namespace uzram::pool {
namespace {

TEST(HandleTableTest, EntryKeepsLocationSizeAndShard) {
  Location loc{(1u << 31) + 5, 2047};
  uint64_t e = entry::live(loc, 4096, kMaxClassShards - 1);
  EXPECT_FALSE(entry::is_free(e));
  EXPECT_EQ(entry::location(e), loc);
  EXPECT_EQ(entry::size(e), 4096u);
  EXPECT_EQ(entry::shard(e), kMaxClassShards - 1);
  uint64_t m = entry::moved(e, Location{7, 3});
  EXPECT_EQ(entry::location(m), (Location{7, 3}));
  EXPECT_EQ(entry::size(m), 4096u);
  EXPECT_EQ(entry::shard(m), kMaxClassShards - 1) << "compaction keeps an object in its shard";
  EXPECT_EQ(entry::shard(entry::live(loc, 1, 0)), 0u);
  EXPECT_NE(entry::live(Location{0, 0}, 1, 0), 0u) << "a live entry is never 0";
}

TEST(HandleTableTest, BumpStaysWithinThePopulatedChunkUntilGrown) {
  HandleTable t;
  ASSERT_TRUE(t.init(3 * HandleTable::kChunkEntries).is_ok());
  std::set<uint32_t> seen;
  for (;;) {
    uint32_t h = t.try_bump();
    if (h == 0) break;
    ASSERT_TRUE(seen.insert(h).second);
  }
  EXPECT_EQ(seen.size(), HandleTable::kChunkEntries - 1) << "index 0 is never handed out";
  EXPECT_EQ(*seen.begin(), 1u);
  ASSERT_TRUE(t.grow());
  EXPECT_EQ(t.try_bump(), HandleTable::kChunkEntries);
}

TEST(HandleTableTest, GrowStopsAtCapacity) {
  HandleTable t;
  ASSERT_TRUE(t.init(HandleTable::kChunkEntries + 10).is_ok());
  while (t.try_bump() != 0) {
  }
  ASSERT_TRUE(t.grow());
  uint32_t n = 0;
  while (t.try_bump() != 0) ++n;
  EXPECT_EQ(n, 10u);
  EXPECT_FALSE(t.grow());
  EXPECT_EQ(t.end(), HandleTable::kChunkEntries + 10);
}

TEST(HandleTableTest, FreeListIsLastInFirstOut) {
  HandleTable t;
  ASSERT_TRUE(t.init(HandleTable::kChunkEntries).is_ok());
  uint32_t head = 0;
  uint32_t a = t.try_bump(), b = t.try_bump();
  t.push_free(head, a);
  t.push_free(head, b);
  EXPECT_TRUE(entry::is_free(t.at(a).load()));
  EXPECT_EQ(t.pop_free(head), b);
  EXPECT_EQ(t.pop_free(head), a);
  EXPECT_EQ(t.pop_free(head), 0u);
}

}  // namespace
}  // namespace uzram::pool
