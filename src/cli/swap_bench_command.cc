// `uzram swap-bench`: the swap workload (swap_workload.h) on a SwapSpace
// region, and with --compare-kernel the identical workload in a child
// process under kernel swap on /dev/zram0, inside a memory cgroup with the
// same limit; the figures side by side.
//
// The kernel run (root only): claim zram0 (ZramDevice), give it the same
// algorithm, write a swap header and swapon it (ZramSwap), make a memory
// cgroup below our own (MemoryCgroup), fork a child that joins the cgroup and
// runs the workload on plain memory, and send its result back through a
// pipe. Afterwards, always, also on an error or a signal: the child is
// killed, swap switched off, the cgroup removed and the device reset (the
// destructors, and the signal handlers of cgroup.cc and kernel_zram.cc). The
// kernel run is skipped, saying why, when not root, zram0 is absent or busy,
// or no memory cgroup can be made. Swap is never left on.
//
// Memory compared: uzram's peak resident pages (regions and swap cache) plus
// its store's peak memory; the kernel's cgroup peak (memory.peak, or v1's
// memory.max_usage_in_bytes) plus zram's mem_used_max.
//
// Exit status: 0 when every page verified on every side run; 1 when not, or
// when a run failed; 2 for bad arguments.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/parse_size.h"
#include "cli/cgroup.h"
#include "cli/commands.h"
#include "cli/input_file.h"
#include "cli/kernel_zram.h"
#include "cli/progress.h"
#include "cli/swap_workload.h"
#include "uzram/swap_space.h"

namespace uzram::cli {
namespace {

using Json = nlohmann::ordered_json;
constexpr double kMiB = 1024.0 * 1024.0;

struct SwapBenchOptions {
  std::string size = "1G";
  std::string limit = "256M";
  std::string pattern = "all";
  std::string algo = "lz4";
  std::string input;
  std::string path = "auto";
  uint64_t touches = 0;
  unsigned readahead = 6;
  size_t fault_threads = 1;
  size_t writeback_threads = 0;
  double inactive = 0.125;
  uint32_t spin_us = 50;
  double high = SwapOptions().high_watermark;
  double low = SwapOptions().low_watermark;
  bool json = false;
  bool compare_kernel = false;
};

// One side's figures.
struct Side {
  WorkloadResult work;
  uint64_t resident_peak = 0;    // bytes
  uint64_t compressed_peak = 0;  // bytes
  Json detail;                   // SwapStats, or the kernel's numbers
  uint64_t memory_peak() const { return resident_peak + compressed_peak; }
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "uzram swap-bench: %s\n", msg.c_str());
  throw CLI::RuntimeError(2);
}

uint64_t parse_size_or_die(const std::string& what, const std::string& text) {
  Result<uint64_t> o = parse_size(text);
  if (!o) usage_error(what + ": not a size: '" + text + "' (e.g. 256M, 1G)");
  if (*o == 0 || *o % 4096 != 0) usage_error(what + ": a positive multiple of 4 KiB");
  return *o;
}

WorkloadOptions workload_options(const SwapBenchOptions& o, uint64_t pages, const InputFile* corpus) {
  WorkloadOptions w;
  w.pages = pages;
  w.corpus = corpus;
  w.touches = o.touches;
  w.sequential = o.pattern == "all" || o.pattern == "seq";
  w.uniform = o.pattern == "all" || o.pattern == "uniform";
  w.skewed = o.pattern == "all" || o.pattern == "skewed";
  return w;
}

// Feeds the workload's progress into a Progress line.
std::function<void(const char*, uint64_t, uint64_t)> progress_feed(Progress& progress, const char* side) {
  auto state = std::make_shared<std::pair<std::string, uint64_t>>();
  return [&progress, state, side](const char* phase, uint64_t done, uint64_t total) {
    if (state->first != phase) {
      if (!state->first.empty()) progress.end();
      state->first = phase;
      state->second = 0;
      progress.begin(std::string(side) + " " + phase, total * 4096);
    }
    progress.add((done - state->second) * 4096);
    state->second = done;
    progress.tick();
    if (done == total) progress.end();
  };
}

Side run_uzram(const SwapBenchOptions& o, uint64_t size, uint64_t limit, const InputFile* corpus, Progress& progress) {
  SwapOptions so;
  so.limit = limit;
  so.size = size;
  so.algorithm = o.algo;
  so.readahead_order = o.readahead;
  so.fault_threads = o.fault_threads;
  so.writeback_threads = o.writeback_threads;
  so.inactive_ratio = o.inactive;
  so.spin_us = o.spin_us;
  so.high_watermark = o.high;
  so.low_watermark = o.low;
  so.path = o.path == "move" ? SwapPath::kMove : o.path == "wp" ? SwapPath::kWriteProtect : SwapPath::kAuto;
  Result<std::unique_ptr<SwapSpace>> space = SwapSpace::open(so);
  if (!space) {
    std::fprintf(stderr, "uzram swap-bench: %s\n", space.status().to_string().c_str());
    throw CLI::RuntimeError(1);
  }
  Result<void*> region = (*space)->map(size);
  if (!region) {
    std::fprintf(stderr, "uzram swap-bench: map: %s\n", region.status().to_string().c_str());
    throw CLI::RuntimeError(1);
  }
  WorkloadOptions w = workload_options(o, size / 4096, corpus);
  w.progress = progress_feed(progress, "uzram");
  Side side;
  side.work = run_workload(static_cast<std::byte*>(*region), w);
  SwapStats st = (*space)->stats();
  side.resident_peak = st.resident_peak_bytes;
  side.compressed_peak = st.store_mem_peak_bytes;
  side.detail = Json::parse(to_json(st));
  (void)(*space)->unmap(*region, size);
  return side;
}

// ---- the kernel run ----------------------------------------------------------------

// The child: joins the cgroup, runs the workload on plain memory, writes its
// result into `out`. Never returns (it must not run the parent's destructors).
[[noreturn]] void kernel_child(MemoryCgroup& cg, int out, const WorkloadOptions& w, uint64_t size) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
  int code = 0;
  try {
    if (Status st = cg.add(::getpid()); !st.is_ok()) {
      std::string msg = "{\"error\":\"joining the cgroup: " + std::string(st.message()) + "\"}";
      ssize_t n = ::write(out, msg.data(), msg.size());
      (void)n;
      ::_exit(3);
    }
    // Plain anonymous memory, as a program would allocate it; never touched
    // before the fill, so every page is charged to the cgroup.
    std::unique_ptr<std::byte[]> region(new std::byte[size]);
    WorkloadResult r = run_workload(region.get(), w);
    std::string text = to_json(r);
    const char* p = text.data();
    size_t left = text.size();
    while (left > 0) {
      ssize_t n = ::write(out, p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<size_t>(n);
    }
  } catch (...) {
    code = 3;
  }
  ::_exit(code);
}

Result<Side> run_kernel(const SwapBenchOptions& o, uint64_t size, uint64_t limit, const InputFile* corpus) {
  if (::geteuid() != 0) return Status::unsupported("kernel swap needs root (swapon, cgroups, /dev/zram0)");
  Result<std::unique_ptr<ZramDevice>> zram = ZramDevice::claim(0);
  if (!zram) return zram.status();
  UZRAM_RETURN_IF_ERROR((*zram)->set_algorithm(kernel_algorithm_name(o.algo)));
  // Room for every page of the region, and the swap header.
  const uint64_t disksize = size + (16ull << 20);
  UZRAM_RETURN_IF_ERROR((*zram)->set_disksize(disksize));
  Result<int> io = (*zram)->open_io();
  if (!io) return io.status();
  Result<std::unique_ptr<MemoryCgroup>> cg = MemoryCgroup::create(limit);
  if (!cg) return cg.status();
  Result<std::unique_ptr<ZramSwap>> swap = ZramSwap::enable((*zram)->block_path(), *io, disksize);
  if (!swap) return swap.status();

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::from_errno(errno, "pipe");
  WorkloadOptions w = workload_options(o, size / 4096, corpus);
  std::fprintf(stderr, "kernel swap: running the workload in a child under %s, swap on %s...\n",
               (*cg)->path().c_str(), (*zram)->block_path().c_str());
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::from_errno(err, "fork");
  }
  if (pid == 0) {
    ::close(fds[0]);
    kernel_child(**cg, fds[1], w, size);
  }
  (*cg)->set_child(pid);
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  (*cg)->set_child(0);
  Side side;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !from_json(text, &side.work)) {
    return Status::internal("the kernel run's child failed (status " + std::to_string(status) + "): " + text);
  }
  Result<uint64_t> peak = (*cg)->peak();
  Result<StoreStats> zs = (*zram)->stats();
  side.resident_peak = peak ? *peak : 0;
  side.compressed_peak = zs ? zs->mem_used_max : 0;
  side.detail = Json{{"cgroup", (*cg)->path()},
                     {"cgroup_version", (*cg)->version()},
                     {"cgroup_peak_bytes", side.resident_peak},
                     {"zram_mem_used_max_bytes", side.compressed_peak},
                     {"zram_orig_data_size", zs ? zs->orig_data_size : 0},
                     {"zram_compr_data_size", zs ? zs->compr_data_size : 0}};
  return side;
}

// ---- the report ------------------------------------------------------------------------

std::string seconds_text(const PhaseResult* p) {
  if (p == nullptr) return "-";
  if (p->name == "uniform" || p->name == "skewed") {
    return fmt::format("{:.2f} s ({:.1f} us)", p->seconds, p->seconds * 1e6 / static_cast<double>(p->ops));
  }
  return fmt::format("{:.2f} s", p->seconds);
}

Json side_json(const Side& s) {
  Json phases = Json::object();
  for (const PhaseResult& p : s.work.phases) phases[p.name] = {{"seconds", p.seconds}, {"ops", p.ops}};
  return Json{{"phases", phases},
              {"total_seconds", s.work.total_seconds()},
              {"pages", s.work.pages},
              {"bad_pages", s.work.bad_pages},
              {"resident_peak_bytes", s.resident_peak},
              {"compressed_peak_bytes", s.compressed_peak},
              {"memory_peak_bytes", s.memory_peak()},
              {"detail", s.detail}};
}

void report(const SwapBenchOptions& o, uint64_t size, uint64_t limit, const InputFile* corpus, const Side& uz,
            const std::optional<Side>& k, const std::string& skipped, std::string_view skipped_because) {
  const char* names[] = {"fill", "sequential", "uniform", "skewed", "verify"};
  if (o.json) {
    Json j{{"size_bytes", size},   {"limit_bytes", limit}, {"algo", o.algo},
           {"pattern", o.pattern}, {"input", corpus ? corpus->path() : std::string("synthetic")}};
    j["uzram"] = side_json(uz);
    if (k) {
      j["kernel"] = side_json(*k);
      Json ratios = Json::object();
      for (const char* n : names) {
        const PhaseResult* a = uz.work.phase(n);
        const PhaseResult* b = k->work.phase(n);
        if (a && b && a->seconds > 0) ratios[n] = b->seconds / a->seconds;
      }
      ratios["total"] = k->work.total_seconds() / uz.work.total_seconds();
      ratios["memory_peak"] = static_cast<double>(uz.memory_peak()) / static_cast<double>(k->memory_peak());
      j["kernel_time_over_uzram"] = ratios;
    } else {
      j["kernel"] = nullptr;
      if (!skipped.empty()) {
        j["kernel_skipped"] = skipped;
        j["kernel_skipped_because"] = skipped_because;
      }
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::string out = fmt::format("uzram swap-bench: {:.2f} GiB region, limit {:.0f} MiB, {}, {}\n", size / (kMiB * 1024),
                                limit / kMiB, o.algo,
                                corpus ? fmt::format("{} ({:.0f} MiB, repeated)", corpus->path(), corpus->bytes() / kMiB)
                                       : std::string("synthetic heap pages"));
  out += fmt::format("path: {} (kernel offers {})\n\n", uz.detail.value("path", "?"),
                     uz.detail.value("kernel_features", "?"));
  auto row = [&](const std::string& label, const std::string& a, const std::string& b, const std::string& r) {
    out += k ? fmt::format("  {:<14} {:>20} {:>20} {:>9}\n", label, a, b, r) : fmt::format("  {:<14} {:>20}\n", label, a);
  };
  row("", "uzram", "kernel swap (zram)", "speed-up");
  for (const char* n : names) {
    const PhaseResult* a = uz.work.phase(n);
    if (a == nullptr) continue;
    const PhaseResult* b = k ? k->work.phase(n) : nullptr;
    row(n, seconds_text(a), seconds_text(b), b ? fmt::format("{:.2f}x", b->seconds / a->seconds) : "");
  }
  row("total", fmt::format("{:.2f} s", uz.work.total_seconds()), k ? fmt::format("{:.2f} s", k->work.total_seconds()) : "",
      k ? fmt::format("{:.2f}x", k->work.total_seconds() / uz.work.total_seconds()) : "");
  auto mib = [](uint64_t b) { return fmt::format("{:.1f} MiB", b / kMiB); };
  row("peak memory", mib(uz.memory_peak()), k ? mib(k->memory_peak()) : "",
      k ? fmt::format("{:.2f}x", static_cast<double>(uz.memory_peak()) / static_cast<double>(k->memory_peak())) : "");
  row("  resident", mib(uz.resident_peak), k ? mib(k->resident_peak) : "", "");
  row("  compressed", mib(uz.compressed_peak), k ? mib(k->compressed_peak) : "", "");
  auto verified = [](const Side& s) {
    return s.work.bad_pages == 0 ? fmt::format("all {} pages", s.work.pages) : fmt::format("{} BAD", s.work.bad_pages);
  };
  row("verified", verified(uz), k ? verified(*k) : "", "");
  const Json& d = uz.detail;
  out += fmt::format(
      "\nuzram: {} major / {} minor faults, {} swap-ins, {} swap-outs, readahead {} pages ({} hits), "
      "{} refaults; fault latency p50 {:.1f} us, p99 {:.1f} us\n",
      d.value("major_faults", 0ull), d.value("minor_faults", 0ull), d.value("swap_ins", 0ull),
      d.value("swap_outs", 0ull), d.value("readahead_pages", 0ull), d.value("readahead_hits", 0ull),
      d.value("refaults", 0ull), d["fault_latency"].value("p50_ns", 0ull) / 1000.0,
      d["fault_latency"].value("p99_ns", 0ull) / 1000.0);
  if (!k && !skipped.empty()) out += fmt::format("kernel swap: skipped ({}): {}\n", skipped_because, skipped);
  std::fputs(out.c_str(), stdout);
}

void run_swap_bench(const SwapBenchOptions& o) {
  const uint64_t size = parse_size_or_die("--size", o.size);
  const uint64_t limit = parse_size_or_die("--limit", o.limit);
  if (o.pattern != "all" && o.pattern != "seq" && o.pattern != "uniform" && o.pattern != "skewed") {
    usage_error("--pattern: seq, uniform, skewed or all");
  }
  if (o.path != "auto" && o.path != "move" && o.path != "wp") usage_error("--path: auto, move or wp");
  std::optional<InputFile> corpus;
  if (!o.input.empty()) {
    Result<InputFile> f = InputFile::open(o.input);
    if (!f) usage_error("--input: " + f.status().to_string());
    corpus.emplace(std::move(f).value());
  }
  const InputFile* in = corpus ? &*corpus : nullptr;

  Progress progress(Progress::enabled_for_stderr(o.json));
  Side uz = run_uzram(o, size, limit, in, progress);
  std::optional<Side> kernel;
  std::string skipped;
  std::string_view skipped_because;
  if (o.compare_kernel) {
    Result<Side> k = run_kernel(o, size, limit, in);
    if (k) {
      kernel = std::move(k).value();
    } else {
      skipped = std::string(k.status().message());
      skipped_because = skip_kind(k.status());
      fmt::print(stderr, "kernel swap skipped ({}): {}\n", skipped_because, skipped);
    }
  }
  report(o, size, limit, in, uz, kernel, skipped, skipped_because);
  std::fflush(stdout);
  if (uz.work.bad_pages != 0 || (kernel && kernel->work.bad_pages != 0)) throw CLI::RuntimeError(1);
}

void add_swap_bench_command(CLI::App& app) {
  auto o = std::make_shared<SwapBenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "swap-bench", "Fill a region several times the limit, touch it (sequential, uniform, skewed), verify; "
                    "optionally beside kernel swap on zram in a memory cgroup");
  cmd->add_option("--size", o->size, "Region size, e.g. 1G")->capture_default_str();
  cmd->add_option("--limit", o->limit, "Resident limit (and the cgroup's, for the kernel)")->capture_default_str();
  cmd->add_option("--pattern", o->pattern, "Touch phases: seq, uniform, skewed or all")->capture_default_str();
  cmd->add_option("--algo,-a", o->algo, "Compression algorithm, e.g. lz4, lzo, zstd")->capture_default_str();
  cmd->add_option("--input,-i", o->input, "Corpus of real process pages to fill with (repeated); default synthetic");
  cmd->add_option("--touches", o->touches, "Touches of each random phase; 0 = one per page")->capture_default_str();
  cmd->add_option("--path", o->path, "Stable-page path: auto, move or wp")->capture_default_str();
  cmd->add_option("--readahead", o->readahead, "Readahead order k: up to 2^k pages a fault")->capture_default_str();
  cmd->add_option("--fault-threads", o->fault_threads, "Fault-handling threads")->capture_default_str();
  cmd->add_option("--writeback-threads", o->writeback_threads, "Compression threads; 0 = one per CPU")
      ->capture_default_str();
  cmd->add_option("--inactive", o->inactive, "Share of the limit kept inactive (0 = FIFO)")->capture_default_str();
  cmd->add_option("--spin-us", o->spin_us, "Fault thread busy-polls this long before sleeping")->capture_default_str();
  cmd->add_option("--high", o->high, "Reclaim starts at this share of the limit")->capture_default_str();
  cmd->add_option("--low", o->low, "Reclaim stops at this share of the limit")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object on stdout");
  cmd->add_flag("--compare-kernel", o->compare_kernel,
                "Run the same workload under kernel swap on /dev/zram0 in a memory cgroup (root; zram0 unused; "
                "swapoff, reset and cgroup removal afterwards)");
  cmd->callback([o] { run_swap_bench(*o); });
}

static CommandRegistrar reg(60, add_swap_bench_command);

}  // namespace
}  // namespace uzram::cli
