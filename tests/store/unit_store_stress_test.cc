// Concurrency stress of UnitStore: four threads write whole units, parts of
// units and single bytes, zero and discard ranges, and read them back, all
// on a small store so that they meet on the same units and stripes, while a
// fifth compacts the pool. Each thread owns a quarter of every page (see
// below), so the expected contents are known without a lock although every
// unit is shared. Runs under ThreadSanitizer in CI (LABELS stress).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "store/unit_store.h"

namespace uzram::store {
namespace {

constexpr uint64_t kPages = 64;
constexpr uint32_t kUnitPages = 8;
constexpr int kThreads = 4;

constexpr int kSteps = 1000;  // per thread; a few seconds under TSan

// Each thread owns one 1 KiB quarter of every page (thread t: bytes
// [t * 1024, t * 1024 + 1024) of each page) and only ever writes or zeroes
// inside its quarters. So what it reads back of its own quarters must be
// exactly what it last put there, whatever the others do to the same units
// at the same time: a lost update (a read-modify-write that raced with
// another) shows up as a wrong byte.
constexpr size_t kQuarter = kPageSize / kThreads;

void worker(Store& store, int t, std::atomic<bool>& failed) {
  std::mt19937_64 rng(t * 31 + 1);
  std::vector<std::byte> mine(kPages * kQuarter, std::byte{0});  // my quarters, page by page
  std::vector<std::byte> buf(kQuarter);
  for (int step = 0; step < kSteps && !failed.load(std::memory_order_relaxed); ++step) {
    const uint64_t page = rng() % kPages;
    const uint64_t off = page * kPageSize + t * kQuarter;
    const int op = static_cast<int>(rng() % 10);
    if (op < 5) {  // write my quarter of this page, text-like so it compresses
      const uint64_t seed = rng();
      for (size_t i = 0; i < kQuarter; ++i) buf[i] = static_cast<std::byte>("uzram unit "[(seed + i) % 11]);
      if (rng() % 8 == 0) buf[rng() % kQuarter] = static_cast<std::byte>(rng());
      Status s = store.write_bytes(off, buf);
      if (!s.is_ok()) {
        failed = true;
        ADD_FAILURE() << s.to_string();
        return;
      }
      std::memcpy(mine.data() + page * kQuarter, buf.data(), kQuarter);
    } else if (op < 7) {  // zero part of my quarter
      const size_t in = rng() % kQuarter;
      const size_t n = 1 + rng() % (kQuarter - in);
      ASSERT_TRUE(store.zero_bytes(off + in, n).is_ok());
      std::memset(mine.data() + page * kQuarter + in, 0, n);
    } else {  // read my quarter back
      ASSERT_TRUE(store.read_bytes(off, buf).is_ok());
      if (std::memcmp(buf.data(), mine.data() + page * kQuarter, kQuarter) != 0) {
        failed = true;
        ADD_FAILURE() << "thread " << t << ": page " << page << " lost an update";
        return;
      }
    }
  }
}

TEST(UnitStoreStressTest, SharedUnitsLoseNoUpdate) {
  for (const char* algo : {"lz4", "zstd"}) {
    StoreOptions o;
    o.disksize = kPages * kPageSize;
    o.algorithm = algo;
    o.unit_pages = kUnitPages;
    Result<std::unique_ptr<Store>> opened = Store::open(o);
    ASSERT_TRUE(opened.has_value()) << opened.status().to_string();
    Store& store = **opened;
    std::atomic<bool> failed{false};
    std::atomic<bool> done{false};
    std::thread compactor([&] {
      while (!done.load(std::memory_order_relaxed)) {
        store.compact();
        (void)store.stats();
        std::this_thread::yield();
      }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, std::ref(store), t, std::ref(failed));
    for (std::thread& th : threads) th.join();
    done = true;
    compactor.join();
    EXPECT_FALSE(failed.load()) << algo;
    dynamic_cast<UnitStore&>(store).check_invariants();
    // Whole-unit reads and a discard of everything, after the storm.
    std::vector<std::byte> all(kPages * kPageSize);
    ASSERT_TRUE(store.read_bytes(0, all).is_ok());
    ASSERT_TRUE(store.discard(0, kPages).is_ok());
    EXPECT_EQ(store.stats().mem_used_total, 0u) << algo;
    dynamic_cast<UnitStore&>(store).check_invariants();
  }
}

}  // namespace
}  // namespace uzram::store
