// Tests of src/store/writeback.cc and backing_file.cc: writeback to a fake
// device (to inject EIO / ENOSPC), to a real file, and to a file on a tiny
// tmpfs that really runs out of space.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "store_test_util.h"

namespace uzram::store {
namespace {

using testing::attach_fake;
using testing::FakeBackingDevice;
using testing::open_store;
using testing::options_for;
using testing::Page;
using testing::random_page;
using testing::read_page;
using testing::text_page;

WritebackOptions select(SlotSelect s, bool compressed = false, uint64_t max_pages = 0) {
  WritebackOptions o;
  o.select = s;
  o.compressed = compressed;
  o.max_pages = max_pages;
  return o;
}

// A temporary directory, removed with what it holds.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/uzram-store-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string make_file(const std::string& path, off_t size) {
  const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  EXPECT_EQ(::ftruncate(fd, size), 0) << std::strerror(errno);
  ::close(fd);
  return path;
}

TEST(WritebackTest, HugePagesMoveToTheFileAndReadBack) {
  auto s = open_store(options_for(32));
  FakeBackingDevice* dev = attach_fake(*s, 64);
  for (PageIndex i = 0; i < 8; ++i) ASSERT_TRUE(s->write(i, random_page(i).view()).is_ok());
  for (PageIndex i = 8; i < 16; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  const uint64_t mem_before = s->stats().mem_used_total;

  Result<uint64_t> n = s->writeback(select(SlotSelect::kHuge));
  ASSERT_TRUE(n.has_value()) << n.status().to_string();
  EXPECT_EQ(*n, 8u);
  StoreStats st = s->stats();
  EXPECT_EQ(st.bd_count, 8u);
  EXPECT_EQ(st.bd_writes, 8u);
  EXPECT_EQ(st.huge_pages, 0u);
  EXPECT_EQ(st.orig_data_size, 16 * kPageSize);  // written-back pages are still stored
  EXPECT_LT(st.mem_used_total, mem_before);
  EXPECT_EQ(dev->blocks_written(), 8u);
  EXPECT_EQ(dev->write_calls(), 1u);  // one run of consecutive blocks
  for (PageIndex i = 0; i < 8; ++i) EXPECT_TRUE(s->slot_info(i).writeback) << i;
  for (PageIndex i = 8; i < 16; ++i) EXPECT_FALSE(s->slot_info(i).writeback) << i;
  s->check_invariants();

  for (PageIndex i = 0; i < 16; ++i) EXPECT_EQ(read_page(*s, i), i < 8 ? random_page(i) : text_page(i)) << i;
  EXPECT_EQ(s->stats().bd_reads, 8u);
}

TEST(WritebackTest, IdlePagesAreSelectedByTheMark) {
  auto s = open_store(options_for(32));
  attach_fake(*s, 64);
  for (PageIndex i = 0; i < 10; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  ASSERT_EQ(s->mark_idle(), 10u);
  read_page(*s, 3);  // accessed: not idle any more
  Result<uint64_t> n = s->writeback(select(SlotSelect::kIdle));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 9u);
  EXPECT_FALSE(s->slot_info(3).writeback);
  for (PageIndex i = 0; i < 10; ++i) EXPECT_EQ(read_page(*s, i), text_page(i));
  s->check_invariants();
}

TEST(WritebackTest, DiscardFreesTheBlockAndPunchesIt) {
  auto s = open_store(options_for(8));
  FakeBackingDevice* dev = attach_fake(*s, 4);
  for (PageIndex i = 0; i < 4; ++i) ASSERT_TRUE(s->write(i, random_page(i).view()).is_ok());
  ASSERT_EQ(*s->writeback(select(SlotSelect::kHuge)), 4u);
  EXPECT_EQ(s->backing_blocks_used(), 4u);
  ASSERT_TRUE(s->discard(1).is_ok());
  EXPECT_EQ(dev->punches(), 1u);
  EXPECT_EQ(s->backing_blocks_used(), 3u);
  EXPECT_EQ(s->stats().bd_count, 3u);
  // Overwriting a written-back slot frees its block too.
  ASSERT_TRUE(s->write(2, text_page(2).view()).is_ok());
  EXPECT_EQ(s->backing_blocks_used(), 2u);
  EXPECT_EQ(s->stats().bd_count, 2u);
  // The freed blocks are used again.
  ASSERT_TRUE(s->write(5, random_page(5).view()).is_ok());
  ASSERT_TRUE(s->write(6, random_page(6).view()).is_ok());
  ASSERT_EQ(*s->writeback(select(SlotSelect::kHuge)), 2u);
  EXPECT_EQ(s->backing_blocks_used(), 4u);
  EXPECT_EQ(read_page(*s, 0), random_page(0));
  EXPECT_EQ(read_page(*s, 3), random_page(3));
  EXPECT_EQ(read_page(*s, 5), random_page(5));
  EXPECT_EQ(read_page(*s, 6), random_page(6));
  s->check_invariants();
}

TEST(WritebackTest, WritebackLimitIsHonoured) {
  auto s = open_store(options_for(32));
  attach_fake(*s, 64);
  for (PageIndex i = 0; i < 10; ++i) ASSERT_TRUE(s->write(i, random_page(i).view()).is_ok());
  s->set_writeback_limit(true, 3);
  EXPECT_EQ(s->writeback_limit(), 3u);
  ASSERT_EQ(*s->writeback(select(SlotSelect::kHuge)), 3u);
  EXPECT_EQ(s->writeback_limit(), 0u);
  ASSERT_EQ(*s->writeback(select(SlotSelect::kHuge)), 0u);
  s->set_writeback_limit(true, 100);
  ASSERT_EQ(*s->writeback(select(SlotSelect::kHuge, false, 2)), 2u);  // max_pages is a budget too
  EXPECT_EQ(s->writeback_limit(), 98u);
  s->set_writeback_limit(false, 0);
  ASSERT_EQ(*s->writeback(select(SlotSelect::kHuge)), 5u);
  EXPECT_EQ(s->stats().bd_writes, 10u);
}

TEST(WritebackTest, CompressedWritebackKeepsTheCompressedBytes) {
  auto s = open_store(options_for(16));
  FakeBackingDevice* dev = attach_fake(*s, 16);
  for (PageIndex i = 0; i < 6; ++i) ASSERT_TRUE(s->write(i, text_page(i).view()).is_ok());
  ASSERT_TRUE(s->write(6, random_page(6).view()).is_ok());  // huge: written raw
  uint32_t sizes[6];
  for (PageIndex i = 0; i < 6; ++i) sizes[i] = s->slot_info(i).size;
  ASSERT_EQ(s->mark_idle(), 7u);
  ASSERT_EQ(*s->writeback(select(SlotSelect::kIdle, true)), 7u);
  for (PageIndex i = 0; i < 6; ++i) {
    const SlotInfo info = s->slot_info(i);
    EXPECT_TRUE(info.writeback && info.wb_compressed) << i;
    EXPECT_EQ(info.size, sizes[i]);
  }
  EXPECT_TRUE(s->slot_info(6).writeback);
  EXPECT_FALSE(s->slot_info(6).wb_compressed);
  // The block holds the compressed bytes, zero-padded: not the page.
  const std::vector<std::byte> b0 = dev->block(0);
  const Page p0 = text_page(0);
  EXPECT_NE(0, std::memcmp(b0.data(), p0.bytes.data(), kPageSize));
  for (size_t k = sizes[0]; k < kPageSize; ++k) ASSERT_EQ(b0[k], std::byte{0}) << k;
  for (PageIndex i = 0; i < 6; ++i) EXPECT_EQ(read_page(*s, i), text_page(i)) << i;
  EXPECT_EQ(read_page(*s, 6), random_page(6));
  s->check_invariants();
}

TEST(WritebackTest, InjectedIoErrorKeepsEveryPageInMemory) {
  auto s = open_store(options_for(64));
  FakeBackingDevice* dev = attach_fake(*s, 40);
  for (PageIndex i = 0; i < 40; ++i) ASSERT_TRUE(s->write(i, random_page(i).view()).is_ok());
  const StoreStats before = s->stats();
  dev->fail_writes(EIO, 5);  // the first batch of 32 fails part way

  Result<uint64_t> n = s->writeback(select(SlotSelect::kHuge));
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.status().code(), Status::Code::kIoError) << n.status().to_string();
  EXPECT_EQ(n.status().error_number(), EIO);
  const StoreStats after = s->stats();
  EXPECT_EQ(after.bd_count, 0u);
  EXPECT_EQ(after.bd_writes, 0u);
  EXPECT_EQ(after.huge_pages, before.huge_pages);
  EXPECT_EQ(after.compr_data_size, before.compr_data_size);
  EXPECT_EQ(s->backing_blocks_used(), 0u);
  for (PageIndex i = 0; i < 40; ++i) {
    EXPECT_FALSE(s->slot_info(i).writeback);
    EXPECT_EQ(read_page(*s, i), random_page(i)) << i;
  }
  s->check_invariants();

  // Once the device works again, all 40 blocks are free for the same pages.
  dev->fail_writes(0);
  n = s->writeback(select(SlotSelect::kHuge));
  ASSERT_TRUE(n.has_value()) << n.status().to_string();
  EXPECT_EQ(*n, 40u);
}

TEST(WritebackTest, ErrorInALaterBatchCountsWhatWasWritten) {
  auto s = open_store(options_for(64));
  FakeBackingDevice* dev = attach_fake(*s, 64);
  for (PageIndex i = 0; i < 40; ++i) ASSERT_TRUE(s->write(i, random_page(i).view()).is_ok());
  dev->fail_writes(ENOSPC, 32);  // the first batch goes through, the second fails
  Result<uint64_t> n = s->writeback(select(SlotSelect::kHuge));
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.status().code(), Status::Code::kNoSpace);
  EXPECT_EQ(s->stats().bd_count, 32u);
  EXPECT_EQ(s->stats().bd_writes, 32u);
  for (PageIndex i = 0; i < 40; ++i) EXPECT_EQ(read_page(*s, i), random_page(i)) << i;
  s->check_invariants();
}

TEST(WritebackTest, FullBackingFileIsNoSpaceWithDataIntact) {
  auto s = open_store(options_for(16));
  attach_fake(*s, 4);
  for (PageIndex i = 0; i < 8; ++i) ASSERT_TRUE(s->write(i, random_page(i).view()).is_ok());
  Result<uint64_t> n = s->writeback(select(SlotSelect::kHuge));
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.status().code(), Status::Code::kNoSpace) << n.status().to_string();
  EXPECT_EQ(s->stats().bd_count, 4u);
  EXPECT_EQ(s->stats().huge_pages, 4u);
  for (PageIndex i = 0; i < 8; ++i) EXPECT_EQ(read_page(*s, i), random_page(i)) << i;
  s->check_invariants();
}

TEST(WritebackTest, ReadErrorFromTheFileIsReportedAndCounted) {
  auto s = open_store(options_for(8));
  FakeBackingDevice* dev = attach_fake(*s, 8);
  ASSERT_TRUE(s->write(0, random_page(0).view()).is_ok());
  ASSERT_EQ(*s->writeback(select(SlotSelect::kHuge)), 1u);
  dev->fail_reads(EIO);
  Page p;
  Status st = s->read(0, p.buf());
  EXPECT_EQ(st.code(), Status::Code::kIoError);
  EXPECT_EQ(s->stats().failed_reads, 1u);
  dev->fail_reads(0);
  EXPECT_EQ(read_page(*s, 0), random_page(0));
}

TEST(WritebackTest, WritebackWithoutABackingFileIsRejected) {
  auto s = open_store(options_for(8));
  EXPECT_EQ(s->writeback(select(SlotSelect::kHuge)).status().code(), Status::Code::kInvalidArgument);
  attach_fake(*s, 8);
  EXPECT_EQ(s->writeback(select(SlotSelect{0})).status().code(), Status::Code::kInvalidArgument);
}

TEST(WritebackTest, ReplacingTheFileIsBusyWhilePagesLiveOnIt) {
  auto s = open_store(options_for(8));
  attach_fake(*s, 8);
  ASSERT_TRUE(s->write(0, random_page(0).view()).is_ok());
  ASSERT_EQ(*s->writeback(select(SlotSelect::kHuge)), 1u);
  Status st = s->set_backing_device(std::make_unique<FakeBackingDevice>(8));
  EXPECT_EQ(st.code(), Status::Code::kBusy);
  EXPECT_EQ(s->set_backing_file("/nonexistent").code(), Status::Code::kBusy);
  ASSERT_TRUE(s->discard(0).is_ok());
  EXPECT_TRUE(s->set_backing_device(std::make_unique<FakeBackingDevice>(8)).is_ok());
}

TEST(BackingFileTest, UnusablePathsAreRejectedWithAClearError) {
  TempDir dir;
  auto s = open_store(options_for(8));
  Status st = s->set_backing_file(dir.path() + "/missing");
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("missing"), std::string_view::npos) << st.to_string();
  EXPECT_EQ(s->set_backing_file(dir.path()).code(), Status::Code::kInvalidArgument);  // a directory
  EXPECT_EQ(s->set_backing_file("").code(), Status::Code::kInvalidArgument);
  st = s->set_backing_file(make_file(dir.path() + "/small", 100));
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("4 KiB"), std::string_view::npos) << st.to_string();
}

TEST(BackingFileTest, RealFileRoundTripAndDiscardPunchesAHole) {
  TempDir dir;
  const std::string path = make_file(dir.path() + "/backing", 1 << 20);
  auto s = open_store(options_for(64));
  ASSERT_TRUE(s->set_backing_file(path).is_ok());
  for (PageIndex i = 0; i < 40; ++i) ASSERT_TRUE(s->write(i, random_page(i).view()).is_ok());
  ASSERT_EQ(s->mark_idle(), 40u);
  Result<uint64_t> n = s->writeback(select(SlotSelect::kIdle));
  ASSERT_TRUE(n.has_value()) << n.status().to_string();
  EXPECT_EQ(*n, 40u);
  for (PageIndex i = 0; i < 40; ++i) EXPECT_EQ(read_page(*s, i), random_page(i)) << i;

  struct stat before;
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  ASSERT_TRUE(s->discard(0, 40).is_ok());
  struct stat after;
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_LT(after.st_blocks, before.st_blocks);  // the holes gave the space back
  EXPECT_EQ(after.st_size, 1 << 20);
  EXPECT_EQ(s->stats().bd_count, 0u);
  s->check_invariants();
}

TEST(BackingFileTest, FullTmpfsIsNoSpaceWithDataIntact) {
  TempDir dir;
  const std::string mnt = dir.path() + "/mnt";
  ASSERT_EQ(::mkdir(mnt.c_str(), 0700), 0);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(errno) << "); needs root or CAP_SYS_ADMIN";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  // The file claims 1 MiB, but the file system holds 64 KiB: 16 blocks.
  const std::string path = make_file(mnt + "/backing", 1 << 20);
  auto s = open_store(options_for(64));
  ASSERT_TRUE(s->set_backing_file(path).is_ok());
  for (PageIndex i = 0; i < 48; ++i) ASSERT_TRUE(s->write(i, random_page(i).view()).is_ok());

  Result<uint64_t> n = s->writeback(select(SlotSelect::kHuge));
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.status().code(), Status::Code::kNoSpace) << n.status().to_string();
  EXPECT_EQ(n.status().error_number(), ENOSPC);
  const StoreStats st = s->stats();
  EXPECT_LT(st.bd_count, 16u + 1);
  EXPECT_EQ(st.bd_count + st.huge_pages, 48u);
  for (PageIndex i = 0; i < 48; ++i) EXPECT_EQ(read_page(*s, i), random_page(i)) << i;
  s->check_invariants();
}

}  // namespace
}  // namespace uzram::store
