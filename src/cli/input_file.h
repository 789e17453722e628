// File: src/cli/input_file.h
//
// InputFile: a file mapped read-only (MAP_PRIVATE) as a run of 4 KiB pages,
// the input of `uzram bench`.
//
// A trailing partial page is zero-padded, not dropped: the mapping covers the
// last page whole, and the kernel reads the bytes past the end of the file as
// zeros. So pages() == ceil(file_bytes / 4096), every page is a full PageView,
// and padding_bytes() says how many zeros were added (0 for a page-aligned
// file). The mapping is populated at open (MAP_POPULATE plus one read of every
// page) so that no page fault of the input lands inside a timed phase: a fault
// costs 10-20 us a page on this kind of machine, more than compressing it.
// The pages sit in the page cache, so they count in RssFile, not RssAnon.
//
// Thread safety: immutable after open(); any thread may read any page. The
// caller must not truncate the file while it is mapped (a page past the new
// end would fault with SIGBUS).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "base/mapping.h"
#include "uzram/page.h"
#include "uzram/status.h"

namespace uzram::cli {

class InputFile {
 public:
  // kNotFound for a missing file, kInvalidArgument for an empty file or one
  // that is not a regular file, the errno's code for other failures; the
  // message names the path.
  static Result<InputFile> open(std::string_view path);

  InputFile(InputFile&&) noexcept = default;
  InputFile& operator=(InputFile&&) noexcept = default;

  const std::string& path() const noexcept { return path_; }
  uint64_t file_bytes() const noexcept { return file_bytes_; }
  uint64_t pages() const noexcept { return mapping_.size() / kPageSize; }
  uint64_t bytes() const noexcept { return mapping_.size(); }     // pages() * 4096
  uint64_t padding_bytes() const noexcept { return bytes() - file_bytes_; }

  // Page-aligned; REQUIRES: index < pages().
  const std::byte* data(uint64_t index = 0) const noexcept { return mapping_.data() + index * kPageSize; }
  PageView page(uint64_t index) const noexcept { return PageView(data(index), kPageSize); }

 private:
  InputFile(std::string path, uint64_t file_bytes, Mapping mapping) noexcept
      : path_(std::move(path)), file_bytes_(file_bytes), mapping_(std::move(mapping)) {}

  std::string path_;
  uint64_t file_bytes_ = 0;
  Mapping mapping_;
};

}  // namespace uzram::cli
