// File: src/cli/progress.h
//
// Progress: one self-overwriting line on stderr while a bench phase runs,
//   "  write   42%   812.3 MB/s"
// redrawn at most 10 times a second and erased when the phase ends. It is
// silent when stderr is not a terminal or when stdout carries JSON, so that
// logs and pipes get no carriage returns.
//
// Thread safety: add() may be called from any thread at any time (one relaxed
// atomic add; call it per batch of pages, not per page, to keep the counter's
// cache line quiet). begin(), tick() and end() belong to one thread, the one
// that waits for the phase's workers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace uzram::cli {

class Progress {
 public:
  // enabled == false makes every call a no-op; see enabled_for_stderr().
  explicit Progress(bool enabled) noexcept : enabled_(enabled) {}
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // True when stderr is a terminal and quiet is false.
  static bool enabled_for_stderr(bool quiet) noexcept;

  bool enabled() const noexcept { return enabled_; }

  // Starts a phase named `phase` of `total_bytes`; restarts the clock.
  void begin(std::string_view phase, uint64_t total_bytes);
  void add(uint64_t bytes) noexcept { done_.fetch_add(bytes, std::memory_order_relaxed); }
  // Redraws the line if 100 ms have passed since the last draw.
  void tick();
  // Erases the line.
  void end();

  // The text of the line for the given figures, without "\r" (for tests).
  static std::string format_line(std::string_view phase, uint64_t done, uint64_t total, double seconds);

 private:
  using Clock = std::chrono::steady_clock;

  const bool enabled_;
  std::string phase_;
  uint64_t total_ = 0;
  std::atomic<uint64_t> done_{0};  // bytes; workers add, tick() reads (relaxed: a display figure)
  Clock::time_point start_{};
  Clock::time_point last_draw_{};
  bool drawn_ = false;
};

}  // namespace uzram::cli
