// Stress test of the store: four threads write, read, rewrite byte ranges and
// discard random slots against a model of per-slot versions, while a fifth
// runs the maintenance paths (compact, mark_idle, recompress, writeback) on
// the same slots. Run under TSan (label stress).
//
// Each page's content is derived from (slot, version), so any read can be
// checked. Worker t owns the slots s with s % 4 == t: it alone changes them,
// so it knows their exact version; it also reads the other workers' slots,
// which must hold some whole version of that slot (or zeros), never a torn or
// foreign page.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "store_test_util.h"

namespace uzram::store {
namespace {

using testing::attach_fake;
using testing::mix;
using testing::nibble_page;
using testing::open_store;
using testing::options_for;
using testing::Page;
using testing::random_page;
using testing::same_page;
using testing::text_page;

constexpr uint64_t kSlots = 512;
constexpr int kWorkers = 4;
constexpr int kOpsPerWorker = 100000;

// Version 0 is "never written or discarded": zeros.
Page make_page(PageIndex slot, uint64_t version) {
  if (version == 0) return Page{};
  const uint64_t seed = mix(slot << 32 | version);
  Page p;
  switch (version % 4) {
    case 0: return same_page(seed | 1);  // same-filled (never the zero page)
    case 1: p = text_page(seed); break;
    case 2: p = random_page(seed); break;  // huge
    default: p = nibble_page(seed); break;
  }
  std::memcpy(p.bytes.data(), &slot, 8);
  std::memcpy(p.bytes.data() + 8, &version, 8);
  return p;
}

bool is_same_filled(const Page& p) {
  return std::memcmp(p.bytes.data(), p.bytes.data() + 8, kPageSize - 8) == 0;
}

// Some whole version of this slot: zeros, a same-filled page, or a page
// whose header names this slot and whose body matches that version.
bool plausible(const Page& p, PageIndex slot) {
  if (is_same_filled(p)) return true;
  uint64_t s, v;
  std::memcpy(&s, p.bytes.data(), 8);
  std::memcpy(&v, p.bytes.data() + 8, 8);
  return s == slot && v > 0 && p == make_page(slot, v);
}

TEST(StoreStressTest, ConcurrentOperationsMatchTheModel) {
  StoreOptions o = options_for(kSlots);
  o.recomp_algorithms[0] = "zstd:level=1";
  o.mem_limit = 0;
  auto s = open_store(o);
  ASSERT_NE(s, nullptr);
  attach_fake(*s, 96);

  std::atomic<int> running{kWorkers};
  std::atomic<uint64_t> failures{0};
  std::vector<std::vector<uint64_t>> versions(kWorkers, std::vector<uint64_t>(kSlots, 0));

  auto worker = [&](int t) {
    std::mt19937_64 rng(1000 + t);
    std::vector<uint64_t>& mine = versions[t];
    std::vector<uint64_t> next(kSlots, 0);  // last version used per slot
    Page got;
    for (int op = 0; op < kOpsPerWorker; ++op) {
      const PageIndex own = (rng() % (kSlots / kWorkers)) * kWorkers + t;
      const unsigned dice = rng() % 100;
      if (dice < 40) {
        const uint64_t v = ++next[own];
        const Page p = make_page(own, v);
        if (!s->write(own, p.view()).is_ok()) ++failures;
        mine[own] = v;
      } else if (dice < 48) {
        if (!s->discard(own).is_ok()) ++failures;
        mine[own] = 0;
      } else if (dice < 58) {
        // Read-modify-write of a byte range with the bytes it already holds:
        // the content stays the same version, the whole RMW path runs.
        const Page p = make_page(own, mine[own]);
        const size_t off = rng() % kPageSize;
        const size_t len = rng() % (kPageSize - off) + 1;
        if (!s->write_bytes(own * kPageSize + off, std::span(p.bytes).subspan(off, len)).is_ok()) ++failures;
      } else if (dice < 85) {
        if (!s->read(own, got.buf()).is_ok() || !(got == make_page(own, mine[own]))) ++failures;
      } else {
        const PageIndex any = rng() % kSlots;
        if (!s->read(any, got.buf()).is_ok() || !plausible(got, any)) ++failures;
      }
    }
    running.fetch_sub(1);
  };

  std::atomic<uint64_t> maintenance_rounds{0};
  std::thread maintenance([&] {
    while (running.load() > 0) {
      s->compact();
      s->mark_idle(maintenance_rounds % 2);
      RecompressOptions r;
      r.select = SlotSelect::kIdle | SlotSelect::kHuge;
      r.max_pages = 32;
      if (!s->recompress(r).has_value()) ++failures;
      Result<uint64_t> w = s->writeback({SlotSelect::kIdle | SlotSelect::kHuge, (maintenance_rounds % 3) == 0, 16});
      // The small backing device fills up: kNoSpace is expected then.
      if (!w.has_value() && w.status().code() != Status::Code::kNoSpace) ++failures;
      (void)s->stats();
      ++maintenance_rounds;
    }
  });

  std::vector<std::thread> threads;
  for (int t = 0; t < kWorkers; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  maintenance.join();

  EXPECT_EQ(failures.load(), 0u);
  EXPECT_GT(maintenance_rounds.load(), 0u);
  s->check_invariants();

  uint64_t stored = 0;
  Page got;
  for (PageIndex i = 0; i < kSlots; ++i) {
    const uint64_t v = versions[i % kWorkers][i];
    ASSERT_TRUE(s->read(i, got.buf()).is_ok()) << i;
    EXPECT_EQ(got, make_page(i, v)) << "slot " << i << " version " << v;
    if (v != 0) {
      EXPECT_FALSE(s->is_empty(i)) << i;
    }
    stored += !s->is_empty(i);
  }
  const StoreStats st = s->stats();
  EXPECT_EQ(st.orig_data_size, stored * kPageSize);
  EXPECT_EQ(st.failed_reads, 0u);
  EXPECT_EQ(st.failed_writes, 0u);
  EXPECT_GT(st.bd_writes, 0u);
  EXPECT_GT(st.recomp_pages, 0u);
}

}  // namespace
}  // namespace uzram::store
