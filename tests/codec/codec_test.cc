// Tests of the codec backends (src/codec/{lz4,lz4hc,zstd,lzo,deflate}.cc):
// round trips on made-up and real pages, the "does not fit" path, and
// corrupt input. Buffers are sized exactly and followed by guard bytes, so
// a write past the end fails the test even without AddressSanitizer.
#include <unistd.h>
#include <zdict.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "codec/codec.h"
#include "codec/test_pages.h"

namespace uzram::codec {
namespace {

using testing::Bytes;

constexpr size_t kGuard = 64;
constexpr std::byte kGuardByte{0xA5};

// A buffer of `size` usable bytes followed by guard bytes.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t size) : size_(size), bytes_(size + kGuard, kGuardByte) {}
  std::span<std::byte> span() { return {bytes_.data(), size_}; }
  bool guard_intact() const {
    for (size_t i = size_; i < bytes_.size(); ++i) {
      if (bytes_[i] != kGuardByte) return false;
    }
    return true;
  }

 private:
  size_t size_;
  Bytes bytes_;
};

std::unique_ptr<Codec> codec_or_die(std::string_view spec) {
  Result<std::unique_ptr<Codec>> codec = make_codec(spec);
  EXPECT_TRUE(codec.has_value()) << spec << ": " << codec.status().to_string();
  return codec.has_value() ? std::move(*codec) : nullptr;
}

std::unique_ptr<CodecContext> context_or_die(const Codec& codec) {
  Result<std::unique_ptr<CodecContext>> ctx = codec.new_context();
  EXPECT_TRUE(ctx.has_value()) << ctx.status().to_string();
  return ctx.has_value() ? std::move(*ctx) : nullptr;
}

class CodecTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    codec_ = codec_or_die(GetParam());
    ASSERT_NE(codec_, nullptr);
    ctx_ = context_or_die(*codec_);
    other_ctx_ = context_or_die(*codec_);
    ASSERT_NE(ctx_, nullptr);
    ASSERT_NE(other_ctx_, nullptr);
  }

  // Compresses page into a dst of dst_size bytes; returns the compressed
  // bytes, empty when compress() returned 0. Fails on a write past dst.
  Bytes compress(const Bytes& page, size_t dst_size) {
    GuardedBuffer dst(dst_size);
    const size_t n = ctx_->compress(page, dst.span());
    EXPECT_TRUE(dst.guard_intact()) << "compress wrote past a dst of " << dst_size << " bytes";
    EXPECT_LE(n, dst_size);
    if (n == 0 || n > dst_size) return {};
    return Bytes(dst.span().begin(), dst.span().begin() + static_cast<ptrdiff_t>(n));
  }

  // Decompresses into a dst of exactly `size` bytes with the other context
  // (any context may read what another wrote). Fails on a write past dst.
  bool decompress(const Bytes& compressed, size_t size, Bytes* out = nullptr) {
    GuardedBuffer dst(size);
    const bool ok = other_ctx_->decompress(compressed, dst.span());
    EXPECT_TRUE(dst.guard_intact()) << "decompress wrote past a dst of " << size << " bytes";
    if (out != nullptr) out->assign(dst.span().begin(), dst.span().end());
    return ok;
  }

  // Compresses into two pages (always room) and checks the round trip.
  // Returns the compressed size.
  size_t round_trip(const Bytes& page) {
    const Bytes compressed = compress(page, 2 * kPageSize);
    EXPECT_FALSE(compressed.empty()) << "a page did not fit in two pages";
    if (compressed.empty()) return 0;
    Bytes out;
    EXPECT_TRUE(decompress(compressed, page.size(), &out));
    EXPECT_TRUE(out == page) << "round trip changed the page";
    return compressed.size();
  }

  std::unique_ptr<Codec> codec_;
  std::unique_ptr<CodecContext> ctx_;
  std::unique_ptr<CodecContext> other_ctx_;
};

TEST_P(CodecTest, ZeroPageShrinksToAFewBytes) {
  const size_t n = round_trip(testing::zero_page());
  EXPECT_GT(n, 0u);
  EXPECT_LT(n, 128u);
}

TEST_P(CodecTest, RepeatedWordPageShrinksToAFewBytes) {
  const size_t n = round_trip(testing::word_page(0x0123456789ABCDEFull));
  EXPECT_GT(n, 0u);
  EXPECT_LT(n, 256u);
}

TEST_P(CodecTest, TextPagesRoundTripSmaller) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    const size_t n = round_trip(testing::text_page(seed));
    EXPECT_GT(n, 0u);
    EXPECT_LT(n, kPageSize * 3 / 4) << "seed " << seed;
  }
}

TEST_P(CodecTest, RandomPageIsIncompressibleInOnePageAndRoundTripsInTwo) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    const Bytes page = testing::random_page(seed);
    // Into one page: either 0 (does not fit), or a size that fits and
    // decompresses back.
    const Bytes in_one = compress(page, kPageSize);
    if (!in_one.empty()) {
      Bytes out;
      EXPECT_TRUE(decompress(in_one, kPageSize, &out));
      EXPECT_TRUE(out == page);
    }
    // Two pages always hold the worst case.
    EXPECT_GE(round_trip(page), kPageSize);
  }
}

TEST_P(CodecTest, PagesOfAnExecutableRoundTrip) {
  const std::vector<Bytes> pages = testing::executable_pages(64);
  ASSERT_GE(pages.size(), 16u);
  size_t compressed = 0;
  for (const Bytes& page : pages) compressed += round_trip(page);
  EXPECT_LT(compressed, pages.size() * kPageSize);
}

TEST_P(CodecTest, PagesOfThisProcessHeapRoundTrip) {
  const std::vector<Bytes> pages = testing::heap_pages(64);
  ASSERT_GE(pages.size(), 16u) << "could not read the heap through /proc/self/mem";
  size_t compressed = 0;
  for (const Bytes& page : pages) compressed += round_trip(page);
  // Strings of JSON-like records: at least 2x with every codec.
  EXPECT_LT(compressed, pages.size() * kPageSize / 2);
}

TEST_P(CodecTest, ShortDstGivesZeroOrAResultThatFits) {
  for (const Bytes& page : {testing::text_page(3), testing::record_page(4), testing::random_page(5)}) {
    const size_t full = compress(page, 2 * kPageSize).size();
    ASSERT_GT(full, 0u);
    for (size_t cap : {size_t{1}, size_t{2}, size_t{7}, size_t{16}, full / 2, full - 1, full, full + 1,
                       kPageSize - 1, kPageSize}) {
      if (cap == 0) continue;
      const Bytes c = compress(page, cap);
      if (cap < 8) {
        EXPECT_TRUE(c.empty()) << "cap " << cap;
      }
      if (c.empty()) continue;
      EXPECT_LE(c.size(), cap);
      Bytes out;
      EXPECT_TRUE(decompress(c, kPageSize, &out)) << "cap " << cap;
      EXPECT_TRUE(out == page) << "cap " << cap;
    }
  }
}

TEST_P(CodecTest, TruncatedInputFailsToDecompress) {
  const Bytes c = compress(testing::text_page(7), 2 * kPageSize);
  ASSERT_FALSE(c.empty());
  for (size_t len = 0; len < c.size(); ++len) {
    EXPECT_FALSE(decompress(Bytes(c.begin(), c.begin() + static_cast<ptrdiff_t>(len)), kPageSize))
        << "truncated to " << len << " of " << c.size();
  }
}

TEST_P(CodecTest, TrailingBytesFailToDecompress) {
  Bytes c = compress(testing::text_page(8), 2 * kPageSize);
  ASSERT_FALSE(c.empty());
  c.push_back(std::byte{0});
  EXPECT_FALSE(decompress(c, kPageSize));
}

TEST_P(CodecTest, WrongSizedDstFailsToDecompress) {
  const Bytes c = compress(testing::text_page(9), 2 * kPageSize);
  ASSERT_FALSE(c.empty());
  EXPECT_FALSE(decompress(c, kPageSize - 1));
  EXPECT_FALSE(decompress(c, kPageSize + 1));
  EXPECT_FALSE(decompress(c, 2 * kPageSize));
  EXPECT_TRUE(decompress(c, kPageSize));
}

TEST_P(CodecTest, CorruptInputNeverWritesPastDst) {
  const Bytes c = compress(testing::text_page(10), 2 * kPageSize);
  ASSERT_FALSE(c.empty());
  // Every bit of the first 64 bytes and bits spread over the rest: the
  // result may be true (lz4 has no checksum: a flipped literal decodes),
  // but dst's bounds hold.
  for (size_t bit = 0; bit < c.size() * 8; bit += (bit < 512 ? 1 : 37)) {
    Bytes bad = c;
    bad[bit / 8] ^= std::byte(1u << (bit % 8));
    decompress(bad, kPageSize);
  }
  testing::Rng rng(11);
  size_t failures = 0;
  for (int i = 0; i < 500; ++i) {
    const Bytes garbage = testing::random_page(rng.next(), 1 + rng.below(300));
    failures += decompress(garbage, kPageSize) ? 0 : 1;
  }
  EXPECT_EQ(failures, 500u) << "random bytes decoded to a whole page";
}

TEST_P(CodecTest, ContextsOfOneCodecAreInterchangeable) {
  std::unique_ptr<CodecContext> third = context_or_die(*codec_);
  ASSERT_NE(third, nullptr);
  for (uint64_t seed = 20; seed < 24; ++seed) {
    const Bytes page = testing::record_page(seed);
    Bytes a(2 * kPageSize), b(2 * kPageSize);
    const size_t na = ctx_->compress(page, a);
    const size_t nb = third->compress(page, b);
    ASSERT_GT(na, 0u);
    // Same algorithm and parameters: the same bytes, whichever context.
    ASSERT_EQ(na, nb);
    EXPECT_TRUE(std::equal(a.begin(), a.begin() + static_cast<ptrdiff_t>(na), b.begin()));
    Bytes out(kPageSize);
    EXPECT_TRUE(third->decompress(std::span(a).first(na), out));
    EXPECT_TRUE(out == page);
  }
}

TEST_P(CodecTest, RepeatedUseOfOneContextStaysCorrect) {
  // Contexts keep state between pages (tables, reset streams); pages of
  // different kinds in a row must not leak into each other.
  for (uint64_t i = 0; i < 60; ++i) {
    switch (i % 4) {
      case 0: round_trip(testing::text_page(i)); break;
      case 1: round_trip(testing::random_page(i)); break;
      case 2: round_trip(testing::zero_page()); break;
      default: round_trip(testing::record_page(i)); break;
    }
  }
}

std::string spec_test_name(const ::testing::TestParamInfo<const char*>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecTest,
                         ::testing::Values("lz4", "lz4hc:1", "lz4hc:9", "lz4hc:12", "zstd:1", "zstd:3",
                                           "zstd:12", "zstd:22", "lzo", "deflate:1", "deflate:6",
                                           "deflate:9"),
                         spec_test_name);

// ---------------------------------------------------------------------------
// zstd with a dictionary
// ---------------------------------------------------------------------------

// A dictionary trained now on JSON-like records, in a temporary file.
class ZstdDictionaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::Rng rng(99);
    std::string samples;
    std::vector<size_t> sizes;
    for (int i = 0; i < 4000; ++i) {
      const std::string r = testing::record(rng);
      samples += r;
      sizes.push_back(r.size());
    }
    std::vector<char> dict(16 * 1024);
    const size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), samples.data(), sizes.data(),
                                           static_cast<unsigned>(sizes.size()));
    ASSERT_FALSE(ZDICT_isError(n)) << ZDICT_getErrorName(n);
    char path[] = "/tmp/uzram_zstd_dict_XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, dict.data(), n), static_cast<ssize_t>(n));
    close(fd);
    path_ = path;
  }
  void TearDown() override {
    if (!path_.empty()) std::remove(path_.c_str());
  }

  std::string path_;
};

TEST_F(ZstdDictionaryTest, TrainedDictionaryRoundTripsAndShrinksPages) {
  std::unique_ptr<Codec> with = codec_or_die("zstd:level=3,dict=" + path_);
  std::unique_ptr<Codec> without = codec_or_die("zstd:level=3");
  ASSERT_NE(with, nullptr);
  ASSERT_NE(without, nullptr);
  EXPECT_EQ(with->description(), "zstd:level=3,dict=" + path_);
  std::unique_ptr<CodecContext> a = context_or_die(*with);
  std::unique_ptr<CodecContext> b = context_or_die(*with);
  std::unique_ptr<CodecContext> plain = context_or_die(*without);

  size_t with_total = 0;
  size_t without_total = 0;
  for (uint64_t seed = 1000; seed < 1016; ++seed) {
    const Bytes page = testing::record_page(seed);
    Bytes c(2 * kPageSize), p(2 * kPageSize), out(kPageSize);
    const size_t n = a->compress(page, c);
    const size_t m = plain->compress(page, p);
    ASSERT_GT(n, 0u);
    ASSERT_GT(m, 0u);
    with_total += n;
    without_total += m;
    // The dictionary is the codec's, shared by its contexts.
    ASSERT_TRUE(b->decompress(std::span(c).first(n), out));
    EXPECT_TRUE(out == page);
  }
  EXPECT_LT(with_total, without_total);
}

TEST_F(ZstdDictionaryTest, DictionaryIsLoadedOnceAtMakeCodec) {
  std::unique_ptr<Codec> codec = codec_or_die("zstd:dict=" + path_);
  ASSERT_NE(codec, nullptr);
  std::remove(path_.c_str());
  path_.clear();
  std::unique_ptr<CodecContext> ctx = context_or_die(*codec);
  ASSERT_NE(ctx, nullptr);
  const Bytes page = testing::record_page(7);
  Bytes c(2 * kPageSize), out(kPageSize);
  const size_t n = ctx->compress(page, c);
  ASSERT_GT(n, 0u);
  EXPECT_TRUE(ctx->decompress(std::span(c).first(n), out));
  EXPECT_TRUE(out == page);
}

TEST_F(ZstdDictionaryTest, MissingDictionaryFileIsAClearError) {
  Result<std::unique_ptr<Codec>> r = make_codec("zstd:level=3,dict=" + path_ + ".missing");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_NE(r.status().message().find(path_ + ".missing"), std::string_view::npos);
}

}  // namespace
}  // namespace uzram::codec
