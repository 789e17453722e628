// Server: accept loop and shutdown. See server.h.
//
// Lock order: Server::mu_, then Connection::mu_ (stop() and reap() call
// Connection::shutdown_*() and finished() while holding Server::mu_; no
// Connection code takes Server::mu_).
#include "nbd/server.h"

#include <cinttypes>
#include <cstdio>
#include <utility>
#include <vector>

#include "uzram/store.h"

namespace uzram::nbd {
namespace {

// How often the accept thread wakes to join finished connections.
constexpr std::chrono::milliseconds kReapInterval{1000};

}  // namespace

Result<std::unique_ptr<Server>> Server::start(Store* store, const ServerOptions& options, net::Listener listener) {
  // A server that does not start leaves no socket file behind.
  auto fail = [&listener](std::string_view why) {
    net::remove_socket_file(listener);
    return Status::invalid_argument(why);
  };
  if (store == nullptr) return fail("no store to serve");
  if (options.export_size > store->disksize()) return fail("export size is larger than the store");
  if (options.export_name.size() > kMaxNameLength) return fail("export name too long");
  if (options.max_in_flight_requests == 0 || options.max_in_flight_bytes < kMaxPayload) {
    return fail("in-flight limits must allow one request of the maximum size");
  }
  Result<net::Waker> waker = net::Waker::create();
  if (!waker) {
    net::remove_socket_file(listener);
    return waker.status();
  }
  std::unique_ptr<Server> server(new Server(store, options, std::move(listener), std::move(waker).value()));
  server->acceptor_ = std::thread([s = server.get()] { s->accept_loop(); });
  return server;
}

Server::Server(Store* store, const ServerOptions& options, net::Listener listener, net::Waker waker)
    : store_(store),
      options_(options),
      listener_(std::move(listener)),
      waker_(std::move(waker)),
      pool_(options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency())) {
  ctx_.store = store;
  ctx_.export_info.name = options.export_name;
  ctx_.export_info.description = options.description;
  ctx_.export_info.size = options.export_size != 0 ? options.export_size : store->disksize();
  ctx_.export_info.flags = kServerExportFlags;
  ctx_.pool = &pool_;
  ctx_.metrics = &metrics_;
  ctx_.max_in_flight_requests = options.max_in_flight_requests;
  ctx_.max_in_flight_bytes = options.max_in_flight_bytes;
  ctx_.handshake_timeout = options.handshake_timeout;
}

Server::~Server() { stop(); }

void Server::accept_loop() {
  for (;;) {
    const net::WaitResult w = net::wait_readable(listener_.fd.get(), waker_, kReapInterval);
    if (w == net::WaitResult::kWoken || w == net::WaitResult::kError) return;
    reap(false);
    if (w == net::WaitResult::kTimeout) continue;
    Result<Fd> fd = net::accept_connection(listener_.fd);
    if (!fd) {
      // EMFILE and friends: keep serving the clients already connected and
      // try again after a pause, rather than spin.
      std::fprintf(stderr, "uzram serve: %s\n", fd.status().to_string().c_str());
      if (net::wait_readable(-1, waker_, kReapInterval) == net::WaitResult::kWoken) return;
      continue;
    }
    metrics_.connections_total.fetch_add(1, std::memory_order_relaxed);
    MutexLock lock(&mu_);
    if (stopped_) return;
    if (connections_.size() >= options_.max_connections) {
      metrics_.connections_refused.fetch_add(1, std::memory_order_relaxed);
      continue;  // the Fd closes here
    }
    // Large socket buffers let one sendmsg carry a whole batch of replies.
    (void)net::set_send_buffer(fd->get(), 4 << 20);
    metrics_.connections_current.fetch_add(1, std::memory_order_relaxed);
    auto conn = std::make_shared<Connection>(std::move(fd).value(), &ctx_);
    conn->start();
    connections_.push_back(std::move(conn));
  }
}

void Server::reap(bool all) {
  std::vector<std::shared_ptr<Connection>> done;
  {
    MutexLock lock(&mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (all || (*it)->finished()) {
        done.push_back(std::move(*it));
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : done) c->join();
}

void Server::stop() noexcept {
  {
    MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  waker_.wake();
  if (acceptor_.joinable()) acceptor_.join();
  net::remove_socket_file(listener_);
  listener_.fd.reset();

  {
    MutexLock lock(&mu_);
    for (auto& c : connections_) c->shutdown_read();
  }
  // Bounded wait for clients to collect their replies.
  const auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  for (;;) {
    bool all_finished = true;
    {
      MutexLock lock(&mu_);
      for (auto& c : connections_) all_finished = all_finished && c->finished();
    }
    if (all_finished || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    MutexLock lock(&mu_);
    for (auto& c : connections_) c->shutdown_both();
  }
  reap(true);
  pool_.stop();
}

std::string Server::prometheus() const { return metrics_.to_prometheus(store_->stats()); }

std::string Server::stats_json() const { return metrics_.to_json(store_->stats()); }

std::string Server::summary() const {
  const StoreStats s = store_->stats();
  const CommandMetrics& rd = metrics_.command(static_cast<uint16_t>(Command::kRead));
  const CommandMetrics& wr = metrics_.command(static_cast<uint16_t>(Command::kWrite));
  char line[512];
  std::snprintf(line, sizeof line,
                "requests %" PRIu64 " (errors %" PRIu64 "), read %" PRIu64 " B, written %" PRIu64
                " B, connections %" PRIu64 "; store: orig_data_size %" PRIu64 " B, compr_data_size %" PRIu64
                " B, mem_used_total %" PRIu64 " B, same_pages %" PRIu64 ", huge_pages %" PRIu64,
                metrics_.total_requests(), metrics_.total_errors(), rd.bytes.load(std::memory_order_relaxed),
                wr.bytes.load(std::memory_order_relaxed),
                metrics_.connections_total.load(std::memory_order_relaxed), s.orig_data_size, s.compr_data_size,
                s.mem_used_total, s.same_pages, s.huge_pages);
  return line;
}

}  // namespace uzram::nbd
