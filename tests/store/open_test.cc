// Tests of src/store/open.cc: Store::open validates every option with a
// clear message.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

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
