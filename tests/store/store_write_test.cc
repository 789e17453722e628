// Tests of src/store/store_write.cc and store_read.cc: every kind of page
// round-trips, the statistics match what was stored, limits and discard.
#include <gtest/gtest.h>

#include <vector>

#include "codec/codec.h"
#include "store_test_util.h"

namespace uzram::store {
namespace {

using testing::mix;
using testing::nibble_page;
using testing::open_store;
using testing::options_for;
using testing::Page;
using testing::random_page;
using testing::read_page;
using testing::same_page;
using testing::text_page;

// The size lz4 gives a page, as the store's primary codec does.
size_t lz4_size(const Page& p) {
  auto codec = codec::make_codec("lz4");
  EXPECT_TRUE(codec.has_value());
  auto ctx = (*codec)->new_context();
  EXPECT_TRUE(ctx.has_value());
  std::vector<std::byte> out(2 * kPageSize);
  return (*ctx)->compress(p.view(), out);
}

TEST(StoreWriteTest, EmptySlotReadsAsZeros) {
  auto s = open_store(options_for(8));
  Page p = random_page(1);
  ASSERT_TRUE(s->read(3, p.buf()).is_ok());
  EXPECT_EQ(p, Page{});
  EXPECT_TRUE(s->is_empty(3));
  EXPECT_TRUE(s->is_zero(3));
}

TEST(StoreWriteTest, SameFilledPageTakesNoMemory) {
  auto s = open_store(options_for(8));
  const Page p = same_page(0x0123456789ABCDEFull);
  ASSERT_TRUE(s->write(2, p.view()).is_ok());
  EXPECT_EQ(read_page(*s, 2), p);
  const StoreStats st = s->stats();
  EXPECT_EQ(st.same_pages, 1u);
  EXPECT_EQ(st.orig_data_size, kPageSize);
  EXPECT_EQ(st.compr_data_size, 0u);
  EXPECT_EQ(st.mem_used_total, 0u);
  EXPECT_EQ(s->pool().stats().objects, 0u);
  EXPECT_TRUE(s->slot_info(2).same);
  EXPECT_FALSE(s->is_empty(2));
  EXPECT_FALSE(s->is_zero(2));
}

TEST(StoreWriteTest, ZeroPageIsSameFilledAndZero) {
  auto s = open_store(options_for(8));
  ASSERT_TRUE(s->write(1, Page{}.view()).is_ok());
  EXPECT_FALSE(s->is_empty(1));
  EXPECT_TRUE(s->is_zero(1));
  EXPECT_EQ(s->stats().same_pages, 1u);
  EXPECT_EQ(read_page(*s, 1), Page{});
}

TEST(StoreWriteTest, CompressiblePageRoundTripsAtItsCompressedSize) {
  auto s = open_store(options_for(8));
  const Page p = text_page(7);
  const size_t len = lz4_size(p);
  ASSERT_GT(len, 0u);
  ASSERT_LT(len, s->pool().huge_class_size());
  ASSERT_TRUE(s->write(0, p.view()).is_ok());
  EXPECT_EQ(read_page(*s, 0), p);
  const SlotInfo info = s->slot_info(0);
  EXPECT_EQ(info.size, len);
  EXPECT_FALSE(info.huge);
  EXPECT_EQ(info.priority, 0u);
  EXPECT_EQ(s->stats().compr_data_size, len);
  EXPECT_EQ(s->pool().stats().object_bytes, len);
}

TEST(StoreWriteTest, IncompressiblePageIsStoredHuge) {
  auto s = open_store(options_for(8));
  const Page p = random_page(3);
  ASSERT_TRUE(s->write(5, p.view()).is_ok());
  EXPECT_EQ(read_page(*s, 5), p);
  const SlotInfo info = s->slot_info(5);
  EXPECT_TRUE(info.huge);
  EXPECT_EQ(info.size, kPageSize);
  const StoreStats st = s->stats();
  EXPECT_EQ(st.huge_pages, 1u);
  EXPECT_EQ(st.huge_pages_since, 1u);
  EXPECT_EQ(st.compr_data_size, kPageSize);
}

TEST(StoreWriteTest, StatisticsMatchWhatWasStored) {
  auto s = open_store(options_for(64));
  uint64_t compr = 0;
  for (PageIndex i = 0; i < 10; ++i) {  // compressed
    const Page p = text_page(100 + i);
    compr += lz4_size(p);
    ASSERT_TRUE(s->write(i, p.view()).is_ok());
  }
  for (PageIndex i = 10; i < 14; ++i) ASSERT_TRUE(s->write(i, random_page(i).view()).is_ok());  // huge
  for (PageIndex i = 14; i < 20; ++i) ASSERT_TRUE(s->write(i, same_page(i).view()).is_ok());    // same
  compr += 4 * kPageSize;

  StoreStats st = s->stats();
  EXPECT_EQ(st.orig_data_size, 20 * kPageSize);
  EXPECT_EQ(st.compr_data_size, compr);
  EXPECT_EQ(st.same_pages, 6u);
  EXPECT_EQ(st.huge_pages, 4u);
  EXPECT_EQ(st.huge_pages_since, 4u);
  EXPECT_EQ(st.mem_used_total, s->pool().stats().pages_held * kPageSize);
  EXPECT_GE(st.mem_used_max, st.mem_used_total);
  EXPECT_GT(st.mem_used_total, 0u);
  EXPECT_EQ(st.slots, 64u);
  EXPECT_EQ(st.slot_table_bytes, 64u * 16);
  EXPECT_EQ(st.failed_writes, 0u);
  EXPECT_EQ(st.notify_free, 0u);

  // Overwriting a huge page with a same-filled one: huge_pages drops, the
  // cumulative huge_pages_since does not.
  ASSERT_TRUE(s->write(10, same_page(1).view()).is_ok());
  st = s->stats();
  EXPECT_EQ(st.huge_pages, 3u);
  EXPECT_EQ(st.huge_pages_since, 4u);
  EXPECT_EQ(st.same_pages, 7u);
  EXPECT_EQ(st.orig_data_size, 20 * kPageSize);
  EXPECT_EQ(st.compr_data_size, compr - kPageSize);

  // Discard: notify_free counts the stored slots freed, not the empty ones.
  ASSERT_TRUE(s->discard(0, 30).is_ok());
  st = s->stats();
  EXPECT_EQ(st.notify_free, 20u);
  EXPECT_EQ(st.orig_data_size, 0u);
  EXPECT_EQ(st.compr_data_size, 0u);
  EXPECT_EQ(st.same_pages, 0u);
  EXPECT_EQ(st.huge_pages, 0u);
  EXPECT_EQ(s->pool().stats().objects, 0u);
  s->check_invariants();
}

TEST(StoreWriteTest, OverwriteFreesTheOldObject) {
  auto s = open_store(options_for(4));
  for (int round = 0; round < 50; ++round) {
    const Page p = round % 2 ? random_page(round) : text_page(round);
    ASSERT_TRUE(s->write(1, p.view()).is_ok());
    ASSERT_EQ(read_page(*s, 1), p);
  }
  EXPECT_EQ(s->pool().stats().objects, 1u);
  EXPECT_EQ(s->stats().orig_data_size, kPageSize);
  s->check_invariants();
}

TEST(StoreWriteTest, DiscardEmptiesTheSlot) {
  auto s = open_store(options_for(8));
  ASSERT_TRUE(s->write(4, text_page(1).view()).is_ok());
  ASSERT_TRUE(s->discard(4).is_ok());
  EXPECT_TRUE(s->is_empty(4));
  EXPECT_EQ(read_page(*s, 4), Page{});
  EXPECT_EQ(s->stats().notify_free, 1u);
  ASSERT_TRUE(s->discard(4).is_ok());
  EXPECT_EQ(s->stats().notify_free, 1u);
}

TEST(StoreWriteTest, OutOfRangeIndexIsRejectedAndCounted) {
  auto s = open_store(options_for(8));
  Page p;
  EXPECT_EQ(s->write(8, p.view()).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(s->read(8, p.buf()).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(s->discard(7, 2).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(s->discard(~uint64_t{0}, 2).code(), Status::Code::kOutOfRange);  // index + count overflows
  EXPECT_EQ(s->discard(2, ~uint64_t{0}).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(s->stats().invalid_io, 5u);
  EXPECT_TRUE(s->discard(8, 0).is_ok());
  EXPECT_TRUE(s->is_empty(100));
}

TEST(StoreWriteTest, MemLimitRefusesAndTheSlotKeepsItsContent) {
  StoreOptions o = options_for(256);
  o.mem_limit = 64 * kPageSize;
  auto s = open_store(o);
  // Every slot first holds a same-filled page, which takes no memory.
  for (PageIndex i = 0; i < 256; ++i) ASSERT_TRUE(s->write(i, same_page(i + 1).view()).is_ok());
  PageIndex failed_at = 0;
  for (PageIndex i = 0; i < 256; ++i) {
    Status st = s->write(i, random_page(i).view());
    if (!st.is_ok()) {
      EXPECT_EQ(st.code(), Status::Code::kNoSpace) << st.to_string();
      failed_at = i;
      break;
    }
  }
  ASSERT_GT(failed_at, 0u) << "the limit was never reached";
  EXPECT_LE(failed_at, 64u);
  EXPECT_EQ(read_page(*s, failed_at), same_page(failed_at + 1));
  for (PageIndex i = 0; i < failed_at; ++i) EXPECT_EQ(read_page(*s, i), random_page(i)) << i;
  const StoreStats st = s->stats();
  EXPECT_EQ(st.failed_writes, 1u);
  EXPECT_LE(st.mem_used_total, o.mem_limit);
  EXPECT_EQ(st.mem_limit, o.mem_limit);
  s->check_invariants();

  // Raising the limit at run time lets the write through.
  s->set_mem_limit(0);
  ASSERT_TRUE(s->write(failed_at, random_page(failed_at).view()).is_ok());
  EXPECT_EQ(read_page(*s, failed_at), random_page(failed_at));
}

TEST(StoreWriteTest, SlowPathStoresTheSameBytesAsTheFastPath) {
  StoreOptions o = options_for(128);
  o.inject_fast_path_failure = 1.0;
  auto s = open_store(o);
  uint64_t compr = 0;
  for (PageIndex i = 0; i < 128; ++i) {
    const Page p = i % 3 == 0 ? random_page(i) : text_page(i);
    const size_t len = lz4_size(p);
    compr += (len == 0 || len >= s->pool().huge_class_size()) ? kPageSize : len;
    ASSERT_TRUE(s->write(i, p.view()).is_ok());
  }
  for (PageIndex i = 0; i < 128; ++i) EXPECT_EQ(read_page(*s, i), i % 3 == 0 ? random_page(i) : text_page(i));
  EXPECT_EQ(s->stats().compr_data_size, compr);
  s->check_invariants();
}

TEST(StoreWriteTest, CompactionAfterDiscardFreesPagesAndKeepsData) {
  auto s = open_store(options_for(2048));
  for (PageIndex i = 0; i < 2048; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  const uint64_t before = s->stats().mem_used_total;
  for (PageIndex i = 0; i < 2048; ++i) {
    if (i % 4 != 0) {
      ASSERT_TRUE(s->discard(i).is_ok());
    }
  }
  const uint64_t freed = s->compact();
  EXPECT_GT(freed, 0u);
  const StoreStats st = s->stats();
  EXPECT_EQ(st.pages_compacted, freed);
  EXPECT_LT(st.mem_used_total, before);
  for (PageIndex i = 0; i < 2048; i += 4) EXPECT_EQ(read_page(*s, i), text_page(i)) << i;
  s->check_invariants();
}

TEST(StoreWriteTest, ResetMemUsedMaxFollowsTheCurrentUse) {
  auto s = open_store(options_for(64));
  for (PageIndex i = 0; i < 64; ++i) ASSERT_TRUE(s->write(i, random_page(i).view()).is_ok());
  ASSERT_TRUE(s->discard(0, 64).is_ok());
  EXPECT_GT(s->stats().mem_used_max, s->stats().mem_used_total);
  s->reset_mem_used_max();
  EXPECT_EQ(s->stats().mem_used_max, s->stats().mem_used_total);
}

TEST(StoreWriteTest, StableWritesIsTrue) {
  auto s = open_store(options_for(1));
  EXPECT_TRUE(s->stable_writes());
  EXPECT_EQ(s->disksize(), kPageSize);
  EXPECT_EQ(s->slots(), 1u);
}

TEST(StoreWriteTest, EveryCodecRoundTrips) {
  for (const char* algo : {"lz4", "lz4hc", "zstd", "lzo", "deflate"}) {
    auto s = open_store(options_for(16, algo));
    ASSERT_NE(s, nullptr) << algo;
    for (PageIndex i = 0; i < 16; ++i) {
      const Page p = i % 4 == 0 ? nibble_page(i) : text_page(i * 31);
      ASSERT_TRUE(s->write(i, p.view()).is_ok()) << algo;
    }
    for (PageIndex i = 0; i < 16; ++i) {
      EXPECT_EQ(read_page(*s, i), i % 4 == 0 ? nibble_page(i) : text_page(i * 31)) << algo << " page " << i;
    }
    s->check_invariants();
  }
}

}  // namespace
}  // namespace uzram::store
