// Tests of src/writeback/latency_histogram.cc.
#include "writeback/latency_histogram.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace uzram::writeback {
namespace {

TEST(LatencyHistogramTest, EveryValueFallsInABucketThatHoldsIt) {
  size_t prev = 0;
  for (uint64_t v = 0; v < (uint64_t{1} << 36); v = v < 100 ? v + 1 : v + v / 7) {
    const size_t b = LatencyHistogram::bucket_of(v);
    ASSERT_LT(b, LatencyHistogram::kBuckets);
    EXPECT_GE(b, prev);  // monotone
    prev = b;
    EXPECT_GE(LatencyHistogram::bucket_high(b), v);
    if (b > 0) {
      EXPECT_LT(LatencyHistogram::bucket_high(b - 1), v);
    }
    // Relative width at most 1/32.
    EXPECT_LE(LatencyHistogram::bucket_high(b) - v, v / 32 + 1);
  }
  EXPECT_EQ(LatencyHistogram::bucket_of(uint64_t{1} << 50), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogramTest, PercentilesOfAKnownSpread) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.record(v * 10);  // 10 ns .. 1 ms, uniform
  const LatencySummary s = h.summary();
  EXPECT_EQ(s.count, 100000u);
  EXPECT_EQ(s.max_ns, 1000000u);
  EXPECT_NEAR(s.mean_ns, 500005.0, 1.0);
  auto near = [](uint64_t got, double want) {
    EXPECT_GE(static_cast<double>(got), want * 0.999);
    EXPECT_LE(static_cast<double>(got), want * 1.04);
  };
  near(s.p50_ns, 500000);
  near(s.p99_ns, 990000);
  near(s.p999_ns, 999000);
}

TEST(LatencyHistogramTest, ConcurrentRecordsAreAllCounted) {
  LatencyHistogram h;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&h, t] {
      for (uint64_t i = 0; i < 50000; ++i) h.record(i * (t + 1));
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(h.summary().count, 200000u);
  EXPECT_EQ(h.summary().max_ns, 49999u * 4);
  h.reset();
  EXPECT_EQ(h.summary().count, 0u);
  EXPECT_EQ(h.summary().p99_ns, 0u);
}

}  // namespace
}  // namespace uzram::writeback
