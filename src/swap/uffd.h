// File: src/swap/uffd.h
//
// Uffd: one userfaultfd descriptor and the ioctls swap/ makes on it, and os::,
// the few other system calls of the layer (mmap, madvise, munmap,
// process_vm_readv). uffd.cc is the only file of src/swap that calls ioctl,
// mmap, madvise or munmap (mimalloc's prim.h, leveldb's Env).
//
// Glossary
//   missing fault   an access to a page of a registered range that has no page
//                   table entry; the thread sleeps until we install a page
//                   (COPY, ZEROPAGE, MOVE) or wake it.
//   wp fault        a write to a page we write-protected (WRITEPROTECT).
//   event           a change the program made to a registered range:
//                   REMOVE (madvise DONTNEED/REMOVE/FREE), UNMAP (munmap),
//                   REMAP (mremap). The kernel makes the program wait until
//                   the event has been read.
//   mmap_changing   while an event is queued and not yet read, COPY, ZEROPAGE,
//                   MOVE and WRITEPROTECT on that descriptor fail with EAGAIN;
//                   the caller must read the events first, then retry.
//
// Errors: the ioctls that install or move pages can stop part way. They
// return UffdProgress: the bytes done and what stopped them, as a small enum
// (expected outcomes, not errors: EEXIST means a page is already there,
// EAGAIN means read the events and retry); the errno is kept for a Status.
//
// Thread safety: every method may be called from any thread at once (the
// kernel serializes). open() and the destructor from one thread.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/fd.h"
#include "base/mapping.h"
#include "uzram/status.h"

namespace uzram::swap {

// What the running kernel offers (UFFDIO_API), and what a descriptor enabled.
struct UffdFeatures {
  bool move = false;           // UFFDIO_MOVE (Linux 6.8+)
  bool write_protect = false;  // write-protect faults on anonymous memory (5.7+)
  bool event_remove = false;   // UFFD_EVENT_REMOVE (madvise)
  bool event_unmap = false;    // UFFD_EVENT_UNMAP (munmap)
  bool event_remap = false;    // UFFD_EVENT_REMAP (mremap)
  bool sigbus = false;         // faults raise SIGBUS instead of waiting
  uint64_t raw = 0;            // the UFFD_FEATURE_* bits

  // "move,wp,remove,unmap,remap" (the enabled ones).
  std::string to_string() const;
};

// What to ask for when opening a descriptor; features the kernel lacks are
// left out (see Uffd::features()).
struct UffdRequest {
  bool events = false;  // REMOVE, UNMAP and REMAP
  bool move = false;
  bool write_protect = false;
  bool sigbus = false;
};

enum class UffdResult : uint8_t {
  kDone,    // the whole range
  kExists,  // EEXIST: the page at `bytes` is already mapped (COPY, ZEROPAGE, MOVE dst)
  kRetry,   // EAGAIN: mmap_changing; read the events, then retry from `bytes`
  kGone,    // ENOENT / EINVAL from a range no longer mapped, or a MOVE source hole
  kBusy,    // EBUSY: MOVE of a page that is pinned or shared (fork, KSM, O_DIRECT)
  kError,   // anything else; `err` says what
};

struct UffdProgress {
  uint64_t bytes = 0;  // done before stopping, a multiple of the page size
  UffdResult result = UffdResult::kDone;
  int err = 0;         // the errno when result != kDone
  bool done() const noexcept { return result == UffdResult::kDone; }
};

// One decoded uffd_msg.
struct UffdMessage {
  enum class Kind : uint8_t { kFault, kRemove, kUnmap, kRemap, kOther };
  Kind kind = Kind::kOther;
  bool write = false;     // kFault: a write access
  bool wp = false;        // kFault: the page is write-protected (not missing)
  uint64_t address = 0;   // kFault: the address; kRemove/kUnmap: start
  uint64_t end = 0;       // kRemove/kUnmap: end (exclusive)
  uint64_t from = 0;      // kRemap
  uint64_t to = 0;        // kRemap
  uint64_t len = 0;       // kRemap
};

class Uffd {
 public:
  enum Mode : uint32_t { kMissing = 1, kWriteProtect = 2 };

  // Opens a non-blocking, close-on-exec descriptor: the userfaultfd system
  // call, or /dev/userfaultfd when the call is refused
  // (vm.unprivileged_userfaultfd = 0 without CAP_SYS_PTRACE). kUnsupported,
  // saying why, when neither works.
  static Result<Uffd> open(const UffdRequest& request);
  // What the kernel offers, probed on a scratch descriptor.
  static Result<UffdFeatures> probe();

  Uffd() = default;
  Uffd(Uffd&&) noexcept = default;
  Uffd& operator=(Uffd&&) noexcept = default;

  int fd() const noexcept { return fd_.get(); }
  const UffdFeatures& features() const noexcept { return features_; }

  Status register_range(void* addr, size_t len, uint32_t modes) noexcept;
  Status unregister_range(void* addr, size_t len) noexcept;

  // UFFDIO_COPY: copies [src, src + len) into the missing pages at dst and
  // wakes the threads waiting on the copied part (unless dont_wake).
  // write_protect maps them write-protected.
  UffdProgress copy(uintptr_t dst, const void* src, size_t len, bool dont_wake = false,
                    bool write_protect = false) noexcept;
  // UFFDIO_MOVE: moves the pages at src to dst (whose entries must be empty),
  // without copying. Fails at the first hole in src (kGone). When the kernel
  // stops part way, pages it moved past the count it reports (it can
  // under-report, see uffd.cc) are found with mincore and counted.
  UffdProgress move(uintptr_t dst, uintptr_t src, size_t len, bool dont_wake = true) noexcept;
  // UFFDIO_WRITEPROTECT: protect (true) or unprotect (false; then it wakes
  // the waiters unless dont_wake).
  UffdProgress write_protect(uintptr_t addr, size_t len, bool protect, bool dont_wake = false) noexcept;
  // UFFDIO_WAKE: wakes the threads waiting on faults in the range.
  Status wake(uintptr_t addr, size_t len) noexcept;

  // Reads up to out.size() messages without blocking; returns how many (0 when
  // none is queued). A failure other than EAGAIN is a Status.
  Result<size_t> read(std::span<UffdMessage> out) noexcept;

 private:
  Uffd(Fd fd, UffdFeatures features) noexcept : fd_(std::move(fd)), features_(features) {}

  Fd fd_;
  UffdFeatures features_;
};

// Sleeps until `fd` or `wake_fd` is readable, or `timeout_ms` passed (-1:
// no timeout). Returns true when `wake_fd` is readable.
bool wait_readable(int fd, int wake_fd, int timeout_ms) noexcept;

// ---- the other system calls of swap/ -----------------------------------------
namespace os {

// Private anonymous read-write memory, without transparent huge pages
// (MADV_NOHUGEPAGE: install, move and write-protect work page by page) and,
// when dont_fork, left out of a fork() child (MADV_DONTFORK; see swap.md,
// "fork"). MAP_NORESERVE: no memory until touched.
Result<Mapping> map_anonymous(size_t bytes, bool dont_fork) noexcept;
// The same, for a region of the program: the raw address; the region is
// unmapped piece by piece with unmap() (munmap and mremap by the program
// split it, so no single owner object fits).
Result<void*> map_region(size_t bytes) noexcept;
// MADV_DONTNEED on the range: its pages are freed.
Status release(void* addr, size_t len) noexcept;
// munmap of part of a mapping made by map_anonymous (a region the program
// unmaps piece by piece).
Status unmap(void* addr, size_t len) noexcept;
// Copies our own memory with process_vm_readv: an address that is no longer
// mapped gives an error instead of SIGSEGV. Returns the bytes copied.
Result<size_t> read_own(std::span<const iovec> local, std::span<const iovec> remote) noexcept;
// A read-only mapping of zeros (the kernel's zero page behind it).
Result<Mapping> map_zeros(size_t bytes) noexcept;
// The address ranges [start, end) of this process's mappings, from
// /proc/self/maps, in address order (each one VMA).
Result<std::vector<std::pair<uintptr_t, uintptr_t>>> mappings() noexcept;
// mincore(): out[i] bit 0 says whether page i of the range is in memory.
Status resident_pages(void* addr, size_t len, unsigned char* out) noexcept;
// An eventfd, to wake threads asleep in wait_readable(), and its doorbell.
Result<Fd> make_eventfd() noexcept;
void signal_eventfd(int fd) noexcept;

}  // namespace os
}  // namespace uzram::swap
