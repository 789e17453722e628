// File: src/nbd/net.h
//
// The operating-system wall of the nbd layer: the only code that calls
// socket, bind, listen, accept, connect, recv, send, poll, shutdown, pipe and
// mmap. Everything else in src/nbd/ works on Fds, byte spans and Status.
// Errors keep their errno (Status::from_errno) so that callers can tell a
// peer that hung up from a real failure.
//
// Thread safety: free functions are thread-safe. A SocketReader belongs to one
// thread. A Waker may be woken from any thread and signals handlers.
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/fd.h"
#include "base/mapping.h"
#include "uzram/status.h"

namespace uzram::nbd::net {

// A listening socket and how clients reach it.
struct Listener {
  Fd fd;
  std::string endpoint;   // "unix:/run/x.sock", "127.0.0.1:10809", "[::1]:10809"
  std::string uri;        // "nbd+unix:///?socket=/run/x.sock", "nbd://127.0.0.1:10809/"
  std::string unix_path;  // the socket file to remove on close; empty for TCP
  uint16_t port = 0;      // the bound TCP port (useful after asking for port 0)
};

// A Unix stream socket at `path`. A stale socket file there is replaced;
// any other file is left alone and is an error.
Result<Listener> listen_unix(std::string_view path);
// A TCP socket on a numeric IPv4 or IPv6 address; port 0 picks a free port.
Result<Listener> listen_tcp(std::string_view address, uint16_t port);
// Removes the socket file of a Unix listener (no-op for TCP).
void remove_socket_file(const Listener& listener) noexcept;

// Accepts one connection (blocking). TCP connections get TCP_NODELAY: a
// reply header must not wait for Nagle.
Result<Fd> accept_connection(const Fd& listener);

// Client side, for tests and tools.
Result<Fd> connect_unix(std::string_view path);
Result<Fd> connect_tcp(std::string_view address, uint16_t port);

// Splits "ADDR:PORT" ("127.0.0.1:9100", "[::1]:9100"); the address must be
// numeric, the port 0..65535.
Status split_host_port(std::string_view text, std::string* address, uint16_t* port);

// Socket options; failures are reported but callers may ignore them.
Status set_timeouts(int fd, std::chrono::milliseconds receive, std::chrono::milliseconds send) noexcept;
Status set_send_buffer(int fd, int bytes) noexcept;

void shutdown_read(int fd) noexcept;
void shutdown_both(int fd) noexcept;

// Sends every byte of the iovecs (EINTR and partial writes handled;
// no SIGPIPE). `iov` is modified.
Status send_all(int fd, struct iovec* iov, int count) noexcept;
Status send_all(int fd, std::span<const std::byte> data) noexcept;

enum class ReadResult : uint8_t { kOk, kEof, kError };

// Buffered reads from a stream socket: small messages (request headers,
// handshake options) come from one recv of up to kBufferSize bytes, large
// payloads are read straight into the caller's buffer.
class SocketReader {
 public:
  static constexpr size_t kBufferSize = 64 << 10;

  explicit SocketReader(int fd);
  // Bytes received and not yet consumed.
  std::span<const std::byte> buffered() const noexcept { return {buf_.get() + begin_, end_ - begin_}; }
  void consume(size_t n) noexcept { begin_ += n; }
  // Receives more when nothing is buffered. kEof when the peer closed.
  ReadResult fill() noexcept;
  // Fills `out` completely; kEof when the peer closed first.
  ReadResult read_exact(std::span<std::byte> out) noexcept;
  // Reads and drops n bytes.
  ReadResult skip(uint64_t n) noexcept;
  int last_errno() const noexcept { return errno_; }

 private:
  ReadResult recv_into(std::byte* p, size_t n, size_t* got) noexcept;
  int fd_;
  std::unique_ptr<std::byte[]> buf_;
  size_t begin_ = 0, end_ = 0;
  int errno_ = 0;
};

// Wakes a thread blocked in wait_readable(); a self-pipe, so that wake() is
// async-signal-safe.
class Waker {
 public:
  static Result<Waker> create();
  void wake() const noexcept;
  int fd() const noexcept { return read_.get(); }

 private:
  Fd read_, write_;
};

enum class WaitResult : uint8_t { kReadable, kWoken, kTimeout, kError };
// Waits until `fd` is readable or the waker fires; timeout < 0 waits forever.
WaitResult wait_readable(int fd, const Waker& waker, std::chrono::milliseconds timeout) noexcept;

// Anonymous read-write memory for request buffers, returned to the system
// (not to malloc's free lists) when the Mapping goes.
Result<Mapping> map_buffer(size_t bytes) noexcept;

}  // namespace uzram::nbd::net
