// The real BackingDevice: a regular file or a block device. The only file of
// the store that makes I/O system calls. See backing_file.h.
#include "store/backing_file.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "base/fd.h"

namespace uzram::store {
namespace {

// pwritev takes at most IOV_MAX (1024) vectors; writeback batches are 32
// pages, so one call usually carries a whole run.
constexpr int kMaxIov = 64;

// A path that cannot be used: kInvalidArgument, keeping the errno.
Status unusable(const std::string& path, int err, std::string_view why) {
  Status os = Status::from_errno(err, why);
  return Status(Status::Code::kInvalidArgument, err, "backing file " + path + ": " + std::string(os.message()));
}

class BackingFile final : public BackingDevice {
 public:
  BackingFile(Fd fd, std::string path, uint64_t blocks, bool regular) noexcept
      : fd_(std::move(fd)), path_(std::move(path)), blocks_(blocks), regular_(regular) {}

  uint64_t blocks() const noexcept override { return blocks_; }
  const std::string& path() const noexcept override { return path_; }

  Status pread(uint64_t block, std::span<std::byte> out) noexcept override {
    const off_t base = static_cast<off_t>(block * kPageSize);
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done, base + static_cast<off_t>(done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::from_errno(errno, "read of block " + std::to_string(block) + " of " + path_);
      }
      if (n == 0) return Status::io_error("short read of block " + std::to_string(block) + " of " + path_, EIO);
      done += static_cast<size_t>(n);
    }
    return Status::ok();
  }

  Status pwritev(uint64_t first, std::span<const std::span<const std::byte>> pages) noexcept override {
    off_t off = static_cast<off_t>(first * kPageSize);
    size_t i = 0;     // first page not completely written
    size_t skip = 0;  // bytes of pages[i] already written
    while (i < pages.size()) {
      iovec iov[kMaxIov];
      int count = 0;
      for (size_t j = i; j < pages.size() && count < kMaxIov; ++j, ++count) {
        const size_t from = j == i ? skip : 0;
        iov[count].iov_base = const_cast<std::byte*>(pages[j].data() + from);
        iov[count].iov_len = pages[j].size() - from;
      }
      const ssize_t n = ::pwritev(fd_.get(), iov, count, off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::from_errno(errno, "write at block " + std::to_string(off / kPageSize) + " of " + path_);
      }
      if (n == 0) return Status::io_error("write at block " + std::to_string(off / kPageSize) + " of " + path_ + " made no progress", EIO);
      off += n;
      // A short write (the file system filling up) continues where it
      // stopped; the next call reports the errno that stopped it.
      size_t left = static_cast<size_t>(n);
      while (left > 0) {
        const size_t rest = pages[i].size() - skip;
        if (left >= rest) {
          left -= rest;
          ++i;
          skip = 0;
        } else {
          skip += left;
          left = 0;
        }
      }
    }
    return Status::ok();
  }

  Status punch(uint64_t block) noexcept override {
    if (!regular_) return Status::ok();
    const off_t off = static_cast<off_t>(block * kPageSize);
    if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, kPageSize) != 0) {
      return Status::from_errno(errno, "punching block " + std::to_string(block) + " of " + path_);
    }
    return Status::ok();
  }

 private:
  Fd fd_;
  const std::string path_;
  const uint64_t blocks_;
  const bool regular_;  // punch holes on discard
};

}  // namespace

Result<std::unique_ptr<BackingDevice>> open_backing_file(std::string_view path_view) noexcept {
  if (path_view.empty()) return Status::invalid_argument("backing file: empty path");
  std::string path(path_view);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return unusable(path, errno, "stat");
  const bool regular = S_ISREG(st.st_mode);
  if (!regular && !S_ISBLK(st.st_mode)) {
    return Status::invalid_argument("backing file " + path + ": not a regular file or a block device");
  }
  // O_EXCL on a block device fails with EBUSY when it is mounted or in use.
  int flags = O_RDWR | O_CLOEXEC | (regular ? 0 : O_EXCL);
  Fd fd(::open(path.c_str(), flags | O_DIRECT));
  if (!fd && errno == EINVAL) fd = Fd(::open(path.c_str(), flags));  // no direct I/O on this file system
  if (!fd) return unusable(path, errno, "open");
  if (::fstat(fd.get(), &st) != 0) return unusable(path, errno, "fstat");
  if (S_ISREG(st.st_mode) != regular) return Status::invalid_argument("backing file " + path + ": changed while opening it");

  uint64_t bytes = 0;
  if (regular) {
    bytes = static_cast<uint64_t>(st.st_size);
  } else if (::ioctl(fd.get(), BLKGETSIZE64, &bytes) != 0) {
    return unusable(path, errno, "BLKGETSIZE64");
  }
  const uint64_t blocks = bytes / kPageSize;
  if (blocks == 0) {
    return Status::invalid_argument("backing file " + path + " is " + std::to_string(bytes) +
                                    " bytes, smaller than one 4 KiB block (size it first, e.g. truncate -s 1G " + path + ")");
  }
  return std::unique_ptr<BackingDevice>(new BackingFile(std::move(fd), std::move(path), blocks, regular));
}

}  // namespace uzram::store
