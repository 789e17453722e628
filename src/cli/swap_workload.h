// File: src/cli/swap_workload.h
//
// The workload of `uzram swap-bench` and `uzram demo`, run the same way on a
// SwapSpace region and, in a child process, on plain memory under kernel
// swap: fill every page (from a corpus of real process pages, repeated, or
// from synthetic heap-like pages), then the chosen touch phases, then verify
// every page.
//
//   fill        page i = source page i (memcpy)
//   sequential  read one word of every page, in order
//   uniform     `touches` writes (one word incremented) at uniformly random pages
//   skewed      `touches` writes, 90 % of them on a hot 10 % of the pages
//               (every tenth page), the rest uniform
//   verify      compare every page with its source and its increments
//
// Thread safety: run_workload() runs on the calling thread; the region is
// its own while it runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cli/input_file.h"

namespace uzram::cli {

struct WorkloadOptions {
  uint64_t pages = 0;
  const InputFile* corpus = nullptr;  // null: synthetic pages
  bool sequential = true;
  bool uniform = true;
  bool skewed = true;
  uint64_t touches = 0;  // per random phase; 0 = one per page
  uint64_t seed = 42;
  // Called every few thousand pages or touches (and at each phase's end)
  // with the phase name and its progress; may be empty.
  std::function<void(const char* phase, uint64_t done, uint64_t total)> progress;
};

struct PhaseResult {
  std::string name;    // "fill", "sequential", "uniform", "skewed", "verify"
  double seconds = 0;
  uint64_t ops = 0;    // pages or touches
};

struct WorkloadResult {
  std::vector<PhaseResult> phases;
  uint64_t pages = 0;
  uint64_t bad_pages = 0;  // pages that did not verify
  uint64_t checksum = 0;   // of the sequential reads (keeps them from being optimized away)
  double total_seconds() const;
  const PhaseResult* phase(const std::string& name) const;
};

WorkloadResult run_workload(std::byte* region, const WorkloadOptions& options);

// A page like a program's heap (pointers, small integers, short strings,
// doubles, padding): about 2.5-3 to 1 with lz4. Deterministic in `index`.
void synthetic_page(uint64_t index, std::byte* out);

// JSON, both ways (the kernel run's child sends its result to the parent).
std::string to_json(const WorkloadResult& r);
bool from_json(const std::string& text, WorkloadResult* out);

}  // namespace uzram::cli
