// Tests of src/base/parse_size.cc.
#include "base/parse_size.h"

#include <gtest/gtest.h>

namespace uzram {
namespace {

TEST(ParseSizeTest, PlainBytesAndBinarySuffixes) {
  EXPECT_EQ(parse_size("4096").value(), 4096u);
  EXPECT_EQ(parse_size("1000001").value(), 1000001u);
  EXPECT_EQ(parse_size("64K").value(), 64u << 10);
  EXPECT_EQ(parse_size("64m").value(), 64u << 20);
  EXPECT_EQ(parse_size("2GiB").value(), uint64_t{2} << 30);
  EXPECT_EQ(parse_size("3T").value(), uint64_t{3} << 40);
  EXPECT_EQ(parse_size("512MB").value(), uint64_t{512} << 20);
}

TEST(ParseSizeTest, GarbageZeroAndOverflowAreErrors) {
  for (const char* bad : {"", "0", "0M", "-1", "+5", "1.5G", " 1G", "1G ", "1X", "G", "1GG", "99999999999999999999",
                          "2000000T"}) {
    const auto r = parse_size(bad);
    EXPECT_FALSE(r.has_value()) << bad;
    if (!r) {
      EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
    }
  }
}

TEST(ParseSizeTest, TheMessageNamesTheText) {
  const auto r = parse_size("12Q");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().to_string().find("12Q"), std::string::npos);
}

}  // namespace
}  // namespace uzram
