#include "pool/zspage.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

namespace uzram::pool {
namespace {

TEST(ZsPageTest, CarvedFreeListChainsEveryObjectOnce) {
  std::vector<std::byte> pages(3 * kPageSize);
  ZsPage z{};
  carve_zspage(z, pages.data(), pages.size(), 5, 48, 256);
  EXPECT_EQ(z.class_index, 5);
  EXPECT_EQ(z.inuse, 0);
  EXPECT_EQ(z.prev, kNoPage);
  std::set<uint16_t> seen;
  for (uint16_t o = z.free_head; o != kNoObj; o = static_cast<uint16_t>(load_word(pages.data() + o * 48))) {
    ASSERT_LT(o, 256);
    ASSERT_TRUE(seen.insert(o).second);
  }
  EXPECT_EQ(seen.size(), 256u);
}

TEST(ZsPageTest, ExclusivePinFailsWhileReadersHoldIt) {
  ZsPage z{};
  pin_shared(z);
  pin_shared(z);
  EXPECT_EQ(z.pin.load(), 2);
  EXPECT_FALSE(try_pin_exclusive(z));
  unpin_shared(z.pin);
  EXPECT_FALSE(try_pin_exclusive(z));
  unpin_shared(z.pin);
  EXPECT_TRUE(try_pin_exclusive(z));
  EXPECT_EQ(z.pin.load(), -1);
  EXPECT_FALSE(try_pin_exclusive(z));
  unpin_exclusive(z);
  EXPECT_EQ(z.pin.load(), 0);
}

TEST(ZsPageTest, ReaderWaitsForExclusivePin) {
  ZsPage z{};
  ASSERT_TRUE(try_pin_exclusive(z));
  std::atomic<bool> pinned{false};
  std::thread reader([&] {
    pin_shared(z);
    pinned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(pinned.load()) << "a reader got in while compaction held the zspage";
  unpin_exclusive(z);
  reader.join();
  EXPECT_TRUE(pinned.load());
  EXPECT_EQ(z.pin.load(), 1);
}

TEST(ZsPageTest, PinCurrentFollowsAnEntryThatMovedBeforeThePin) {
  ZsPage a{}, b{};
  std::atomic<uint64_t> slot{1};  // 1: the object is in a; 2: in b
  int calls = 0;
  auto [e, z] = pin_current(slot, [&](uint64_t value) -> ZsPage& {
    if (++calls == 1) slot.store(2);  // compaction moves it between the loads
    return value == 1 ? a : b;
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(e, 2u);
  EXPECT_EQ(z, &b);
  EXPECT_EQ(a.pin.load(), 0) << "the stale zspage is unpinned";
  EXPECT_EQ(b.pin.load(), 1);
}

TEST(ZsPageTest, PinCurrentKeepsAnEntryThatStayed) {
  ZsPage a{};
  std::atomic<uint64_t> slot{7};
  auto [e, z] = pin_current(slot, [&](uint64_t) -> ZsPage& { return a; });
  EXPECT_EQ(e, 7u);
  EXPECT_EQ(z, &a);
  EXPECT_EQ(a.pin.load(), 1);
}

}  // namespace
}  // namespace uzram::pool
