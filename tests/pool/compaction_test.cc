#include <gtest/gtest.h>

#include <random>
#include <unordered_map>
#include <vector>

#include "pool/pool.h"
#include "pool_test_util.h"

namespace uzram::pool {
namespace {

using testing::fill;
using testing::holds;

std::unique_ptr<Pool> make_pool(PoolOptions o = {}) {
  Result<std::unique_ptr<Pool>> p = Pool::create(o);
  EXPECT_TRUE(p.has_value()) << p.status().to_string();
  return p.has_value() ? std::move(*p) : nullptr;
}

TEST(CompactionTest, FragmentedPoolGivesPagesBackAndKeepsContents) {
  auto pool = make_pool();
  std::vector<Handle> hs;
  for (uint64_t i = 0; i < 20000; ++i) {
    Result<Handle> h = pool->alloc(100 + i % 900);
    ASSERT_TRUE(h.has_value());
    fill(pool->map(*h).bytes(), i);
    hs.push_back(*h);
  }
  // Keep one object in four: zspages end up about a quarter full.
  std::vector<std::pair<Handle, uint64_t>> kept;
  for (uint64_t i = 0; i < hs.size(); ++i) {
    if (i % 4 == 0) {
      kept.emplace_back(hs[i], i);
    } else {
      pool->free(hs[i]);
    }
  }
  uint64_t before = pool->stats().pages_held;
  uint64_t freed = pool->compact();
  PoolStats s = pool->stats();
  EXPECT_GT(freed, before / 2) << "about three quarters of the pages were idle";
  EXPECT_EQ(s.pages_held, before - freed);
  EXPECT_EQ(s.pages_compacted, freed);
  EXPECT_EQ(s.objects, kept.size());
  EXPECT_TRUE(pool->check_invariants());
  for (auto [h, seed] : kept) ASSERT_TRUE(holds(pool->map(h).bytes(), seed)) << "object " << seed;
  // Nothing left to gain: a second pass frees nothing.
  EXPECT_EQ(pool->compact(), 0u);
  for (const ClassStats& c : pool->class_stats()) {
    // Fewer than one zspage's worth of free objects is left in each class.
    EXPECT_LT(c.objs_allocated - c.objs_inuse, c.objs_per_zspage) << "class " << c.class_size;
  }
  for (auto [h, seed] : kept) pool->free(h);
  EXPECT_EQ(pool->stats().pages_held, 0u);
}

TEST(CompactionTest, CompactionOfAPoolWithNothingToGainFreesNothing) {
  auto pool = make_pool();
  EXPECT_EQ(pool->compact(), 0u);
  std::vector<Handle> hs;
  for (int i = 0; i < 1000; ++i) hs.push_back(*pool->alloc(64));
  uint64_t held = pool->stats().pages_held;
  EXPECT_EQ(pool->compact(), 0u);
  EXPECT_EQ(pool->stats().pages_held, held);
  for (Handle h : hs) pool->free(h);
}

TEST(CompactionTest, CompactedObjectsKeepTheirSizeAndCanBeFreed) {
  auto pool = make_pool();
  std::vector<Handle> hs;
  for (int i = 0; i < 3000; ++i) hs.push_back(*pool->alloc(1 + i % 50));
  for (size_t i = 0; i < hs.size(); ++i) {
    if (i % 10 != 0) pool->free(hs[i]);
  }
  EXPECT_GT(pool->compact(), 0u);
  for (size_t i = 0; i < hs.size(); i += 10) {
    EXPECT_EQ(pool->object_size(hs[i]), 1 + i % 50);
    EXPECT_EQ(pool->map(hs[i]).bytes().size(), 1 + i % 50);
  }
  for (size_t i = 0; i < hs.size(); i += 10) pool->free(hs[i]);
  EXPECT_TRUE(pool->check_invariants());
  EXPECT_EQ(pool->stats().pages_held, 0u);
}

// Random alloc / try_alloc / free / compact against a reference model of
// what every live handle must hold. With two class shards the thread moves
// to another CPU every batch, so objects land in both shards and are freed
// and compacted from either CPU.
TEST(CompactionTest, RandomOperationsMatchAReferenceModel) {
  const std::vector<int> cpus = testing::allowed_cpus();
  struct Config {
    uint32_t max_pages_per_zspage;
    uint32_t shards;
  };
  for (Config config : {Config{1, 1}, Config{4, 1}, Config{16, 1}, Config{4, 2}}) {
    SCOPED_TRACE(::testing::Message() << config.max_pages_per_zspage << " pages per zspage, " << config.shards
                                    << " shard(s)");
    const uint32_t max_pages = config.max_pages_per_zspage;
    PoolOptions o;
    o.max_pages_per_zspage = max_pages;
    o.class_shards = config.shards;
    o.max_pages = 3000;  // the limit gets hit now and then
    auto pool = make_pool(o);
    std::mt19937_64 rng(max_pages + config.shards);
    struct Object {
      size_t size;
      uint64_t seed;
    };
    std::unordered_map<uint64_t, Object> model;
    std::vector<Handle> live;
    uint64_t next_seed = 0;
    uint64_t bytes = 0;
    testing::CpuPin pin;
    for (int batch = 0; batch < 40; ++batch) {
      if (config.shards > 1 && cpus.size() > 1) pin.move_to(cpus[batch % cpus.size()]);
      for (int step = 0; step < 1000; ++step) {
        uint64_t r = rng();
        bool grow = live.size() < 500 || r % 100 < 55;
        if (grow) {
          // Mostly small objects, some near and above the huge threshold.
          size_t size = r % 10 == 0 ? 3000 + (r >> 8) % 1097 : 1 + (r >> 8) % 2000;
          Handle h = r % 3 == 0 ? pool->try_alloc(size) : Handle{};
          if (!h) {
            Result<Handle> a = pool->alloc(size);
            if (!a) {
              ASSERT_EQ(a.status().code(), Status::Code::kNoSpace);
              continue;
            }
            h = *a;
          }
          ASSERT_EQ(model.count(h.value), 0u) << "handle given twice";
          uint64_t seed = next_seed++;
          fill(pool->map(h).bytes(), seed);
          model[h.value] = {size, seed};
          live.push_back(h);
          bytes += size;
        } else {
          size_t i = (r >> 8) % live.size();
          Handle h = live[i];
          const Object& obj = model.at(h.value);
          {
            Pool::Mapped m = pool->map(h);
            ASSERT_EQ(m.bytes().size(), obj.size);
            ASSERT_TRUE(holds(m.bytes(), obj.seed));
          }
          bytes -= obj.size;
          model.erase(h.value);
          pool->free(h);
          live[i] = live.back();
          live.pop_back();
        }
      }
      if (batch % 4 == 3) pool->compact();
      EXPECT_TRUE(pool->check_invariants());
      PoolStats s = pool->stats();
      ASSERT_EQ(s.objects, model.size());
      ASSERT_EQ(s.object_bytes, bytes);
      ASSERT_LE(s.pages_held, 3000u);
      for (auto& [value, obj] : model) {
        ASSERT_TRUE(holds(pool->map(Handle{value}).bytes(), obj.seed)) << "handle " << value;
      }
    }
    for (Handle h : live) pool->free(h);
    EXPECT_TRUE(pool->check_invariants());
    EXPECT_EQ(pool->stats().pages_held, 0u);
    EXPECT_GT(pool->stats().pages_compacted, 0u);
  }
}

}  // namespace
}  // namespace uzram::pool
