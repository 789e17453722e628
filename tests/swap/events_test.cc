// Tests of the program's own changes to its regions, as the fault handler
// applies them (src/swap/fault_handler.cc, handle_event): MADV_DONTNEED,
// munmap and mremap free or move compressed pages; fork children do not
// inherit the regions.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <thread>

#include "swap/swap_space_impl.h"
#include "swap_test_util.h"

namespace uzram::swap {
namespace {

using testing::check_page;
using testing::fill_page;
using testing::is_zero_page;
using testing::small_options;
using testing::Watchdog;

class EventsTest : public ::testing::TestWithParam<SwapPath> {
 protected:
  void SetUp() override {
    if (!testing::kernel_has(GetParam())) GTEST_SKIP() << "the kernel lacks " << swap_path_name(GetParam());
    space_ = testing::open_or_die(small_options(GetParam(), 1024));
    ASSERT_TRUE(space_);
  }
  std::byte* fill(size_t pages, uint64_t version) {
    auto* p = static_cast<std::byte*>(*space_->map(pages * kPageSize));
    for (size_t i = 0; i < pages; ++i) fill_page(p + i * kPageSize, i, version);
    return p;
  }
  std::unique_ptr<SwapSpace> space_;
};

TEST_P(EventsTest, MadviseDontneedDiscardsResidentAndSwappedPages) {
  Watchdog dog(60);
  const size_t pages = 512;
  std::byte* p = fill(pages, 1);
  ASSERT_TRUE(space_->trim(0).is_ok());  // all swapped
  for (size_t i = 0; i < 64; ++i) ASSERT_TRUE(check_page(p + i * kPageSize, i, 1));  // 64 resident again
  const uint64_t swapped_before = space_->stats().swapped_pages;

  // Pages 32..287: half of them resident, the rest swapped.
  ASSERT_EQ(::madvise(p + 32 * kPageSize, 256 * kPageSize, MADV_DONTNEED), 0);
  for (size_t i = 32; i < 288; ++i) ASSERT_TRUE(is_zero_page(p + i * kPageSize)) << "page " << i;
  for (size_t i = 0; i < 32; ++i) ASSERT_TRUE(check_page(p + i * kPageSize, i, 1)) << "page " << i;
  for (size_t i = 288; i < pages; ++i) ASSERT_TRUE(check_page(p + i * kPageSize, i, 1)) << "page " << i;
  SwapStats st = space_->stats();
  EXPECT_GE(st.events_remove, 1u);
  EXPECT_LE(st.swapped_pages, swapped_before - (288 - 64));
  // Written again after the discard: the new data, and it swaps as before.
  for (size_t i = 32; i < 288; ++i) fill_page(p + i * kPageSize, i, 2);
  ASSERT_TRUE(space_->trim(0).is_ok());
  for (size_t i = 0; i < pages; ++i) {
    ASSERT_TRUE(check_page(p + i * kPageSize, i, (i >= 32 && i < 288) ? 2 : 1)) << "page " << i;
  }
  core_of(*space_).table->check_invariants();
}

TEST_P(EventsTest, MadviseDuringWritebackDropsTheWrite) {
  Watchdog dog(60);
  const size_t pages = 2048;  // twice the limit: writes in flight all along
  std::byte* p = fill(pages, 1);
  for (int round = 0; round < 4; ++round) {
    ASSERT_EQ(::madvise(p + 256 * round * kPageSize, 256 * kPageSize, MADV_DONTNEED), 0);
  }
  ASSERT_TRUE(space_->trim(0).is_ok());
  for (size_t i = 0; i < pages; ++i) {
    if (i < 1024) {
      ASSERT_TRUE(is_zero_page(p + i * kPageSize)) << "page " << i;
    } else {
      ASSERT_TRUE(check_page(p + i * kPageSize, i, 1)) << "page " << i;
    }
  }
  ASSERT_TRUE(space_->trim(0).is_ok());  // quiet: nothing in flight while the table is checked
  core_of(*space_).table->check_invariants();
}

TEST_P(EventsTest, MunmapByTheProgramFreesItsPages) {
  Watchdog dog(60);
  const size_t pages = 512;
  std::byte* p = fill(pages, 1);
  ASSERT_TRUE(space_->trim(0).is_ok());
  ASSERT_EQ(space_->stats().swapped_pages, pages);
  // The program unmaps the middle itself, not through the space.
  ASSERT_EQ(::munmap(p + 128 * kPageSize, 256 * kPageSize), 0);
  for (size_t i = 0; i < 128; ++i) ASSERT_TRUE(check_page(p + i * kPageSize, i, 1));
  for (size_t i = 384; i < pages; ++i) ASSERT_TRUE(check_page(p + i * kPageSize, i, 1));
  SwapStats st = space_->stats();
  EXPECT_GE(st.events_unmap, 1u);
  EXPECT_EQ(st.mapped_bytes, 256 * kPageSize);
  EXPECT_EQ(st.swapped_pages, 0u);  // the rest were brought back, the middle freed
  // The space no longer knows the middle: unmapping it is an error.
  EXPECT_EQ(space_->unmap(p + 128 * kPageSize, kPageSize).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(space_->unmap(p, 128 * kPageSize).is_ok());
  EXPECT_TRUE(space_->unmap(p + 384 * kPageSize, 128 * kPageSize).is_ok());
  EXPECT_EQ(space_->stats().mapped_bytes, 0u);
}

TEST_P(EventsTest, MremapMovesCompressedPagesWithTheRegion) {
  Watchdog dog(60);
  const size_t pages = 512;
  std::byte* p = fill(pages, 1);
  ASSERT_TRUE(space_->trim(0).is_ok());
  for (size_t i = 0; i < 100; ++i) ASSERT_TRUE(check_page(p + i * kPageSize, i, 1));  // some resident
  void* q = ::mremap(p, pages * kPageSize, pages * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED,
                     p + 4 * pages * kPageSize);
  if (q == MAP_FAILED) {
    // The destination may be taken; let the kernel choose.
    q = ::mremap(p, pages * kPageSize, pages * kPageSize, MREMAP_MAYMOVE);
  }
  ASSERT_NE(q, MAP_FAILED) << std::strerror(errno);
  auto* n = static_cast<std::byte*>(q);
  if (n == p) GTEST_SKIP() << "the kernel kept the region in place";
  for (size_t i = 0; i < pages; ++i) ASSERT_TRUE(check_page(n + i * kPageSize, i, 1)) << "page " << i;
  EXPECT_GE(space_->stats().events_remap, 1u);
  // It swaps at its new address as before.
  ASSERT_TRUE(space_->trim(0).is_ok());
  for (size_t i = 0; i < pages; ++i) ASSERT_TRUE(check_page(n + i * kPageSize, i, 1)) << "page " << i;
  EXPECT_EQ(space_->unmap(p, kPageSize).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(space_->unmap(n, pages * kPageSize).is_ok());
}

TEST_P(EventsTest, ForkChildDoesNotInheritRegionsAndIsWarned) {
  Watchdog dog(60);
  const size_t pages = 256;
  std::byte* p = fill(pages, 1);
  ASSERT_TRUE(space_->trim(0).is_ok());
  ::testing::internal::CaptureStderr();
  pid_t child = ::fork();
  if (child == 0) {
    ::signal(SIGSEGV, SIG_DFL);  // a sanitizer's handler would turn the signal into an exit code
    // The region is not mapped here: this access must kill the child, not
    // read stale or zero data.
    volatile std::byte b = p[5 * kPageSize];
    (void)b;
    _exit(0);
  }
  std::string warning = ::testing::internal::GetCapturedStderr();
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) << "child status " << status;
  EXPECT_NE(warning.find("fork()"), std::string::npos) << warning;
  for (size_t i = 0; i < pages; ++i) ASSERT_TRUE(check_page(p + i * kPageSize, i, 1)) << "page " << i;
}

INSTANTIATE_TEST_SUITE_P(Paths, EventsTest, ::testing::Values(SwapPath::kMove, SwapPath::kWriteProtect),
                         testing::path_param_name);

}  // namespace
}  // namespace uzram::swap
