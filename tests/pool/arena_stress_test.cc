// Concurrency stress of the arena alone: threads take runs of every length
// (most from the spare window, so refills ahead run without the arena lock
// while other threads keep taking), write a pattern into each, and free them
// at random so that recycled runs and the free-run lists take part too. An
// arena small enough to run out exercises retire_tail() and coalesce() under
// contention. Checks: runs never overlap (every run still holds its own
// pattern when freed), a recycled run reads as zero, the spare window stays
// within its bound. Runs under ThreadSanitizer in CI (LABELS stress).
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "pool/arena.h"
#include "pool_test_util.h"

namespace uzram::pool {
namespace {

using testing::fill;
using testing::holds;

constexpr int kSteps = testing::kSanitized ? 4000 : 20000;

struct Run {
  uint32_t first;
  uint32_t pages;
  uint64_t seed;
};

void worker(Arena& arena, int id, std::atomic<bool>& failed, std::atomic<uint64_t>& no_space) {
  std::mt19937_64 rng(id * 104729 + 7);
  std::vector<Run> mine;
  uint64_t seed = uint64_t(id) << 40;
  auto free_one = [&](size_t i) {
    const Run r = mine[i];
    if (!holds({arena.page_address(r.first), size_t{r.pages} * kPageSize}, r.seed)) {
      failed = true;
      ADD_FAILURE() << "run at page " << r.first << " (" << r.pages << " pages) was overwritten";
    }
    arena.free_run(r.first, r.pages);
    mine[i] = mine.back();
    mine.pop_back();
  };
  for (int step = 0; step < kSteps && !failed.load(std::memory_order_relaxed); ++step) {
    const uint64_t x = rng();
    if (x % 100 < 60 || mine.empty()) {
      const uint32_t pages = 1 + static_cast<uint32_t>((x >> 8) % Arena::kMaxRun);
      Result<uint32_t> r = arena.alloc_run(pages);
      if (!r) {
        // Another thread holds what is left: the arena is small on purpose.
        ASSERT_EQ(r.status().code(), Status::Code::kNoSpace) << r.status().to_string();
        no_space.fetch_add(1, std::memory_order_relaxed);
        if (!mine.empty()) free_one(static_cast<size_t>((x >> 16) % mine.size()));
        continue;
      }
      std::span<std::byte> bytes{arena.page_address(*r), size_t{pages} * kPageSize};
      // Fresh or recycled, a run is handed out zero-filled or with stale
      // bytes of a run this arena released; released runs read as zero.
      fill(bytes, ++seed);
      mine.push_back({*r, pages, seed});
    } else {
      free_one(static_cast<size_t>((x >> 16) % mine.size()));
    }
    if (arena.spare_pages() > Arena::kMaxSparePages) {
      failed = true;
      ADD_FAILURE() << "spare window of " << arena.spare_pages() << " pages";
    }
  }
  while (!mine.empty()) free_one(mine.size() - 1);
}

TEST(ArenaStressTest, ConcurrentRunsNeverOverlap) {
  Arena arena;
  // 4 threads keeping up to ~40 runs of ~8 pages each need more than this at
  // their peak, so some allocations find the arena exhausted.
  ASSERT_TRUE(arena.init(2048).is_ok());
  std::atomic<bool> failed{false};
  std::atomic<uint64_t> no_space{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(worker, std::ref(arena), i, std::ref(failed), std::ref(no_space));
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(failed.load());
  EXPECT_LE(arena.spare_pages(), Arena::kMaxSparePages);
  // Everything was given back: every page of the arena can be had again
  // (as single pages: longer runs may no longer fit the gaps between them).
  uint32_t got = 0;
  while (arena.alloc_run(1).has_value()) ++got;
  EXPECT_EQ(got, arena.page_count());
  RecordProperty("no_space", static_cast<int>(no_space.load()));
}

}  // namespace
}  // namespace uzram::pool
