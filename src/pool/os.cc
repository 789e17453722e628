// Pool OS primitives: mmap and madvise. See os.h. This is the only file of
// src/pool that makes these system calls.
#include "pool/os.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "uzram/page.h"

namespace uzram::pool::os {
namespace {

// Linux 5.14 added MADV_POPULATE_WRITE; the value is fixed in the kernel ABI.
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// Set once when the kernel turns MADV_POPULATE_WRITE down with EINVAL; from
// then on populate() touches pages. Relaxed: a stale read costs one more
// failed madvise, nothing else.
std::atomic<bool> populate_write_unsupported{false};

// Testing only: how many populate() calls are still to fail.
std::atomic<int> populate_failures_to_inject{0};

// The one place where an errno becomes a Status (cf. leveldb's PosixError).
Status errno_status(int err, const char* what, size_t bytes) {
  return Status::from_errno(err, std::string(what) + " of " + std::to_string(bytes) + " bytes");
}

}  // namespace

Result<Mapping> reserve(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    // ENOMEM (address space or vm.overcommit_memory=2) maps to kNoSpace.
    return errno_status(errno, "mmap reserve", bytes);
  }
  // EINVAL here means a kernel built without THP: nothing to switch off.
  (void)::madvise(p, bytes, MADV_NOHUGEPAGE);
  return Mapping(p, bytes);
}

void touch(std::span<std::byte> range) noexcept {
  for (size_t off = 0; off < range.size(); off += kPageSize) {
    // volatile: the store must reach memory so that the page gets faulted in.
    *reinterpret_cast<volatile std::byte*>(range.data() + off) = std::byte{0};
  }
}

Status populate(std::span<std::byte> range) noexcept {
  if (range.empty()) return Status::ok();
  if (populate_failures_to_inject.load(std::memory_order_relaxed) > 0 &&
      populate_failures_to_inject.fetch_sub(1, std::memory_order_relaxed) > 0) {
    return errno_status(ENOMEM, "madvise(MADV_POPULATE_WRITE) (injected)", range.size());
  }
  if (!populate_write_unsupported.load(std::memory_order_relaxed)) {
    for (;;) {
      if (::madvise(range.data(), range.size(), MADV_POPULATE_WRITE) == 0) return Status::ok();
      int err = errno;
      // EINTR: a signal arrived mid-way; EAGAIN: a transient failure the
      // kernel documents as worth retrying. Both leave a partial population
      // that the next call completes.
      if (err == EINTR || err == EAGAIN) continue;
      if (err != EINVAL) return errno_status(err, "madvise(MADV_POPULATE_WRITE)", range.size());
      populate_write_unsupported.store(true, std::memory_order_relaxed);
      break;
    }
  }
  touch(range);
  return Status::ok();
}

Status release(std::span<std::byte> range) noexcept {
  if (range.empty()) return Status::ok();
  if (::madvise(range.data(), range.size(), MADV_DONTNEED) != 0) {
    return errno_status(errno, "madvise(MADV_DONTNEED)", range.size());
  }
  return Status::ok();
}

void fail_next_populates_for_testing(int count) noexcept {
  populate_failures_to_inject.store(count, std::memory_order_relaxed);
}

}  // namespace uzram::pool::os
