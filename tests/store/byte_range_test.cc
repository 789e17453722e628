// Tests of src/store/byte_range.cc: any offset and length, against a
// reference buffer.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "store_test_util.h"

namespace uzram::store {
namespace {

using testing::open_store;
using testing::options_for;
using testing::Page;
using testing::random_page;
using testing::text_page;

constexpr uint64_t kPages = 32;
constexpr uint64_t kBytes = kPages * kPageSize;

std::vector<std::byte> read_all(Store& s) {
  std::vector<std::byte> out(kBytes);
  Status st = s.read_bytes(0, out);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return out;
}

TEST(ByteRangeTest, PartialWriteKeepsTheRestOfThePage) {
  auto s = open_store(options_for(kPages));
  const Page p = text_page(5);
  ASSERT_TRUE(s->write(1, p.view()).is_ok());
  const char msg[] = "hello, odd offset";
  ASSERT_TRUE(s->write_bytes(kPageSize + 1001, std::as_bytes(std::span(msg))).is_ok());
  Page expect = p;
  std::memcpy(expect.bytes.data() + 1001, msg, sizeof(msg));
  Page got;
  ASSERT_TRUE(s->read(1, got.buf()).is_ok());
  EXPECT_EQ(got, expect);
}

TEST(ByteRangeTest, WriteAcrossPagesAtOddOffsets) {
  auto s = open_store(options_for(kPages));
  std::vector<std::byte> data(3 * kPageSize + 777);
  const Page r = random_page(9);
  for (size_t i = 0; i < data.size(); ++i) data[i] = r.bytes[i % kPageSize] ^ std::byte(i / kPageSize);
  const uint64_t off = 2 * kPageSize + 4095;
  ASSERT_TRUE(s->write_bytes(off, data).is_ok());
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(s->read_bytes(off, back).is_ok());
  EXPECT_EQ(back, data);
  // The byte before the range and the byte after it were never written.
  std::byte edge[1];
  ASSERT_TRUE(s->read_bytes(off - 1, edge).is_ok());
  EXPECT_EQ(edge[0], std::byte{0});
  ASSERT_TRUE(s->read_bytes(off + data.size(), edge).is_ok());
  EXPECT_EQ(edge[0], std::byte{0});
}

TEST(ByteRangeTest, RandomOperationsMatchAReferenceBuffer) {
  auto s = open_store(options_for(kPages));
  std::vector<std::byte> ref(kBytes);
  std::mt19937_64 rng(42);
  for (int op = 0; op < 600; ++op) {
    const uint64_t off = rng() % kBytes;
    const uint64_t len = rng() % std::min<uint64_t>(kBytes - off, 3 * kPageSize) + 1;
    const int kind = static_cast<int>(rng() % 4);
    if (kind == 0 || kind == 1) {
      std::vector<std::byte> data(len);
      const Page src = kind == 0 ? text_page(rng()) : random_page(rng());
      for (size_t i = 0; i < len; ++i) data[i] = src.bytes[(i + off) % kPageSize];
      ASSERT_TRUE(s->write_bytes(off, data).is_ok());
      std::memcpy(ref.data() + off, data.data(), len);
    } else if (kind == 2) {
      ASSERT_TRUE(s->zero_bytes(off, len).is_ok());
      std::memset(ref.data() + off, 0, len);
    } else {
      std::vector<std::byte> got(len);
      ASSERT_TRUE(s->read_bytes(off, got).is_ok());
      ASSERT_EQ(0, std::memcmp(got.data(), ref.data() + off, len)) << "op " << op << " off " << off << " len " << len;
    }
  }
  EXPECT_EQ(read_all(*s), ref);
  s->check_invariants();
}

TEST(ByteRangeTest, ZeroBytesDiscardsWholePagesAndRewritesPartialOnes) {
  auto s = open_store(options_for(kPages));
  for (PageIndex i = 0; i < 4; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  ASSERT_TRUE(s->zero_bytes(100, 2 * kPageSize).is_ok());  // part of 0, all of 1, part of 2
  EXPECT_FALSE(s->is_empty(0));
  EXPECT_TRUE(s->is_empty(1));
  EXPECT_FALSE(s->is_empty(2));
  EXPECT_EQ(s->stats().notify_free, 1u);
  Page p0 = text_page(0);
  std::memset(p0.bytes.data() + 100, 0, kPageSize - 100);
  Page got;
  ASSERT_TRUE(s->read(0, got.buf()).is_ok());
  EXPECT_EQ(got, p0);
}

TEST(ByteRangeTest, ZeroingPartOfAnEmptyPageStoresNothing) {
  auto s = open_store(options_for(kPages));
  ASSERT_TRUE(s->zero_bytes(5, 10).is_ok());
  EXPECT_TRUE(s->is_empty(0));
  EXPECT_EQ(s->stats().orig_data_size, 0u);
}

TEST(ByteRangeTest, OutOfRangeIsRejectedAndCounted) {
  auto s = open_store(options_for(kPages));
  std::vector<std::byte> buf(10);
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(s->write_bytes(kBytes - 5, buf).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(s->read_bytes(kBytes - 5, buf).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(s->zero_bytes(kBytes - 5, 10).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(s->write_bytes(kBytes + 1, {}).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(s->read_bytes(kMax - 4, buf).code(), Status::Code::kOutOfRange);  // offset + length overflows
  EXPECT_EQ(s->zero_bytes(8, kMax - 4).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(s->stats().invalid_io, 6u);
  // Nothing was written by the refused calls.
  EXPECT_EQ(s->stats().orig_data_size, 0u);
  // Up to the very end is fine, and an empty range at the end too.
  EXPECT_TRUE(s->write_bytes(kBytes - 10, buf).is_ok());
  EXPECT_TRUE(s->read_bytes(kBytes, {}).is_ok());
  EXPECT_EQ(s->stats().invalid_io, 6u);
}

TEST(ByteRangeTest, PartialWriteIntoAHugePageRoundTrips) {
  auto s = open_store(options_for(kPages));
  const Page r = random_page(1);
  ASSERT_TRUE(s->write(3, r.view()).is_ok());
  ASSERT_TRUE(s->slot_info(3).huge);
  const std::byte zeros[64] = {};
  ASSERT_TRUE(s->write_bytes(3 * kPageSize + 333, zeros).is_ok());
  Page expect = r;
  std::memset(expect.bytes.data() + 333, 0, 64);
  Page got;
  ASSERT_TRUE(s->read(3, got.buf()).is_ok());
  EXPECT_EQ(got, expect);
  EXPECT_EQ(s->stats().huge_pages, 1u);
  s->check_invariants();
}

}  // namespace
}  // namespace uzram::store
