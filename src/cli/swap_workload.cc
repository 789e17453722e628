// The swap workload: see swap_workload.h.
#include "cli/swap_workload.h"

#include <chrono>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

namespace uzram::cli {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

const char* const kWords[] = {
    "name",  "value", "count", "index", "user",   "session", "token", "config", "error", "status",
    "item",  "list",  "dict",  "float", "string", "module",  "class", "object", "self",  "return",
    "data",  "key",   "node",  "parent", "child", "buffer",  "query", "result", "cache", "request",
    "alpha", "beta",  "gamma", "delta", "path",   "file",    "line",  "offset", "size",  "length"};
constexpr size_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);

// The word a touch increments (word 1: word 0 feeds the sequential checksum).
constexpr size_t kTouchWord = 1;

const std::byte* source_page(const WorkloadOptions& o, uint64_t i, std::byte* scratch) {
  if (o.corpus != nullptr) return o.corpus->data(i % o.corpus->pages());
  synthetic_page(i, scratch);
  return scratch;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

void synthetic_page(uint64_t index, std::byte* out) {
  uint64_t state = mix(index + 0x5eed);
  auto next = [&state] { return state = mix(state); };
  size_t pos = 0;
  const uint64_t heap_base = 0x00007f3a00000000ull + (index << 12);
  while (pos + 64 <= kPageSize) {
    uint64_t kind = next() % 8;
    uint64_t rec[8] = {};
    // An object header: type pointer and reference count, as in CPython.
    rec[0] = 0x000055d4c0a10000ull + (next() % 16) * 0x40;
    rec[1] = 1 + next() % 4;
    switch (kind) {
      case 0:
      case 1: {  // a small string
        const char* w = kWords[next() % kNumWords];
        const char* v = kWords[next() % kNumWords];
        char text[40] = {};
        std::snprintf(text, sizeof text, "%s_%s_%u", w, v, static_cast<unsigned>(next() % 100));
        std::memcpy(&rec[3], text, sizeof text);
        rec[2] = std::strlen(text);
        break;
      }
      case 2:
      case 3:  // pointers to neighbours
        for (int k = 2; k < 8; ++k) rec[k] = heap_base + (next() % 64) * 64;
        break;
      case 4: {  // doubles
        for (int k = 2; k < 6; ++k) {
          double d = static_cast<double>(next() % 1000) * 0.25;
          std::memcpy(&rec[k], &d, 8);
        }
        break;
      }
      case 5:  // small integers
        for (int k = 2; k < 8; ++k) rec[k] = next() % 300;
        break;
      default:  // free space
        rec[0] = rec[1] = 0;
        break;
    }
    std::memcpy(out + pos, rec, sizeof rec);
    pos += sizeof rec;
  }
}

double WorkloadResult::total_seconds() const {
  double t = 0;
  for (const PhaseResult& p : phases) t += p.seconds;
  return t;
}

const PhaseResult* WorkloadResult::phase(const std::string& name) const {
  for (const PhaseResult& p : phases) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

WorkloadResult run_workload(std::byte* region, const WorkloadOptions& o) {
  WorkloadResult r;
  r.pages = o.pages;
  const uint64_t pages = o.pages;
  const uint64_t touches = o.touches != 0 ? o.touches : pages;
  constexpr uint64_t kReport = 4096;
  auto report = [&o](const char* phase, uint64_t done, uint64_t total) {
    if (o.progress) o.progress(phase, done, total);
  };
  std::vector<uint32_t> bumps(pages, 0);  // increments of each page's touch word
  alignas(16) std::byte scratch[kPageSize];

  Clock::time_point t0 = Clock::now();
  for (uint64_t i = 0; i < pages; ++i) {
    std::memcpy(region + i * kPageSize, source_page(o, i, scratch), kPageSize);
    if ((i + 1) % kReport == 0) report("fill", i + 1, pages);
  }
  report("fill", pages, pages);
  r.phases.push_back({"fill", seconds_since(t0), pages});

  if (o.sequential) {
    t0 = Clock::now();
    uint64_t sum = 0;
    for (uint64_t i = 0; i < pages; ++i) {
      sum += *reinterpret_cast<volatile const uint64_t*>(region + i * kPageSize);
      if ((i + 1) % kReport == 0) report("sequential", i + 1, pages);
    }
    r.checksum = sum;
    report("sequential", pages, pages);
    r.phases.push_back({"sequential", seconds_since(t0), pages});
  }

  uint64_t rng = mix(o.seed);
  auto touch = [&](uint64_t i) {
    auto* w = reinterpret_cast<volatile uint64_t*>(region + i * kPageSize) + kTouchWord;
    *w = *w + 1;
    ++bumps[i];
  };
  if (o.uniform) {
    t0 = Clock::now();
    for (uint64_t t = 0; t < touches; ++t) {
      rng = mix(rng);
      touch(rng % pages);
      if ((t + 1) % kReport == 0) report("uniform", t + 1, touches);
    }
    report("uniform", touches, touches);
    r.phases.push_back({"uniform", seconds_since(t0), touches});
  }
  if (o.skewed) {
    t0 = Clock::now();
    const uint64_t hot = pages / 10 > 0 ? pages / 10 : 1;
    for (uint64_t t = 0; t < touches; ++t) {
      rng = mix(rng);
      uint64_t i = (rng >> 32) % 10 < 9 ? ((rng % hot) * 10) % pages : rng % pages;
      touch(i);
      if ((t + 1) % kReport == 0) report("skewed", t + 1, touches);
    }
    report("skewed", touches, touches);
    r.phases.push_back({"skewed", seconds_since(t0), touches});
  }

  t0 = Clock::now();
  alignas(16) std::byte want[kPageSize];
  for (uint64_t i = 0; i < pages; ++i) {
    std::memcpy(want, source_page(o, i, scratch), kPageSize);
    uint64_t word;
    std::memcpy(&word, want + kTouchWord * 8, 8);
    word += bumps[i];
    std::memcpy(want + kTouchWord * 8, &word, 8);
    if (std::memcmp(region + i * kPageSize, want, kPageSize) != 0) ++r.bad_pages;
    if ((i + 1) % kReport == 0) report("verify", i + 1, pages);
  }
  report("verify", pages, pages);
  r.phases.push_back({"verify", seconds_since(t0), pages});
  return r;
}

std::string to_json(const WorkloadResult& r) {
  nlohmann::ordered_json j;
  j["pages"] = r.pages;
  j["bad_pages"] = r.bad_pages;
  j["checksum"] = r.checksum;
  j["total_seconds"] = r.total_seconds();
  nlohmann::ordered_json phases = nlohmann::ordered_json::array();
  for (const PhaseResult& p : r.phases) phases.push_back({{"name", p.name}, {"seconds", p.seconds}, {"ops", p.ops}});
  j["phases"] = phases;
  return j.dump();
}

bool from_json(const std::string& text, WorkloadResult* out) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  try {
    out->pages = j.at("pages").get<uint64_t>();
    out->bad_pages = j.at("bad_pages").get<uint64_t>();
    out->checksum = j.at("checksum").get<uint64_t>();
    out->phases.clear();
    for (const auto& p : j.at("phases")) {
      out->phases.push_back({p.at("name").get<std::string>(), p.at("seconds").get<double>(), p.at("ops").get<uint64_t>()});
    }
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

}  // namespace uzram::cli
