#include "uzram/status.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace uzram {
namespace {

TEST(StatusTest, OkCarriesNothing) {
  Status s;
  EXPECT_TRUE(s.is_ok());
  EXPECT_EQ(s.code(), Status::Code::kOk);
  EXPECT_EQ(s.error_number(), 0);
  EXPECT_EQ(s.to_string(), "OK");
}

TEST(StatusTest, FromErrnoKeepsErrnoAndMapsCode) {
  Status s = Status::from_errno(ENOSPC, "pwrite backing file");
  EXPECT_EQ(s.code(), Status::Code::kNoSpace);
  EXPECT_EQ(s.error_number(), ENOSPC);
  EXPECT_NE(s.to_string().find("pwrite backing file"), std::string::npos);
  EXPECT_EQ(Status::from_errno(EIO, "x").code(), Status::Code::kIoError);
  EXPECT_EQ(Status::from_errno(EAGAIN, "x").code(), Status::Code::kWouldBlock);
}

TEST(StatusTest, CodeWithoutErrnoGivesMatchingErrno) {
  EXPECT_EQ(Status::no_space("limit").error_number(), ENOSPC);
  EXPECT_EQ(Status::invalid_argument("bad").error_number(), EINVAL);
  EXPECT_EQ(Status::io_error("disk").error_number(), EIO);
}

TEST(StatusTest, CopyAndContext) {
  Status a = Status::invalid_argument("size 5 is not a multiple of 4096");
  Status b = a;
  EXPECT_EQ(b.message(), a.message());
  Status c = b.with_context("open");
  EXPECT_EQ(c.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(c.message(), "open: size 5 is not a multiple of 4096");
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> r = 7;
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 7);
  EXPECT_TRUE(r.status().is_ok());
  Result<int> e = Status::not_found("slot");
  EXPECT_FALSE(e.has_value());
  EXPECT_EQ(e.status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace uzram
