// File: src/writeback/latency_histogram.cc
#include "writeback/latency_histogram.h"

#include <algorithm>
#include <bit>

namespace uzram::writeback {

size_t LatencyHistogram::bucket_of(uint64_t ns) noexcept {
  constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  if (ns < kSub) return static_cast<size_t>(ns);
  const unsigned e = static_cast<unsigned>(std::bit_width(ns)) - 1;  // ns in [2^e, 2^(e+1))
  if (e >= kMaxBits) return kBuckets - 1;
  const uint64_t sub = (ns >> (e - kSubBits)) & (kSub - 1);
  return static_cast<size_t>(((e - kSubBits + 1) << kSubBits) + sub);
}

uint64_t LatencyHistogram::bucket_high(size_t bucket) noexcept {
  constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  if (bucket < kSub) return bucket;
  const unsigned e = static_cast<unsigned>(bucket >> kSubBits) + kSubBits - 1;
  const uint64_t sub = bucket & (kSub - 1);
  const uint64_t low = (kSub + sub) << (e - kSubBits);
  return low + (uint64_t{1} << (e - kSubBits)) - 1;
}

void LatencyHistogram::record(uint64_t ns) noexcept {
  counts_[bucket_of(ns)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(ns, std::memory_order_relaxed);
  uint64_t m = max_.load(std::memory_order_relaxed);
  while (ns > m && !max_.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
  }
}

LatencySummary LatencyHistogram::summary() const noexcept {
  const LatencyHistogram* self = this;
  return summary_of({&self, 1});
}

LatencySummary LatencyHistogram::summary_of(std::span<const LatencyHistogram* const> parts) noexcept {
  LatencySummary s;
  std::array<uint64_t, kBuckets> counts{};
  uint64_t total = 0;
  uint64_t count = 0;
  uint64_t sum = 0;
  for (const LatencyHistogram* h : parts) {
    for (size_t b = 0; b < kBuckets; ++b) {
      const uint64_t c = h->counts_[b].load(std::memory_order_relaxed);
      counts[b] += c;
      total += c;
    }
    s.max_ns = std::max(s.max_ns, h->max_.load(std::memory_order_relaxed));
    count += h->count_.load(std::memory_order_relaxed);
    sum += h->sum_.load(std::memory_order_relaxed);
  }
  s.count = total;
  if (total == 0) return LatencySummary{};
  s.mean_ns = static_cast<double>(sum) / static_cast<double>(std::max<uint64_t>(count, 1));
  // The rank of percentile p is ceil(p * total); integer arithmetic in
  // thousandths keeps p99.9 exact.
  const uint64_t rank50 = (total * 500 + 999) / 1000;
  const uint64_t rank99 = (total * 990 + 999) / 1000;
  const uint64_t rank999 = (total * 999 + 999) / 1000;
  uint64_t seen = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    const uint64_t c = counts[b];
    if (c == 0) continue;
    const uint64_t before = seen;
    seen += c;
    // Within the bucket of the largest value seen, report that value: it is
    // exact and never below the percentile.
    uint64_t v = bucket_high(b);
    if (s.max_ns < v && bucket_of(s.max_ns) == b) v = s.max_ns;
    if (before < rank50 && seen >= rank50) s.p50_ns = v;
    if (before < rank99 && seen >= rank99) s.p99_ns = v;
    if (before < rank999 && seen >= rank999) s.p999_ns = v;
  }
  return s;
}

void LatencyHistogram::reset() noexcept {
  for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
}

}  // namespace uzram::writeback
