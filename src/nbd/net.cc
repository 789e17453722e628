// The nbd layer's sockets and memory. See net.h.
#include "nbd/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace uzram::nbd::net {
namespace {

// Either address family, filled from a numeric string.
struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
};

Status parse_numeric(std::string_view address, uint16_t port, SockAddr* out) {
  std::string a(address);
  if (a.size() >= 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out->ss);
  if (inet_pton(AF_INET, a.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out->len = sizeof(sockaddr_in);
    return Status::ok();
  }
  if (inet_pton(AF_INET6, a.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out->len = sizeof(sockaddr_in6);
    return Status::ok();
  }
  return Status::invalid_argument("not a numeric IPv4 or IPv6 address: '" + a + "'");
}

Status unix_address(std::string_view path, sockaddr_un* sun) {
  *sun = sockaddr_un{};
  sun->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(sun->sun_path)) {
    return Status::invalid_argument("unix socket path must be 1 to " +
                                    std::to_string(sizeof(sun->sun_path) - 1) + " bytes");
  }
  std::memcpy(sun->sun_path, path.data(), path.size());
  return Status::ok();
}

std::string format_host(const sockaddr_storage& ss, uint16_t* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    *port = ntohs(v6->sin6_port);
    return std::string("[") + text + "]";
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
  *port = ntohs(v4->sin_port);
  return text;
}

}  // namespace

Result<Listener> listen_unix(std::string_view path) {
  sockaddr_un sun;
  UZRAM_RETURN_IF_ERROR(unix_address(path, &sun));
  struct stat st;
  if (::lstat(sun.sun_path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::invalid_argument(std::string(path) + " exists and is not a socket");
    }
    // A socket file outlives a server that was killed; a live server would
    // accept a connection, so only replace one that refuses.
    Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0) {
      return Status::busy(std::string(path) + " is in use by a running server");
    }
    ::unlink(sun.sun_path);
  }
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::from_errno(errno, "socket(AF_UNIX)");
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    return Status::from_errno(errno, "bind " + std::string(path));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) return Status::from_errno(errno, "listen");
  Listener l;
  l.fd = std::move(fd);
  l.unix_path = std::string(path);
  l.endpoint = "unix:" + l.unix_path;
  l.uri = "nbd+unix:///?socket=" + l.unix_path;
  return l;
}

Result<Listener> listen_tcp(std::string_view address, uint16_t port) {
  SockAddr sa;
  UZRAM_RETURN_IF_ERROR(parse_numeric(address, port, &sa));
  Fd fd(::socket(sa.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::from_errno(errno, "socket");
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa.ss), sa.len) != 0) {
    return Status::from_errno(errno, "bind " + std::string(address) + ":" + std::to_string(port));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) return Status::from_errno(errno, "listen");
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return Status::from_errno(errno, "getsockname");
  }
  Listener l;
  l.fd = std::move(fd);
  const std::string host = format_host(bound, &l.port);
  l.endpoint = host + ":" + std::to_string(l.port);
  l.uri = "nbd://" + l.endpoint + "/";
  return l;
}

void remove_socket_file(const Listener& listener) noexcept {
  if (!listener.unix_path.empty()) ::unlink(listener.unix_path.c_str());
}

Result<Fd> accept_connection(const Fd& listener) {
  for (;;) {
    Fd fd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (fd) {
      const int one = 1;
      // Fails harmlessly (EOPNOTSUPP) on a Unix socket.
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    return Status::from_errno(errno, "accept");
  }
}

Result<Fd> connect_unix(std::string_view path) {
  sockaddr_un sun;
  UZRAM_RETURN_IF_ERROR(unix_address(path, &sun));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::from_errno(errno, "socket(AF_UNIX)");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    return Status::from_errno(errno, "connect " + std::string(path));
  }
  return fd;
}

Result<Fd> connect_tcp(std::string_view address, uint16_t port) {
  SockAddr sa;
  UZRAM_RETURN_IF_ERROR(parse_numeric(address, port, &sa));
  Fd fd(::socket(sa.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::from_errno(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa.ss), sa.len) != 0) {
    return Status::from_errno(errno, "connect");
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

Status split_host_port(std::string_view text, std::string* address, uint16_t* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::invalid_argument("expected ADDR:PORT, got '" + std::string(text) + "'");
  }
  std::string_view host = text.substr(0, colon);
  std::string_view digits = text.substr(colon + 1);
  // An IPv6 address has colons of its own, so it must be bracketed.
  if (host.find(':') != std::string_view::npos && !(host.front() == '[' && host.back() == ']')) {
    return Status::invalid_argument("write an IPv6 address in brackets: [::1]:9100");
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size() || value > 65535) {
    return Status::invalid_argument("bad port '" + std::string(digits) + "'");
  }
  SockAddr check;
  UZRAM_RETURN_IF_ERROR(parse_numeric(host, static_cast<uint16_t>(value), &check));
  *address = std::string(host);
  *port = static_cast<uint16_t>(value);
  return Status::ok();
}

Status set_timeouts(int fd, std::chrono::milliseconds receive, std::chrono::milliseconds send) noexcept {
  auto tv = [](std::chrono::milliseconds ms) {
    timeval t{};
    t.tv_sec = static_cast<time_t>(ms.count() / 1000);
    t.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return t;
  };
  const timeval r = tv(receive), s = tv(send);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof r) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &s, sizeof s) != 0) {
    return Status::from_errno(errno, "setsockopt(SO_RCVTIMEO/SO_SNDTIMEO)");
  }
  return Status::ok();
}

Status set_send_buffer(int fd, int bytes) noexcept {
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) != 0) {
    return Status::from_errno(errno, "setsockopt(SO_SNDBUF)");
  }
  return Status::ok();
}

void shutdown_read(int fd) noexcept { ::shutdown(fd, SHUT_RD); }
void shutdown_both(int fd) noexcept { ::shutdown(fd, SHUT_RDWR); }

Status send_all(int fd, struct iovec* iov, int count) noexcept {
  while (count > 0) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(errno, "send");
    }
    size_t left = static_cast<size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return Status::ok();
}

Status send_all(int fd, std::span<const std::byte> data) noexcept {
  iovec iov{const_cast<std::byte*>(data.data()), data.size()};
  return send_all(fd, &iov, 1);
}

SocketReader::SocketReader(int fd) : fd_(fd), buf_(new std::byte[kBufferSize]) {}

ReadResult SocketReader::recv_into(std::byte* p, size_t n, size_t* got) noexcept {
  for (;;) {
    const ssize_t r = ::recv(fd_, p, n, 0);
    if (r > 0) {
      *got = static_cast<size_t>(r);
      return ReadResult::kOk;
    }
    if (r == 0) return ReadResult::kEof;
    if (errno == EINTR) continue;
    errno_ = errno;
    return ReadResult::kError;
  }
}

ReadResult SocketReader::fill() noexcept {
  if (begin_ != end_) return ReadResult::kOk;
  begin_ = end_ = 0;
  size_t got = 0;
  const ReadResult r = recv_into(buf_.get(), kBufferSize, &got);
  if (r == ReadResult::kOk) end_ = got;
  return r;
}

ReadResult SocketReader::read_exact(std::span<std::byte> out) noexcept {
  size_t done = 0;
  while (done < out.size()) {
    if (begin_ != end_) {
      const size_t n = std::min(out.size() - done, end_ - begin_);
      std::memcpy(out.data() + done, buf_.get() + begin_, n);
      begin_ += n;
      done += n;
      continue;
    }
    const size_t want = out.size() - done;
    if (want >= kBufferSize / 2) {
      // Large payloads skip the staging buffer: one copy fewer.
      size_t got = 0;
      const ReadResult r = recv_into(out.data() + done, want, &got);
      if (r != ReadResult::kOk) return r;
      done += got;
      continue;
    }
    const ReadResult r = fill();
    if (r != ReadResult::kOk) return r;
  }
  return ReadResult::kOk;
}

ReadResult SocketReader::skip(uint64_t n) noexcept {
  while (n > 0) {
    const ReadResult r = fill();
    if (r != ReadResult::kOk) return r;
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, end_ - begin_));
    begin_ += k;
    n -= k;
  }
  return ReadResult::kOk;
}

Result<Waker> Waker::create() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return Status::from_errno(errno, "pipe2");
  Waker w;
  w.read_.reset(fds[0]);
  w.write_.reset(fds[1]);
  return w;
}

void Waker::wake() const noexcept {
  const char c = 1;
  // A full pipe already wakes the reader; nothing else can go wrong here.
  [[maybe_unused]] ssize_t n = ::write(write_.get(), &c, 1);
}

WaitResult wait_readable(int fd, const Waker& waker, std::chrono::milliseconds timeout) noexcept {
  pollfd p[2] = {{waker.fd(), POLLIN, 0}, {fd, POLLIN, 0}};
  for (;;) {
    const int n = ::poll(p, 2, timeout.count() < 0 ? -1 : static_cast<int>(timeout.count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return WaitResult::kError;
    }
    if (n == 0) return WaitResult::kTimeout;
    if (p[0].revents != 0) return WaitResult::kWoken;
    return WaitResult::kReadable;
  }
}

Result<Mapping> map_buffer(size_t bytes) noexcept {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Status::from_errno(errno, "mmap request buffer");
  return Mapping(p, bytes);
}

}  // namespace uzram::nbd::net
