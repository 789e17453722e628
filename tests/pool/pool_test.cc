#include "pool/pool.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "pool/os.h"
#include "pool/poison.h"
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

Handle must_alloc(Pool& pool, size_t size) {
  Result<Handle> h = pool.alloc(size);
  EXPECT_TRUE(h.has_value()) << h.status().to_string();
  return h.has_value() ? *h : Handle{};
}

uint64_t class_pages(const Pool& pool) {
  uint64_t pages = 0;
  for (const ClassStats& c : pool.class_stats()) pages += c.zspages * c.pages_per_zspage;
  return pages;
}

TEST(PoolTest, CreateRejectsBadOptions) {
  PoolOptions o;
  o.max_pages_per_zspage = 0;
  EXPECT_EQ(Pool::create(o).status().code(), Status::Code::kInvalidArgument);
  o.max_pages_per_zspage = 17;
  EXPECT_EQ(Pool::create(o).status().code(), Status::Code::kInvalidArgument);
  o = {};
  o.arena_bytes = 12345;
  EXPECT_EQ(Pool::create(o).status().code(), Status::Code::kInvalidArgument);
  o.arena_bytes = 4096;
  EXPECT_EQ(Pool::create(o).status().code(), Status::Code::kInvalidArgument);
  o = {};
  o.class_shards = kMaxClassShards + 1;
  Status s = Pool::create(o).status();
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.to_string().find("class_shards"), std::string::npos) << s.to_string();
  o.class_shards = 0;
  EXPECT_TRUE(Pool::create(o).has_value()) << "0 is one shard per CPU";
}

// Two threads on two CPUs allocating objects of one class: with one shard
// they fill one zspage together; with two, each CPU fills a zspage of its
// own, and a free from the other CPU still returns the object to its shard.
TEST(PoolTest, ShardsGiveEachCpuItsOwnZspages) {
  const auto two_cpus = testing::cpus_of_different_parity();
  if (!two_cpus) GTEST_SKIP() << "needs two CPUs of different parity to run on";
  const int a = two_cpus->first;
  const int b = two_cpus->second;
  for (uint32_t shards : {1u, 2u}) {
    PoolOptions o;
    o.class_shards = shards;
    auto pool = make_pool(o);
    std::vector<Handle> handles;
    for (int cpu : {a, b}) {
      std::thread t([&, cpu] {
        testing::CpuPin pin(cpu);
        ASSERT_TRUE(pin.ok()) << "cannot run on CPU " << cpu;
        for (int i = 0; i < 4; ++i) {
          Handle h = must_alloc(*pool, 100);
          fill(pool->map(h).bytes(), h.value);
          handles.push_back(h);
        }
      });
      t.join();
    }
    uint64_t zspages = 0;
    for (const ClassStats& c : pool->class_stats()) zspages += c.zspages;
    EXPECT_EQ(zspages, shards) << shards << " shard(s)";
    EXPECT_TRUE(pool->check_invariants());
    for (Handle h : handles) EXPECT_TRUE(holds(pool->map(h).bytes(), h.value));
    {
      testing::CpuPin pin(a);  // frees from CPU a, also of CPU b's objects
      for (Handle h : handles) pool->free(h);
    }
    EXPECT_TRUE(pool->check_invariants());
    EXPECT_EQ(pool->stats().pages_held, 0u);
    EXPECT_EQ(pool->stats().objects, 0u);
  }
}

// At max_pages, a CPU whose shard has no room takes a free object of
// another shard instead of failing, and fails only when no shard has one.
TEST(PoolTest, FullPoolLendsRoomAcrossShards) {
  const auto two_cpus = testing::cpus_of_different_parity();
  if (!two_cpus) GTEST_SKIP() << "needs two CPUs of different parity to run on";
  const int a = two_cpus->first;
  const int b = two_cpus->second;
  PoolOptions o;
  o.class_shards = 2;
  o.max_pages = 1;  // one zspage of a one-page class
  auto pool = make_pool(o);
  const size_t size = 1000;  // three objects in one 4 KiB page (header included)
  std::vector<Handle> handles;
  {
    testing::CpuPin pin(a);
    ASSERT_TRUE(pin.ok());
    handles.push_back(must_alloc(*pool, size));
  }
  ASSERT_EQ(pool->stats().pages_held, 1u) << "the class must have one-page zspages for this test";
  {
    testing::CpuPin pin(b);
    ASSERT_TRUE(pin.ok());
    for (;;) {
      Result<Handle> h = pool->alloc(size);
      if (!h) {
        EXPECT_EQ(h.status().code(), Status::Code::kNoSpace) << h.status().to_string();
        break;
      }
      fill(pool->map(*h).bytes(), h->value);
      handles.push_back(*h);
    }
  }
  uint64_t objs = 0;
  for (const ClassStats& c : pool->class_stats()) objs += c.objs_allocated;
  EXPECT_EQ(handles.size(), objs) << "every object of the one zspage was used before kNoSpace";
  EXPECT_GT(handles.size(), 1u);
  EXPECT_EQ(pool->stats().pages_held, 1u);
  EXPECT_TRUE(pool->check_invariants());
  for (size_t i = 1; i < handles.size(); ++i) EXPECT_TRUE(holds(pool->map(handles[i]).bytes(), handles[i].value));
  for (Handle h : handles) pool->free(h);
  EXPECT_EQ(pool->stats().pages_held, 0u);
}

TEST(PoolTest, AllocRejectsSizesOutsideOneToPage) {
  auto pool = make_pool();
  EXPECT_EQ(pool->alloc(0).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(pool->alloc(kPageSize + 1).status().code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(pool->try_alloc(0));
  EXPECT_FALSE(pool->try_alloc(kPageSize + 1));
}

TEST(PoolTest, EverySizeAllocatesMapsAndFrees) {
  auto pool = make_pool();
  std::vector<Handle> handles;
  for (size_t size = 1; size <= kPageSize; ++size) {
    Handle h = must_alloc(*pool, size);
    ASSERT_TRUE(h);
    EXPECT_EQ(pool->object_size(h), size);
    Pool::Mapped m = pool->map(h);
    ASSERT_EQ(m.bytes().size(), size);
    fill(m.bytes(), size);
    handles.push_back(h);
  }
  EXPECT_TRUE(pool->check_invariants());
  EXPECT_EQ(pool->stats().objects, kPageSize);
  EXPECT_EQ(pool->stats().object_bytes, kPageSize * (kPageSize + 1) / 2);
  for (size_t size = 1; size <= kPageSize; ++size) {
    Pool::Mapped m = pool->map(handles[size - 1]);
    ASSERT_TRUE(holds(m.bytes(), size)) << "size " << size;
  }
  for (Handle h : handles) pool->free(h);
  EXPECT_TRUE(pool->check_invariants());
  PoolStats s = pool->stats();
  EXPECT_EQ(s.objects, 0u);
  EXPECT_EQ(s.object_bytes, 0u);
  EXPECT_EQ(s.pages_held, 0u);
  EXPECT_GT(s.pages_max, 0u);
}

TEST(PoolTest, ObjectsSurviveTheirNeighboursWrites) {
  auto pool = make_pool();
  // Sizes that straddle pages of multi-page zspages.
  for (size_t size : {1u, 27u, 28u, 29u, 100u, 1000u, 2000u, 3000u, 3628u, 3629u, 4096u}) {
    std::vector<Handle> hs;
    for (uint64_t i = 0; i < 300; ++i) {
      Handle h = must_alloc(*pool, size);
      fill(pool->map(h).bytes(), size * 1000 + i);
      hs.push_back(h);
    }
    for (uint64_t i = 0; i < hs.size(); ++i) {
      ASSERT_TRUE(holds(pool->map(hs[i]).bytes(), size * 1000 + i)) << "size " << size << " object " << i;
    }
    for (size_t i = 0; i < hs.size(); i += 2) pool->free(hs[i]);
    for (uint64_t i = 1; i < hs.size(); i += 2) {
      ASSERT_TRUE(holds(pool->map(hs[i]).bytes(), size * 1000 + i));
      pool->free(hs[i]);
    }
  }
  EXPECT_TRUE(pool->check_invariants());
  EXPECT_EQ(pool->stats().pages_held, 0u);
}

TEST(PoolTest, HugeClassSizeSplitsHeaderedFromRawObjects) {
  auto pool = make_pool();
  size_t huge = pool->huge_class_size();
  ASSERT_GT(huge, 2048u);
  ASSERT_LT(huge, kPageSize);
  Handle below = must_alloc(*pool, huge - 1);
  Handle at = must_alloc(*pool, huge);
  for (const ClassStats& c : pool->class_stats()) {
    if (c.objs_inuse == 0) continue;
    if (c.objs_per_zspage == 1) {
      EXPECT_EQ(c.class_size, kPageSize) << "the payload of huge_class_size() is raw";
    } else {
      EXPECT_GE(c.class_size, huge - 1 + 4) << "the smaller one carries a header";
    }
  }
  pool->free(below);
  pool->free(at);
}

TEST(PoolTest, TryAllocNeverGrows) {
  auto pool = make_pool();
  EXPECT_FALSE(pool->try_alloc(100)) << "a fresh pool has no free object";
  EXPECT_EQ(pool->stats().pages_held, 0u);
  Handle first = must_alloc(*pool, 100);
  uint64_t pages = pool->stats().pages_held;
  ASSERT_GT(pages, 0u);
  // Room is left in that zspage: try_alloc fills it, then stops.
  std::vector<Handle> more;
  for (;;) {
    Handle h = pool->try_alloc(100);
    if (!h) break;
    more.push_back(h);
  }
  EXPECT_FALSE(more.empty());
  EXPECT_EQ(pool->stats().pages_held, pages);
  EXPECT_FALSE(pool->try_alloc(110)) << "same class, still full";
  EXPECT_FALSE(pool->try_alloc(1000)) << "another class was never grown";
  pool->free(more.back());
  more.pop_back();
  EXPECT_TRUE(pool->try_alloc(100)) << "a free made room";
  EXPECT_TRUE(pool->check_invariants());
  pool->free(first);
}

TEST(PoolTest, MaxPagesIsEnforcedAndNothingIsCorrupted) {
  PoolOptions o;
  o.max_pages = 32;
  auto pool = make_pool(o);
  EXPECT_EQ(pool->max_pages(), 32u);
  std::vector<Handle> hs;
  Status last;
  for (uint64_t i = 0;; ++i) {
    Result<Handle> h = pool->alloc(2000 + i % 7);
    if (!h) {
      last = h.status();
      break;
    }
    fill(pool->map(*h).bytes(), i);
    hs.push_back(*h);
  }
  EXPECT_EQ(last.code(), Status::Code::kNoSpace);
  EXPECT_LE(pool->stats().pages_held, 32u);
  EXPECT_GE(pool->stats().grow_failures, 1u);
  for (uint64_t i = 0; i < hs.size(); ++i) ASSERT_TRUE(holds(pool->map(hs[i]).bytes(), i));
  EXPECT_TRUE(pool->check_invariants());
  // Raising the limit at run time lets the pool grow again.
  pool->set_max_pages(0);
  Result<Handle> h = pool->alloc(2000);
  ASSERT_TRUE(h.has_value());
  pool->free(*h);
  for (Handle x : hs) pool->free(x);
  EXPECT_EQ(pool->stats().pages_held, 0u);
}

TEST(PoolTest, PopulateFailureIsNoSpaceAndCountsAGrowFailure) {
  auto pool = make_pool();
  os::fail_next_populates_for_testing(1);
  Result<Handle> h = pool->alloc(500);
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.status().code(), Status::Code::kNoSpace);
  EXPECT_EQ(pool->stats().grow_failures, 1u);
  EXPECT_EQ(pool->stats().pages_held, 0u);
  EXPECT_TRUE(pool->check_invariants());
  h = pool->alloc(500);
  ASSERT_TRUE(h.has_value());
  pool->free(*h);
}

TEST(PoolTest, ArenaExhaustionIsNoSpace) {
  PoolOptions o;
  o.arena_bytes = 64 * kPageSize;
  auto pool = make_pool(o);
  std::vector<Handle> hs;
  Result<Handle> h = Handle{};
  while ((h = pool->alloc(kPageSize)).has_value()) hs.push_back(*h);
  EXPECT_EQ(h.status().code(), Status::Code::kNoSpace);
  EXPECT_EQ(hs.size(), 64u);
  pool->free(hs.back());
  hs.pop_back();
  h = pool->alloc(kPageSize);
  ASSERT_TRUE(h.has_value()) << "a freed page is reused";
  hs.push_back(*h);
  for (Handle x : hs) pool->free(x);
  EXPECT_TRUE(pool->check_invariants());
}

TEST(PoolTest, AccountingIsExact) {
  auto pool = make_pool();
  std::vector<Handle> hs;
  uint64_t bytes = 0;
  for (uint64_t i = 0; i < 5000; ++i) {
    size_t size = 1 + (i * 7919) % kPageSize;
    hs.push_back(must_alloc(*pool, size));
    bytes += size;
  }
  PoolStats s = pool->stats();
  EXPECT_EQ(s.objects, 5000u);
  EXPECT_EQ(s.object_bytes, bytes);
  EXPECT_EQ(s.pages_held, class_pages(*pool));
  EXPECT_EQ(s.pages_max, s.pages_held);
  uint64_t objs = 0;
  for (const ClassStats& c : pool->class_stats()) {
    EXPECT_EQ(c.objs_allocated, c.zspages * c.objs_per_zspage);
    EXPECT_LE(c.objs_inuse, c.objs_allocated);
    objs += c.objs_inuse;
  }
  EXPECT_EQ(objs, 5000u);
  // Objects plus headers fit in the pages held, with little waste.
  EXPECT_LT(bytes, s.pages_held * kPageSize);
  for (size_t i = 0; i < hs.size(); i += 3) {
    bytes -= pool->object_size(hs[i]);
    pool->free(hs[i]);
  }
  EXPECT_EQ(pool->stats().object_bytes, bytes);
  EXPECT_EQ(pool->stats().pages_held, class_pages(*pool));
  EXPECT_EQ(pool->stats().pages_max, s.pages_held) << "the peak stays";
  pool->reset_pages_max();
  EXPECT_EQ(pool->stats().pages_max, pool->stats().pages_held);
  EXPECT_TRUE(pool->check_invariants());
  for (size_t i = 0; i < hs.size(); ++i) {
    if (i % 3 != 0) pool->free(hs[i]);
  }
  EXPECT_EQ(pool->stats().pages_held, 0u);
}

bool rss_is_meaningful() {
#if defined(__SANITIZE_THREAD__)
  return false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return false;
#endif
#endif
  return testing::rss_anon_bytes() != 0;
}

TEST(PoolTest, FreeingEverythingGivesTheMemoryBack) {
  if (!rss_is_meaningful()) GTEST_SKIP() << "RssAnon not usable here";
  auto pool = make_pool();
  std::vector<Handle> hs;
  hs.reserve(40000);  // the vector's own memory is not the pool's
  uint64_t before = testing::rss_anon_bytes();
  for (uint64_t i = 0; i < 40000; ++i) {
    Handle h = must_alloc(*pool, 500 + i % 1500);
    fill(pool->map(h).bytes(), i);
    hs.push_back(h);
  }
  uint64_t held = pool->stats().pages_held * kPageSize;
  ASSERT_GT(held, 32u << 20);
  uint64_t grown = testing::rss_anon_bytes() - before;
  EXPECT_GE(grown, held) << "RSS grew by at least the pages held";
  // Handle table, descriptors, the spare window: well under 5 % here;
  // ASan adds one shadow byte per 8.
#if defined(UZRAM_POOL_ASAN)
  uint64_t overhead = held / 20 + held / 8;
#else
  uint64_t overhead = held / 20;
#endif
  EXPECT_LE(grown, held + overhead + (1 << 20));
  for (Handle h : hs) pool->free(h);
  EXPECT_EQ(pool->stats().pages_held, 0u);
  uint64_t after = testing::rss_anon_bytes();
  // What stays: the spare window (256 KiB), the handle table and the
  // descriptors touched, and, under ASan, the shadow of the freed pages.
  EXPECT_LE(after, before + grown / 6 + (1 << 20)) << "grown " << grown;
}

TEST(PoolTest, MappedObjectStaysPutWhileCompactionRuns) {
  auto pool = make_pool();
  std::vector<Handle> hs;
  for (uint64_t i = 0; i < 2000; ++i) {
    Handle h = must_alloc(*pool, 200);
    fill(pool->map(h).bytes(), i);
    hs.push_back(h);
  }
  // Free most objects, keep one in each zspage-sized stretch, map one of them.
  for (size_t i = 0; i < hs.size(); ++i) {
    if (i % 40 != 0) pool->free(hs[i]);
  }
  Pool::Mapped m = pool->map(hs[0]);
  std::byte* where = m.bytes().data();
  pool->compact();
  EXPECT_EQ(pool->map(hs[0]).bytes().data(), where) << "a pinned zspage is never a source";
  EXPECT_TRUE(holds(m.bytes(), 0));
  EXPECT_TRUE(pool->check_invariants());
  for (size_t i = 0; i < hs.size(); i += 40) EXPECT_TRUE(holds(pool->map(hs[i]).bytes(), i));
  {
    Pool::Mapped moved = std::move(m);  // the pin moves with it
    EXPECT_EQ(moved.bytes().data(), where);
  }
  for (size_t i = 0; i < hs.size(); i += 40) pool->free(hs[i]);
}

TEST(PoolDeathTest, CheckInvariantsCatchesAClobberedHeader) {
  auto pool = make_pool();
  Handle a = must_alloc(*pool, 100);
  Handle b = must_alloc(*pool, 100);
  EXPECT_DEATH(
      {
        // The 4 bytes before the payload hold the handle index.
        std::byte* header = pool->map(a).bytes().data() - 4;
        std::memcpy(header, &b.value, 4);
        pool->check_invariants();
      },
      "points at");
  pool->free(a);
  pool->free(b);
}

TEST(PoolDeathTest, DoubleFreeIsCaught) {
  auto pool = make_pool();
  Handle a = must_alloc(*pool, 100);
  Handle keep = must_alloc(*pool, 100);
  pool->free(a);
  EXPECT_DEATH(pool->free(a), "not allocated");
  EXPECT_DEATH(pool->free(Handle{1u << 30}), "never handed out");
  pool->free(keep);
}

#if defined(UZRAM_POOL_ASAN)
TEST(PoolDeathTest, WritingPastTheMappedBytesIsCaughtUnderAsan) {
  auto pool = make_pool();
  Handle h = must_alloc(*pool, 100);
  Handle neighbour = must_alloc(*pool, 100);
  Pool::Mapped m = pool->map(h);
  EXPECT_DEATH(
      {
        volatile std::byte* p = m.bytes().data();
        p[104] = std::byte{1};  // past the 100 bytes, into the class's slack
      },
      "use-after-poison");
  pool->free(neighbour);
}
#endif

}  // namespace
}  // namespace uzram::pool
