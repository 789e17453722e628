// File: src/writeback/latency_histogram.h
//
// LatencyHistogram: counts of nanosecond latencies in log-linear buckets
// (as HdrHistogram does): values below 32 have a bucket each; above, each
// power of two is cut into 32 equal buckets, so a percentile read back is
// within 1/32 (~3 %) of the true value. Values up to 2^40 ns (~18 minutes);
// larger ones land in the last bucket.
//
// Thread safety: record() from any number of threads at once (relaxed atomic
// increments, no lock); summary() from any thread, reading the counters one
// by one, so a summary taken while records go on is approximate (each
// counter is exact, their sum is a moment's).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "uzram/async_engine.h"

namespace uzram::writeback {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 5;  // 32 buckets per power of two
  static constexpr unsigned kMaxBits = 40;
  static constexpr size_t kBuckets = (kMaxBits - kSubBits + 1) << kSubBits;

  void record(uint64_t ns) noexcept;
  LatencySummary summary() const noexcept;
  // The summary of several histograms taken as one (per-thread shards).
  static LatencySummary summary_of(std::span<const LatencyHistogram* const> parts) noexcept;
  void reset() noexcept;

  // The bucket of a value, and the largest value of a bucket (what a
  // percentile reports: never below the true value).
  static size_t bucket_of(uint64_t ns) noexcept;
  static uint64_t bucket_high(size_t bucket) noexcept;

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> max_{0};
};

}  // namespace uzram::writeback
