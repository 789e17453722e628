// Tests of src/cli/rss.cc: RssAnon from /proc/self/status.
#include "cli/rss.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

namespace uzram::cli {
namespace {

TEST(RssTest, ParsesTheRssAnonLineInBytes) {
  const char* status =
      "Name:\tuzram\nVmRSS:\t   9000 kB\nRssAnon:\t    1234 kB\nRssFile:\t   777 kB\nThreads:\t1\n";
  EXPECT_EQ(parse_rss_anon(status), 1234u * 1024);
}

TEST(RssTest, LastLineWithoutNewlineParses) {
  EXPECT_EQ(parse_rss_anon("Name:\tx\nRssAnon:\t0 kB"), 0u);
}

TEST(RssTest, MissingOrMalformedLineIsNullopt) {
  EXPECT_EQ(parse_rss_anon("Name:\tx\nVmRSS:\t10 kB\n"), std::nullopt);
  EXPECT_EQ(parse_rss_anon("RssAnon:\t\n"), std::nullopt);
  EXPECT_EQ(parse_rss_anon("RssAnon:\tmany kB\n"), std::nullopt);
  EXPECT_EQ(parse_rss_anon("RssAnon:\t12 pages\n"), std::nullopt);
  EXPECT_EQ(parse_rss_anon("XRssAnon:\t12 kB\n"), std::nullopt);
}

TEST(RssTest, TouchingAnonymousMemoryRaisesRssAnon) {
  constexpr size_t kBytes = 64u << 20;
  Result<uint64_t> before = rss_anon_bytes();
  ASSERT_TRUE(before) << before.status().to_string();
  void* p = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  std::memset(p, 1, kBytes);
  Result<uint64_t> after = rss_anon_bytes();
  ::munmap(p, kBytes);
  ASSERT_TRUE(after) << after.status().to_string();
  // The kernel folds per-CPU counts in lazily; half the region is a safe floor.
  EXPECT_GE(*after, *before + kBytes / 2);
}

}  // namespace
}  // namespace uzram::cli
