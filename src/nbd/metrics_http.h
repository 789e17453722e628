// File: src/nbd/metrics_http.h
//
// MetricsHttp: a minimal HTTP/1.0 responder for monitoring: GET /metrics
// (Prometheus text) and GET /stats (JSON). One thread answers one request at
// a time and closes each connection; every read and write has a short
// timeout, so a slow or silent client delays the next scrape by at most that
// and cannot hold the thread. It is meant for loopback (--metrics binds to
// whatever address it is given; the CLI's default is 127.0.0.1).
//
// Thread safety: start() returns a running responder; stop() (also the
// destructor) from one thread. The render callbacks run on the responder's
// thread and must be thread-safe with respect to the rest of the program.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "nbd/net.h"
#include "uzram/status.h"

namespace uzram::nbd {

struct HttpPages {
  std::function<std::string()> metrics;  // text/plain; version=0.0.4
  std::function<std::string()> stats;    // application/json
};

// The whole HTTP response to a request whose head (request line and headers)
// is `head`: 200 for GET or HEAD of /metrics and /stats, 404 for another path,
// 405 for another method, 400 for a malformed request line.
std::string http_response(std::string_view head, const HttpPages& pages);

class MetricsHttp {
 public:
  static constexpr size_t kMaxRequestHead = 8192;
  static constexpr std::chrono::milliseconds kIoTimeout{2000};

  static Result<std::unique_ptr<MetricsHttp>> start(net::Listener listener, HttpPages pages);
  ~MetricsHttp() { stop(); }
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

  void stop() noexcept;
  const std::string& endpoint() const noexcept { return listener_.endpoint; }

 private:
  MetricsHttp(net::Listener listener, HttpPages pages, net::Waker waker)
      : listener_(std::move(listener)), pages_(std::move(pages)), waker_(std::move(waker)) {}
  void run();
  void answer(const Fd& client);

  net::Listener listener_;  // used by the responder thread until stop() joins it
  const HttpPages pages_;
  net::Waker waker_;
  std::thread thread_;
};

}  // namespace uzram::nbd
