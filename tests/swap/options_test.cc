// SwapOptions::parse and to_json(SwapStats) (src/swap/options.cc).
#include <gtest/gtest.h>

#include "uzram/swap_space.h"

namespace uzram {
namespace {

TEST(SwapOptionsTest, EmptyTextGivesTheDefaults) {
  Result<SwapOptions> o = SwapOptions::parse("");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->limit, SwapOptions().limit);
  EXPECT_EQ(o->algorithm, "lz4");
  EXPECT_EQ(o->path, SwapPath::kAuto);
}

TEST(SwapOptionsTest, ParsesEveryKey) {
  Result<SwapOptions> o = SwapOptions::parse(
      "limit=256M,algo=zstd:level=3,high=0.9,low=0.5,size=2G,mem_limit=64MiB,fault_threads=2,"
      "writeback_threads=3,readahead=4,inactive=0.25,backing_file=/tmp/x,path=wp,spin_us=10");
  ASSERT_TRUE(o) << o.status().to_string();
  EXPECT_EQ(o->limit, 256ull << 20);
  EXPECT_EQ(o->algorithm, "zstd:level=3");
  EXPECT_DOUBLE_EQ(o->high_watermark, 0.9);
  EXPECT_DOUBLE_EQ(o->low_watermark, 0.5);
  EXPECT_EQ(o->size, 2ull << 30);
  EXPECT_EQ(o->mem_limit, 64ull << 20);
  EXPECT_EQ(o->fault_threads, 2u);
  EXPECT_EQ(o->writeback_threads, 3u);
  EXPECT_EQ(o->readahead_order, 4u);
  EXPECT_DOUBLE_EQ(o->inactive_ratio, 0.25);
  EXPECT_EQ(o->backing_file, "/tmp/x");
  EXPECT_EQ(o->path, SwapPath::kWriteProtect);
  EXPECT_EQ(o->spin_us, 10u);
  EXPECT_EQ(SwapOptions::parse("path=move")->path, SwapPath::kMove);
  EXPECT_EQ(SwapOptions::parse("limit=4096")->limit, 4096u);
}

TEST(SwapOptionsTest, BadInputNamesTheProblem) {
  Result<SwapOptions> o = SwapOptions::parse("limit=12Q");
  ASSERT_FALSE(o);
  EXPECT_EQ(o.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(o.status().message().find("limit"), std::string_view::npos);
  EXPECT_FALSE(SwapOptions::parse("colour=blue"));
  EXPECT_FALSE(SwapOptions::parse("limit"));
  EXPECT_FALSE(SwapOptions::parse("high=x"));
  EXPECT_FALSE(SwapOptions::parse("path=sideways"));
  EXPECT_FALSE(SwapOptions::parse("fault_threads=-1"));
}

TEST(SwapStatsTest, JsonHasEveryField) {
  SwapStats s;
  s.path = SwapPath::kMove;
  s.major_faults = 7;
  s.fault_latency.p99_ns = 1234;
  std::string j = to_json(s);
  EXPECT_NE(j.find("\"path\":\"move\""), std::string::npos);
  EXPECT_NE(j.find("\"major_faults\":7"), std::string::npos);
  EXPECT_NE(j.find("\"p99_ns\":1234"), std::string::npos);
  for (const char* key : {"resident_bytes", "swapped_pages", "compressed_bytes", "minor_faults", "readahead_hits",
                          "swap_ins", "swap_outs", "p50_ns"}) {
    EXPECT_NE(j.find(key), std::string::npos) << key;
  }
}

}  // namespace
}  // namespace uzram
