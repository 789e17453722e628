// Tests of src/store/slot_table.{h,cc}: the slot word's fields and the bit lock.
#include "store/slot_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace uzram::store {
namespace {

TEST(SlotTableTest, SlotIsSixteenBytes) { EXPECT_EQ(sizeof(Slot), 16u); }

TEST(SlotTableTest, WordFieldsDoNotOverlap) {
  SlotWord w;
  EXPECT_FALSE(w.stored());
  w.set_size(4096);
  w.set_priority(3);
  w.set_atime(0xFFFFFFFFu);
  w.set(SlotFlag::kWbCompressed);
  w.set(SlotFlag::kSame);
  EXPECT_EQ(w.size(), 4096u);
  EXPECT_EQ(w.priority(), 3u);
  EXPECT_EQ(w.atime(), 0xFFFFFFFFu);
  EXPECT_TRUE(w.test(SlotFlag::kWbCompressed));
  EXPECT_TRUE(w.test(SlotFlag::kSame));
  EXPECT_FALSE(w.test(SlotFlag::kHuge));
  EXPECT_EQ(w.bits() & kSlotLockBits, 0u);

  w.set_size(17);
  w.set_priority(1);
  w.set_atime(5);
  w.clear(SlotFlag::kSame);
  EXPECT_EQ(w.size(), 17u);
  EXPECT_EQ(w.priority(), 1u);
  EXPECT_EQ(w.atime(), 5u);
  EXPECT_FALSE(w.test(SlotFlag::kSame));
  EXPECT_TRUE(w.test(SlotFlag::kWbCompressed));
}

TEST(SlotTableTest, EveryFlagHasItsOwnBit) {
  const SlotFlag flags[] = {SlotFlag::kSame, SlotFlag::kHuge, SlotFlag::kIdle, SlotFlag::kWriteback,
                            SlotFlag::kIncompressible, SlotFlag::kUnderWriteback, SlotFlag::kWbCompressed};
  for (SlotFlag f : flags) {
    SlotWord w;
    w.set(f);
    for (SlotFlag g : flags) EXPECT_EQ(w.test(g), f == g);
    EXPECT_EQ(w.size(), 0u);
    EXPECT_EQ(w.priority(), 0u);
    EXPECT_EQ(w.atime(), 0u);
    EXPECT_EQ(w.bits() & kSlotLockBits, 0u);
  }
}

TEST(SlotTableTest, StoredAndInPoolFollowTheState) {
  SlotWord same;
  same.set(SlotFlag::kSame);
  EXPECT_TRUE(same.stored());
  EXPECT_FALSE(same.in_pool());
  SlotWord compressed;
  compressed.set_size(100);
  EXPECT_TRUE(compressed.stored());
  EXPECT_TRUE(compressed.in_pool());
  SlotWord wb = compressed;
  wb.set(SlotFlag::kWriteback);
  EXPECT_TRUE(wb.stored());
  EXPECT_FALSE(wb.in_pool());
}

TEST(SlotTableTest, UnlockPublishesTheHoldersWord) {
  Slot slot;
  {
    SlotLock lock(slot);
    EXPECT_TRUE(slot.word.load() & kSlotLockBit);
    SlotState next;
    next.word.set_size(123);
    next.value = 77;
    const SlotState old = lock.replace(next);
    EXPECT_FALSE(old.word.stored());
  }
  const uint64_t raw = slot.word.load();
  EXPECT_EQ(raw & kSlotLockBits, 0u);
  EXPECT_EQ(SlotWord(raw).size(), 123u);
  EXPECT_EQ(slot.value.load(), 77u);
}

TEST(SlotTableTest, TryLockFailsWhileHeld) {
  Slot slot;
  SlotLock held(slot);
  SlotLock other(slot, std::try_to_lock);
  EXPECT_FALSE(other.owns_lock());
  uint64_t w;
  EXPECT_FALSE(try_lock_slot(slot, &w));
}

TEST(SlotTableTest, TryLockSucceedsWhenFree) {
  Slot slot;
  {
    SlotLock lock(slot, std::try_to_lock);
    ASSERT_TRUE(lock.owns_lock());
    lock.word().set(SlotFlag::kIdle);
  }
  EXPECT_TRUE(SlotWord(slot.word.load()).test(SlotFlag::kIdle));
}

TEST(SlotTableTest, WaiterSleepsUntilUnlockAndSeesTheNewWord) {
  Slot slot;
  std::atomic<bool> got{false};
  auto holder = std::make_unique<SlotLock>(slot);
  std::thread waiter([&] {
    SlotLock lock(slot);
    got.store(true);
    EXPECT_EQ(lock.word().size(), 99u);
  });
  // Wait until the waiter has announced itself on the word (waiters bit).
  while ((slot.word.load() & kSlotWaitersBit) == 0) std::this_thread::yield();
  EXPECT_FALSE(got.load());
  holder->word().set_size(99);
  holder.reset();  // unlock: sees the waiters bit and wakes it
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(slot.word.load() & kSlotLockBits, 0u);
}

TEST(SlotTableTest, LockSerializesIncrementsFromManyThreads) {
  Slot slot;
  constexpr int kThreads = 4;
  constexpr int kIncrements = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        SlotLock lock(slot);
        SlotState next = lock.state();
        next.value += 1;
        lock.replace(next);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(slot.value.load(), uint64_t{kThreads} * kIncrements);
  EXPECT_EQ(slot.word.load() & kSlotLockBits, 0u);
}

TEST(SlotTableTest, TableIsZeroedAndSized) {
  Result<std::unique_ptr<SlotTable>> t = SlotTable::create(1000);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ((*t)->size(), 1000u);
  EXPECT_EQ((*t)->bytes(), 16000u);
  for (PageIndex i = 0; i < 1000; ++i) {
    EXPECT_FALSE((*t)->peek(i).stored());
    EXPECT_EQ((**t)[i].value.load(), 0u);
  }
}

}  // namespace
}  // namespace uzram::store
