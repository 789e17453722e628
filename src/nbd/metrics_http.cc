// MetricsHttp. See metrics_http.h.
#include "nbd/metrics_http.h"

#include <algorithm>
#include <utility>

namespace uzram::nbd {
namespace {

std::string response(std::string_view status, std::string_view content_type, const std::string& body,
                     bool with_body) {
  std::string r = "HTTP/1.0 ";
  r += status;
  r += "\r\nContent-Type: ";
  r += content_type;
  r += "\r\nContent-Length: " + std::to_string(body.size());
  r += "\r\nConnection: close\r\n\r\n";
  if (with_body) r += body;
  return r;
}

}  // namespace

std::string http_response(std::string_view head, const HttpPages& pages) {
  std::string_view line = head.substr(0, head.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.substr(sp2 + 1).rfind("HTTP/", 0) != 0) {
    return response("400 Bad Request", "text/plain", "bad request\n", true);
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));  // Prometheus may add parameters
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    return response("405 Method Not Allowed", "text/plain", "only GET and HEAD\n", true);
  }
  if (target == "/metrics") {
    return response("200 OK", "text/plain; version=0.0.4; charset=utf-8", pages.metrics(), !head_only);
  }
  if (target == "/stats") return response("200 OK", "application/json", pages.stats() + "\n", !head_only);
  return response("404 Not Found", "text/plain", "try /metrics or /stats\n", !head_only);
}

Result<std::unique_ptr<MetricsHttp>> MetricsHttp::start(net::Listener listener, HttpPages pages) {
  Result<net::Waker> waker = net::Waker::create();
  if (!waker) return waker.status();
  std::unique_ptr<MetricsHttp> m(new MetricsHttp(std::move(listener), std::move(pages), std::move(waker).value()));
  m->thread_ = std::thread([p = m.get()] { p->run(); });
  return m;
}

void MetricsHttp::stop() noexcept {
  if (!thread_.joinable()) return;
  waker_.wake();
  thread_.join();
  listener_.fd.reset();
}

void MetricsHttp::run() {
  for (;;) {
    const net::WaitResult w = net::wait_readable(listener_.fd.get(), waker_, std::chrono::milliseconds(-1));
    if (w != net::WaitResult::kReadable) return;
    Result<Fd> client = net::accept_connection(listener_.fd);
    if (client) answer(*client);
  }
}

void MetricsHttp::answer(const Fd& client) {
  (void)net::set_timeouts(client.get(), kIoTimeout, kIoTimeout);
  net::SocketReader reader(client.get());
  std::string head;
  // Read until the blank line that ends the head, within the size bound.
  while (head.find("\r\n\r\n") == std::string::npos && head.find("\n\n") == std::string::npos) {
    if (head.size() >= kMaxRequestHead || reader.fill() != net::ReadResult::kOk) break;
    const auto got = reader.buffered();
    const size_t n = std::min(got.size(), kMaxRequestHead - head.size());
    head.append(reinterpret_cast<const char*>(got.data()), n);
    reader.consume(got.size());
  }
  const std::string reply = http_response(head, pages_);
  (void)net::send_all(client.get(), std::span<const std::byte>(reinterpret_cast<const std::byte*>(reply.data()),
                                                               reply.size()));
}

}  // namespace uzram::nbd
