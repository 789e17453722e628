// Tests of src/cli/progress.cc: the bench's progress line.
#include "cli/progress.h"

#include <gtest/gtest.h>

#include <string>

namespace uzram::cli {
namespace {

TEST(ProgressTest, LineShowsPhasePercentAndRate) {
  std::string line = Progress::format_line("uzram write", 50'000'000, 100'000'000, 0.5);
  EXPECT_NE(line.find("uzram write"), std::string::npos) << line;
  EXPECT_NE(line.find("50.0%"), std::string::npos) << line;
  EXPECT_NE(line.find("100.0 MB/s"), std::string::npos) << line;
}

TEST(ProgressTest, ZeroTotalOrZeroTimeDoesNotDivideByZero) {
  std::string line = Progress::format_line("read", 0, 0, 0.0);
  EXPECT_NE(line.find("100.0%"), std::string::npos) << line;
  EXPECT_NE(line.find("0.0 MB/s"), std::string::npos) << line;
}

TEST(ProgressTest, DisabledProgressWritesNothing) {
  Progress progress(false);
  testing::internal::CaptureStderr();
  progress.begin("write", 1000);
  progress.add(500);
  progress.tick();
  progress.end();
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(ProgressTest, EnabledProgressDrawsOnFirstTickAndErasesAtEnd) {
  Progress progress(true);
  testing::internal::CaptureStderr();
  progress.begin("write", 1000);
  progress.add(250);
  progress.tick();
  std::string drawn = testing::internal::GetCapturedStderr();
  EXPECT_EQ(drawn.front(), '\r');
  EXPECT_NE(drawn.find("25.0%"), std::string::npos) << drawn;
  testing::internal::CaptureStderr();
  progress.end();
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "\r\033[K");
}

TEST(ProgressTest, EndWithoutADrawWritesNothing) {
  Progress progress(true);
  testing::internal::CaptureStderr();
  progress.begin("write", 1000);
  progress.end();
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace uzram::cli
