// Uffd and os::: the system calls of swap/. See uffd.h. This is the only file
// of src/swap that calls ioctl, mmap, madvise or munmap.
#include "swap/uffd.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "uzram/page.h"

// Debian 12's kernel headers are 6.1: UFFDIO_MOVE and its feature bit came
// with 6.8. The values are fixed in the kernel ABI.
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#define _UFFDIO_MOVE (0x05)
struct uffdio_move {
  __u64 dst;
  __u64 src;
  __u64 len;
  __u64 mode;
  __s64 move;  // written by the kernel: bytes moved, or -errno
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC 0xAA
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00)
#endif

namespace uzram::swap {
namespace {

// The one place where an errno of this layer becomes a Status.
Status errno_status(int err, const char* what) { return Status::from_errno(err, what); }

UffdResult classify(int err) noexcept {
  switch (err) {
    case 0: return UffdResult::kDone;
    case EEXIST: return UffdResult::kExists;
    case EAGAIN: return UffdResult::kRetry;
    case ENOENT:
    case EINVAL:
    case EFAULT:
    case ESRCH:  // the mm is gone (process exiting)
      return UffdResult::kGone;
    case EBUSY: return UffdResult::kBusy;
    default: return UffdResult::kError;
  }
}

// The kernel reports partial progress in the struct's last field: bytes
// done, or -errno when nothing was done.
UffdProgress progress(int rc, int64_t field) noexcept {
  UffdProgress p;
  if (rc == 0) {
    p.bytes = static_cast<uint64_t>(field);
    return p;
  }
  p.err = errno;
  p.bytes = field > 0 ? static_cast<uint64_t>(field) : 0;
  p.result = classify(p.err);
  return p;
}

// Bytes of the pages at the start of [dst, dst + len) that are mapped at
// dst and not at src: what a UFFDIO_MOVE from src moved. By
// os::resident_pages (mincore, which counts a migration entry as mapped); a
// failing call ends the count.
uint64_t moved_prefix(uintptr_t dst, uintptr_t src, size_t len) noexcept {
  constexpr size_t kProbe = 256;  // pages a call
  unsigned char at_dst[kProbe];
  unsigned char at_src[kProbe];
  uint64_t bytes = 0;
  while (bytes < len) {
    const size_t pages = std::min<size_t>(kProbe, (len - bytes) / kPageSize);
    if (pages == 0 || !os::resident_pages(reinterpret_cast<void*>(dst + bytes), pages * kPageSize, at_dst).is_ok() ||
        !os::resident_pages(reinterpret_cast<void*>(src + bytes), pages * kPageSize, at_src).is_ok()) {
      break;
    }
    for (size_t i = 0; i < pages; ++i) {
      if ((at_dst[i] & 1) == 0 || (at_src[i] & 1) != 0) return bytes;
      bytes += kPageSize;
    }
  }
  return bytes;
}

Result<Fd> new_uffd_fd() {
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd >= 0) return Fd(fd);
  int sys_err = errno;
  // Linux 6.1+: /dev/userfaultfd hands out descriptors to whoever may open it,
  // whatever vm.unprivileged_userfaultfd says.
  int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev >= 0) {
    Fd dev_fd(dev);
    fd = ::ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) return Fd(fd);
  }
  return Status(Status::Code::kUnsupported, sys_err,
                std::string("userfaultfd: ") + std::strerror(sys_err) +
                    " (as non-root: sysctl vm.unprivileged_userfaultfd=1, or read/write access to "
                    "/dev/userfaultfd)");
}

UffdFeatures decode(uint64_t raw) noexcept {
  UffdFeatures f;
  f.raw = raw;
  f.move = (raw & UFFD_FEATURE_MOVE) != 0;
  f.write_protect = (raw & UFFD_FEATURE_PAGEFAULT_FLAG_WP) != 0;
  f.event_remove = (raw & UFFD_FEATURE_EVENT_REMOVE) != 0;
  f.event_unmap = (raw & UFFD_FEATURE_EVENT_UNMAP) != 0;
  f.event_remap = (raw & UFFD_FEATURE_EVENT_REMAP) != 0;
  f.sigbus = (raw & UFFD_FEATURE_SIGBUS) != 0;
  return f;
}

}  // namespace

std::string UffdFeatures::to_string() const {
  std::string s;
  auto add = [&s](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ',';
    s += name;
  };
  add(move, "move");
  add(write_protect, "wp");
  add(event_remove, "remove");
  add(event_unmap, "unmap");
  add(event_remap, "remap");
  add(sigbus, "sigbus");
  return s;
}

Result<UffdFeatures> Uffd::probe() {
  Result<Fd> fd = new_uffd_fd();
  if (!fd) return fd.status();
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = 0;  // 0 asks for nothing and reports everything offered
  if (::ioctl(fd->get(), UFFDIO_API, &api) != 0) return errno_status(errno, "UFFDIO_API");
  return decode(api.features);
}

Result<Uffd> Uffd::open(const UffdRequest& request) {
  // UFFDIO_API may be called once per descriptor, so the offered features
  // come from a scratch descriptor.
  Result<UffdFeatures> offered = probe();
  if (!offered) return offered.status();
  uint64_t want = 0;
  if (request.events) want |= UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMAP;
  if (request.move) want |= UFFD_FEATURE_MOVE;
  if (request.write_protect) want |= UFFD_FEATURE_PAGEFAULT_FLAG_WP;
  if (request.sigbus) want |= UFFD_FEATURE_SIGBUS;
  want &= offered->raw;

  Result<Fd> fd = new_uffd_fd();
  if (!fd) return fd.status();
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = want;
  if (::ioctl(fd->get(), UFFDIO_API, &api) != 0) return errno_status(errno, "UFFDIO_API");
  UffdFeatures enabled = decode(want);
  enabled.raw = want;
  return Uffd(std::move(*fd), enabled);
}

Status Uffd::register_range(void* addr, size_t len, uint32_t modes) noexcept {
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uint64_t>(addr);
  reg.range.len = len;
  if (modes & kMissing) reg.mode |= UFFDIO_REGISTER_MODE_MISSING;
  if (modes & kWriteProtect) reg.mode |= UFFDIO_REGISTER_MODE_WP;
  if (::ioctl(fd_.get(), UFFDIO_REGISTER, &reg) != 0) return errno_status(errno, "UFFDIO_REGISTER");
  return Status::ok();
}

Status Uffd::unregister_range(void* addr, size_t len) noexcept {
  uffdio_range range{reinterpret_cast<uint64_t>(addr), len};
  if (::ioctl(fd_.get(), UFFDIO_UNREGISTER, &range) != 0) return errno_status(errno, "UFFDIO_UNREGISTER");
  return Status::ok();
}

// The kernel stops a COPY or MOVE part way with EAGAIN and the bytes done
// so far, whatever stopped it (a page already there, mmap_changing, a
// signal); the next call from there reports the real cause. So both loop
// until a call makes no progress, and return the bytes done in all and the
// cause that call gave.
UffdProgress Uffd::copy(uintptr_t dst, const void* src, size_t len, bool dont_wake,
                        bool write_protect) noexcept {
  UffdProgress total;
  for (;;) {
    uffdio_copy c{};
    c.dst = dst + total.bytes;
    c.src = reinterpret_cast<uint64_t>(src) + total.bytes;
    c.len = len - total.bytes;
    c.mode = (dont_wake ? UFFDIO_COPY_MODE_DONTWAKE : 0) | (write_protect ? UFFDIO_COPY_MODE_WP : 0);
    int rc = ::ioctl(fd_.get(), UFFDIO_COPY, &c);
    UffdProgress p = progress(rc, c.copy);
    total.bytes += p.bytes;
    if (p.done() || p.bytes == 0 || total.bytes >= len) {
      total.result = total.bytes >= len ? UffdResult::kDone : p.result;
      total.err = total.bytes >= len ? 0 : p.err;
      return total;
    }
  }
}

UffdProgress Uffd::move(uintptr_t dst, uintptr_t src, size_t len, bool dont_wake) noexcept {
  UffdProgress total;
  for (;;) {
    uffdio_move m{};
    m.dst = dst + total.bytes;
    m.src = src + total.bytes;
    m.len = len - total.bytes;
    m.mode = dont_wake ? UFFDIO_MOVE_MODE_DONTWAKE : 0;
    int rc = ::ioctl(fd_.get(), UFFDIO_MOVE, &m);
    UffdProgress p = progress(rc, m.move);
    if (!p.done()) {
      // Linux 6.18 was seen to move pages past the count it reports when a
      // move stops part way while the pages are being migrated (compaction):
      // the next call then fails on our own moved page (EEXIST at dst, ENOENT
      // at src), and a caller trusting the count loses those pages. A page
      // now mapped at dst and gone from src was moved: count those, and go
      // on after them. (A dst page that was there before keeps its src page,
      // so a real EEXIST still stops the move.)
      const uint64_t moved = moved_prefix(m.dst + p.bytes, m.src + p.bytes, m.len - p.bytes);
      if (moved > 0) {
        p.bytes += moved;
        p.result = p.bytes >= m.len ? UffdResult::kDone : UffdResult::kRetry;
        p.err = 0;
      }
    }
    total.bytes += p.bytes;
    if (p.done() || p.bytes == 0 || total.bytes >= len) {
      total.result = total.bytes >= len ? UffdResult::kDone : p.result;
      total.err = total.bytes >= len ? 0 : p.err;
      return total;
    }
  }
}

UffdProgress Uffd::write_protect(uintptr_t addr, size_t len, bool protect, bool dont_wake) noexcept {
  uffdio_writeprotect wp{};
  wp.range.start = addr;
  wp.range.len = len;
  wp.mode = (protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0) | (dont_wake ? UFFDIO_WRITEPROTECT_MODE_DONTWAKE : 0);
  int rc = ::ioctl(fd_.get(), UFFDIO_WRITEPROTECT, &wp);
  // WRITEPROTECT is all or nothing.
  return progress(rc, rc == 0 ? static_cast<int64_t>(len) : 0);
}

Status Uffd::wake(uintptr_t addr, size_t len) noexcept {
  uffdio_range range{addr, len};
  if (::ioctl(fd_.get(), UFFDIO_WAKE, &range) != 0) return errno_status(errno, "UFFDIO_WAKE");
  return Status::ok();
}

Result<size_t> Uffd::read(std::span<UffdMessage> out) noexcept {
  constexpr size_t kMax = 32;
  uffd_msg raw[kMax];
  size_t want = out.size() < kMax ? out.size() : kMax;
  ssize_t n = ::read(fd_.get(), raw, want * sizeof(uffd_msg));
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return size_t{0};
    return errno_status(errno, "read(userfaultfd)");
  }
  size_t count = static_cast<size_t>(n) / sizeof(uffd_msg);
  for (size_t i = 0; i < count; ++i) {
    const uffd_msg& m = raw[i];
    UffdMessage& o = out[i];
    o = UffdMessage{};
    switch (m.event) {
      case UFFD_EVENT_PAGEFAULT:
        o.kind = UffdMessage::Kind::kFault;
        o.address = m.arg.pagefault.address;
        o.write = (m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0;
        o.wp = (m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) != 0;
        break;
      case UFFD_EVENT_REMOVE:
        o.kind = UffdMessage::Kind::kRemove;
        o.address = m.arg.remove.start;
        o.end = m.arg.remove.end;
        break;
      case UFFD_EVENT_UNMAP:
        o.kind = UffdMessage::Kind::kUnmap;
        o.address = m.arg.remove.start;
        o.end = m.arg.remove.end;
        break;
      case UFFD_EVENT_REMAP:
        o.kind = UffdMessage::Kind::kRemap;
        o.from = m.arg.remap.from;
        o.to = m.arg.remap.to;
        o.len = m.arg.remap.len;
        break;
      default:
        o.kind = UffdMessage::Kind::kOther;
    }
  }
  return count;
}

bool wait_readable(int fd, int wake_fd, int timeout_ms) noexcept {
  pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  int rc = ::poll(fds, 2, timeout_ms);
  return rc > 0 && (fds[1].revents & POLLIN) != 0;
}

namespace os {

namespace {
Result<void*> map_raw(size_t bytes, bool dont_fork) noexcept {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return errno_status(errno, "mmap");
  // Without NOHUGEPAGE a fault could get a 2 MiB page that UFFDIO_MOVE must
  // split and khugepaged could merge pages we track one by one.
  int err = 0;
  if (::madvise(p, bytes, MADV_NOHUGEPAGE) != 0 || (dont_fork && ::madvise(p, bytes, MADV_DONTFORK) != 0)) {
    err = errno;
    ::munmap(p, bytes);
    return errno_status(err, "madvise");
  }
  return p;
}
}  // namespace

Result<Mapping> map_anonymous(size_t bytes, bool dont_fork) noexcept {
  Result<void*> p = map_raw(bytes, dont_fork);
  if (!p) return p.status();
  return Mapping(*p, bytes);
}

Result<void*> map_region(size_t bytes) noexcept { return map_raw(bytes, true); }

Status release(void* addr, size_t len) noexcept {
  if (::madvise(addr, len, MADV_DONTNEED) != 0) return errno_status(errno, "madvise(MADV_DONTNEED)");
  return Status::ok();
}

Status unmap(void* addr, size_t len) noexcept {
  if (::munmap(addr, len) != 0) return errno_status(errno, "munmap");
  return Status::ok();
}

Result<size_t> read_own(std::span<const iovec> local, std::span<const iovec> remote) noexcept {
  ssize_t n = ::process_vm_readv(::getpid(), local.data(), local.size(), remote.data(), remote.size(), 0);
  if (n < 0) return errno_status(errno, "process_vm_readv");
  return static_cast<size_t>(n);
}

Result<Mapping> map_zeros(size_t bytes) noexcept {
  void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return errno_status(errno, "mmap");
  return Mapping(p, bytes);
}

Result<std::vector<std::pair<uintptr_t, uintptr_t>>> mappings() noexcept {
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
  int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status(errno, "/proc/self/maps");
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  // Each line starts "start-end " in hex.
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    char* end = nullptr;
    unsigned long long lo = std::strtoull(text.c_str() + pos, &end, 16);
    if (end != nullptr && *end == '-') {
      unsigned long long hi = std::strtoull(end + 1, nullptr, 16);
      out.emplace_back(static_cast<uintptr_t>(lo), static_cast<uintptr_t>(hi));
    }
    pos = eol + 1;
  }
  return out;
}

Status resident_pages(void* addr, size_t len, unsigned char* out) noexcept {
  if (::mincore(addr, len, out) != 0) return errno_status(errno, "mincore");
  return Status::ok();
}

Result<Fd> make_eventfd() noexcept {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return errno_status(errno, "eventfd");
  return Fd(fd);
}

void signal_eventfd(int fd) noexcept {
  uint64_t one = 1;
  ssize_t n = ::write(fd, &one, sizeof one);
  (void)n;  // a full counter still wakes the poller
}

}  // namespace os
}  // namespace uzram::swap
