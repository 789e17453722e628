// Tests of src/writeback/in_flight_table.cc: the per-slot state machine and
// the open-addressing map under it.
#include "writeback/in_flight_table.h"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <random>
#include <vector>

#include "writeback/mem_store.h"

namespace uzram::writeback {
namespace {

using Claim = InFlightTable::Claim;
using Page = std::array<std::byte, kPageSize>;

struct Fixture {
  std::vector<Page> pages;
  std::vector<Request> reqs;
  explicit Fixture(size_t n) : pages(n), reqs(n) {
    for (size_t i = 0; i < n; ++i) {
      pages[i] = testing::word_page(i + 1);
      reqs[i].page = pages[i].data();
    }
  }
  Request* at(size_t i, PageIndex slot) {
    reqs[i].index = slot;
    return &reqs[i];
  }
};

TEST(InFlightTableTest, SingleWriteRunsAndLeavesTheTable) {
  InFlightTable t;
  Fixture f(1);
  Request* r = f.at(0, 9);
  t.add(r);
  EXPECT_EQ(t.size(), 1u);
  const auto c = t.claim(r);
  EXPECT_EQ(c.claim, Claim::kRun);
  EXPECT_EQ(c.superseded, nullptr);
  const auto fin = t.finish(r);
  EXPECT_EQ(fin.next, nullptr);
  EXPECT_EQ(fin.superseded, nullptr);
  EXPECT_EQ(t.size(), 0u);
  t.check_invariants();
}

TEST(InFlightTableTest, OlderWriteNotStartedIsSuperseded) {
  InFlightTable t;
  Fixture f(2);
  Request* r1 = f.at(0, 4);
  Request* r2 = f.at(1, 4);
  t.add(r1);
  t.add(r2);
  const auto c1 = t.claim(r1);
  EXPECT_EQ(c1.claim, Claim::kSuperseded);
  EXPECT_EQ(c1.superseded, r1);
  EXPECT_EQ(t.claim(r2).claim, Claim::kRun);
  EXPECT_EQ(t.finish(r2).next, nullptr);
  EXPECT_EQ(t.size(), 0u);
}

TEST(InFlightTableTest, NewerWriteWaitsForTheRunningOneAndRunsNext) {
  InFlightTable t;
  Fixture f(3);
  Request* r1 = f.at(0, 4);
  Request* r2 = f.at(1, 4);
  Request* r3 = f.at(2, 4);
  t.add(r1);
  ASSERT_EQ(t.claim(r1).claim, Claim::kRun);
  t.add(r2);
  auto c2 = t.claim(r2);
  EXPECT_EQ(c2.claim, Claim::kDeferred);
  EXPECT_EQ(c2.superseded, nullptr);
  t.add(r3);
  auto c3 = t.claim(r3);  // r3 takes r2's place behind r1; r2 will never run
  EXPECT_EQ(c3.claim, Claim::kDeferred);
  EXPECT_EQ(c3.superseded, r2);
  t.check_invariants();
  const auto fin1 = t.finish(r1);
  EXPECT_EQ(fin1.next, r3);
  EXPECT_EQ(fin1.superseded, nullptr);
  EXPECT_EQ(t.size(), 1u);
  const auto fin3 = t.finish(r3);
  EXPECT_EQ(fin3.next, nullptr);
  EXPECT_EQ(t.size(), 0u);
}

TEST(InFlightTableTest, DeferredWriteOvertakenBeforeHandOverIsSuperseded) {
  InFlightTable t;
  Fixture f(3);
  Request* r1 = f.at(0, 4);
  Request* r2 = f.at(1, 4);
  Request* r3 = f.at(2, 4);
  t.add(r1);
  ASSERT_EQ(t.claim(r1).claim, Claim::kRun);
  t.add(r2);
  ASSERT_EQ(t.claim(r2).claim, Claim::kDeferred);
  t.add(r3);  // submitted, not yet popped
  const auto fin1 = t.finish(r1);
  EXPECT_EQ(fin1.next, nullptr);
  EXPECT_EQ(fin1.superseded, r2);
  EXPECT_EQ(t.claim(r3).claim, Claim::kRun);
  t.finish(r3);
  EXPECT_EQ(t.size(), 0u);
}

TEST(InFlightTableTest, ReadReturnsTheNewestPage) {
  InFlightTable t;
  Fixture f(2);
  Page out{};
  EXPECT_FALSE(t.read(4, out));
  t.add(f.at(0, 4));
  t.add(f.at(1, 4));
  ASSERT_TRUE(t.read(4, out));
  EXPECT_EQ(out, f.pages[1]);
  EXPECT_FALSE(t.read(5, out));           // same shard (same run of 32), other slot
  EXPECT_FALSE(t.read(4 + 32 * 64, out));  // same shard (runs 64 apart), other slot
}

TEST(InFlightTableTest, ManySlotsGrowAndEraseLikeAMap) {
  InFlightTable t;
  constexpr size_t kReqs = 4000;
  Fixture f(kReqs);
  std::mt19937_64 rng(7);
  std::map<PageIndex, Request*> model;
  size_t used = 0;
  for (int step = 0; step < 20000; ++step) {
    const bool add = model.empty() || (used < kReqs && rng() % 3 != 0);
    if (add) {
      // Slots crowded into few shards and probe runs: the shard repeats every
      // 32 * 64 slots; take multiples of that and their neighbours.
      const PageIndex slot = (rng() % 600) * (32 * 64) + rng() % 3;
      Request* r = f.at(used++, slot);
      t.add(r);
      model[slot] = r;
    } else {
      auto it = model.begin();
      std::advance(it, static_cast<long>(rng() % model.size()));
      Request* r = it->second;
      ASSERT_EQ(t.claim(r).claim, Claim::kRun);
      const auto fin = t.finish(r);
      EXPECT_EQ(fin.next, nullptr);
      model.erase(it);
    }
    if (step % 500 == 0) t.check_invariants();
    if (used == kReqs && model.empty()) break;
  }
  t.check_invariants();
  EXPECT_EQ(t.size(), model.size());
  Page out{};
  for (const auto& [slot, r] : model) {
    ASSERT_TRUE(t.read(slot, out));
    EXPECT_EQ(out.data()[0], r->page[0]);
    EXPECT_EQ(testing::first_word(out.data()), testing::first_word(r->page));
  }
}

TEST(InFlightTableTest, BatchCallsMatchOneByOne) {
  // Runs of consecutive slots across shard boundaries, a slot twice (the
  // older is superseded at claim), and a slot already running.
  InFlightTable t;
  Fixture f(80);
  std::vector<Request*> batch;
  for (size_t i = 0; i < 70; ++i) batch.push_back(f.at(i, 20 + i));  // slots 20..89: shards 0, 1, 2
  batch.push_back(f.at(70, 25));                                     // slot 25 again, newer
  for (size_t i = 0; i + 1 < batch.size(); ++i) batch[i]->next = batch[i + 1];
  batch.back()->next = nullptr;
  t.add_all(batch[0]);
  EXPECT_EQ(t.size(), 70u);
  Request* running = f.at(71, 200);
  t.add(running);
  ASSERT_EQ(t.claim(running).claim, Claim::kRun);
  Request* behind = f.at(72, 200);
  t.add(behind);
  batch.push_back(behind);
  std::vector<InFlightTable::ClaimResult> out(batch.size());
  t.claim_all(batch.data(), batch.size(), out.data());
  for (size_t i = 0; i < 70; ++i) {
    if (i == 5) {
      EXPECT_EQ(out[i].claim, Claim::kSuperseded);  // slot 25's older request
      EXPECT_EQ(out[i].superseded, batch[i]);
    } else {
      EXPECT_EQ(out[i].claim, Claim::kRun) << i;
    }
  }
  EXPECT_EQ(out[70].claim, Claim::kRun);       // slot 25's newer request
  EXPECT_EQ(out[71].claim, Claim::kDeferred);  // behind the running one
  EXPECT_EQ(t.finish(running).next, behind);
  t.check_invariants();
}

}  // namespace
}  // namespace uzram::writeback
