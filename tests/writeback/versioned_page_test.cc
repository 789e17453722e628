// Tests of src/writeback/versioned_page.cc.
#include "writeback/versioned_page.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <set>

namespace uzram::writeback {
namespace {

using Page = std::array<std::byte, kPageSize>;

TEST(VersionedPageTest, ReadsBackItsOwnVersionAndNoOther) {
  Page p;
  for (uint32_t v = 1; v < 200; ++v) {
    fill_versioned_page(77, v, p);
    EXPECT_EQ(versioned_page_version(77, p), v);
    EXPECT_EQ(versioned_page_version(78, p), std::nullopt);
  }
  p.fill(std::byte{0});
  EXPECT_EQ(versioned_page_version(77, p), 0u);
}

TEST(VersionedPageTest, TornPageIsNoVersion) {
  Page a, b;
  for (uint32_t v = 1; v < 100; ++v) {
    fill_versioned_page(5, v, a);
    fill_versioned_page(5, v + 1, b);
    // Front of one version, back of the next, at several cuts.
    for (size_t cut : {size_t{8}, size_t{64}, size_t{2048}, kPageSize - 1}) {
      Page torn = a;
      std::copy(b.begin() + static_cast<long>(cut), b.end(), torn.begin() + static_cast<long>(cut));
      if (torn == a) continue;  // the two versions agree past the cut
      EXPECT_EQ(versioned_page_version(5, torn), std::nullopt) << "v " << v << " cut " << cut;
    }
  }
}

TEST(VersionedPageTest, VersionsOfOneSlotSpreadOverStyles) {
  // Same-filled, incompressible and mixed pages must all occur, so that the
  // compressed sizes of successive versions differ widely.
  Page p;
  std::set<int> distinct_words_buckets;
  for (uint32_t v = 1; v < 400; ++v) {
    fill_versioned_page(3, v, p);
    std::set<uint64_t> words;
    for (size_t i = 0; i < kPageSize; i += 8) {
      uint64_t w;
      std::memcpy(&w, p.data() + i, 8);
      words.insert(w);
    }
    distinct_words_buckets.insert(words.size() == 1 ? 0 : words.size() >= 500 ? 2 : 1);
  }
  EXPECT_EQ(distinct_words_buckets, (std::set<int>{0, 1, 2}));
}

}  // namespace
}  // namespace uzram::writeback
