// `uzram demo`: compressed swap for a program's own memory, shown. A region
// several times the resident limit is filled with heap-like pages (or a
// corpus), touched the way programs touch memory (90 % of touches on a hot
// tenth), and read back and verified, with a live line of what is resident
// and what is compressed; then a summary of the memory saved and what it
// cost.
//
// Exit status: 0 when every page verified; 1 when not or when the space
// cannot be opened; 2 for bad arguments.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "base/parse_size.h"
#include "cli/commands.h"
#include "cli/input_file.h"
#include "cli/swap_workload.h"
#include "uzram/swap_space.h"

namespace uzram::cli {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

struct DemoOptions {
  std::string size = "512M";
  std::string limit = "64M";
  std::string algo = "lz4";
  std::string input;
  std::string path = "auto";
};

uint64_t parse_size_or_die(const std::string& what, const std::string& text) {
  Result<uint64_t> o = parse_size(text);
  if (!o || *o == 0 || *o % 4096 != 0) {
    std::fprintf(stderr, "uzram demo: %s: not a size in whole 4 KiB pages: '%s'\n", what.c_str(), text.c_str());
    throw CLI::RuntimeError(2);
  }
  return *o;
}

// The live line: phase, progress, and what the space holds now.
class LiveLine {
 public:
  LiveLine(const SwapSpace& space, bool enabled) : space_(space), enabled_(enabled) {}
  void update(const char* phase, uint64_t done, uint64_t total) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (done != total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    SwapStats s = space_.stats();
    std::string line = fmt::format("\r  {:<10} {:3.0f}%   resident {:6.1f} MiB   swapped {:7.1f} MiB in {:6.1f} MiB   "
                                   "faults {}",
                                   phase, 100.0 * static_cast<double>(done) / static_cast<double>(total),
                                   s.resident_bytes / kMiB, s.swapped_pages * 4096 / kMiB, s.store_mem_bytes / kMiB,
                                   s.major_faults + s.minor_faults);
    std::fputs(line.c_str(), stderr);
    if (done == total) std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }

 private:
  const SwapSpace& space_;
  const bool enabled_;
  std::chrono::steady_clock::time_point last_{};
};

void run_demo(const DemoOptions& o) {
  const uint64_t size = parse_size_or_die("--size", o.size);
  const uint64_t limit = parse_size_or_die("--limit", o.limit);
  std::optional<InputFile> corpus;
  if (!o.input.empty()) {
    Result<InputFile> f = InputFile::open(o.input);
    if (!f) {
      std::fprintf(stderr, "uzram demo: --input: %s\n", f.status().to_string().c_str());
      throw CLI::RuntimeError(2);
    }
    corpus.emplace(std::move(f).value());
  }
  SwapOptions so;
  so.limit = limit;
  so.size = size;
  so.algorithm = o.algo;
  so.path = o.path == "move" ? SwapPath::kMove : o.path == "wp" ? SwapPath::kWriteProtect : SwapPath::kAuto;
  Result<std::unique_ptr<SwapSpace>> opened = SwapSpace::open(so);
  if (!opened) {
    std::fprintf(stderr, "uzram demo: %s\n", opened.status().to_string().c_str());
    throw CLI::RuntimeError(1);
  }
  SwapSpace& space = **opened;
  Result<void*> region = space.map(size);
  if (!region) {
    std::fprintf(stderr, "uzram demo: map: %s\n", region.status().to_string().c_str());
    throw CLI::RuntimeError(1);
  }
  const uint64_t pages = size / 4096;
  std::printf("uzram demo: a %.0f MiB region under a %.0f MiB resident limit (%s; userfaultfd path: %s)\n\n",
              size / kMiB, limit / kMiB, o.algo.c_str(), swap_path_name(space.path()));
  std::fflush(stdout);

  LiveLine live(space, ::isatty(STDERR_FILENO) == 1);
  WorkloadOptions w;
  w.pages = pages;
  w.corpus = corpus ? &*corpus : nullptr;
  w.sequential = false;
  w.uniform = false;
  w.skewed = true;
  w.touches = 2 * pages;
  w.progress = [&live](const char* phase, uint64_t done, uint64_t total) { live.update(phase, done, total); };
  WorkloadResult r = run_workload(static_cast<std::byte*>(*region), w);
  SwapStats s = space.stats();

  const PhaseResult* fill = r.phase("fill");
  const PhaseResult* skewed = r.phase("skewed");
  const PhaseResult* verify = r.phase("verify");
  std::string source = corpus ? fmt::format("{}", corpus->path()) : std::string("synthetic program heap");
  std::string out;
  out += fmt::format("  wrote {} pages of {} in {:.2f} s\n", pages, source, fill->seconds);
  out += fmt::format("  touched them {} times (90 % on a hot tenth) in {:.2f} s\n", skewed->ops, skewed->seconds);
  out += r.bad_pages == 0
             ? fmt::format("  read every page back and verified it in {:.2f} s: all {} correct\n\n", verify->seconds, pages)
             : fmt::format("  read every page back in {:.2f} s: {} pages WRONG\n\n", verify->seconds, r.bad_pages);
  const double used = static_cast<double>(s.resident_peak_bytes + s.store_mem_peak_bytes);
  const double saved = static_cast<double>(size) - used;
  out += fmt::format("  memory: at most {:.1f} MiB resident + {:.1f} MiB compressed = {:.1f} MiB for {:.0f} MiB of data\n",
                     s.resident_peak_bytes / kMiB, s.store_mem_peak_bytes / kMiB, used / kMiB, size / kMiB);
  out += fmt::format("          saved {:.1f} MiB ({:.0f} %); compression ratio {:.2f}:1\n", saved / kMiB,
                     100.0 * saved / static_cast<double>(size),
                     s.compressed_bytes > 0 ? static_cast<double>(s.stored_bytes) / static_cast<double>(s.compressed_bytes)
                                            : 0.0);
  out += fmt::format("  cost:   {} pages compressed, {} decompressed; {:.2f} s in all\n", s.swap_outs, s.swap_ins,
                     r.total_seconds());
  out += fmt::format("          {} major and {} minor faults ({} refaults of inactive pages, {} pages read ahead); "
                     "fault latency p50 {:.1f} us, p99 {:.1f} us\n",
                     s.major_faults, s.minor_faults, s.refaults, s.readahead_pages, s.fault_latency.p50_ns / 1000.0,
                     s.fault_latency.p99_ns / 1000.0);
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  (void)space.unmap(*region, size);
  if (r.bad_pages != 0) throw CLI::RuntimeError(1);
}

void add_demo_command(CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Compressed swap for a program's own memory: a region 8 times its resident limit, filled, touched "
              "and verified, with what it saved and what it cost");
  cmd->add_option("--size", o->size, "Region size")->capture_default_str();
  cmd->add_option("--limit", o->limit, "Resident limit")->capture_default_str();
  cmd->add_option("--algo,-a", o->algo, "Compression algorithm, e.g. lz4, lzo, zstd")->capture_default_str();
  cmd->add_option("--input,-i", o->input, "Fill with this corpus of real process pages (repeated)");
  cmd->add_option("--path", o->path, "Stable-page path: auto, move or wp")->capture_default_str();
  cmd->callback([o] { run_demo(*o); });
}

static CommandRegistrar reg(50, add_demo_command);

}  // namespace
}  // namespace uzram::cli
