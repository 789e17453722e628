// The LRU approximation (src/swap/run_queue.h, reclaimer.cc): with an
// inactive list, a hot set that fits the limit stays out of the store; FIFO
// (inactive=0) cycles it through compression.
#include <random>

#include "swap_test_util.h"

namespace uzram::swap {
namespace {

using testing::fill_page;
using testing::small_options;
using testing::Watchdog;

// Major faults of a skewed workload: 90 % of touches on 10 % of the pages.
uint64_t skewed_major_faults(double inactive_ratio) {
  SwapOptions o = small_options(SwapPath::kAuto, 1024);
  o.inactive_ratio = inactive_ratio;
  o.readahead_order = 0;  // one page a fault: count touches, not windows
  auto space = testing::open_or_die(o);
  if (!space) return 0;
  const size_t pages = 4096;  // 4 times the limit; the hot set is 410 pages
  auto* p = static_cast<std::byte*>(*space->map(pages * kPageSize));
  for (size_t i = 0; i < pages; ++i) fill_page(p + i * kPageSize, i, 1);
  const size_t hot = pages / 10;
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<size_t> hot_page(0, hot - 1), any_page(0, pages - 1);
  std::uniform_int_distribution<int> pct(0, 99);
  uint64_t before = space->stats().major_faults;
  uint64_t sum = 0;
  for (int t = 0; t < 40000; ++t) {
    size_t i = pct(rng) < 90 ? hot_page(rng) : any_page(rng);
    sum += *reinterpret_cast<volatile uint64_t*>(p + i * kPageSize);
  }
  EXPECT_GT(sum, 0u);
  return space->stats().major_faults - before;
}

TEST(LruTest, InactiveListBeatsFifoOnSkewedAccess) {
  Watchdog dog(150);
  uint64_t fifo = skewed_major_faults(0.0);
  uint64_t lru = skewed_major_faults(0.25);
  RecordProperty("fifo_major_faults", static_cast<int>(fifo));
  RecordProperty("lru_major_faults", static_cast<int>(lru));
  EXPECT_GT(fifo, 0u);
  EXPECT_LT(lru * 10, fifo * 8) << "lru " << lru << " fifo " << fifo;  // at least 20 % fewer
}

}  // namespace
}  // namespace uzram::swap
