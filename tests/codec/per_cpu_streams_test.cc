// Tests of StreamPool and StreamGuard (src/codec/per_cpu_streams.cc).
#include "codec/per_cpu_streams.h"

#include <unistd.h>

#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "codec/test_pages.h"

namespace uzram::codec {
namespace {

std::shared_ptr<const Codec> lz4() {
  Result<std::unique_ptr<Codec>> codec = make_codec("lz4");
  EXPECT_TRUE(codec.has_value());
  return codec.has_value() ? std::shared_ptr<const Codec>(std::move(*codec)) : nullptr;
}

std::unique_ptr<StreamPool> pool_of(size_t streams, std::string_view spec = "lz4") {
  Result<std::unique_ptr<Codec>> codec = make_codec(spec);
  EXPECT_TRUE(codec.has_value());
  if (!codec.has_value()) return nullptr;
  Result<std::unique_ptr<StreamPool>> pool = StreamPool::create(std::move(*codec), streams);
  EXPECT_TRUE(pool.has_value()) << pool.status().to_string();
  return pool.has_value() ? std::move(*pool) : nullptr;
}

TEST(StreamPoolTest, DefaultsToOneStreamPerOnlineCpu) {
  std::unique_ptr<StreamPool> pool = pool_of(0);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->size(), static_cast<size_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  EXPECT_EQ(pool->codec().description(), "lz4");
}

TEST(StreamPoolTest, RejectsNoCodecAndTooManyStreams) {
  Result<std::unique_ptr<StreamPool>> r = StreamPool::create(nullptr, 2);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  r = StreamPool::create(lz4(), StreamPool::kMaxStreams + 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("at most 1024"), std::string_view::npos);
}

TEST(StreamPoolTest, EachStreamHasItsOwnTwoPageScratchAndWorkingContext) {
  std::unique_ptr<StreamPool> pool = pool_of(3, "zstd:1");
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->size(), 3u);
  std::vector<StreamGuard> held;
  std::set<std::byte*> scratches;
  const testing::Bytes page = testing::text_page(1);
  for (size_t i = 0; i < 3; ++i) {
    held.push_back(pool->acquire());
    StreamGuard& g = held.back();
    ASSERT_EQ(g.scratch().size(), 2 * kPageSize);
    scratches.insert(g.scratch().data());
    const size_t n = g.ctx().compress(page, g.scratch());
    ASSERT_GT(n, 0u);
    testing::Bytes out(kPageSize);
    EXPECT_TRUE(g.ctx().decompress(g.scratch().first(n), out));
    EXPECT_TRUE(out == page);
  }
  EXPECT_EQ(scratches.size(), 3u) << "a stream was handed out twice";
}

TEST(StreamPoolTest, TryAcquireFailsOnlyWhenEveryStreamIsHeld) {
  std::unique_ptr<StreamPool> pool = pool_of(2);
  ASSERT_NE(pool, nullptr);
  std::optional<StreamGuard> a = pool->try_acquire();
  ASSERT_TRUE(a.has_value());
  std::optional<StreamGuard> b = pool->try_acquire();
  ASSERT_TRUE(b.has_value());
  EXPECT_NE(a->scratch().data(), b->scratch().data());
  EXPECT_FALSE(pool->try_acquire().has_value());
  b->release();
  std::optional<StreamGuard> c = pool->try_acquire();
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(pool->try_acquire().has_value());
}

TEST(StreamPoolTest, AcquireTakesAFreeStreamWhenItsCpusIsHeld) {
  std::unique_ptr<StreamPool> pool = pool_of(2);
  ASSERT_NE(pool, nullptr);
  StreamGuard a = pool->acquire();
  // Whichever CPU this thread is on now, one stream is free: acquire() must
  // not wait for the held one.
  StreamGuard b = pool->acquire();
  EXPECT_NE(a.scratch().data(), b.scratch().data());
}

TEST(StreamPoolTest, ReleaseAndDestructionUnlock) {
  std::unique_ptr<StreamPool> pool = pool_of(1);
  ASSERT_NE(pool, nullptr);
  {
    StreamGuard g = pool->acquire();
    EXPECT_TRUE(g.holds());
    EXPECT_FALSE(pool->try_acquire().has_value());
    g.release();
    EXPECT_FALSE(g.holds());
    g.release();  // a second release does nothing
    EXPECT_TRUE(pool->try_acquire().has_value());
  }
  { StreamGuard g = pool->acquire(); }
  EXPECT_TRUE(pool->try_acquire().has_value());
}

TEST(StreamPoolTest, MovedGuardUnlocksOnce) {
  std::unique_ptr<StreamPool> pool = pool_of(1);
  ASSERT_NE(pool, nullptr);
  {
    StreamGuard a = pool->acquire();
    StreamGuard b(std::move(a));
    EXPECT_FALSE(a.holds());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_TRUE(b.holds());
    EXPECT_FALSE(pool->try_acquire().has_value());
  }
  EXPECT_TRUE(pool->try_acquire().has_value());
}

TEST(StreamPoolTest, AcquireWaitsForAHeldStreamThenGetsIt) {
  std::unique_ptr<StreamPool> pool = pool_of(1);
  ASSERT_NE(pool, nullptr);
  std::optional<StreamGuard> held = pool->try_acquire();
  ASSERT_TRUE(held.has_value());
  std::byte* const scratch = held->scratch().data();
  std::byte* got = nullptr;
  std::thread waiter([&] {
    StreamGuard g = pool->acquire();  // blocks until the release below
    got = g.scratch().data();
  });
  held->release();
  waiter.join();
  EXPECT_EQ(got, scratch);
}

}  // namespace
}  // namespace uzram::codec
