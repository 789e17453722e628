// `uzram bench`: write a file's pages into a fresh Store, read them back and
// compare, and (with --compare-kernel) do the same through the kernel's
// /dev/zram0 with the same algorithm and as many writers, side by side. This
// file holds the options, the rounds and the report; bench_sides.h the sides
// and how their phases are timed. MB/s is 1e6 bytes a second of input pages
// (pages * 4096, the zero padding of a partial last page included).
//
// Rounds: a shared host's speed drifts by tens of percent from one second to
// the next, and two sides measured one after the other see different hosts.
// So the whole comparison runs --rounds times (default 5), each round on a
// fresh store and a freshly reset zram0, the order of the sides alternating
// from round to round; each side reports its best write and its best read
// over the rounds (every round's figures are in the JSON too). The memory
// figures are those of the first round, taken in a process that had stored
// nothing yet.
//
// With --async each round also writes the input once with one synchronous
// thread on a fresh store: the baseline the engine's speed-up is stated
// against ("write_vs_sync1").
//
// Exit status: 0 when every page read back equal; 1 when not, or when a
// write or read failed (the figures are printed all the same); 2 for bad
// arguments (missing or empty input, unknown algorithm, --threads out of
// 1..256, --rounds out of 1..20).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/bench_sides.h"
#include "cli/commands.h"
#include "cli/input_file.h"
#include "cli/kernel_zram.h"
#include "cli/progress.h"
#include "codec/codec.h"
#include "uzram/async_engine.h"
#include "uzram/store.h"

namespace uzram::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr unsigned kMaxThreads = 256;
constexpr unsigned kMaxRounds = 20;

struct BenchOptions {
  std::string input;
  SideOptions side;  // algo, threads, async
  bool json = false;
  bool compare_kernel = false;
  unsigned rounds = 5;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "uzram bench: %s\n", message.c_str());
  throw CLI::RuntimeError(2);
}

// ---- reporting ----------------------------------------------------------------------

double mbps(uint64_t pages, const PhaseOutcome& phase) {
  return phase.seconds > 0 ? static_cast<double>(pages * kPageSize) / 1e6 / phase.seconds : 0.0;
}
double mbps(const SideResult& r, const PhaseOutcome& phase) { return mbps(r.pages, phase); }

Json ratio(double a, double b) { return b > 0 ? Json(a / b) : Json(nullptr); }

// Everything a run measured, over all its rounds.
struct Comparison {
  SideResult uz;
  std::optional<SideResult> kernel;  // when --compare-kernel and at least one round ran
  std::string kernel_skipped;        // why the kernel's side stopped, or never ran
  std::string_view kernel_skip_kind; // skip_kind() of that reason
  std::vector<PhaseOutcome> sync1_rounds;  // --async: the one-thread synchronous write of each round

  // The fastest of sync1_rounds; null without --async.
  const PhaseOutcome* sync1() const {
    auto it = std::min_element(sync1_rounds.begin(), sync1_rounds.end(),
                               [](const PhaseOutcome& a, const PhaseOutcome& b) { return a.seconds < b.seconds; });
    return it == sync1_rounds.end() ? nullptr : &*it;
  }
};

// The fields both sides share.
Json side_json(const SideResult& r, unsigned threads) {
  Json j;
  j["algo"] = r.algo;
  j["threads"] = threads;
  j["pages"] = r.pages;
  j["orig_bytes"] = r.stats.orig_data_size;
  j["compr_bytes"] = r.stats.compr_data_size;
  j["mem_used_bytes"] = r.stats.mem_used_total;
  j["same_pages"] = r.stats.same_pages;
  j["huge_pages"] = r.stats.huge_pages;
  j["write_MBps"] = mbps(r, r.write);
  j["read_MBps"] = mbps(r, r.read);
  j["write_seconds"] = r.write.seconds;
  j["read_seconds"] = r.read.seconds;
  j["write_cpu_seconds"] = r.write.cpu_seconds;
  j["read_cpu_seconds"] = r.read.cpu_seconds;
  j["verified"] = r.verified();
  j["mismatched_pages"] = r.read.tally.mismatches;
  j["failed_write_pages"] = r.write.tally.errors;
  j["failed_read_pages"] = r.read.tally.errors;
  Json rounds = Json::array();
  for (const auto& [write, read] : r.rounds) {
    rounds.push_back({{"write_MBps", mbps(r, write)},
                      {"read_MBps", mbps(r, read)},
                      {"write_cpu_seconds", write.cpu_seconds},
                      {"read_cpu_seconds", read.cpu_seconds}});
  }
  j["rounds"] = std::move(rounds);
  return j;
}

Json report_json(const BenchOptions& opts, const InputFile& input, const Comparison& c) {
  const SideResult& uz = c.uz;
  Json j;
  j["input"] = input.path();
  j["input_bytes"] = input.file_bytes();
  j["padding_bytes"] = input.padding_bytes();
  j.update(side_json(uz, opts.side.threads));
  j["rss_anon_delta_bytes"] = uz.rss_anon_delta_bytes ? Json(*uz.rss_anon_delta_bytes) : Json(nullptr);
  j["slot_table_bytes"] = uz.stats.slot_table_bytes;
  j["store_stats"] = Json::parse(to_json(uz.stats));
  j["async"] = opts.side.async;
  if (uz.write.engine) {
    j["submit_p50_us"] = uz.write.engine->submit_call.p50_ns / 1000.0;
    j["submit_p99_us"] = uz.write.engine->submit_call.p99_ns / 1000.0;
    j["engine_stats"] = Json::parse(to_json(*uz.write.engine));
  }
  const PhaseOutcome* sync1 = c.sync1();
  if (sync1) {
    j["sync1_write_MBps"] = mbps(uz.pages, *sync1);
    j["sync1_write_cpu_seconds"] = sync1->cpu_seconds;
    Json rounds = Json::array();
    for (const PhaseOutcome& w : c.sync1_rounds) rounds.push_back(mbps(uz.pages, w));
    j["sync1_rounds_write_MBps"] = std::move(rounds);
  }
  Json ratios = Json::object();
  if (sync1) ratios["write_vs_sync1"] = ratio(mbps(uz, uz.write), mbps(uz.pages, *sync1));
  if (opts.compare_kernel) {
    if (c.kernel) {
      const SideResult& k = *c.kernel;
      j["kernel"] = side_json(k, opts.side.threads);
      if (!c.kernel_skipped.empty()) {
        j["kernel"]["stopped"] = c.kernel_skipped;
        j["kernel"]["stopped_because"] = c.kernel_skip_kind;
      }
      ratios["write"] = ratio(mbps(uz, uz.write), mbps(k, k.write));
      ratios["read"] = ratio(mbps(uz, uz.read), mbps(k, k.read));
      ratios["mem_used"] =
          ratio(static_cast<double>(uz.stats.mem_used_total), static_cast<double>(k.stats.mem_used_total));
    } else {
      j["kernel"] = {{"skipped", c.kernel_skipped}, {"skipped_because", c.kernel_skip_kind}};
    }
  }
  if (!ratios.empty()) j["ratios"] = std::move(ratios);
  return j;
}

std::string compr_ratio(const StoreStats& s) {
  return s.compr_data_size > 0 ? fmt::format("{:.2f}", static_cast<double>(s.orig_data_size) / s.compr_data_size) : "-";
}

std::string ratio_text(double a, double b) { return b > 0 ? fmt::format("{:.2f}", a / b) : "-"; }

void print_table(const BenchOptions& opts, const InputFile& input, const Comparison& c) {
  const SideResult& uz = c.uz;
  const std::optional<SideResult>& k = c.kernel;
  constexpr double kMiB = 1024.0 * 1024.0;
  std::string out = fmt::format("uzram bench: {}, {} pages ({:.1f} MiB), {}, {} thread{}\n\n", input.path(),
                                input.pages(), input.bytes() / kMiB, opts.side.algo, opts.side.threads,
                                opts.side.threads == 1 ? "" : "s");
  const bool kcol = opts.compare_kernel;
  auto row = [&](std::string_view label, const std::string& u, const std::string& kv, const std::string& r) {
    out += kcol ? fmt::format("  {:<16} {:>12} {:>13} {:>8}\n", label, u, kv, r) : fmt::format("  {:<16} {:>12}\n", label, u);
  };
  auto num = [](double v, int digits) { return fmt::format("{:.{}f}", v, digits); };
  auto ks = [&](auto f) { return k ? f(*k) : std::string("-"); };
  row("", "uzram", "kernel zram", "ratio");
  row("write MB/s", num(mbps(uz, uz.write), 1), ks([&](const SideResult& s) { return num(mbps(s, s.write), 1); }),
      k ? ratio_text(mbps(uz, uz.write), mbps(*k, k->write)) : "-");
  row("read MB/s", num(mbps(uz, uz.read), 1), ks([&](const SideResult& s) { return num(mbps(s, s.read), 1); }),
      k ? ratio_text(mbps(uz, uz.read), mbps(*k, k->read)) : "-");
  row("orig/compr", compr_ratio(uz.stats), ks([](const SideResult& s) { return compr_ratio(s.stats); }), "");
  row("mem_used MiB", num(uz.stats.mem_used_total / kMiB, 1),
      ks([&](const SideResult& s) { return num(s.stats.mem_used_total / kMiB, 1); }),
      k ? ratio_text(static_cast<double>(uz.stats.mem_used_total), static_cast<double>(k->stats.mem_used_total))
        : "-");
  row("same pages", std::to_string(uz.stats.same_pages),
      ks([](const SideResult& s) { return std::to_string(s.stats.same_pages); }), "");
  row("huge pages", std::to_string(uz.stats.huge_pages),
      ks([](const SideResult& s) { return std::to_string(s.stats.huge_pages); }), "");
  row("RSS delta MiB", uz.rss_anon_delta_bytes ? num(*uz.rss_anon_delta_bytes / kMiB, 1) : "-", "-", "");
  row("slot table MiB", num(uz.stats.slot_table_bytes / kMiB, 2), "-", "");
  if (uz.write.engine) {
    row("submit p50/p99 us", fmt::format("{:.1f}/{:.1f}", uz.write.engine->submit_call.p50_ns / 1000.0,
                                         uz.write.engine->submit_call.p99_ns / 1000.0), "-", "");
  }
  auto verified = [](const SideResult& s) {
    return s.verified() ? std::string("yes")
                        : fmt::format("NO ({} bad)", s.read.tally.mismatches + s.read.tally.errors + s.write.tally.errors);
  };
  row("verified", verified(uz), ks(verified), "");
  if (const PhaseOutcome* sync1 = c.sync1()) {
    out += fmt::format("\n  one synchronous thread: {:.1f} MB/s write; the engine's write is {} times that\n",
                       mbps(uz.pages, *sync1), ratio_text(mbps(uz, uz.write), mbps(uz.pages, *sync1)));
  }
  out += fmt::format("\n  best of {} round{} (the sides alternate their order); MB/s of each round:\n", uz.rounds.size(),
                     uz.rounds.size() == 1 ? "" : "s");
  auto round_line = [&](std::string_view name, const SideResult& s) {
    std::string line = fmt::format("  {:<12}", name);
    for (const auto& [write, read] : s.rounds) line += fmt::format(" {:.0f}/{:.0f}", mbps(s, write), mbps(s, read));
    out += line + "  (write/read)\n";
  };
  round_line("uzram", uz);
  if (k) round_line("kernel zram", *k);
  if (k && !c.kernel_skipped.empty()) {
    out += fmt::format("  kernel zram stopped ({}) {}\n", c.kernel_skip_kind, c.kernel_skipped);
  }
  std::fputs(out.c_str(), stdout);
}

void report_failures(std::string_view side, const SideResult& r) {
  if (!r.write.tally.first_error.empty()) {
    std::fprintf(stderr, "uzram bench: %.*s: %llu pages failed to write, first: %s\n", static_cast<int>(side.size()),
                 side.data(), static_cast<unsigned long long>(r.write.tally.errors), r.write.tally.first_error.c_str());
  }
  if (!r.read.tally.first_error.empty()) {
    std::fprintf(stderr, "uzram bench: %.*s: %llu pages failed to read, first: %s\n", static_cast<int>(side.size()),
                 side.data(), static_cast<unsigned long long>(r.read.tally.errors), r.read.tally.first_error.c_str());
  }
  if (r.read.tally.mismatches > 0) {
    std::fprintf(stderr, "uzram bench: %.*s: %llu pages read back different from the input\n",
                 static_cast<int>(side.size()), side.data(), static_cast<unsigned long long>(r.read.tally.mismatches));
  }
}

// ---- the command ---------------------------------------------------------------------

void run_bench(const BenchOptions& opts) {
  if (opts.side.threads == 0 || opts.side.threads > kMaxThreads) {
    usage_error(fmt::format("--threads must be 1..{}, not {}", kMaxThreads, opts.side.threads));
  }
  if (opts.rounds == 0 || opts.rounds > kMaxRounds) {
    usage_error(fmt::format("--rounds must be 1..{}, not {}", kMaxRounds, opts.rounds));
  }
  // The algorithm is checked here, before any side runs, so that a bad one
  // is an argument error (exit 2) and not a failure of the first round.
  if (Result<std::unique_ptr<codec::Codec>> codec = codec::make_codec(opts.side.algo); !codec) {
    usage_error("algorithm: " + codec.status().to_string());
  }
  if (opts.input.empty()) usage_error("--input FILE is required");
  Result<InputFile> opened = InputFile::open(opts.input);
  if (!opened) usage_error("input: " + opened.status().to_string());
  const InputFile input = std::move(opened).value();
  if (input.padding_bytes() > 0) {
    std::fprintf(stderr, "uzram bench: note: %s is %llu bytes; its last page is zero-padded with %llu bytes\n",
                 input.path().c_str(), static_cast<unsigned long long>(input.file_bytes()),
                 static_cast<unsigned long long>(input.padding_bytes()));
  }

  Progress progress(Progress::enabled_for_stderr(opts.json));
  Comparison c;
  auto kernel_round = [&](unsigned round) {
    if (!opts.compare_kernel || (round > 0 && !c.kernel_skipped.empty())) return;
    Result<SideResult> k = run_kernel(opts.side, input, progress);
    if (!k) {
      c.kernel_skipped = std::string(k.status().message());
      c.kernel_skip_kind = skip_kind(k.status());
      if (round > 0) c.kernel_skipped = fmt::format("after {} round(s): {}", round, c.kernel_skipped);
      fmt::print(stderr, "kernel zram skipped ({}): {}\n", c.kernel_skip_kind, c.kernel_skipped);
      return;
    }
    if (!c.kernel) c.kernel.emplace();
    add_round(*c.kernel, std::move(k).value());
  };
  for (unsigned round = 0; round < opts.rounds; ++round) {
    const bool kernel_first = round % 2 == 1;
    if (kernel_first) kernel_round(round);
    add_round(c.uz, run_uzram(opts.side, input, progress));
    if (opts.side.async) {
      c.sync1_rounds.push_back(run_sync1_write(opts.side, input, progress));
    }
    if (!kernel_first) kernel_round(round);
  }
  report_failures("uzram", c.uz);
  if (c.kernel) report_failures("kernel zram", *c.kernel);
  Tally sync1_failures;
  for (const PhaseOutcome& w : c.sync1_rounds) add_tally(sync1_failures, w.tally);
  if (sync1_failures.errors > 0) {
    std::fprintf(stderr, "uzram bench: one-thread baseline: %llu pages failed to write, first: %s\n",
                 static_cast<unsigned long long>(sync1_failures.errors), sync1_failures.first_error.c_str());
  }

  if (opts.json) {
    std::string text = report_json(opts, input, c).dump(2, ' ', false, Json::error_handler_t::replace);
    std::printf("%s\n", text.c_str());
  } else {
    print_table(opts, input, c);
  }
  std::fflush(stdout);
  if (!c.uz.verified() || (c.kernel && !c.kernel->verified()) || sync1_failures.errors > 0) throw CLI::RuntimeError(1);
}

void add_bench_command(CLI::App& app) {
  auto opts = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Write a file's pages into a fresh store, read them back and verify; optionally side by side with "
               "the kernel's zram (/dev/zram0)");
  cmd->add_option("--input,-i", opts->input, "File whose 4 KiB pages are stored (a partial last page is zero-padded)");
  cmd->add_option("--algo,-a", opts->side.algo, "Compression algorithm, e.g. lz4, lzo, zstd:level=3")->capture_default_str();
  cmd->add_option("--threads,-t", opts->side.threads, "Parallel writers and readers, 1..256")->capture_default_str();
  cmd->add_flag("--json", opts->json, "Print one JSON object on stdout (progress and notes go to stderr)");
  cmd->add_flag("--compare-kernel", opts->compare_kernel,
                "Run the same input through /dev/zram0 too (root; zram0 must be unused; it is reset afterwards)");
  cmd->add_flag("--async", opts->side.async,
                "Write every page through the asynchronous engine, with --threads workers and one submitting thread; "
                "each round also writes with one synchronous thread, the baseline of the ratio write_vs_sync1");
  cmd->add_option("--rounds", opts->rounds,
                  "Rounds of the whole comparison, 1..20; each side reports its best write and best read")
      ->capture_default_str();
  cmd->callback([opts] { run_bench(*opts); });
}

static CommandRegistrar reg(100, add_bench_command);

}  // namespace
}  // namespace uzram::cli
