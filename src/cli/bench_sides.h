// File: src/cli/bench_sides.h
//
// The measuring half of `uzram bench`; bench_command.cc is the other half
// (options, rounds, the report). A side is one system under test: uzram's
// Store, written by N threads calling Store::write or through an AsyncEngine
// with N workers, or the kernel's /dev/zram0, written by N threads with
// O_DIRECT. Each side stores every 4 KiB page of the input, reads every page
// back with N threads and compares it with the input.
//
// How a phase is timed: its N threads are started first and wait at a start
// barrier; the clock starts when they are released and the phase ends when
// the last one finishes (each notes its own finish time), so thread creation
// and joining stay out of the figure. The threads take kChunkPages pages at
// a time from one shared cursor; on the kernel's side each chunk is one
// request. Beside the wall clock each phase notes the CPU time the process
// spent in it (user + system, all threads). It leaves out the time a virtual
// CPU was stolen by the host, though not the slowdown a busy host inflicts on
// the CPU's work: it moves too, less than the wall clock.
//
// Thread safety: the run_* functions are called from one thread at a time;
// each starts and joins the threads of its phases itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/input_file.h"
#include "cli/progress.h"
#include "uzram/async_engine.h"
#include "uzram/status.h"
#include "uzram/store.h"

namespace uzram::cli {

inline constexpr uint64_t kChunkPages = 256;  // pages a phase's thread takes at a time: 1 MiB

// What the sides are run with.
struct SideOptions {
  std::string algo = "lz4";  // a codec spec (codec.h), as the user gave it
  unsigned threads = 1;      // writers and readers; with async, the engine's workers
  bool async = false;        // uzram's write through an AsyncEngine
};

// What one thread of a phase counted.
struct Tally {
  uint64_t errors = 0;      // pages whose write or read failed
  uint64_t mismatches = 0;  // pages read back different from the input
  std::string first_error;
};

struct PhaseOutcome {
  double seconds = 0;
  double cpu_seconds = 0;  // of the whole process, user + system
  Tally tally;  // summed over the threads; first_error of the first thread that had one
  std::optional<EngineStats> engine;  // the write phase of --async only
};

// The figures of one side of the comparison (uzram, or the kernel's zram):
// of one round, or, after add_round(), of all rounds so far.
struct SideResult {
  std::string algo;
  uint64_t pages = 0;
  StoreStats stats;          // after the write phase (of the first round)
  PhaseOutcome write;        // the fastest write of the rounds; tallies summed
  PhaseOutcome read;         // the fastest read of the rounds; tallies summed
  std::optional<int64_t> rss_anon_delta_bytes;  // uzram only; of the first round
  std::vector<std::pair<PhaseOutcome, PhaseOutcome>> rounds;  // (write, read) of each round
  bool verified() const { return write.tally.errors == 0 && read.tally.errors == 0 && read.tally.mismatches == 0; }
};

// Adds a phase's tallies to `into`'s.
void add_tally(Tally& into, const Tally& t);

// Folds `round` into `all`: keeps the faster phase of each kind and the first
// round's memory figures, and sums the failures of every round.
void add_round(SideResult& all, SideResult round);

// uzram's side: a fresh Store sized for the input, written (through an
// AsyncEngine when opts.async), measured, read back. Throws
// std::runtime_error when the store or the engine cannot be created.
// REQUIRES: opts.algo names a codec (codec::make_codec accepts it).
SideResult run_uzram(const SideOptions& opts, const InputFile& input, Progress& progress);

// The baseline of --async: one thread calling Store::write on a fresh store.
PhaseOutcome run_sync1_write(const SideOptions& opts, const InputFile& input, Progress& progress);

// The kernel's side, on /dev/zram0 (claimed, configured, and reset when done).
// An error status means the comparison cannot be made (zram0 absent or in
// use, an algorithm the kernel lacks...); failures of single requests are
// counted in the outcome instead.
Result<SideResult> run_kernel(const SideOptions& opts, const InputFile& input, Progress& progress);

}  // namespace uzram::cli
