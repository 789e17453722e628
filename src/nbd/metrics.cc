// ServerMetrics renderings. See metrics.h.
#include "nbd/metrics.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <string_view>

namespace uzram::nbd {
namespace {

constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

std::string_view slot_name(size_t i) {
  return i < ServerMetrics::kOther ? command_name(static_cast<Command>(i)) : std::string_view("other");
}

// The store's fields, in the units Prometheus expects (bytes or counts).
struct StoreField {
  const char* name;
  const char* help;
  bool counter;
  uint64_t StoreStats::*field;
};

constexpr StoreField kStoreFields[] = {
    {"orig_data_size_bytes", "Bytes of pages stored, same-filled ones included.", false, &StoreStats::orig_data_size},
    {"compr_data_size_bytes", "Bytes of compressed data in the pool.", false, &StoreStats::compr_data_size},
    {"mem_used_total_bytes", "Bytes of pool memory held.", false, &StoreStats::mem_used_total},
    {"mem_limit_bytes", "Pool memory limit in bytes (0: none).", false, &StoreStats::mem_limit},
    {"mem_used_max_bytes", "Peak of pool memory held, in bytes.", false, &StoreStats::mem_used_max},
    {"same_pages", "Slots that are same-filled.", false, &StoreStats::same_pages},
    {"pages_compacted_total", "Pool pages freed by compaction.", true, &StoreStats::pages_compacted},
    {"huge_pages", "Slots stored raw.", false, &StoreStats::huge_pages},
    {"huge_pages_since_total", "Slots ever stored raw.", true, &StoreStats::huge_pages_since},
    {"failed_reads_total", "Reads that failed.", true, &StoreStats::failed_reads},
    {"failed_writes_total", "Writes that failed.", true, &StoreStats::failed_writes},
    {"invalid_io_total", "Out-of-range or misaligned requests.", true, &StoreStats::invalid_io},
    {"notify_free_total", "Slots freed by discard.", true, &StoreStats::notify_free},
    {"bd_count", "Slots on the backing file.", false, &StoreStats::bd_count},
    {"bd_reads_total", "Pages read from the backing file.", true, &StoreStats::bd_reads},
    {"bd_writes_total", "Pages written to the backing file.", true, &StoreStats::bd_writes},
    {"recomp_pages_total", "Slots recompressed smaller.", true, &StoreStats::recomp_pages},
    {"incompressible_pages", "Slots no algorithm could shrink.", false, &StoreStats::incompressible_pages},
    {"slots", "Slots in the store.", false, &StoreStats::slots},
    {"slot_table_bytes", "Bytes of the slot table.", false, &StoreStats::slot_table_bytes},
};

void metric_header(std::string* out, std::string_view name, std::string_view help, std::string_view type) {
  *out += "# HELP ";
  *out += name;
  *out += ' ';
  *out += help;
  *out += "\n# TYPE ";
  *out += name;
  *out += ' ';
  *out += type;
  *out += '\n';
}

void sample(std::string* out, std::string_view name, std::string_view labels, uint64_t value) {
  *out += name;
  if (!labels.empty()) {
    *out += '{';
    *out += labels;
    *out += '}';
  }
  *out += ' ';
  *out += std::to_string(value);
  *out += '\n';
}

std::string seconds_text(uint64_t us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6f", static_cast<double>(us) / 1e6);
  return text;
}

}  // namespace

void CommandMetrics::record(uint64_t bytes_done, bool error, std::chrono::nanoseconds latency) noexcept {
  requests.fetch_add(1, kRelaxed);
  if (error) errors.fetch_add(1, kRelaxed);
  bytes.fetch_add(bytes_done, kRelaxed);
  const uint64_t us = static_cast<uint64_t>(std::max<int64_t>(0, latency.count() / 1000));
  latency_sum_us.fetch_add(us, kRelaxed);
  size_t b = 0;
  while (b < kLatencyBucketsUs.size() && us > kLatencyBucketsUs[b]) ++b;
  buckets[b].fetch_add(1, kRelaxed);
}

uint64_t ServerMetrics::total_requests() const noexcept {
  uint64_t n = 0;
  for (const auto& c : commands_) n += c.requests.load(kRelaxed);
  return n;
}

uint64_t ServerMetrics::total_errors() const noexcept {
  uint64_t n = 0;
  for (const auto& c : commands_) n += c.errors.load(kRelaxed);
  return n;
}

std::string ServerMetrics::to_prometheus(const StoreStats& store) const {
  std::string out;
  auto per_command = [&](std::string_view name, std::string_view help, std::atomic<uint64_t> CommandMetrics::*f) {
    metric_header(&out, name, help, "counter");
    for (size_t i = 0; i < kSlots; ++i) {
      sample(&out, name, "command=\"" + std::string(slot_name(i)) + "\"", (commands_[i].*f).load(kRelaxed));
    }
  };
  per_command("uzram_nbd_requests_total", "NBD requests answered, by command.", &CommandMetrics::requests);
  per_command("uzram_nbd_request_errors_total", "NBD requests answered with an error.", &CommandMetrics::errors);
  per_command("uzram_nbd_request_bytes_total", "Bytes read, written, trimmed or zeroed.", &CommandMetrics::bytes);

  const std::string_view hist = "uzram_nbd_request_duration_seconds";
  metric_header(&out, hist, "Time from a request's header to its reply sent.", "histogram");
  for (size_t i = 0; i < kSlots; ++i) {
    const CommandMetrics& c = commands_[i];
    const std::string cmd = "command=\"" + std::string(slot_name(i)) + "\"";
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kLatencyBucketsUs.size(); ++b) {
      cumulative += c.buckets[b].load(kRelaxed);
      const std::string le = b < kLatencyBucketsUs.size() ? seconds_text(kLatencyBucketsUs[b]) : "+Inf";
      sample(&out, std::string(hist) + "_bucket", cmd + ",le=\"" + le + "\"", cumulative);
    }
    out += std::string(hist) + "_sum{" + cmd + "} " + seconds_text(c.latency_sum_us.load(kRelaxed)) + "\n";
    sample(&out, std::string(hist) + "_count", cmd, cumulative);
  }

  auto single = [&](std::string_view name, std::string_view help, std::string_view type, uint64_t v) {
    metric_header(&out, name, help, type);
    sample(&out, name, "", v);
  };
  single("uzram_nbd_connections_total", "Connections accepted.", "counter", connections_total.load(kRelaxed));
  single("uzram_nbd_connections", "Connections open now.", "gauge", connections_current.load(kRelaxed));
  single("uzram_nbd_connections_refused_total", "Connections refused over the limit.", "counter",
         connections_refused.load(kRelaxed));
  single("uzram_nbd_handshakes_failed_total", "Connections closed during the handshake.", "counter",
         handshakes_failed.load(kRelaxed));
  single("uzram_nbd_protocol_errors_total", "Connections closed for a malformed request.", "counter",
         protocol_errors.load(kRelaxed));
  single("uzram_nbd_disconnects_total", "Clean disconnects (NBD_CMD_DISC).", "counter", disconnects.load(kRelaxed));
  single("uzram_nbd_hangups_total", "Clients gone without NBD_CMD_DISC.", "counter", hangups.load(kRelaxed));

  for (const StoreField& f : kStoreFields) {
    const std::string name = std::string("uzram_store_") + f.name;
    single(name, f.help, f.counter ? "counter" : "gauge", store.*f.field);
  }
  return out;
}

std::string ServerMetrics::to_json(const StoreStats& store) const {
  nlohmann::ordered_json nbd;
  nlohmann::ordered_json commands = nlohmann::ordered_json::object();
  for (size_t i = 0; i < kSlots; ++i) {
    const CommandMetrics& c = commands_[i];
    nlohmann::ordered_json j;
    j["requests"] = c.requests.load(kRelaxed);
    j["errors"] = c.errors.load(kRelaxed);
    j["bytes"] = c.bytes.load(kRelaxed);
    j["latency_sum_us"] = c.latency_sum_us.load(kRelaxed);
    nlohmann::ordered_json buckets = nlohmann::ordered_json::object();
    for (size_t b = 0; b <= kLatencyBucketsUs.size(); ++b) {
      const std::string le = b < kLatencyBucketsUs.size() ? std::to_string(kLatencyBucketsUs[b]) : "inf";
      buckets["le_" + le + "_us"] = c.buckets[b].load(kRelaxed);
    }
    j["latency_buckets"] = std::move(buckets);
    commands[std::string(slot_name(i))] = std::move(j);
  }
  nbd["commands"] = std::move(commands);
  nbd["connections_total"] = connections_total.load(kRelaxed);
  nbd["connections"] = connections_current.load(kRelaxed);
  nbd["connections_refused"] = connections_refused.load(kRelaxed);
  nbd["handshakes_failed"] = handshakes_failed.load(kRelaxed);
  nbd["protocol_errors"] = protocol_errors.load(kRelaxed);
  nbd["disconnects"] = disconnects.load(kRelaxed);
  nbd["hangups"] = hangups.load(kRelaxed);
  // The store renders itself (uzram::to_json), so its fields keep the
  // store's own names and order.
  return "{\"store\":" + uzram::to_json(store) + ",\"nbd\":" + nbd.dump() + "}";
}

}  // namespace uzram::nbd
