// `uzram serve`: a compressed RAM block device over NBD (docs/nbd.md).
//
//   uzram serve --size 1G --algo zstd --unix /tmp/uzram.sock
//   uzram serve --size 4G --port 10809 --bind 127.0.0.1 --metrics 127.0.0.1:9100
//
// Runs until SIGINT or SIGTERM, then stops cleanly and prints one line of
// statistics. Errors in the arguments or at start-up throw (main prints them
// and exits with 1).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "cli/commands.h"
#include "nbd/metrics_http.h"
#include "nbd/net.h"
#include "base/parse_size.h"
#include "nbd/server.h"
#include "uzram/store.h"

namespace uzram::cli {
namespace {

struct ServeArgs {
  std::string size;
  std::string algo = "lz4";
  std::string unit = "4K";
  std::string unix_path;
  uint16_t port = 10809;
  std::string bind = "127.0.0.1";
  size_t threads = 0;
  std::string mem_limit;
  std::string backing_file;
  std::string metrics;
};

template <typename T>
T value_or_throw(Result<T> r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.status().to_string());
  return std::move(r).value();
}

void throw_if_error(const Status& s, const std::string& what) {
  if (!s.is_ok()) throw std::runtime_error(what + ": " + s.to_string());
}

void run_serve(const ServeArgs& args) {
  // Blocked before any thread starts (the store may start its own), so that
  // every thread inherits the mask and only sigwait() below takes them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const uint64_t size = value_or_throw(parse_size(args.size), "--size");
  StoreOptions so;
  // The store holds whole pages; the export is byte-granular and advertises
  // exactly --size (requests past it are refused).
  so.disksize = (size + kPageSize - 1) / kPageSize * kPageSize;
  so.algorithm = args.algo;
  so.unit_pages = static_cast<uint32_t>(parse_size(args.unit).value() / kPageSize);  // checked by the option
  if (!args.mem_limit.empty()) so.mem_limit = value_or_throw(parse_size(args.mem_limit), "--mem-limit");
  std::unique_ptr<Store> store = value_or_throw(Store::open(so), "cannot create the store");
  if (!args.backing_file.empty()) throw_if_error(store->set_backing_file(args.backing_file), "--backing-file");

  nbd::net::Listener metrics_listener;
  if (!args.metrics.empty()) {
    std::string address;
    uint16_t port = 0;
    throw_if_error(nbd::net::split_host_port(args.metrics, &address, &port), "--metrics");
    metrics_listener = value_or_throw(nbd::net::listen_tcp(address, port), "--metrics");
  }
  // Last: an error above must not leave a socket file behind.
  nbd::net::Listener listener =
      args.unix_path.empty()
          ? value_or_throw(nbd::net::listen_tcp(args.bind, args.port), "cannot listen")
          : value_or_throw(nbd::net::listen_unix(args.unix_path), "cannot listen");

  nbd::ServerOptions options;
  options.export_size = size;
  options.threads = args.threads;
  std::unique_ptr<nbd::Server> server =
      value_or_throw(nbd::Server::start(store.get(), options, std::move(listener)), "cannot serve");
  std::printf("uzram serve: listening on %s (%s), %llu bytes, %s, unit %u KiB, %zu threads\n",
              server->endpoint().c_str(), server->uri().c_str(), static_cast<unsigned long long>(size),
              args.algo.c_str(), so.unit_pages * 4, server->threads());
  std::unique_ptr<nbd::MetricsHttp> http;
  if (metrics_listener.fd) {
    const std::string endpoint = metrics_listener.endpoint;
    nbd::Server* s = server.get();  // outlives the responder: stopped first below
    http = value_or_throw(nbd::MetricsHttp::start(std::move(metrics_listener),
                                                  nbd::HttpPages{[s] { return s->prometheus(); },
                                                                 [s] { return s->stats_json(); }}),
                          "--metrics");
    std::printf("uzram serve: metrics on http://%s/metrics and /stats\n", endpoint.c_str());
  }
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  if (http) http->stop();
  server->stop();
  std::printf("uzram serve: stopped by %s; %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM", server->summary().c_str());
  std::fflush(stdout);
}

void add_serve_command(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a compressed RAM block device over NBD");
  cmd->add_option("--size", args->size, "Export size: bytes, or with K/M/G/T (1K = 1024)")->required();
  cmd->add_option("--algo", args->algo, "Compression algorithm spec, e.g. lz4, zstd, zstd:level=1")
      ->capture_default_str();
  cmd->add_option("--unit", args->unit,
                  "Compression unit, 4K..128K: pages compressed together. Larger units compress faster and smaller "
                  "for large sequential I/O; a write of part of a unit recompresses all of it")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            Result<uint64_t> bytes = parse_size(text);
            if (!bytes || *bytes % kPageSize != 0 || *bytes < kPageSize || *bytes > 32 * kPageSize) {
              return "must be 4K, 8K, ... 128K (a multiple of 4096 up to 131072), not " + text;
            }
            return "";
          },
          "4K..128K"))
      ->capture_default_str();
  CLI::Option* unix_opt = cmd->add_option("--unix", args->unix_path, "Listen on this Unix socket");
  CLI::Option* port_opt =
      cmd->add_option("--port", args->port, "Listen on this TCP port (0: any free port)")->capture_default_str();
  CLI::Option* bind_opt =
      cmd->add_option("--bind", args->bind, "TCP address to bind (numeric IPv4 or IPv6)")->capture_default_str();
  unix_opt->excludes(port_opt)->excludes(bind_opt);
  cmd->add_option("--threads", args->threads, "Request worker threads (0: one per CPU)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->add_option("--mem-limit", args->mem_limit, "Limit of the store's memory (K/M/G/T); full: ENOSPC");
  cmd->add_option("--backing-file", args->backing_file, "File or block device for writeback of idle pages");
  cmd->add_option("--metrics", args->metrics, "Serve /metrics and /stats over HTTP at ADDR:PORT");
  cmd->callback([args] { run_serve(*args); });
}

static CommandRegistrar reg(300, add_serve_command);

}  // namespace
}  // namespace uzram::cli
