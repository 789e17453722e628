// Tests of src/cli/input_file.cc: mapping a bench input as whole pages.
#include "cli/input_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace uzram::cli {
namespace {

class InputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uzram-input-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) ::unlink(f.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string make_file(const std::string& name, const std::vector<char>& bytes) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    files_.push_back(path);
    return path;
  }

  std::string dir_;
  std::vector<std::string> files_;
};

std::vector<char> pattern(size_t n) {
  std::vector<char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<char>('a' + i % 26);
  return v;
}

TEST_F(InputFileTest, PageAlignedFileMapsAsItsPages) {
  std::vector<char> bytes = pattern(2 * kPageSize);
  Result<InputFile> in = InputFile::open(make_file("two", bytes));
  ASSERT_TRUE(in) << in.status().to_string();
  EXPECT_EQ(in->pages(), 2u);
  EXPECT_EQ(in->file_bytes(), 2 * kPageSize);
  EXPECT_EQ(in->padding_bytes(), 0u);
  EXPECT_EQ(std::memcmp(in->data(), bytes.data(), bytes.size()), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(in->data(1)) % kPageSize, 0u);
  EXPECT_EQ(in->page(1).data(), in->data(1));
}

TEST_F(InputFileTest, PartialLastPageIsZeroPadded) {
  std::vector<char> bytes = pattern(kPageSize + 1000);
  Result<InputFile> in = InputFile::open(make_file("partial", bytes));
  ASSERT_TRUE(in) << in.status().to_string();
  EXPECT_EQ(in->pages(), 2u);
  EXPECT_EQ(in->bytes(), 2 * kPageSize);
  EXPECT_EQ(in->padding_bytes(), kPageSize - 1000);
  EXPECT_EQ(std::memcmp(in->data(), bytes.data(), bytes.size()), 0);
  const std::byte* tail = in->data(1) + 1000;
  for (size_t i = 0; i < kPageSize - 1000; ++i) ASSERT_EQ(tail[i], std::byte{0}) << "offset " << i;
}

TEST_F(InputFileTest, FileSmallerThanAPageIsOnePage) {
  Result<InputFile> in = InputFile::open(make_file("tiny", pattern(10)));
  ASSERT_TRUE(in) << in.status().to_string();
  EXPECT_EQ(in->pages(), 1u);
  EXPECT_EQ(in->padding_bytes(), kPageSize - 10);
}

TEST_F(InputFileTest, EmptyFileIsInvalidArgument) {
  std::string path = make_file("empty", {});
  Result<InputFile> in = InputFile::open(path);
  ASSERT_FALSE(in);
  EXPECT_EQ(in.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(in.status().message().find(path), std::string_view::npos);
  EXPECT_NE(in.status().message().find("empty"), std::string_view::npos);
}

TEST_F(InputFileTest, MissingFileIsNotFoundAndNamesThePath) {
  std::string path = dir_ + "/no-such-file";
  Result<InputFile> in = InputFile::open(path);
  ASSERT_FALSE(in);
  EXPECT_EQ(in.status().code(), Status::Code::kNotFound);
  EXPECT_NE(in.status().message().find(path), std::string_view::npos);
}

TEST_F(InputFileTest, DirectoryIsInvalidArgument) {
  Result<InputFile> in = InputFile::open(dir_);
  ASSERT_FALSE(in);
  EXPECT_EQ(in.status().code(), Status::Code::kInvalidArgument);
}

TEST_F(InputFileTest, EmptyPathIsInvalidArgument) {
  Result<InputFile> in = InputFile::open("");
  ASSERT_FALSE(in);
  EXPECT_EQ(in.status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace uzram::cli
