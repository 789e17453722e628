// File: src/writeback/stress.h
//
// run_stress(): the seed's race, as a reusable driver. Writer threads own
// disjoint sets of slots, each slot with its own source page; they submit
// versioned pages (writeback/versioned_page.h) through an AsyncEngine in
// batches, and each completion makes its slot ready for the next version.
// Meanwhile the writers read slots back through the engine and check that
// each read is exactly one whole version, no older than the last completed
// one and no newer than the last submitted one. At the end every slot is
// read back through the engine and from the store and must be exactly its
// last version.
//
// Modes:
//   mutate         the completion callback rewrites the page to the next
//                  version the instant the write completes (the promise is
//                  kept to the nanosecond: an engine that completed a write
//                  early, or read a page after completing it, is caught).
//   break_promise  the store is wrapped to report no stable writes, so the
//                  engine copies at submit; writers rewrite each page right
//                  after submit() returns, while it is in flight. The stored
//                  version must still be the submit-time one.
// With StoreOptions::inject_fast_path_failure the store's slow path (the
// seed's) runs for that fraction of writes.
//
// Thread safety: run_stress() may be called from any thread; it owns the
// threads it starts and joins them before it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "uzram/async_engine.h"
#include "uzram/status.h"
#include "uzram/store.h"

namespace uzram::writeback {

struct StressOptions {
  double seconds = 10;      // stop after this long; 0 = no time limit (then max_writes > 0)
  uint64_t max_writes = 0;  // stop after this many writes submitted; 0 = no limit
  size_t writers = 2;       // submitting threads
  uint64_t pages = 16384;   // slots used, from 0; at most store.slots() and 2^32
  size_t batch = 16;        // requests per submit()
  bool mutate = false;
  bool break_promise = false;
  uint64_t seed = 1;        // for the choice of slots to read back
  EngineOptions engine;
};

struct StressReport {
  uint64_t ops = 0;             // writes completed
  uint64_t pages_verified = 0;  // reads checked (during the run and at the end)
  uint64_t corrupt_pages = 0;   // reads that were no whole version in the allowed range
  uint64_t write_errors = 0;    // writes the store refused
  uint64_t read_errors = 0;     // reads that failed (also counted as corrupt)
  double seconds = 0;           // wall time of the write phase
  std::vector<std::string> corrupt_samples;  // the first few corrupt reads, described
  EngineStats engine;
};

// kInvalidArgument for options that cannot run (no writers, pages out of
// range, no stop condition); an engine that cannot start fails the call.
Result<StressReport> run_stress(Store& store, const StressOptions& options);

}  // namespace uzram::writeback
