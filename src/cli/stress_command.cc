// `uzram stress`: the seed's race on a fresh store, through the asynchronous
// engine, for a given time (writeback/stress.h describes the run). Writers
// submit versioned pages, completions make each page ready for its next
// version, reads check that every page is one whole version; with --mutate a
// page is rewritten the instant its write completes, and with
// --inject-alloc-failure that fraction of the store's fast-path allocations
// fails, so its slow path (the path of the seed's overrun) runs.
//
// Exit status: 0 when every page read back was one whole version in range;
// 1 when some was not (corrupt_pages > 0) or a read or write failed; 2 for
// bad arguments.
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "uzram/async_engine.h"
#include "uzram/store.h"
#include "writeback/stress.h"

namespace uzram::cli {
namespace {

using Json = nlohmann::ordered_json;

struct StressCliOptions {
  double seconds = 10;
  size_t writers = 2;
  size_t workers = 0;
  uint64_t pages = 16384;
  size_t batch = 16;
  size_t queue_depth = 0;
  std::string algo = "lz4";
  bool mutate = false;
  bool break_promise = false;
  double inject = 0;
  bool json = false;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "uzram stress: %s\n", message.c_str());
  throw CLI::RuntimeError(2);
}

double us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

Json report_json(const StressCliOptions& o, const writeback::StressReport& r, const StoreStats& store) {
  const EngineStats& e = r.engine;
  Json j;
  j["seconds"] = r.seconds;
  j["writers"] = o.writers;
  j["workers"] = e.workers;
  j["pages"] = o.pages;
  j["algo"] = o.algo;
  j["mutate"] = o.mutate;
  j["break_promise"] = o.break_promise;
  j["inject_alloc_failure"] = o.inject;
  j["ops"] = r.ops;
  j["ops_per_second"] = r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0.0;
  j["pages_verified"] = r.pages_verified;
  j["corrupt_pages"] = r.corrupt_pages;
  j["write_errors"] = r.write_errors;
  j["read_errors"] = r.read_errors;
  j["corrupt_samples"] = r.corrupt_samples;
  j["complete_p50_us"] = us(e.complete.p50_ns);
  j["complete_p99_us"] = us(e.complete.p99_ns);
  j["complete_p999_us"] = us(e.complete.p999_ns);
  j["submit_p50_us"] = us(e.submit_call.p50_ns);
  j["submit_p99_us"] = us(e.submit_call.p99_ns);
  j["submit_p999_us"] = us(e.submit_call.p999_ns);
  j["engine"] = Json::parse(to_json(e));
  j["store"] = Json::parse(to_json(store));
  return j;
}

void print_text(const StressCliOptions& o, const writeback::StressReport& r) {
  const EngineStats& e = r.engine;
  std::string out = fmt::format(
      "uzram stress: {:.1f} s, {} writers, {} workers, {} pages, {}{}{}, fast-path failure {:.2f}\n\n", r.seconds,
      o.writers, e.workers, o.pages, o.algo, o.mutate ? ", mutate" : "", o.break_promise ? ", break-promise" : "",
      o.inject);
  out += fmt::format("  {:<24} {:>14}\n", "ops", r.ops);
  out += fmt::format("  {:<24} {:>14.0f}\n", "ops/s", r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0.0);
  out += fmt::format("  {:<24} {:>14}\n", "pages verified", r.pages_verified);
  out += fmt::format("  {:<24} {:>14}\n", "corrupt pages", r.corrupt_pages);
  out += fmt::format("  {:<24} {:>14}\n", "write / read errors", fmt::format("{} / {}", r.write_errors, r.read_errors));
  out += fmt::format("  {:<24} {:>14}\n", "superseded writes", e.superseded);
  out += fmt::format("  {:<24} {:>14}\n", "queue full", e.queue_full);
  out += fmt::format("  {:<24} {:>14}\n", "worker batch mean/max",
                     fmt::format("{:.1f} / {}", e.worker_batch_mean, e.worker_batch_max));
  out += fmt::format("  {:<24} {:>14}\n", "in-flight reads", e.in_flight_reads);
  out += fmt::format("  {:<24} {:>14}\n", "complete p50/p99/p99.9",
                     fmt::format("{:.0f}/{:.0f}/{:.0f} us", us(e.complete.p50_ns), us(e.complete.p99_ns),
                                 us(e.complete.p999_ns)));
  out += fmt::format("  {:<24} {:>14}\n", "submit p50/p99/p99.9",
                     fmt::format("{:.1f}/{:.1f}/{:.1f} us", us(e.submit_call.p50_ns), us(e.submit_call.p99_ns),
                                 us(e.submit_call.p999_ns)));
  std::fputs(out.c_str(), stdout);
  for (const std::string& s : r.corrupt_samples) std::fprintf(stderr, "uzram stress: corrupt: %s\n", s.c_str());
}

void run_stress_command(const StressCliOptions& o) {
  if (!(o.seconds > 0)) usage_error("--seconds must be > 0");
  if (!(o.inject >= 0 && o.inject <= 1)) usage_error("--inject-alloc-failure must be 0..1");
  if (o.writers == 0 || o.writers > 1024) usage_error("--writers must be 1..1024");
  if (o.pages < o.writers || o.pages > (uint64_t{1} << 32)) usage_error("--pages must be at least --writers and at most 2^32");
  if (o.batch == 0 || o.batch > 1024) usage_error("--batch must be 1..1024");

  StoreOptions so;
  so.disksize = o.pages * kPageSize;
  so.algorithm = o.algo;
  so.inject_fast_path_failure = o.inject;
  Result<std::unique_ptr<Store>> store = Store::open(so);
  if (!store) {
    if (store.status().code() == Status::Code::kInvalidArgument) usage_error(store.status().to_string());
    throw std::runtime_error("cannot open the store: " + store.status().to_string());
  }

  writeback::StressOptions so2;
  so2.seconds = o.seconds;
  so2.writers = o.writers;
  so2.pages = o.pages;
  so2.batch = o.batch;
  so2.mutate = o.mutate;
  so2.break_promise = o.break_promise;
  so2.engine.workers = o.workers;
  so2.engine.queue_depth = o.queue_depth;
  Result<writeback::StressReport> r = writeback::run_stress(**store, so2);
  if (!r) {
    if (r.status().code() == Status::Code::kInvalidArgument) usage_error(r.status().to_string());
    throw std::runtime_error("stress run failed: " + r.status().to_string());
  }
  if (o.json) {
    std::printf("%s\n", report_json(o, *r, (*store)->stats()).dump(2).c_str());
  } else {
    print_text(o, *r);
  }
  std::fflush(stdout);
  if (r->corrupt_pages > 0 || r->read_errors > 0 || r->write_errors > 0) throw CLI::RuntimeError(1);
}

void add_stress_command(CLI::App& app) {
  auto o = std::make_shared<StressCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "stress", "Race writers, asynchronous writeback and page rewrites on a fresh store and verify every page "
                "read back is one whole version (the seed's bug, reproduced and checked)");
  cmd->add_option("--seconds,-s", o->seconds, "How long to run")->capture_default_str();
  cmd->add_option("--writers,-w", o->writers, "Submitting threads, 1..1024")->capture_default_str();
  cmd->add_option("--workers,-k", o->workers, "Engine worker threads; 0 = one per CPU")->capture_default_str();
  cmd->add_option("--pages,-p", o->pages, "Slots written (the store holds this many pages)")->capture_default_str();
  cmd->add_option("--batch,-b", o->batch, "Requests per submit()")->capture_default_str();
  cmd->add_option("--queue-depth", o->queue_depth, "Requests in flight at most; 0 = the engine's default")
      ->capture_default_str();
  cmd->add_option("--algo,-a", o->algo, "Compression algorithm, e.g. lz4, lzo, zstd:level=3")->capture_default_str();
  cmd->add_flag("--mutate", o->mutate, "Rewrite each page the instant its write completes (the seed's race)");
  cmd->add_flag("--break-promise", o->break_promise,
                "Tell the engine the store takes no stable writes (it copies at submit) and rewrite pages while "
                "their writes are in flight");
  cmd->add_option("--inject-alloc-failure", o->inject,
                  "Fraction 0..1 of the store's fast-path allocations made to fail (its slow path runs)")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object on stdout");
  cmd->callback([o] { run_stress_command(*o); });
}

static CommandRegistrar reg(110, add_stress_command);

}  // namespace
}  // namespace uzram::cli
