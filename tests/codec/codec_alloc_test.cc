// Checks codec.h's promise that compress() and decompress() never allocate
// for inputs of up to a page, once new_context() has returned, and its one
// exception (lz4hc 10-12): malloc, calloc and realloc are interposed here,
// counted while a flag is set, and made to fail while another is.
// Built without sanitizers only (they interpose malloc themselves).
#include <atomic>
#include <cstdlib>

#include <gtest/gtest.h>

#include "codec/codec.h"
#include "codec/test_pages.h"

extern "C" void* __libc_malloc(size_t size);
extern "C" void* __libc_calloc(size_t n, size_t size);
extern "C" void* __libc_realloc(void* p, size_t size);

namespace {
std::atomic<bool> g_counting{false};
std::atomic<bool> g_failing{false};
std::atomic<long> g_allocations{0};
// False when this allocation is to fail.
bool count() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  return !g_failing.load(std::memory_order_relaxed);
}
}  // namespace

extern "C" void* malloc(size_t size) { return count() ? __libc_malloc(size) : nullptr; }
extern "C" void* calloc(size_t n, size_t size) { return count() ? __libc_calloc(n, size) : nullptr; }
extern "C" void* realloc(void* p, size_t size) { return count() ? __libc_realloc(p, size) : nullptr; }

namespace uzram::codec {
namespace {

using testing::Bytes;

// Counts the allocations made while it lives.
class AllocationCounter {
 public:
  AllocationCounter() {
    g_allocations = 0;
    g_counting = true;
  }
  ~AllocationCounter() { g_counting = false; }
  long count() const { return g_allocations.load(); }
};

// Makes every allocation fail while it lives.
class AllocationFailure {
 public:
  AllocationFailure() { g_failing = true; }
  ~AllocationFailure() { g_failing = false; }
};

TEST(CodecAllocTest, CounterSeesMalloc) {
  AllocationCounter counter;
  void* volatile p = std::malloc(16);
  std::free(p);
  EXPECT_EQ(counter.count(), 1);
}

TEST(CodecAllocTest, Lz4hcOptimalLevelsAllocateOncePerPageAndFailSafely) {
  for (const char* spec : {"lz4hc:10", "lz4hc:12"}) {
    Result<std::unique_ptr<Codec>> codec = make_codec(spec);
    ASSERT_TRUE(codec.has_value());
    Result<std::unique_ptr<CodecContext>> ctx = (*codec)->new_context();
    ASSERT_TRUE(ctx.has_value());
    const Bytes page = testing::text_page(1);
    Bytes dst(2 * kPageSize), out(kPageSize);
    {
      AllocationCounter counter;
      ASSERT_GT((*ctx)->compress(page, dst), 0u);
      EXPECT_LE(counter.count(), 1) << spec;
    }
    size_t n;
    {
      AllocationFailure failure;
      n = (*ctx)->compress(page, dst);
    }
    // Without its table it gives up (0: stored raw) or, if a later liblz4
    // needs none, a correct result.
    if (n != 0) {
      EXPECT_TRUE((*ctx)->decompress(std::span(dst).first(n), out)) << spec;
      EXPECT_TRUE(out == page) << spec;
    }
  }
}

class CodecAllocTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CodecAllocTest, PagesCostNoAllocation) {
  Result<std::unique_ptr<Codec>> codec = make_codec(GetParam());
  ASSERT_TRUE(codec.has_value());
  Result<std::unique_ptr<CodecContext>> made = (*codec)->new_context();
  ASSERT_TRUE(made.has_value());
  CodecContext& ctx = **made;

  // Everything the loop needs is allocated before counting starts.
  const std::vector<Bytes> pages = {testing::zero_page(), testing::text_page(1), testing::random_page(2),
                                    testing::record_page(3), testing::text_page(4, 100),
                                    testing::random_page(5, 2048)};
  Bytes big(2 * kPageSize), small(kPageSize), tiny(64), out(2 * kPageSize);
  Bytes garbage = testing::random_page(6, 200);

  AllocationCounter counter;
  for (int round = 0; round < 3; ++round) {
    for (const Bytes& page : pages) {
      const size_t n = ctx.compress(page, big);
      ASSERT_GT(n, 0u);
      ctx.compress(page, small);  // may not fit: the bounce and limit paths
      ctx.compress(page, tiny);
      const std::span<const std::byte> c = std::span(big).first(n);
      ASSERT_TRUE(ctx.decompress(c, std::span(out).first(page.size())));
      ctx.decompress(c, std::span(out).first(page.size() - 1));  // dst too short
      ctx.decompress(c.first(n / 2), std::span(out).first(page.size()));  // truncated
      ctx.decompress(garbage, std::span(out).first(page.size()));
    }
  }
  EXPECT_EQ(counter.count(), 0);
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecAllocTest,
                         ::testing::Values("lz4", "lz4hc:1", "lz4hc:9", "zstd:1", "zstd:3", "zstd:19", "lzo",
                                           "deflate:6"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace uzram::codec
