// Tests of src/store/stats.cc: to_json names every field.
#include <gtest/gtest.h>

#include <array>

#include <nlohmann/json.hpp>

#include "uzram/store.h"

namespace uzram {
namespace {

TEST(StoreStatsTest, ToJsonHoldsEveryFieldByName) {
  StoreStats s;
  uint64_t v = 1;
  // Distinct values, so that a field written under another's name shows.
  for (uint64_t* f : {&s.orig_data_size, &s.compr_data_size, &s.mem_used_total, &s.mem_limit, &s.mem_used_max,
                      &s.same_pages, &s.pages_compacted, &s.huge_pages, &s.huge_pages_since, &s.failed_reads,
                      &s.failed_writes, &s.invalid_io, &s.notify_free, &s.bd_count, &s.bd_reads, &s.bd_writes,
                      &s.recomp_pages, &s.incompressible_pages, &s.slots, &s.slot_table_bytes}) {
    *f = v++;
  }
  const nlohmann::json j = nlohmann::json::parse(to_json(s));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 20u);
  EXPECT_EQ(j.at("orig_data_size"), s.orig_data_size);
  EXPECT_EQ(j.at("compr_data_size"), s.compr_data_size);
  EXPECT_EQ(j.at("mem_used_total"), s.mem_used_total);
  EXPECT_EQ(j.at("mem_limit"), s.mem_limit);
  EXPECT_EQ(j.at("mem_used_max"), s.mem_used_max);
  EXPECT_EQ(j.at("same_pages"), s.same_pages);
  EXPECT_EQ(j.at("pages_compacted"), s.pages_compacted);
  EXPECT_EQ(j.at("huge_pages"), s.huge_pages);
  EXPECT_EQ(j.at("huge_pages_since"), s.huge_pages_since);
  EXPECT_EQ(j.at("failed_reads"), s.failed_reads);
  EXPECT_EQ(j.at("failed_writes"), s.failed_writes);
  EXPECT_EQ(j.at("invalid_io"), s.invalid_io);
  EXPECT_EQ(j.at("notify_free"), s.notify_free);
  EXPECT_EQ(j.at("bd_count"), s.bd_count);
  EXPECT_EQ(j.at("bd_reads"), s.bd_reads);
  EXPECT_EQ(j.at("bd_writes"), s.bd_writes);
  EXPECT_EQ(j.at("recomp_pages"), s.recomp_pages);
  EXPECT_EQ(j.at("incompressible_pages"), s.incompressible_pages);
  EXPECT_EQ(j.at("slots"), s.slots);
  EXPECT_EQ(j.at("slot_table_bytes"), s.slot_table_bytes);
}

TEST(StoreStatsTest, LiveStoreStatsSerialize) {
  StoreOptions o;
  o.disksize = 64 * kPageSize;
  o.streams = 1;
  auto s = Store::open(o);
  ASSERT_TRUE(s.has_value());
  std::array<std::byte, kPageSize> page{};
  page[10] = std::byte{1};
  ASSERT_TRUE((*s)->write(3, PageView(page)).is_ok());
  const nlohmann::json j = nlohmann::json::parse(to_json((*s)->stats()));
  EXPECT_EQ(j.at("orig_data_size"), kPageSize);
  EXPECT_EQ(j.at("slots"), 64u);
}

}  // namespace
}  // namespace uzram
