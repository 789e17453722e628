// File: src/nbd/connection.h
//
// Connection: one NBD client. Three kinds of thread work for it:
//   - its reader thread runs the handshake, then reads request headers and
//     WRITE payloads, checks them (request_parser.h) and submits each request
//     to the server's WorkerPool; it is the only thread that reads the socket;
//   - workers run requests against the Store and queue the replies;
//   - its writer thread sends queued replies, in completion order (NBD allows
//     any order), batching whatever is queued into one sendmsg; it is the only
//     thread that writes the socket after the handshake.
//
// Flow control: at most max_in_flight_requests requests and
// max_in_flight_bytes of buffers (one request of up to kMaxPayload always
// fits) are between "header read" and "reply sent". At the limit the reader
// stops reading, so a client that sends faster than it reads replies meets
// the socket's own buffers, not an ever-growing queue here. Request buffers
// are anonymous mappings reused within the connection and unmapped when it
// closes, so a finished client leaves no memory behind (malloc would keep it).
//
// Ending: NBD_CMD_DISC or EOF (the client closed or half-closed) ends reading;
// what is in flight is answered, then the socket closes. A bad request magic,
// a failed send or shutdown_both() aborts: pending replies are dropped.
// Only this connection's threads are affected either way.
//
// Thread safety: start() once; shutdown_read(), shutdown_both(), finished()
// from any thread; join() from the one thread that owns the Connection.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "base/fd.h"
#include "base/mapping.h"
#include "base/thread_annotations.h"
#include "nbd/handshake.h"
#include "nbd/metrics.h"
#include "nbd/net.h"
#include "nbd/request_parser.h"
#include "nbd/worker_pool.h"

namespace uzram {
class Store;
}

namespace uzram::nbd {

// What every connection of a server shares; owned by the Server and
// immutable while connections exist (the pointees are thread-safe).
struct ConnectionContext {
  Store* store = nullptr;
  ExportInfo export_info;
  WorkerPool* pool = nullptr;
  ServerMetrics* metrics = nullptr;
  size_t max_in_flight_requests = 64;
  size_t max_in_flight_bytes = 64u << 20;
  std::chrono::milliseconds handshake_timeout{30000};
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Fd fd, const ConnectionContext* ctx);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  // Ends reading, lets in-flight requests finish: a graceful stop.
  void shutdown_read() noexcept;
  // Ends reading and writing at once.
  void shutdown_both() noexcept;
  // True once the reader thread has closed the socket; join() is then quick.
  bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  void join();

 private:
  struct Pending;

  void reader_main();
  bool handshake(net::SocketReader* reader);
  void request_loop(net::SocketReader* reader);
  void writer_main();
  void execute(Pending* p) noexcept;                    // on a worker thread
  void execute_write_zeroes(Pending* p) noexcept;
  void queue_reply(std::unique_ptr<Pending> p);
  // Waits for room in the in-flight limits and counts the request in them,
  // taking a cached buffer of at least `bytes` (or mapping one); false when
  // the connection broke. A buffer that could not be mapped is left invalid.
  bool reserve(size_t bytes, Mapping* buffer);
  // Takes a request out of the in-flight counts without a reply.
  void release(std::unique_ptr<Pending> p);
  void release_locked(Pending* p) UZRAM_REQUIRES(mu_);
  Mapping take_buffer(size_t bytes) UZRAM_REQUIRES(mu_);
  void give_buffer(Mapping* buffer) UZRAM_REQUIRES(mu_);
  void abort_io() noexcept;

  const ConnectionContext* const ctx_;
  const int sock_;                     // I/O by the reader (recv) and the writer (send) threads
  TransmissionContext tctx_;           // written by the reader before it submits a request; read-only after
  std::thread reader_;                 // started by start(), joined by join()
  std::thread writer_;                 // started and joined by the reader thread
  std::atomic<bool> finished_{false};  // release by the reader at its end; acquire by finished()

  Mutex mu_;
  std::condition_variable_any room_cv_;   // on mu_; the reader waits: in-flight room freed, broken
  std::condition_variable_any reply_cv_;  // on mu_; the writer waits: reply queued, reader done, broken
  Fd fd_ UZRAM_GUARDED_BY(mu_);        // owns sock_; closed by the reader once both threads are done
  std::deque<std::unique_ptr<Pending>> replies_ UZRAM_GUARDED_BY(mu_);
  size_t in_flight_ UZRAM_GUARDED_BY(mu_) = 0;        // reserved and not yet replied
  size_t in_flight_bytes_ UZRAM_GUARDED_BY(mu_) = 0;  // their buffer bytes
  bool reader_done_ UZRAM_GUARDED_BY(mu_) = false;    // no more requests will be reserved
  bool broken_ UZRAM_GUARDED_BY(mu_) = false;         // replies are dropped, not sent
  std::vector<Mapping> free_buffers_ UZRAM_GUARDED_BY(mu_);  // reusable request buffers
  size_t free_bytes_ UZRAM_GUARDED_BY(mu_) = 0;
};

}  // namespace uzram::nbd
