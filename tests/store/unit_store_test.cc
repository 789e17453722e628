// UnitStore (StoreOptions::unit_pages > 1): every operation against a plain
// byte array as the reference model, stats and invariants after each step,
// and the edges: a last unit shorter than the others, partial pages, a full
// pool, calls a unit store does not have, and bad options.
#include "store/unit_store.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "store_test_util.h"

namespace uzram::store {
namespace {

using testing::Page;
using testing::random_page;
using testing::same_page;
using testing::text_page;

struct Fixture {
  std::unique_ptr<Store> store;
  UnitStore* units = nullptr;
  std::vector<std::byte> model;  // what every byte should read as
};

Fixture open_units(uint64_t pages, uint32_t unit_pages, std::string algo = "lz4", uint64_t mem_limit = 0) {
  StoreOptions o;
  o.disksize = pages * kPageSize;
  o.algorithm = algo;
  o.unit_pages = unit_pages;
  o.mem_limit = mem_limit;
  Result<std::unique_ptr<Store>> s = Store::open(o);
  EXPECT_TRUE(s.has_value()) << s.status().to_string();
  Fixture f;
  f.store = std::move(*s);
  f.units = dynamic_cast<UnitStore*>(f.store.get());
  EXPECT_NE(f.units, nullptr);
  f.model.assign(pages * kPageSize, std::byte{0});
  return f;
}

void write_model(Fixture& f, uint64_t offset, std::span<const std::byte> data) {
  ASSERT_TRUE(f.store->write_bytes(offset, data).is_ok());
  std::memcpy(f.model.data() + offset, data.data(), data.size());
}

void expect_matches(Fixture& f) {
  std::vector<std::byte> all(f.model.size());
  ASSERT_TRUE(f.store->read_bytes(0, all).is_ok());
  ASSERT_TRUE(all == f.model);
  f.units->check_invariants();
}

std::vector<std::byte> text_bytes(size_t n, uint64_t seed) {
  std::vector<std::byte> v(n);
  for (size_t off = 0; off < n; off += kPageSize) {
    const Page p = text_page(seed + off / kPageSize);
    std::memcpy(v.data() + off, p.bytes.data(), std::min(kPageSize, n - off));
  }
  return v;
}

TEST(UnitStoreTest, WholeUnitsRoundTripAndCompressTogether) {
  for (const char* algo : {"lz4", "zstd", "lzo", "deflate", "lz4hc"}) {
    Fixture f = open_units(64, 8, algo);
    const std::vector<std::byte> data = text_bytes(64 * kPageSize, 1);
    write_model(f, 0, data);
    expect_matches(f);
    const StoreStats s = f.store->stats();
    EXPECT_EQ(s.orig_data_size, 64 * kPageSize) << algo;
    EXPECT_LT(s.compr_data_size, s.orig_data_size / 2) << algo;
    EXPECT_EQ(s.huge_pages, 0u) << algo;
    EXPECT_EQ(s.slots, 64u);
  }
}

TEST(UnitStoreTest, LastUnitMayBeShorter) {
  Fixture f = open_units(13, 4);  // units of 4, 4, 4 and 1 pages
  write_model(f, 0, text_bytes(13 * kPageSize, 7));
  expect_matches(f);
  // Past the end, in bytes and in pages.
  std::byte b[1];
  EXPECT_EQ(f.store->write_bytes(13 * kPageSize, b).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(f.store->read_bytes(13 * kPageSize - 1, std::span<std::byte>(b, 0)).code(), Status::Code::kOk);
  Page p;
  EXPECT_EQ(f.store->write(13, p.view()).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(f.store->read(13, p.buf()).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(f.store->discard(12, 2).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(f.store->zero_bytes(0, 14 * kPageSize).code(), Status::Code::kOutOfRange);
  EXPECT_GE(f.store->stats().invalid_io, 5u);
  expect_matches(f);
}

TEST(UnitStoreTest, PartialWritesKeepTheRestOfTheUnit) {
  Fixture f = open_units(32, 8);
  write_model(f, 0, text_bytes(32 * kPageSize, 3));
  // Inside one page, across pages of a unit, across units, one byte.
  const std::vector<std::byte> patch = text_bytes(3 * kPageSize, 99);
  write_model(f, 100, std::span(patch).first(500));
  write_model(f, 3 * kPageSize - 7, std::span(patch).first(kPageSize + 9));
  write_model(f, 7 * kPageSize + 11, std::span(patch).first(2 * kPageSize));
  write_model(f, 31 * kPageSize + 4095, std::span(patch).first(1));
  expect_matches(f);
  // Page calls on a unit store.
  const Page p = text_page(555);
  ASSERT_TRUE(f.store->write(9, p.view()).is_ok());
  std::memcpy(f.model.data() + 9 * kPageSize, p.bytes.data(), kPageSize);
  Page back;
  ASSERT_TRUE(f.store->read(9, back.buf()).is_ok());
  EXPECT_TRUE(back == p);
  expect_matches(f);
}

TEST(UnitStoreTest, WritingPartOfAnEmptyUnitMakesOnlyThosePagesPresent) {
  Fixture f = open_units(16, 8);
  const std::vector<std::byte> data = text_bytes(kPageSize, 5);
  write_model(f, 2 * kPageSize + 10, std::span(data).first(100));
  EXPECT_TRUE(f.store->is_empty(0));
  EXPECT_FALSE(f.store->is_empty(2));
  EXPECT_TRUE(f.store->is_empty(3));
  EXPECT_EQ(f.store->stats().orig_data_size, kPageSize);
  expect_matches(f);
}

TEST(UnitStoreTest, DiscardOfSomePagesReadsAsZerosAndFreesWithTheLast) {
  Fixture f = open_units(16, 8);
  write_model(f, 0, text_bytes(16 * kPageSize, 11));
  const uint64_t used = f.store->stats().mem_used_total;
  ASSERT_TRUE(f.store->discard(2, 3).is_ok());
  std::memset(f.model.data() + 2 * kPageSize, 0, 3 * kPageSize);
  EXPECT_TRUE(f.store->is_empty(3));
  EXPECT_TRUE(f.store->is_zero(3));
  EXPECT_FALSE(f.store->is_empty(5));
  EXPECT_EQ(f.store->stats().orig_data_size, 13 * kPageSize);
  EXPECT_EQ(f.store->stats().notify_free, 3u);
  EXPECT_EQ(f.store->stats().mem_used_total, used);  // the unit is kept whole meanwhile
  expect_matches(f);
  // Rewriting one discarded page makes it present again, the others stay zero.
  const Page p = text_page(1234);
  ASSERT_TRUE(f.store->write(3, p.view()).is_ok());
  std::memcpy(f.model.data() + 3 * kPageSize, p.bytes.data(), kPageSize);
  expect_matches(f);
  // Discarding everything frees everything.
  ASSERT_TRUE(f.store->discard(0, 16).is_ok());
  std::fill(f.model.begin(), f.model.end(), std::byte{0});
  EXPECT_EQ(f.store->stats().orig_data_size, 0u);
  EXPECT_EQ(f.store->stats().compr_data_size, 0u);
  EXPECT_EQ(f.store->stats().mem_used_total, 0u);
  expect_matches(f);
}

TEST(UnitStoreTest, ZeroBytesDropsWholePagesAndRewritesPartOnes) {
  Fixture f = open_units(24, 8);
  write_model(f, 0, text_bytes(24 * kPageSize, 21));
  // Whole pages 1..2 and part of page 3 of unit 0; all of unit 1; part of unit 2.
  ASSERT_TRUE(f.store->zero_bytes(kPageSize, 2 * kPageSize + 100).is_ok());
  std::memset(f.model.data() + kPageSize, 0, 2 * kPageSize + 100);
  ASSERT_TRUE(f.store->zero_bytes(8 * kPageSize, 8 * kPageSize).is_ok());
  std::memset(f.model.data() + 8 * kPageSize, 0, 8 * kPageSize);
  ASSERT_TRUE(f.store->zero_bytes(20 * kPageSize + 5, 10).is_ok());
  std::memset(f.model.data() + 20 * kPageSize + 5, 0, 10);
  EXPECT_TRUE(f.store->is_empty(1));
  EXPECT_FALSE(f.store->is_empty(3));
  EXPECT_TRUE(f.store->is_empty(12));
  expect_matches(f);
  // Zeroing inside an empty unit changes nothing.
  ASSERT_TRUE(f.store->zero_bytes(9 * kPageSize + 1, 2).is_ok());
  EXPECT_TRUE(f.store->is_empty(9));
  expect_matches(f);
}

TEST(UnitStoreTest, SameFilledAndIncompressibleUnits) {
  Fixture f = open_units(32, 8);
  std::vector<std::byte> same(8 * kPageSize);
  for (size_t i = 0; i < 8; ++i) std::memcpy(same.data() + i * kPageSize, same_page(0xABCDEF0123456789ull).bytes.data(), kPageSize);
  write_model(f, 0, same);
  std::vector<std::byte> noise(8 * kPageSize);
  for (size_t i = 0; i < 8; ++i) std::memcpy(noise.data() + i * kPageSize, random_page(i).bytes.data(), kPageSize);
  write_model(f, 8 * kPageSize, noise);
  StoreStats s = f.store->stats();
  EXPECT_EQ(s.same_pages, 8u);
  EXPECT_EQ(s.huge_pages, 8u);
  EXPECT_EQ(s.compr_data_size, 8 * kPageSize);  // the raw unit
  EXPECT_EQ(s.mem_used_total, 8 * kPageSize);
  EXPECT_FALSE(f.store->is_zero(0));
  expect_matches(f);
  // A unit of zeros is same-filled with pattern 0.
  write_model(f, 16 * kPageSize, std::vector<std::byte>(8 * kPageSize));
  EXPECT_TRUE(f.store->is_zero(16));
  EXPECT_FALSE(f.store->is_empty(16));
  // Discarding part of a same-filled unit reads those pages as zeros.
  ASSERT_TRUE(f.store->discard(1, 1).is_ok());
  std::memset(f.model.data() + kPageSize, 0, kPageSize);
  expect_matches(f);
}

TEST(UnitStoreTest, FullPoolRefusesTheWriteAndKeepsTheOldContent) {
  Fixture f = open_units(64, 8, "lz4", 16 * kPageSize);
  write_model(f, 0, text_bytes(8 * kPageSize, 1));
  std::vector<std::byte> noise(64 * kPageSize);
  for (size_t i = 0; i < 64; ++i) std::memcpy(noise.data() + i * kPageSize, random_page(100 + i).bytes.data(), kPageSize);
  Status s = Status::ok();
  uint64_t off = 8 * kPageSize;
  for (; off < 64 * kPageSize && s.is_ok(); off += 8 * kPageSize) {
    s = f.store->write_bytes(off, std::span(noise).subspan(off, 8 * kPageSize));
    if (s.is_ok()) std::memcpy(f.model.data() + off, noise.data() + off, 8 * kPageSize);
  }
  EXPECT_EQ(s.code(), Status::Code::kNoSpace) << s.to_string();
  EXPECT_GE(f.store->stats().failed_writes, 1u);
  EXPECT_LE(f.store->stats().mem_used_total, 16 * kPageSize);
  // A partial write that makes unit 0 raw (8 pieces, more than are left) is
  // refused too, and the unit keeps its old bytes.
  const std::span<const std::byte> most = std::span(noise).first(8 * kPageSize - 1);
  EXPECT_EQ(f.store->write_bytes(1, most).code(), Status::Code::kNoSpace);
  expect_matches(f);
  // Raising the limit lets it through.
  f.store->set_mem_limit(0);
  write_model(f, 1, most);
  expect_matches(f);
}

TEST(UnitStoreTest, WhatAUnitStoreDoesNotHave) {
  Fixture f = open_units(16, 4);
  write_model(f, 0, text_bytes(16 * kPageSize, 2));
  EXPECT_EQ(f.store->mark_idle(), 0u);
  EXPECT_EQ(f.store->recompress(RecompressOptions{}).status().code(), Status::Code::kUnsupported);
  EXPECT_EQ(f.store->set_backing_file("/tmp/x").code(), Status::Code::kUnsupported);
  EXPECT_EQ(f.store->writeback(WritebackOptions{}).status().code(), Status::Code::kUnsupported);
  f.store->set_writeback_limit(true, 7);
  EXPECT_EQ(f.store->writeback_limit(), 7u);
  EXPECT_EQ(f.store->compact(), 0u);
  expect_matches(f);
}

TEST(UnitStoreTest, BadOptionsAreRefusedByName) {
  StoreOptions o;
  o.disksize = 64 * kPageSize;
  o.unit_pages = 33;
  Result<std::unique_ptr<Store>> s = Store::open(o);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(std::string(s.status().message()).find("unit_pages"), std::string::npos);
  o.unit_pages = 0;
  EXPECT_EQ(Store::open(o).status().code(), Status::Code::kInvalidArgument);
  o.unit_pages = 8;
  o.recomp_algorithms[0] = "zstd";
  EXPECT_EQ(Store::open(o).status().code(), Status::Code::kInvalidArgument);
  o.recomp_algorithms[0].clear();
  o.inject_fast_path_failure = 0.5;
  EXPECT_EQ(Store::open(o).status().code(), Status::Code::kInvalidArgument);
  o.inject_fast_path_failure = 0;
  o.algorithm = "nope";
  EXPECT_EQ(Store::open(o).status().code(), Status::Code::kInvalidArgument);
  o.algorithm = "lz4";
  o.disksize = 4095;
  EXPECT_EQ(Store::open(o).status().code(), Status::Code::kInvalidArgument);
}

// Random byte-range writes, zeroes, discards and reads against the model.
TEST(UnitStoreTest, RandomOperationsMatchTheModel) {
  for (uint32_t unit_pages : {2u, 5u, 32u}) {
    Fixture f = open_units(50, unit_pages, unit_pages == 5 ? "zstd" : "lz4");
    std::mt19937_64 rng(unit_pages);
    const std::vector<std::byte> source = text_bytes(50 * kPageSize, 77);
    for (int step = 0; step < 400; ++step) {
      const uint64_t off = rng() % f.model.size();
      const uint64_t len = 1 + rng() % std::min<uint64_t>(f.model.size() - off, 3 * unit_pages * kPageSize);
      switch (rng() % 4) {
        case 0:
        case 1:
          write_model(f, off, std::span(source).subspan(rng() % (source.size() - len + 1), len));
          break;
        case 2:
          ASSERT_TRUE(f.store->zero_bytes(off, len).is_ok());
          std::memset(f.model.data() + off, 0, len);
          break;
        case 3: {
          const uint64_t page = off / kPageSize;
          const uint64_t n = std::min<uint64_t>(1 + rng() % (2 * unit_pages), 50 - page);
          ASSERT_TRUE(f.store->discard(page, n).is_ok());
          std::memset(f.model.data() + page * kPageSize, 0, n * kPageSize);
          break;
        }
      }
      std::vector<std::byte> got(len);
      ASSERT_TRUE(f.store->read_bytes(off, got).is_ok());
      ASSERT_TRUE(std::equal(got.begin(), got.end(), f.model.begin() + static_cast<ptrdiff_t>(off)))
          << "step " << step << " unit_pages " << unit_pages;
      for (uint64_t p = 0; p < 50; ++p) {
        const bool zero = std::all_of(f.model.begin() + p * kPageSize, f.model.begin() + (p + 1) * kPageSize,
                                      [](std::byte b) { return b == std::byte{0}; });
        if (!zero) {
          ASSERT_FALSE(f.store->is_zero(p)) << "page " << p;
        }
      }
    }
    expect_matches(f);
  }
}

}  // namespace
}  // namespace uzram::store
