// SwapOptions::parse, the names of SwapPath, and to_json(SwapStats).
// See include/uzram/swap_space.h.
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "base/parse_size.h"
#include "uzram/swap_space.h"

namespace uzram {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "256M", "1G", "4096", "64KiB" (base/parse_size.h), or "0" where a size
// of zero means "none" (mem_limit=0).
Result<uint64_t> parse_size_option(std::string_view key, std::string_view v) {
  if (v == "0") return uint64_t{0};
  Result<uint64_t> r = parse_size(v);
  if (!r) return r.status().with_context(key);
  return r;
}

Result<uint64_t> parse_count(std::string_view key, std::string_view v) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size()) {
    return Status::invalid_argument(std::string(key) + ": not a number: '" + std::string(v) + "'");
  }
  return n;
}

Result<double> parse_fraction(std::string_view key, std::string_view v) {
  std::string s(v);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(d)) {
    return Status::invalid_argument(std::string(key) + ": not a number: '" + s + "'");
  }
  return d;
}

}  // namespace

const char* swap_path_name(SwapPath path) noexcept {
  switch (path) {
    case SwapPath::kAuto: return "auto";
    case SwapPath::kMove: return "move";
    case SwapPath::kWriteProtect: return "writeprotect";
  }
  return "?";
}

Result<SwapOptions> SwapOptions::parse(std::string_view text) {
  SwapOptions o;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Status::invalid_argument("option '" + std::string(item) + "' has no value (key=value)");
    }
    std::string key = lower(item.substr(0, eq));
    std::string_view v = item.substr(eq + 1);
    auto take_size = [&](uint64_t* out) -> Status {
      Result<uint64_t> r = parse_size_option(key, v);
      if (!r) return r.status();
      *out = *r;
      return Status::ok();
    };
    auto take_count = [&](auto* out) -> Status {
      Result<uint64_t> r = parse_count(key, v);
      if (!r) return r.status();
      *out = static_cast<std::remove_pointer_t<decltype(out)>>(*r);
      return Status::ok();
    };
    auto take_fraction = [&](double* out) -> Status {
      Result<double> r = parse_fraction(key, v);
      if (!r) return r.status();
      *out = *r;
      return Status::ok();
    };
    Status st;
    if (key == "limit") {
      st = take_size(&o.limit);
    } else if (key == "size") {
      st = take_size(&o.size);
    } else if (key == "mem_limit") {
      st = take_size(&o.mem_limit);
    } else if (key == "high") {
      st = take_fraction(&o.high_watermark);
    } else if (key == "low") {
      st = take_fraction(&o.low_watermark);
    } else if (key == "inactive") {
      st = take_fraction(&o.inactive_ratio);
    } else if (key == "algo" || key == "algorithm") {
      o.algorithm = std::string(v);
    } else if (key == "fault_threads") {
      st = take_count(&o.fault_threads);
    } else if (key == "writeback_threads") {
      st = take_count(&o.writeback_threads);
    } else if (key == "readahead") {
      st = take_count(&o.readahead_order);
    } else if (key == "spin_us") {
      st = take_count(&o.spin_us);
    } else if (key == "backing_file") {
      o.backing_file = std::string(v);
    } else if (key == "path") {
      std::string p = lower(v);
      if (p == "auto") {
        o.path = SwapPath::kAuto;
      } else if (p == "move") {
        o.path = SwapPath::kMove;
      } else if (p == "wp" || p == "writeprotect") {
        o.path = SwapPath::kWriteProtect;
      } else {
        return Status::invalid_argument("path: '" + std::string(v) + "' is not auto, move or wp");
      }
    } else {
      return Status::invalid_argument(
          "unknown option '" + key +
          "' (limit, high, low, size, algo, mem_limit, fault_threads, writeback_threads, readahead, inactive, "
          "backing_file, path, spin_us)");
    }
    if (!st.is_ok()) return st;
  }
  return o;
}

std::string to_json(const SwapStats& s) {
  nlohmann::ordered_json j;
  j["path"] = swap_path_name(s.path);
  j["kernel_features"] = s.kernel_features;
  j["limit_bytes"] = s.limit_bytes;
  j["mapped_bytes"] = s.mapped_bytes;
  j["resident_bytes"] = s.resident_bytes;
  j["resident_peak_bytes"] = s.resident_peak_bytes;
  j["cached_pages"] = s.cached_pages;
  j["writeback_pages"] = s.writeback_pages;
  j["swapped_pages"] = s.swapped_pages;
  j["stored_bytes"] = s.stored_bytes;
  j["compressed_bytes"] = s.compressed_bytes;
  j["store_mem_bytes"] = s.store_mem_bytes;
  j["store_mem_peak_bytes"] = s.store_mem_peak_bytes;
  j["major_faults"] = s.major_faults;
  j["minor_faults"] = s.minor_faults;
  j["zero_fill_pages"] = s.zero_fill_pages;
  j["refaults"] = s.refaults;
  j["readahead_pages"] = s.readahead_pages;
  j["readahead_hits"] = s.readahead_hits;
  j["swap_ins"] = s.swap_ins;
  j["swap_outs"] = s.swap_outs;
  j["stale_writes"] = s.stale_writes;
  j["store_full"] = s.store_full;
  j["limit_waits"] = s.limit_waits;
  j["events_remove"] = s.events_remove;
  j["events_unmap"] = s.events_unmap;
  j["events_remap"] = s.events_remap;
  j["unmanaged_faults"] = s.unmanaged_faults;
  j["fault_latency"] = {{"count", s.fault_latency.count},
                        {"p50_ns", s.fault_latency.p50_ns},
                        {"p99_ns", s.fault_latency.p99_ns},
                        {"max_ns", s.fault_latency.max_ns}};
  return j.dump();
}

}  // namespace uzram
