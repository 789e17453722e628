// Stress test of StreamPool: more threads than streams, every thread
// compressing and decompressing pages through whatever stream it gets, each
// page checked. Run under ThreadSanitizer in CI (label "stress").
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "codec/per_cpu_streams.h"
#include "codec/test_pages.h"

namespace uzram::codec {
namespace {

constexpr int kThreads = 8;
constexpr size_t kStreams = 2;

// Pages per thread per codec: enough for many hand-offs of each stream,
// small enough to stay within a few seconds under TSan on two cores.
int pages_per_thread(std::string_view spec) { return spec.starts_with("lz4hc") ? 150 : 600; }

void hammer(std::string_view spec) {
  Result<std::unique_ptr<Codec>> codec = make_codec(spec);
  ASSERT_TRUE(codec.has_value()) << codec.status().to_string();
  Result<std::unique_ptr<StreamPool>> made = StreamPool::create(std::move(*codec), kStreams);
  ASSERT_TRUE(made.has_value()) << made.status().to_string();
  StreamPool& pool = **made;

  // Which thread holds each stream, found by its scratch buffer: a second
  // holder at once is the bug this test hunts.
  std::byte* scratches[kStreams];
  {
    StreamGuard a = pool.acquire();
    StreamGuard b = pool.acquire();
    scratches[0] = a.scratch().data();
    scratches[1] = b.scratch().data();
  }
  std::atomic<int> holders[kStreams] = {0, 0};
  auto slot_of = [&](const StreamGuard& g) { return g.scratch().data() == scratches[0] ? 0 : 1; };

  std::atomic<int> bad_round_trips{0};
  std::atomic<int> shared_streams{0};
  const int pages = pages_per_thread(spec);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      testing::Bytes out(kPageSize);
      for (int i = 0; i < pages; ++i) {
        const uint64_t seed = static_cast<uint64_t>(t) * 1000003u + static_cast<uint64_t>(i);
        const testing::Bytes page = (i % 3 == 0) ? testing::random_page(seed) : testing::text_page(seed);
        // Compress in one stream and keep the bytes, then decompress in
        // whichever stream comes next: as the store does.
        testing::Bytes compressed;
        {
          StreamGuard g = pool.acquire();
          const int s = slot_of(g);
          if (holders[s].fetch_add(1) != 0) shared_streams.fetch_add(1);
          const size_t n = g.ctx().compress(page, g.scratch());
          compressed.assign(g.scratch().begin(), g.scratch().begin() + static_cast<ptrdiff_t>(n));
          holders[s].fetch_sub(1);
        }
        if (compressed.empty()) {
          bad_round_trips.fetch_add(1);
          continue;
        }
        std::optional<StreamGuard> g = pool.try_acquire();
        if (!g) g.emplace(pool.acquire());
        const int s = slot_of(*g);
        if (holders[s].fetch_add(1) != 0) shared_streams.fetch_add(1);
        const bool ok = g->ctx().decompress(compressed, out);
        holders[s].fetch_sub(1);
        g->release();
        if (!ok || out != page) bad_round_trips.fetch_add(1);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(bad_round_trips.load(), 0);
  EXPECT_EQ(shared_streams.load(), 0);
}

class StreamPoolStressTest : public ::testing::TestWithParam<const char*> {};

TEST_P(StreamPoolStressTest, EightThreadsOnTwoStreamsRoundTripEveryPage) { hammer(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Codecs, StreamPoolStressTest,
                         ::testing::Values("lz4", "lz4hc", "zstd", "lzo", "deflate"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
}  // namespace uzram::codec
