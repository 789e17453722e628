// The seed's bug (shared/seed/000_8b1510f619741953.txt), through the engine.
//
// In 2016 zram's asynchronous writeback compressed a page on a per-CPU
// stream, failed the fast-path allocation (zs_malloc under a strict gfp
// mask), took the slow path, compressed the page a second time and copied
// the second result into the object sized by the first. The page was an
// anonymous page the swap cache had already handed back to its process
// (reuse_swap_page did not wait for writeback), so it had changed in
// between; the second result was larger, the copy overran the object and
// broke zsmalloc's free-object chain.
//
// Here the same three ingredients meet: a Store whose fast-path allocation
// fails (inject_fast_path_failure), asynchronous writes by engine workers,
// and callers that rewrite each page the instant its write completes (the
// earliest moment the stable-page contract allows), so that an engine that
// lets a page go early, or a store that compresses twice, corrupts or
// overruns. Page contents are a function of (slot, version): every page read
// back must be exactly one whole version, in the range that was possible at
// the time of the read, and at the end exactly the last one. Built with
// ASan, an overrun fails the test at the copy.
//
// UZRAM_SEED_WRITES sets the writes per case (default 100000, for CI; the
// lead runs millions).
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "uzram/async_engine.h"
#include "uzram/store.h"
#include "writeback/stress.h"

namespace uzram::writeback {
namespace {

uint64_t writes_per_case() {
  const char* env = std::getenv("UZRAM_SEED_WRITES");
  if (env != nullptr && *env != '\0') return std::strtoull(env, nullptr, 10);
  return 100000;
}

StressReport run_seed_race(double inject, bool break_promise) {
  StoreOptions so;
  so.disksize = 4096 * kPageSize;
  so.algorithm = "lz4";
  so.inject_fast_path_failure = inject;
  auto store = Store::open(so);
  EXPECT_TRUE(store.has_value()) << store.status().to_string();
  if (!store.has_value()) return {};
  StressOptions o;
  o.seconds = 0;
  o.max_writes = writes_per_case();
  o.writers = 2;
  o.pages = 4096;
  o.batch = 16;
  o.mutate = !break_promise;
  o.break_promise = break_promise;
  o.engine.workers = 2;
  auto r = run_stress(**store, o);
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  if (!r.has_value()) return {};
  EXPECT_TRUE((*store)->stable_writes());
  return *r;
}

void expect_every_page_one_whole_version(const StressReport& r) {
  EXPECT_EQ(r.corrupt_pages, 0u);
  for (const std::string& s : r.corrupt_samples) ADD_FAILURE() << s;
  EXPECT_EQ(r.read_errors, 0u);
  EXPECT_EQ(r.write_errors, 0u);
  EXPECT_EQ(r.ops, writes_per_case());
  // Every slot checked twice at the end, plus one read per submitted batch.
  EXPECT_GT(r.pages_verified, 2 * 4096u);
}

TEST(SeedAsyncOverrunTest, HalfTheFastPathAllocationsFailWhilePagesAreRewritten) {
  expect_every_page_one_whole_version(run_seed_race(0.5, false));
}

TEST(SeedAsyncOverrunTest, EveryFastPathAllocationFailsWhilePagesAreRewritten) {
  expect_every_page_one_whole_version(run_seed_race(1.0, false));
}

// The caller breaks the promise: it rewrites pages in flight. Without stable
// writes the engine copied each page at submit, so the stored versions are
// still whole, and the submit-time ones.
TEST(SeedAsyncOverrunTest, PagesRewrittenInFlightWithoutStableWritesStoreTheSubmitTimeVersion) {
  const StressReport r = run_seed_race(0.5, true);
  expect_every_page_one_whole_version(r);
  EXPECT_EQ(r.engine.stable_writes, 0u);
}

}  // namespace
}  // namespace uzram::writeback
