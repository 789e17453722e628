// Tests of SwapSpace (src/swap/swap_space.cc and the fault handler and
// reclaimer behind it), each on both stable-page paths: MOVE and the forced
// write-protect path.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "swap/swap_space_impl.h"
#include "swap_test_util.h"

namespace uzram::swap {
namespace {

using testing::check_page;
using testing::fill_page;
using testing::is_zero_page;
using testing::small_options;
using testing::Watchdog;

class SwapSpaceTest : public ::testing::TestWithParam<SwapPath> {
 protected:
  void SetUp() override {
    if (!testing::kernel_has(GetParam())) GTEST_SKIP() << "the kernel lacks " << swap_path_name(GetParam());
  }
};

TEST_P(SwapSpaceTest, ReportsThePathInUse) {
  Watchdog dog(60);
  auto space = testing::open_or_die(small_options(GetParam(), 256));
  ASSERT_TRUE(space);
  EXPECT_EQ(space->path(), GetParam());
  SwapStats st = space->stats();
  EXPECT_EQ(st.path, GetParam());
  EXPECT_NE(to_json(st).find(std::string("\"path\":\"") + swap_path_name(GetParam()) + "\""), std::string::npos);
}

TEST_P(SwapSpaceTest, NeverWrittenPagesReadZero) {
  Watchdog dog(60);
  auto space = testing::open_or_die(small_options(GetParam(), 256));
  ASSERT_TRUE(space);
  const size_t pages = 2048;  // 8 times the limit
  Result<void*> r = space->map(pages * kPageSize);
  ASSERT_TRUE(r) << r.status().to_string();
  auto* p = static_cast<std::byte*>(*r);
  for (size_t i = 0; i < pages; ++i) ASSERT_TRUE(is_zero_page(p + i * kPageSize)) << "page " << i;
  SwapStats st = space->stats();
  EXPECT_EQ(st.major_faults, 0u);
  EXPECT_GE(st.zero_fill_pages, pages);
  EXPECT_TRUE(space->unmap(p, pages * kPageSize).is_ok());
}

TEST_P(SwapSpaceTest, PagesSurviveEvictionUnderASmallLimit) {
  Watchdog dog(120);
  auto space = testing::open_or_die(small_options(GetParam(), 256));
  ASSERT_TRUE(space);
  const size_t pages = 4096;  // 16 times the limit
  Result<void*> r = space->map(pages * kPageSize);
  ASSERT_TRUE(r);
  auto* p = static_cast<std::byte*>(*r);
  for (size_t i = 0; i < pages; ++i) fill_page(p + i * kPageSize, i, 1);
  for (size_t i = 0; i < pages; ++i) ASSERT_TRUE(check_page(p + i * kPageSize, i, 1)) << "page " << i;
  // A second version, written over pages that were swapped.
  for (size_t i = 0; i < pages; i += 3) fill_page(p + i * kPageSize, i, 2);
  for (size_t i = 0; i < pages; ++i) ASSERT_TRUE(check_page(p + i * kPageSize, i, i % 3 == 0 ? 2 : 1)) << "page " << i;
  SwapStats st = space->stats();
  EXPECT_GT(st.swap_outs, pages);
  EXPECT_GT(st.swap_ins, pages / 2);
  EXPECT_GT(st.major_faults, 0u);
  EXPECT_GT(st.compressed_bytes, 0u);
  EXPECT_LT(st.compressed_bytes, st.stored_bytes);
  EXPECT_GT(st.fault_latency.count, 0u);
  EXPECT_LE(st.fault_latency.p50_ns, st.fault_latency.p99_ns);
}

TEST_P(SwapSpaceTest, TrimEvictsEverythingAndFaultsBringItBack) {
  Watchdog dog(60);
  auto space = testing::open_or_die(small_options(GetParam(), 2048));
  ASSERT_TRUE(space);
  const size_t pages = 1000;
  auto* p = static_cast<std::byte*>(*space->map(pages * kPageSize));
  for (size_t i = 0; i < pages; ++i) fill_page(p + i * kPageSize, i, 7);
  ASSERT_TRUE(space->trim(0).is_ok());
  SwapStats st = space->stats();
  EXPECT_EQ(st.resident_bytes, 0u);
  EXPECT_EQ(st.swapped_pages, pages);
  EXPECT_EQ(st.cached_pages, 0u);
  EXPECT_EQ(st.writeback_pages, 0u);
  for (size_t i = pages; i-- > 0;) ASSERT_TRUE(check_page(p + i * kPageSize, i, 7)) << "page " << i;
  st = space->stats();
  EXPECT_EQ(st.swap_ins, pages);
  EXPECT_EQ(st.swapped_pages, 0u);
  EXPECT_EQ(st.stored_bytes, 0u);  // brought back: the compressed copies are gone
  core_of(*space).table->check_invariants();
}

TEST_P(SwapSpaceTest, SequentialFaultsReadAhead) {
  Watchdog dog(60);
  SwapOptions o = small_options(GetParam(), 4096);
  o.readahead_order = 4;  // windows of up to 16 pages
  auto space = testing::open_or_die(o);
  ASSERT_TRUE(space);
  const size_t pages = 1024;
  auto* p = static_cast<std::byte*>(*space->map(pages * kPageSize));
  for (size_t i = 0; i < pages; ++i) fill_page(p + i * kPageSize, i, 3);
  ASSERT_TRUE(space->trim(0).is_ok());
  SwapStats before = space->stats();
  for (size_t i = 0; i < pages; ++i) ASSERT_TRUE(check_page(p + i * kPageSize, i, 3));
  SwapStats after = space->stats();
  uint64_t majors = after.major_faults - before.major_faults;
  // Windows grow 1, 2, 4, 8, 16 within each 512-page chunk.
  EXPECT_LE(majors, pages / 16 + 16);
  EXPECT_GE(majors, pages / 16);
  EXPECT_GE(after.readahead_pages - before.readahead_pages, pages - majors);
  EXPECT_GT(after.readahead_hits - before.readahead_hits, pages / 2);
  EXPECT_EQ(after.swap_ins - before.swap_ins, pages);

  // Random order: no stream, one page a fault.
  ASSERT_TRUE(space->trim(0).is_ok());
  before = space->stats();
  std::vector<size_t> order(pages);
  for (size_t i = 0; i < pages; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(5));
  for (size_t i : order) ASSERT_TRUE(check_page(p + i * kPageSize, i, 3));
  after = space->stats();
  EXPECT_GT(after.major_faults - before.major_faults, pages / 2);
}

TEST_P(SwapSpaceTest, ManyRegionsShareOneLimit) {
  Watchdog dog(120);
  auto space = testing::open_or_die(small_options(GetParam(), 512));
  ASSERT_TRUE(space);
  std::vector<std::byte*> regions;
  const size_t pages = 512;
  for (int r = 0; r < 6; ++r) regions.push_back(static_cast<std::byte*>(*space->map(pages * kPageSize)));
  for (int r = 0; r < 6; ++r) {
    for (size_t i = 0; i < pages; ++i) fill_page(regions[r] + i * kPageSize, r * pages + i, 1);
  }
  for (int r = 5; r >= 0; --r) {
    for (size_t i = 0; i < pages; ++i) ASSERT_TRUE(check_page(regions[r] + i * kPageSize, r * pages + i, 1));
  }
  EXPECT_EQ(space->stats().mapped_bytes, 6 * pages * kPageSize);
  ASSERT_TRUE(space->trim(0).is_ok());
  EXPECT_EQ(space->stats().resident_bytes, 0u);
  for (int r = 0; r < 6; ++r) EXPECT_TRUE(space->unmap(regions[r], pages * kPageSize).is_ok());
  EXPECT_EQ(space->stats().mapped_bytes, 0u);
  EXPECT_EQ(space->stats().swapped_pages, 0u);
}

TEST_P(SwapSpaceTest, UnmapOfARangeNotMappedIsAnError) {
  Watchdog dog(60);
  auto space = testing::open_or_die(small_options(GetParam(), 256));
  ASSERT_TRUE(space);
  auto* p = static_cast<std::byte*>(*space->map(64 * kPageSize));
  alignas(kPageSize) static std::byte not_ours[kPageSize];
  EXPECT_EQ(space->unmap(not_ours, kPageSize).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(space->unmap(p + 64 * kPageSize, kPageSize).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(space->unmap(p, 65 * kPageSize).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(space->unmap(p + 1, kPageSize).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(space->unmap(p, 0).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(space->unmap(p + 8 * kPageSize, 8 * kPageSize).is_ok());
  EXPECT_EQ(space->unmap(p + 8 * kPageSize, kPageSize).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(space->unmap(p, 8 * kPageSize).is_ok());
  EXPECT_TRUE(space->unmap(p + 16 * kPageSize, 48 * kPageSize).is_ok());
  EXPECT_EQ(space->map(0).status().code(), Status::Code::kInvalidArgument);
}

TEST_P(SwapSpaceTest, MapBeyondTheSizeIsRefused) {
  Watchdog dog(60);
  auto space = testing::open_or_die(small_options(GetParam(), 256, 1024));
  ASSERT_TRUE(space);
  EXPECT_EQ(space->map(4096 * kPageSize).status().code(), Status::Code::kNoSpace);
  Result<void*> ok = space->map(1024 * kPageSize);
  EXPECT_TRUE(ok);
}

TEST_P(SwapSpaceTest, WriteDuringWritebackGetsTheNewDataAndDropsTheStaleCopy) {
  Watchdog dog(60);
  StoreOptions so;
  so.disksize = 4096 * kPageSize;
  auto inner = Store::open(so);
  ASSERT_TRUE(inner);
  auto gated = std::make_unique<testing::GatedStore>(std::move(*inner));
  testing::GatedStore* gate = gated.get();
  SwapOptions o = small_options(GetParam(), 1024);
  o.inactive_ratio = 0;
  auto opened = open_space(o, std::move(gated));
  ASSERT_TRUE(opened) << opened.status().to_string();
  std::unique_ptr<SwapSpace> space = std::move(*opened);
  Core& core = core_of(*space);

  const size_t pages = 64;
  auto* p = static_cast<std::byte*>(*space->map(pages * kPageSize));
  for (size_t i = 0; i < pages; ++i) fill_page(p + i * kPageSize, i, 1);
  gate->close_gate();
  std::thread trimmer([&] { EXPECT_TRUE(space->trim(0).is_ok()); });
  gate->wait_at_gate(1);  // a write is running; the rest are queued
  const Extent ext = *core.regions.find(reinterpret_cast<uintptr_t>(p));
  // Every page is under writeback now (the gate holds the engine).
  for (size_t i = 0; i < pages; ++i) {
    PageState s;
    {
      MutexLock lock(&core.table->lock_of(ext.first + i));
      s = core.table->get(ext.first + i).state();
    }
    ASSERT_EQ(s, PageState::kWriteback) << "page " << i << " is " << state_name(s);
  }
  // A read is served at once from the swap cache (MOVE) or in place (WP).
  EXPECT_TRUE(check_page(p + 5 * kPageSize, 5, 1));
  // Writes get the new data without waiting for the compression.
  fill_page(p + 0 * kPageSize, 0, 2);
  fill_page(p + 40 * kPageSize, 40, 2);
  EXPECT_TRUE(check_page(p + 0 * kPageSize, 0, 2));
  EXPECT_TRUE(check_page(p + 40 * kPageSize, 40, 2));
  gate->open_gate();
  trimmer.join();

  SwapStats st = space->stats();
  EXPECT_GE(st.stale_writes, 2u);
  // The stale compressed copies were dropped: whatever the store holds for
  // pages 0 and 40 now (trim's second round may have evicted them again) is
  // the new version.
  for (size_t i : {size_t{0}, size_t{40}}) {
    if (core.store.is_empty(ext.first + i)) continue;
    alignas(kPageSize) std::byte page[kPageSize];
    ASSERT_TRUE(core.store.read(ext.first + i, PageBuffer(page, kPageSize)).is_ok());
    EXPECT_TRUE(check_page(page, i, 2)) << "page " << i;
  }
  EXPECT_FALSE(core.store.is_empty(ext.first + 1));
  EXPECT_TRUE(check_page(p + 0 * kPageSize, 0, 2));
  EXPECT_TRUE(check_page(p + 40 * kPageSize, 40, 2));
  // Evicted again, now with the new data.
  ASSERT_TRUE(space->trim(0).is_ok());
  EXPECT_FALSE(core.store.is_empty(ext.first + 40));
  for (size_t i = 0; i < pages; ++i) {
    ASSERT_TRUE(check_page(p + i * kPageSize, i, (i == 0 || i == 40) ? 2 : 1)) << "page " << i;
  }
  core.table->check_invariants();
}

TEST_P(SwapSpaceTest, FullStoreKeepsPagesResidentAndLosesNothing) {
  Watchdog dog(120);
  SwapOptions o = small_options(GetParam(), 256);
  o.mem_limit = 256 * 1024;  // room for about 64 incompressible pages
  auto space = testing::open_or_die(o);
  ASSERT_TRUE(space);
  const size_t pages = 1024;
  auto* p = static_cast<std::byte*>(*space->map(pages * kPageSize));
  std::mt19937_64 rng(3);
  for (size_t i = 0; i < pages; ++i) {
    auto* w = reinterpret_cast<uint64_t*>(p + i * kPageSize);
    for (size_t k = 0; k < kPageSize / 8; ++k) w[k] = rng();  // incompressible
    w[0] = i;
  }
  rng.seed(3);
  for (size_t i = 0; i < pages; ++i) {
    auto* w = reinterpret_cast<uint64_t*>(p + i * kPageSize);
    for (size_t k = 0; k < kPageSize / 8; ++k) {
      uint64_t want = rng();
      if (k == 0) want = i;
      ASSERT_EQ(w[k], want) << "page " << i << " word " << k;
    }
  }
  SwapStats st = space->stats();
  EXPECT_GT(st.store_full, 0u);
  EXPECT_GT(st.resident_bytes, st.limit_bytes);  // kept resident beyond the limit
  EXPECT_LE(st.store_mem_bytes, o.mem_limit);
}

TEST_P(SwapSpaceTest, BackingFileTakesColdPagesWhenTheStoreIsFull) {
  Watchdog dog(120);
  const std::string file = "swap_backing_" + std::to_string(::getpid()) + ".img";
  {
    int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 32 << 20), 0);
    ::close(fd);
  }
  SwapOptions o = small_options(GetParam(), 256);
  o.mem_limit = 256 * 1024;
  o.backing_file = file;
  Result<std::unique_ptr<SwapSpace>> opened = SwapSpace::open(o);
  if (!opened) {
    ::unlink(file.c_str());
    GTEST_SKIP() << "no backing file here: " << opened.status().to_string();
  }
  std::unique_ptr<SwapSpace> space = std::move(*opened);
  const size_t pages = 1024;
  auto* p = static_cast<std::byte*>(*space->map(pages * kPageSize));
  std::mt19937_64 rng(9);
  for (size_t i = 0; i < pages; ++i) {
    auto* w = reinterpret_cast<uint64_t*>(p + i * kPageSize);
    for (size_t k = 0; k < kPageSize / 8; ++k) w[k] = rng();
  }
  // The reclaimer's housekeeping moves idle compressed pages to the file
  // while the store is full; give it a few rounds.
  Core& core = core_of(*space);
  for (int i = 0; i < 100 && core.store.stats().bd_writes == 0; ++i) {
    ASSERT_TRUE(space->trim(0).is_ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GT(core.store.stats().bd_writes, 0u);
  rng.seed(9);
  for (size_t i = 0; i < pages; ++i) {
    auto* w = reinterpret_cast<uint64_t*>(p + i * kPageSize);
    for (size_t k = 0; k < kPageSize / 8; ++k) ASSERT_EQ(w[k], rng()) << "page " << i << " word " << k;
  }
  space.reset();
  ::unlink(file.c_str());
}

INSTANTIATE_TEST_SUITE_P(Paths, SwapSpaceTest, ::testing::Values(SwapPath::kMove, SwapPath::kWriteProtect),
                         testing::path_param_name);

TEST(SwapSpaceOpenTest, RejectsBadOptions) {
  SwapOptions o;
  o.limit = 4096;
  EXPECT_EQ(SwapSpace::open(o).status().code(), Status::Code::kInvalidArgument);
  o = SwapOptions();
  o.low_watermark = 0.99;
  EXPECT_EQ(SwapSpace::open(o).status().code(), Status::Code::kInvalidArgument);
  o = SwapOptions();
  o.readahead_order = 12;
  EXPECT_EQ(SwapSpace::open(o).status().code(), Status::Code::kInvalidArgument);
  o = SwapOptions();
  o.algorithm = "no-such-codec";
  EXPECT_FALSE(SwapSpace::open(o));
}

}  // namespace
}  // namespace uzram::swap
