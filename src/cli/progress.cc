// Progress: the bench's progress line on stderr. See progress.h.
#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace uzram::cli {

bool Progress::enabled_for_stderr(bool quiet) noexcept { return !quiet && ::isatty(STDERR_FILENO) == 1; }

std::string Progress::format_line(std::string_view phase, uint64_t done, uint64_t total, double seconds) {
  const double percent = total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total);
  const double mbps = seconds > 0 ? static_cast<double>(done) / 1e6 / seconds : 0.0;
  return fmt::format("  {:<14} {:5.1f}%  {:9.1f} MB/s", phase, percent, mbps);
}

void Progress::begin(std::string_view phase, uint64_t total_bytes) {
  if (!enabled_) return;
  phase_ = phase;
  total_ = total_bytes;
  done_.store(0, std::memory_order_relaxed);
  start_ = Clock::now();
  last_draw_ = start_;
  drawn_ = false;
}

void Progress::tick() {
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  std::string line = format_line(phase_, done_.load(std::memory_order_relaxed), total_, seconds);
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
}

void Progress::end() {
  if (!enabled_ || !drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace uzram::cli
