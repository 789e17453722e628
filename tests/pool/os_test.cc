#include "pool/os.h"

#include <gtest/gtest.h>

#include "pool_test_util.h"
#include "uzram/page.h"

namespace uzram::pool {
namespace {

constexpr size_t kBytes = 16 << 20;

bool rss_is_meaningful() {
#if defined(__SANITIZE_THREAD__)
  return false;  // TSan's shadow memory follows application memory
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return false;
#endif
#endif
  return testing::rss_anon_bytes() != 0;
}

TEST(OsTest, ReserveTakesNoMemoryUntilPopulated) {
  if (!rss_is_meaningful()) GTEST_SKIP() << "RssAnon not usable here";
  uint64_t before = testing::rss_anon_bytes();
  Result<Mapping> m = os::reserve(kBytes);
  ASSERT_TRUE(m.has_value()) << m.status().to_string();
  EXPECT_LT(testing::rss_anon_bytes(), before + kBytes / 4);
  ASSERT_TRUE(os::populate(m->span()).is_ok());
  EXPECT_GE(testing::rss_anon_bytes(), before + kBytes * 9 / 10);
  ASSERT_TRUE(os::release(m->span()).is_ok());
  EXPECT_LT(testing::rss_anon_bytes(), before + kBytes / 4);
}

TEST(OsTest, ReleasedPagesReadAsZero) {
  Result<Mapping> m = os::reserve(4 * kPageSize);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(os::populate(m->span()).is_ok());
  testing::fill(m->span(), 7);
  ASSERT_TRUE(os::release(m->span().subspan(kPageSize, 2 * kPageSize)).is_ok());
  EXPECT_TRUE(testing::holds(m->span().first(kPageSize), 7));
  for (size_t i = kPageSize; i < 3 * kPageSize; ++i) ASSERT_EQ(m->data()[i], std::byte{0});
  EXPECT_EQ(m->data()[3 * kPageSize], testing::pattern_byte(7, 3 * kPageSize));
}

TEST(OsTest, PopulateKeepsContents) {
  Result<Mapping> m = os::reserve(2 * kPageSize);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(os::populate(m->span()).is_ok());
  testing::fill(m->span(), 3);
  ASSERT_TRUE(os::populate(m->span()).is_ok());
  EXPECT_TRUE(testing::holds(m->span(), 3));
}

TEST(OsTest, TouchBacksEveryPage) {
  if (!rss_is_meaningful()) GTEST_SKIP() << "RssAnon not usable here";
  Result<Mapping> m = os::reserve(kBytes);
  ASSERT_TRUE(m.has_value());
  uint64_t before = testing::rss_anon_bytes();
  os::touch(m->span());
  EXPECT_GE(testing::rss_anon_bytes(), before + kBytes * 9 / 10);
}

TEST(OsTest, InjectedPopulateFailureIsNoSpace) {
  Result<Mapping> m = os::reserve(kPageSize);
  ASSERT_TRUE(m.has_value());
  os::fail_next_populates_for_testing(1);
  Status s = os::populate(m->span());
  EXPECT_EQ(s.code(), Status::Code::kNoSpace);
  EXPECT_EQ(s.error_number(), ENOMEM);
  EXPECT_TRUE(os::populate(m->span()).is_ok()) << "only the next call fails";
}

TEST(OsTest, HugeReservationIsRefusedWithAStatus) {
  // 2^60 bytes is beyond any x86-64 or arm64 address space.
  Result<Mapping> m = os::reserve(size_t{1} << 60);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.status().code(), Status::Code::kNoSpace);
}

}  // namespace
}  // namespace uzram::pool
