// Concurrency stress: four threads allocate, write, map, verify and free
// while a fifth compacts in a loop, with one class shard and with two (the
// workers then hop between CPUs, so frees and compaction cross shards).
// Runs under ThreadSanitizer in CI (LABELS stress).
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pool/pool.h"
#include "pool_test_util.h"

namespace uzram::pool {
namespace {

using testing::fill;
using testing::holds;

constexpr int kSteps = testing::kSanitized ? 15000 : 60000;

struct Owned {
  Handle h;
  size_t size;
  uint64_t seed;
};

// One worker: keeps up to ~600 objects of its own, mixing fast and slow
// allocation, verifies contents through map() before every free and at random.
// With hop_cpus it moves to the next allowed CPU every 1000 steps.
void worker(Pool& pool, int id, std::atomic<bool>& failed, std::atomic<uint64_t>& maps, bool hop_cpus = false) {
  std::mt19937_64 rng(id * 7919 + 1);
  std::vector<Owned> mine;
  uint64_t seed = uint64_t(id) << 40;
  const std::vector<int> cpus = testing::allowed_cpus();
  testing::CpuPin pin;
  for (int step = 0; step < kSteps && !failed.load(std::memory_order_relaxed); ++step) {
    if (hop_cpus && cpus.size() > 1 && step % 1000 == 0) pin.move_to(cpus[(id + step / 1000) % cpus.size()]);
    uint64_t r = rng();
    int op = static_cast<int>(r % 100);
    if (op < 45 && mine.size() < 600) {
      size_t size = r % 8 == 0 ? 3500 + (r >> 16) % 597 : 1 + (r >> 16) % 1500;
      Handle h = pool.try_alloc(size);
      if (!h) {
        Result<Handle> a = pool.alloc(size);
        if (!a) {
          failed = true;
          ADD_FAILURE() << a.status().to_string();
          return;
        }
        h = *a;
      }
      fill(pool.map(h).bytes(), ++seed);
      mine.push_back({h, size, seed});
    } else if (op < 80 && !mine.empty()) {
      size_t i = (r >> 16) % mine.size();
      Pool::Mapped m = pool.map(mine[i].h);
      maps.fetch_add(1, std::memory_order_relaxed);
      if (m.bytes().size() != mine[i].size || !holds(m.bytes(), mine[i].seed)) {
        failed = true;
        ADD_FAILURE() << "thread " << id << ": object changed under map()";
        return;
      }
    } else if (!mine.empty()) {
      size_t i = (r >> 16) % mine.size();
      {
        Pool::Mapped m = pool.map(mine[i].h);
        if (!holds(m.bytes(), mine[i].seed)) {
          failed = true;
          ADD_FAILURE() << "thread " << id << ": object changed before free";
          return;
        }
      }
      pool.free(mine[i].h);
      mine[i] = mine.back();
      mine.pop_back();
    }
  }
  for (const Owned& o : mine) {
    if (!holds(pool.map(o.h).bytes(), o.seed)) {
      failed = true;
      ADD_FAILURE() << "thread " << id << ": object changed at the end";
    }
    pool.free(o.h);
  }
}

class PoolStressTest : public ::testing::TestWithParam<uint32_t> {};  // class shards

TEST_P(PoolStressTest, FourWritersAndACompactorKeepEveryObjectIntact) {
  PoolOptions o;
  o.max_pages_per_zspage = 4;  // more zspages per class: more to compact
  o.class_shards = GetParam();
  const bool hop_cpus = GetParam() > 1;
  Result<std::unique_ptr<Pool>> p = Pool::create(o);
  ASSERT_TRUE(p.has_value());
  Pool& pool = **p;
  std::atomic<bool> failed{false};
  std::atomic<bool> done{false};
  std::atomic<uint64_t> maps{0};
  uint64_t compactions = 0;
  std::thread compactor([&] {
    while (!done.load(std::memory_order_relaxed)) {
      pool.compact();
      ++compactions;
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> workers;
  for (int id = 0; id < 4; ++id) {
    workers.emplace_back(worker, std::ref(pool), id, std::ref(failed), std::ref(maps), hop_cpus);
  }
  for (std::thread& t : workers) t.join();
  done = true;
  compactor.join();
  EXPECT_FALSE(failed.load());
  EXPECT_GT(compactions, 0u);
  EXPECT_GT(maps.load(), 0u);
  EXPECT_TRUE(pool.check_invariants());
  PoolStats s = pool.stats();
  EXPECT_GT(s.pages_compacted, 0u) << "the compactor moved objects under the workers";
  EXPECT_EQ(s.objects, 0u);
  EXPECT_EQ(s.pages_held, 0u);
}

// check_invariants() may run while other threads work: the per-zspage
// invariants hold at every moment a class lock is free.
TEST_P(PoolStressTest, InvariantsHoldWhileThreadsWork) {
  PoolOptions o;
  o.class_shards = GetParam();
  Result<std::unique_ptr<Pool>> p = Pool::create(o);
  ASSERT_TRUE(p.has_value());
  Pool& pool = **p;
  std::atomic<bool> failed{false};
  std::atomic<bool> done{false};
  std::atomic<uint64_t> maps{0};
  std::vector<std::thread> workers;
  for (int id = 0; id < 2; ++id) {
    workers.emplace_back(worker, std::ref(pool), id, std::ref(failed), std::ref(maps), GetParam() > 1);
  }
  std::thread checker([&] {
    while (!done.load(std::memory_order_relaxed)) {
      pool.check_invariants();  // totals are compared only in quiet moments
      pool.compact();
    }
  });
  for (std::thread& t : workers) t.join();
  done = true;
  checker.join();
  EXPECT_FALSE(failed.load());
  EXPECT_TRUE(pool.check_invariants());
}

// Two threads hopping between CPUs against a max_pages that they hit all the
// time: grows are refused and objects are lent across shards (the fallback
// of alloc_slow) while the other thread frees into them.
TEST_P(PoolStressTest, FullPoolLendsRoomWhileThreadsWork) {
  PoolOptions o;
  o.class_shards = GetParam();
  o.max_pages = 48;
  Result<std::unique_ptr<Pool>> p = Pool::create(o);
  ASSERT_TRUE(p.has_value());
  Pool& pool = **p;
  std::atomic<uint64_t> refused{0};
  auto body = [&](int id) {
    std::mt19937_64 rng(id + 17);
    std::vector<Owned> mine;
    uint64_t seed = uint64_t(id) << 40;
    const std::vector<int> cpus = testing::allowed_cpus();
    testing::CpuPin pin;
    for (int step = 0; step < kSteps / 2; ++step) {
      if (cpus.size() > 1 && step % 500 == 0) pin.move_to(cpus[(id + step / 500) % cpus.size()]);
      uint64_t r = rng();
      if (r % 100 < 60) {
        size_t size = 200 + (r >> 16) % 300;  // a few classes, so they fill up
        Result<Handle> a = pool.alloc(size);
        if (!a) {
          ASSERT_EQ(a.status().code(), Status::Code::kNoSpace) << a.status().to_string();
          refused.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        fill(pool.map(*a).bytes(), ++seed);
        mine.push_back({*a, size, seed});
      } else if (!mine.empty()) {
        size_t i = (r >> 16) % mine.size();
        ASSERT_TRUE(holds(pool.map(mine[i].h).bytes(), mine[i].seed)) << "thread " << id;
        pool.free(mine[i].h);
        mine[i] = mine.back();
        mine.pop_back();
      }
    }
    for (const Owned& own : mine) {
      EXPECT_TRUE(holds(pool.map(own.h).bytes(), own.seed)) << "thread " << id;
      pool.free(own.h);
    }
  };
  std::thread a(body, 0);
  std::thread b(body, 1);
  a.join();
  b.join();
  EXPECT_GT(refused.load(), 0u) << "the limit was never reached";
  EXPECT_TRUE(pool.check_invariants());
  EXPECT_EQ(pool.stats().objects, 0u);
  EXPECT_EQ(pool.stats().pages_held, 0u);
}

INSTANTIATE_TEST_SUITE_P(Shards, PoolStressTest, ::testing::Values(1u, 2u),
                         [](const ::testing::TestParamInfo<uint32_t>& i) {
                           return std::to_string(i.param) + "Shard" + (i.param > 1 ? "s" : "");
                         });

}  // namespace
}  // namespace uzram::pool
