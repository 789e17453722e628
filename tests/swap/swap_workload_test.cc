// The swap workload of `uzram swap-bench` and `uzram demo`
// (src/cli/swap_workload.cc) and the swap header of the kernel comparison
// (src/cli/cgroup.cc), on plain memory.
#include <cstring>
#include <memory>

#include <gtest/gtest.h>

#include "cli/cgroup.h"
#include "cli/swap_workload.h"

namespace uzram::cli {
namespace {

TEST(SwapWorkloadTest, EveryPhaseRunsAndEveryPageVerifies) {
  const uint64_t pages = 512;
  std::unique_ptr<std::byte[]> region(new std::byte[pages * 4096]);
  WorkloadOptions o;
  o.pages = pages;
  o.touches = 2000;
  uint64_t calls = 0;
  o.progress = [&calls](const char*, uint64_t done, uint64_t total) {
    EXPECT_LE(done, total);
    ++calls;
  };
  WorkloadResult r = run_workload(region.get(), o);
  EXPECT_EQ(r.bad_pages, 0u);
  ASSERT_EQ(r.phases.size(), 5u);
  EXPECT_EQ(r.phases[0].name, "fill");
  EXPECT_EQ(r.phase("uniform")->ops, 2000u);
  EXPECT_EQ(r.phase("verify")->ops, pages);
  EXPECT_GE(calls, 5u);
  EXPECT_NE(r.checksum, 0u);
}

TEST(SwapWorkloadTest, SyntheticPagesAreDeterministicAndNotSameFilled) {
  alignas(8) std::byte a[4096], b[4096], c[4096];
  synthetic_page(7, a);
  synthetic_page(7, b);
  synthetic_page(8, c);
  EXPECT_EQ(std::memcmp(a, b, 4096), 0);
  EXPECT_NE(std::memcmp(a, c, 4096), 0);
  uint64_t first;
  std::memcpy(&first, a, 8);
  bool same = true;
  for (size_t i = 8; i < 4096; i += 8) same = same && std::memcmp(a + i, &first, 8) == 0;
  EXPECT_FALSE(same);
}

TEST(SwapWorkloadTest, JsonRoundTrip) {
  WorkloadResult r;
  r.pages = 10;
  r.bad_pages = 1;
  r.checksum = 99;
  r.phases.push_back({"fill", 1.5, 10});
  r.phases.push_back({"verify", 0.25, 10});
  WorkloadResult back;
  ASSERT_TRUE(from_json(to_json(r), &back));
  EXPECT_EQ(back.pages, 10u);
  EXPECT_EQ(back.bad_pages, 1u);
  ASSERT_EQ(back.phases.size(), 2u);
  EXPECT_DOUBLE_EQ(back.total_seconds(), 1.75);
  EXPECT_FALSE(from_json("{\"error\":\"x\"}", &back));
  EXPECT_FALSE(from_json("not json", &back));
}

TEST(SwapHeaderTest, HasTheKernelsLayout) {
  std::string h = swap_header(64ull << 20);
  ASSERT_EQ(h.size(), 4096u);
  EXPECT_EQ(h.substr(4086), "SWAPSPACE2");
  uint32_t version, last_page, bad;
  std::memcpy(&version, &h[1024], 4);
  std::memcpy(&last_page, &h[1028], 4);
  std::memcpy(&bad, &h[1032], 4);
  EXPECT_EQ(version, 1u);
  EXPECT_EQ(last_page, (64u << 20) / 4096 - 1);
  EXPECT_EQ(bad, 0u);
}

}  // namespace
}  // namespace uzram::cli
