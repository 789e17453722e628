// File: src/nbd/server.h
//
// Server: serves one Store as one NBD export on one listening socket, to any
// number of clients at once (docs/nbd.md). An accept thread takes
// connections; each Connection reads and answers its client (connection.h);
// a WorkerPool of `threads` threads runs the requests of all of them.
//
// Multi-connection consistency: the Store is one shared, thread-safe object
// and every reply is sent after the Store call returned, so a write that was
// answered on one connection is seen by a read on any other, and FLUSH has
// nothing to wait for. That is what NBD_FLAG_CAN_MULTI_CONN promises, so the
// server advertises it.
//
// Thread safety: start() returns a running server; stop() (also run by the
// destructor) may be called from any one thread, once or more; metrics()
// and the renderings from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "base/thread_annotations.h"
#include "nbd/connection.h"
#include "nbd/handshake.h"
#include "nbd/metrics.h"
#include "nbd/net.h"
#include "nbd/worker_pool.h"
#include "uzram/status.h"

namespace uzram {
class Store;
}

namespace uzram::nbd {

struct ServerOptions {
  uint64_t export_size = 0;         // bytes, at most store->disksize(); 0 = the store's size
  std::string export_name = "uzram";
  std::string description = "uzram compressed RAM disk";
  size_t threads = 0;               // request workers; 0 = one per CPU
  size_t max_connections = 256;     // more are accepted and closed at once
  size_t max_in_flight_requests = 64;        // per connection
  size_t max_in_flight_bytes = 64u << 20;    // per connection, request buffers
  std::chrono::milliseconds handshake_timeout{30000};
  // stop(): how long clients get to receive the replies of what they sent
  // before their sockets are shut both ways.
  std::chrono::milliseconds drain_timeout{2000};
};

// The transmission flags uzram advertises (DF only with structured replies,
// which Handshake enforces).
inline constexpr uint16_t kServerExportFlags = kFlagHasFlags | kFlagSendFlush | kFlagSendFua | kFlagSendTrim |
                                               kFlagSendWriteZeroes | kFlagSendDf | kFlagCanMultiConn |
                                               kFlagSendCache | kFlagSendFastZero;

class Server {
 public:
  // Starts serving `store` (not owned; it must outlive the Server).
  static Result<std::unique_ptr<Server>> start(Store* store, const ServerOptions& options,
                                               net::Listener listener);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Stops accepting, lets connected clients collect their replies for up to
  // drain_timeout, closes every connection and joins every thread.
  void stop() noexcept;

  const std::string& endpoint() const noexcept { return listener_.endpoint; }
  const std::string& uri() const noexcept { return listener_.uri; }
  uint64_t export_size() const noexcept { return ctx_.export_info.size; }
  size_t threads() const noexcept { return pool_.threads(); }
  const ServerMetrics& metrics() const noexcept { return metrics_; }
  std::string prometheus() const;
  std::string stats_json() const;
  // One line for logs: requests, bytes, errors, and the store's sizes.
  std::string summary() const;

 private:
  Server(Store* store, const ServerOptions& options, net::Listener listener, net::Waker waker);
  void accept_loop();
  // Joins and forgets finished connections (all of them when `all`).
  void reap(bool all);

  Store* const store_;
  const ServerOptions options_;
  net::Listener listener_;          // owned by the accept thread until it is joined
  net::Waker waker_;                // wakes the accept thread for stop()
  ServerMetrics metrics_;
  WorkerPool pool_;
  ConnectionContext ctx_;           // immutable after the constructor
  std::thread acceptor_;

  Mutex mu_;
  std::list<std::shared_ptr<Connection>> connections_ UZRAM_GUARDED_BY(mu_);
  bool stopped_ UZRAM_GUARDED_BY(mu_) = false;
};

}  // namespace uzram::nbd
