// InputFile: the OS side of the bench input (open, fstat, mmap). See input_file.h.
#include "cli/input_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <utility>

#include "base/fd.h"

namespace uzram::cli {

Result<InputFile> InputFile::open(std::string_view path_view) {
  std::string path(path_view);
  if (path.empty()) return Status::invalid_argument("no input file given");
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::from_errno(errno, path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::from_errno(errno, path);
  if (!S_ISREG(st.st_mode)) return Status::invalid_argument(path + ": not a regular file");
  if (st.st_size <= 0) return Status::invalid_argument(path + ": file is empty");

  const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
  const uint64_t mapped = (file_bytes + kPageSize - 1) / kPageSize * kPageSize;
  void* addr = ::mmap(nullptr, mapped, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.get(), 0);
  if (addr == MAP_FAILED) return Status::from_errno(errno, path + ": mmap");
  Mapping mapping(addr, mapped);
  // MAP_POPULATE is best effort (it says nothing when it stops early); one
  // read a page makes sure every page is in the page cache and mapped.
  volatile const unsigned char* bytes = static_cast<const unsigned char*>(addr);
  unsigned sum = 0;
  for (uint64_t off = 0; off < mapped; off += kPageSize) sum += bytes[off];
  (void)sum;
  return InputFile(std::move(path), file_bytes, std::move(mapping));
}

}  // namespace uzram::cli
