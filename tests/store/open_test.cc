// Tests of src/store/open.cc: Store::open validates every option with a
// clear message.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include "pool/pool_test_util.h"
#include "uzram/store.h"

namespace uzram {
namespace {

StoreOptions good() {
  StoreOptions o;
  o.disksize = 1 << 20;
  o.streams = 1;
  return o;
}

// Opens with `o` and expects kInvalidArgument whose message holds `needle`.
void expect_invalid(const StoreOptions& o, std::string_view needle) {
  Result<std::unique_ptr<Store>> s = Store::open(o);
  ASSERT_FALSE(s.has_value()) << "opened although " << needle << " is bad";
  EXPECT_EQ(s.status().code(), Status::Code::kInvalidArgument) << s.status().to_string();
  EXPECT_NE(s.status().message().find(needle), std::string_view::npos) << s.status().to_string();
}

TEST(StoreOpenTest, GoodOptionsOpen) {
  Result<std::unique_ptr<Store>> s = Store::open(good());
  ASSERT_TRUE(s.has_value()) << s.status().to_string();
  EXPECT_EQ((*s)->disksize(), uint64_t{1} << 20);
  EXPECT_EQ((*s)->slots(), 256u);
  EXPECT_EQ((*s)->stats().slot_table_bytes, 256u * 16);
}

TEST(StoreOpenTest, DisksizeMustBeAPositiveMultipleOfAPage) {
  StoreOptions o = good();
  o.disksize = 0;
  expect_invalid(o, "disksize");
  o.disksize = 4095;
  expect_invalid(o, "disksize");
  o.disksize = 4097;
  expect_invalid(o, "multiple of 4096");
}

TEST(StoreOpenTest, CodecSpecsMustParse) {
  StoreOptions o = good();
  o.algorithm = "lz5";
  expect_invalid(o, "algorithm");
  o = good();
  o.algorithm = "zstd:level=99";
  expect_invalid(o, "algorithm");
  o = good();
  o.recomp_algorithms[1] = "nope";
  expect_invalid(o, "priority 2");
}

TEST(StoreOpenTest, MaxPagesPerZspageIsOneToSixteen) {
  StoreOptions o = good();
  o.max_pages_per_zspage = 0;
  expect_invalid(o, "max_pages_per_zspage");
  o.max_pages_per_zspage = 17;
  expect_invalid(o, "max_pages_per_zspage");
  o.max_pages_per_zspage = 16;
  EXPECT_TRUE(Store::open(o).has_value());
  o.max_pages_per_zspage = 1;
  EXPECT_TRUE(Store::open(o).has_value());
}

TEST(StoreOpenTest, ClassShardsAreZeroToFour) {
  StoreOptions o = good();
  o.class_shards = 5;
  expect_invalid(o, "class_shards");
  for (uint32_t shards : {0u, 1u, 4u}) {
    o.class_shards = shards;
    EXPECT_TRUE(Store::open(o).has_value()) << shards;
  }
}

// The option reaches the pool: the same page written from two CPUs of
// different parity lands in one zspage with one shard and in two with two.
TEST(StoreOpenTest, ClassShardsReachThePool) {
  const auto two_cpus = pool::testing::cpus_of_different_parity();
  if (!two_cpus) GTEST_SKIP() << "needs two CPUs of different parity to run on";
  const int a = two_cpus->first;
  const int b = two_cpus->second;
  // Text that compresses well and is not one repeated word.
  constexpr std::string_view kText = "uzram class shard ";
  alignas(kPageSize) std::byte page[kPageSize];
  for (size_t i = 0; i < kPageSize; ++i) page[i] = static_cast<std::byte>(kText[i % kText.size()]);
  uint64_t mem_used[2] = {};
  for (uint32_t shards : {1u, 2u}) {
    StoreOptions o = good();
    o.class_shards = shards;
    Result<std::unique_ptr<Store>> s = Store::open(o);
    ASSERT_TRUE(s.has_value()) << s.status().to_string();
    PageIndex next = 0;
    for (int cpu : {a, b}) {
      std::thread t([&, cpu] {
        pool::testing::CpuPin pin(cpu);
        ASSERT_TRUE(pin.ok()) << "cannot run on CPU " << cpu;
        for (int i = 0; i < 2; ++i) ASSERT_TRUE((*s)->write(next++, PageView(page, kPageSize)).is_ok());
      });
      t.join();
    }
    const StoreStats st = (*s)->stats();
    EXPECT_EQ(st.same_pages, 0u);
    EXPECT_EQ(st.huge_pages, 0u);
    mem_used[shards - 1] = st.mem_used_total;
    alignas(kPageSize) std::byte out[kPageSize];
    for (PageIndex i = 0; i < next; ++i) {
      ASSERT_TRUE((*s)->read(i, PageBuffer(out, kPageSize)).is_ok());
      EXPECT_EQ(std::memcmp(out, page, kPageSize), 0) << "page " << i;
    }
  }
  EXPECT_GT(mem_used[0], 0u);
  EXPECT_EQ(mem_used[1], 2 * mem_used[0]) << "one shard: " << mem_used[0] << " bytes";
}

TEST(StoreOpenTest, InjectionRateIsAFraction) {
  StoreOptions o = good();
  o.inject_fast_path_failure = -0.1;
  expect_invalid(o, "inject_fast_path_failure");
  o.inject_fast_path_failure = 1.5;
  expect_invalid(o, "inject_fast_path_failure");
  o.inject_fast_path_failure = std::nan("");
  expect_invalid(o, "inject_fast_path_failure");
  o.inject_fast_path_failure = 1.0;
  EXPECT_TRUE(Store::open(o).has_value());
}

TEST(StoreOpenTest, MemLimitIsReported) {
  StoreOptions o = good();
  o.mem_limit = 12345;
  Result<std::unique_ptr<Store>> s = Store::open(o);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ((*s)->stats().mem_limit, 12345u);
}

}  // namespace
}  // namespace uzram
