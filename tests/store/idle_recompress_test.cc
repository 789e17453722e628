// Tests of src/store/idle_recompress.cc: idle marking by age (with the
// store's fake clock) and recompression with secondary codecs.
#include <gtest/gtest.h>

#include "store_test_util.h"

namespace uzram::store {
namespace {

using testing::nibble_page;
using testing::open_store;
using testing::options_for;
using testing::Page;
using testing::random_page;
using testing::read_page;
using testing::same_page;
using testing::text_page;

TEST(IdleTest, AgeZeroMarksEveryPageInMemory) {
  auto s = open_store(options_for(16));
  for (PageIndex i = 0; i < 6; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  ASSERT_TRUE(s->write(6, same_page(3).view()).is_ok());  // same-filled: not marked
  EXPECT_EQ(s->mark_idle(0), 6u);
  for (PageIndex i = 0; i < 6; ++i) EXPECT_TRUE(s->slot_info(i).idle) << i;
  EXPECT_FALSE(s->slot_info(6).idle);
  EXPECT_FALSE(s->slot_info(7).idle);
}

TEST(IdleTest, AgeMarksOnlyPagesNotAccessedForThatLong) {
  auto s = open_store(options_for(16));
  for (PageIndex i = 0; i < 4; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  s->advance_clock(100);
  for (PageIndex i = 4; i < 8; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  s->advance_clock(10);
  EXPECT_EQ(s->mark_idle(50), 4u);
  for (PageIndex i = 0; i < 8; ++i) EXPECT_EQ(s->slot_info(i).idle, i < 4) << i;
  EXPECT_EQ(s->mark_idle(5), 8u);
  // A later call with a longer age clears the mark of the younger pages.
  EXPECT_EQ(s->mark_idle(50), 4u);
  EXPECT_FALSE(s->slot_info(5).idle);
}

TEST(IdleTest, ReadAndWriteClearTheMark) {
  auto s = open_store(options_for(16));
  for (PageIndex i = 0; i < 3; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  ASSERT_EQ(s->mark_idle(), 3u);
  s->advance_clock(7);
  read_page(*s, 0);
  ASSERT_TRUE(s->write(1, text_page(50).view()).is_ok());
  EXPECT_FALSE(s->slot_info(0).idle);
  EXPECT_FALSE(s->slot_info(1).idle);
  EXPECT_TRUE(s->slot_info(2).idle);
  EXPECT_EQ(s->slot_info(0).atime, s->now());
  EXPECT_LT(s->slot_info(2).atime, s->now());
}

StoreOptions recomp_options(uint64_t pages) {
  StoreOptions o = options_for(pages, "lz4");
  o.recomp_algorithms[0] = "zstd";
  return o;
}

TEST(RecompressTest, IdleSlotsShrinkWithTheSecondaryCodec) {
  auto s = open_store(recomp_options(32));
  for (PageIndex i = 0; i < 16; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  const uint64_t before = s->stats().compr_data_size;
  uint32_t old_size[16];
  for (PageIndex i = 0; i < 16; ++i) old_size[i] = s->slot_info(i).size;
  ASSERT_EQ(s->mark_idle(), 16u);

  Result<uint64_t> n = s->recompress({});
  ASSERT_TRUE(n.has_value()) << n.status().to_string();
  EXPECT_EQ(*n, 16u);
  uint64_t after = 0;
  for (PageIndex i = 0; i < 16; ++i) {
    const SlotInfo info = s->slot_info(i);
    EXPECT_EQ(info.priority, 1u) << i;
    EXPECT_LT(info.size, old_size[i]) << i;
    EXPECT_TRUE(info.idle) << i;  // recompression is not an access
    after += info.size;
    EXPECT_EQ(read_page(*s, i), text_page(i)) << i;
  }
  const StoreStats st = s->stats();
  EXPECT_EQ(st.compr_data_size, after);
  EXPECT_LT(after, before);
  EXPECT_EQ(st.recomp_pages, 16u);
  EXPECT_EQ(st.incompressible_pages, 0u);
  s->check_invariants();

  // Already at the highest priority: nothing more to try.
  ASSERT_EQ(s->mark_idle(), 16u);
  n = s->recompress({});
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 0u);
}

TEST(RecompressTest, IncompressiblePagesAreMarkedAndNotRetried) {
  auto s = open_store(recomp_options(8));
  ASSERT_TRUE(s->write(0, random_page(1).view()).is_ok());  // no codec shrinks it
  ASSERT_TRUE(s->write(1, nibble_page(2).view()).is_ok());  // huge for lz4, not for zstd
  ASSERT_TRUE(s->slot_info(0).huge);
  ASSERT_TRUE(s->slot_info(1).huge);

  RecompressOptions o;
  o.select = SlotSelect::kHuge;
  o.max_pages = 1;
  Result<uint64_t> n = s->recompress(o);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 0u);  // the budget went to slot 0, which did not shrink
  EXPECT_TRUE(s->slot_info(0).incompressible);
  EXPECT_TRUE(s->slot_info(1).huge);
  EXPECT_EQ(s->stats().incompressible_pages, 1u);

  n = s->recompress(o);  // slot 0 is not tried again: the budget reaches slot 1
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 1u);
  EXPECT_FALSE(s->slot_info(1).huge);
  EXPECT_EQ(s->slot_info(1).priority, 1u);
  EXPECT_LT(s->slot_info(1).size, s->pool().huge_class_size());
  EXPECT_EQ(s->stats().huge_pages, 1u);
  EXPECT_EQ(read_page(*s, 0), random_page(1));
  EXPECT_EQ(read_page(*s, 1), nibble_page(2));

  // Rewriting clears the mark.
  ASSERT_TRUE(s->write(0, random_page(3).view()).is_ok());
  EXPECT_FALSE(s->slot_info(0).incompressible);
  EXPECT_EQ(s->stats().incompressible_pages, 0u);
  s->check_invariants();
}

TEST(RecompressTest, ThresholdAndBudgetAreObeyed) {
  auto s = open_store(recomp_options(64));
  // Small objects (highly repetitive) and large ones (text).
  for (PageIndex i = 0; i < 8; ++i) {
    Page p = same_page(i + 1);
    p.bytes[i] = std::byte{0xAA};  // not same-filled, compresses to a few bytes
    ASSERT_TRUE(s->write(i, p.view()).is_ok());
  }
  for (PageIndex i = 8; i < 24; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  const uint32_t threshold = 200;
  for (PageIndex i = 0; i < 8; ++i) ASSERT_LT(s->slot_info(i).size, threshold);
  for (PageIndex i = 8; i < 24; ++i) ASSERT_GE(s->slot_info(i).size, threshold);
  ASSERT_EQ(s->mark_idle(), 24u);

  RecompressOptions o;
  o.threshold = threshold;
  o.max_pages = 5;
  Result<uint64_t> n = s->recompress(o);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 5u);
  for (PageIndex i = 0; i < 8; ++i) EXPECT_EQ(s->slot_info(i).priority, 0u) << i;
  int done = 0;
  for (PageIndex i = 8; i < 24; ++i) done += s->slot_info(i).priority == 1;
  EXPECT_EQ(done, 5);
  EXPECT_EQ(s->stats().recomp_pages, 5u);
  s->check_invariants();
}

TEST(RecompressTest, OnlyIdleSlotsAreTakenWhenIdleIsSelected) {
  auto s = open_store(recomp_options(16));
  for (PageIndex i = 0; i < 4; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  ASSERT_EQ(s->mark_idle(), 4u);
  read_page(*s, 2);  // no longer idle
  Result<uint64_t> n = s->recompress({});
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(s->slot_info(2).priority, 0u);
}

TEST(RecompressTest, ExplicitPriorityUsesOnlyThatCodec) {
  StoreOptions o = options_for(16, "lz4");
  o.recomp_algorithms[0] = "lz4hc";
  o.recomp_algorithms[2] = "zstd:level=5";
  auto s = open_store(o);
  for (PageIndex i = 0; i < 4; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  ASSERT_EQ(s->mark_idle(), 4u);
  RecompressOptions r;
  r.priority = 3;
  Result<uint64_t> n = s->recompress(r);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 4u);
  for (PageIndex i = 0; i < 4; ++i) {
    EXPECT_EQ(s->slot_info(i).priority, 3u);
    EXPECT_EQ(read_page(*s, i), text_page(i));
  }
  r.priority = 2;  // not configured
  EXPECT_EQ(s->recompress(r).status().code(), Status::Code::kInvalidArgument);
}

TEST(RecompressTest, BadOptionsAreRejected) {
  auto plain = open_store(options_for(4));
  EXPECT_EQ(plain->recompress({}).status().code(), Status::Code::kInvalidArgument);  // nothing configured
  auto s = open_store(recomp_options(4));
  RecompressOptions o;
  o.priority = 4;
  EXPECT_EQ(s->recompress(o).status().code(), Status::Code::kInvalidArgument);
  o = {};
  o.select = SlotSelect::kIncompressible;
  EXPECT_EQ(s->recompress(o).status().code(), Status::Code::kInvalidArgument);
  o = {};
  o.threshold = 5000;
  EXPECT_EQ(s->recompress(o).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace uzram::store
