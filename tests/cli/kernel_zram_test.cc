// Tests of src/cli/kernel_zram.cc: parsing what the kernel's zram prints.
// Claiming and resetting the real device is tested end to end by
// bench_command_test.py (compare-kernel, sigint), which needs root.
#include "cli/kernel_zram.h"

#include <gtest/gtest.h>

namespace uzram::cli {
namespace {

TEST(KernelZramTest, ParsesMmStatOfNineColumns) {
  StoreStats s;
  ASSERT_TRUE(parse_mm_stat("  4194304   1398101  1458176        0  1458176       17        3      120      125\n", &s));
  EXPECT_EQ(s.orig_data_size, 4194304u);
  EXPECT_EQ(s.compr_data_size, 1398101u);
  EXPECT_EQ(s.mem_used_total, 1458176u);
  EXPECT_EQ(s.mem_limit, 0u);
  EXPECT_EQ(s.mem_used_max, 1458176u);
  EXPECT_EQ(s.same_pages, 17u);
  EXPECT_EQ(s.pages_compacted, 3u);
  EXPECT_EQ(s.huge_pages, 120u);
  EXPECT_EQ(s.huge_pages_since, 125u);
}

TEST(KernelZramTest, ParsesAnIdleDevice) {
  StoreStats s;
  s.same_pages = 99;
  ASSERT_TRUE(parse_mm_stat("       0        0        0        0        0        0        0        0        0\n", &s));
  EXPECT_EQ(s.same_pages, 0u);
  EXPECT_EQ(s.mem_used_total, 0u);
}

TEST(KernelZramTest, OlderMmStatWithoutHugeColumnsReadsZeroForThem) {
  StoreStats s;
  ASSERT_TRUE(parse_mm_stat("4096 100 8192 0 8192 1 0\n", &s));
  EXPECT_EQ(s.pages_compacted, 0u);
  EXPECT_EQ(s.same_pages, 1u);
  EXPECT_EQ(s.huge_pages, 0u);
  EXPECT_EQ(s.huge_pages_since, 0u);
}

TEST(KernelZramTest, MalformedMmStatIsCorrupt) {
  StoreStats s;
  EXPECT_EQ(parse_mm_stat("", &s).code(), Status::Code::kCorrupt);
  EXPECT_EQ(parse_mm_stat("1 2 3\n", &s).code(), Status::Code::kCorrupt);
  EXPECT_EQ(parse_mm_stat("1 2 3 4 5 6 7 8 9 10\n", &s).code(), Status::Code::kCorrupt);
  EXPECT_EQ(parse_mm_stat("1 2 3 4 5 six 7 8 9\n", &s).code(), Status::Code::kCorrupt);
  EXPECT_EQ(parse_mm_stat("1 2 3 4 5 -6 7 8 9\n", &s).code(), Status::Code::kCorrupt);
}

TEST(KernelZramTest, ParsesIoStat) {
  StoreStats s;
  ASSERT_TRUE(parse_io_stat("       3        2 0        7\n", &s));
  EXPECT_EQ(s.failed_reads, 3u);
  EXPECT_EQ(s.failed_writes, 2u);
  EXPECT_EQ(s.invalid_io, 0u);
  EXPECT_EQ(s.notify_free, 7u);
  EXPECT_EQ(parse_io_stat("1 2 3\n", &s).code(), Status::Code::kCorrupt);
}

TEST(KernelZramTest, ParsesCompAlgorithmWithTheSelectedOneInBrackets) {
  EXPECT_EQ(parse_comp_algorithm("[lzo-rle] lzo lz4 \n"), (std::vector<std::string>{"lzo-rle", "lzo", "lz4"}));
  EXPECT_EQ(parse_comp_algorithm("lzo-rle lzo [lz4] zstd\n"),
            (std::vector<std::string>{"lzo-rle", "lzo", "lz4", "zstd"}));
  EXPECT_TRUE(parse_comp_algorithm("\n").empty());
}

TEST(KernelZramTest, OurLzoIsTheKernelsLzoAndParametersAreDropped) {
  EXPECT_EQ(kernel_algorithm_name("lzo"), "lzo");
  EXPECT_EQ(kernel_algorithm_name("lz4"), "lz4");
  EXPECT_EQ(kernel_algorithm_name("zstd:level=3"), "zstd");
}

TEST(KernelZramTest, FindsTheDeviceInProcSwaps) {
  const char* swaps =
      "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
      "/dev/zram0                              partition\t8388604\t\t0\t\t100\n";
  EXPECT_TRUE(swaps_lists(swaps, "/dev/zram0"));
  EXPECT_FALSE(swaps_lists(swaps, "/dev/zram1"));
  EXPECT_FALSE(swaps_lists("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n", "/dev/zram0"));
  EXPECT_FALSE(swaps_lists("/dev/zram00 partition 1 0 1\n", "/dev/zram0"));
}

TEST(KernelZramTest, FindsWhereTheDeviceIsMounted) {
  const char* mounts =
      "proc /proc proc rw,relatime 0 0\n"
      "/dev/zram0 /mnt/fast ext4 rw,relatime 0 0\n"
      "/dev/vda1 / ext4 rw 0 0\n";
  EXPECT_EQ(mount_point_of(mounts, "/dev/zram0"), "/mnt/fast");
  EXPECT_EQ(mount_point_of(mounts, "/dev/zram1"), "");
  EXPECT_EQ(mount_point_of("", "/dev/zram0"), "");
}

}  // namespace
}  // namespace uzram::cli
