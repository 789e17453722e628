// File: src/nbd/metrics.h
//
// ServerMetrics: what the NBD server counts (requests, bytes, errors and
// latencies by command; connections), and its two renderings: Prometheus
// text exposition (format 0.0.4) and JSON, each with the store's statistics.
//
// Thread safety: every counter is a relaxed atomic, written by the worker and
// writer threads and read by the metrics responder; a rendering is not a
// consistent snapshot across counters, only each counter is exact.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "nbd/protocol.h"
#include "uzram/store.h"

namespace uzram::nbd {

// Latency histogram buckets, upper bounds in microseconds (Prometheus "le").
inline constexpr std::array<uint64_t, 16> kLatencyBucketsUs = {
    10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000};

// Counters of one command.
struct CommandMetrics {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> bytes{0};        // payload bytes (read, written, trimmed, zeroed)
  std::atomic<uint64_t> latency_sum_us{0};
  std::array<std::atomic<uint64_t>, kLatencyBucketsUs.size() + 1> buckets{};  // last: +Inf

  void record(uint64_t bytes_done, bool error, std::chrono::nanoseconds latency) noexcept;
};

class ServerMetrics {
 public:
  // Index 0..7 are the commands READ..BLOCK_STATUS; kOther counts the rest
  // (unknown commands, RESIZE).
  static constexpr size_t kOther = 8;
  static constexpr size_t kSlots = 9;

  CommandMetrics& command(uint16_t type) noexcept { return commands_[type < kOther ? type : kOther]; }
  const CommandMetrics& command(uint16_t type) const noexcept {
    return commands_[type < kOther ? type : kOther];
  }

  std::atomic<uint64_t> connections_total{0};     // accepted
  std::atomic<uint64_t> connections_current{0};   // accepted and not yet closed
  std::atomic<uint64_t> connections_refused{0};   // over the connection limit
  std::atomic<uint64_t> handshakes_failed{0};     // closed before transmission
  std::atomic<uint64_t> protocol_errors{0};       // bad request magic: connection closed
  std::atomic<uint64_t> disconnects{0};           // clean NBD_CMD_DISC
  std::atomic<uint64_t> hangups{0};               // the client went away without DISC

  uint64_t total_requests() const noexcept;
  uint64_t total_errors() const noexcept;

  // Prometheus text: the server's counters and every StoreStats field.
  std::string to_prometheus(const StoreStats& store) const;
  // {"store": {...}, "nbd": {...}}
  std::string to_json(const StoreStats& store) const;

 private:
  std::array<CommandMetrics, kSlots> commands_;
};

}  // namespace uzram::nbd
