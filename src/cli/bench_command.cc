// `uzram bench`: write a file's pages into a fresh Store, read them back and
// compare, and (with --compare-kernel) do the same through the kernel's
// /dev/zram0 with the same algorithm and as many writers, side by side.
//
// How a phase is timed: its N threads are started first and wait at a start
// barrier; the clock starts when they are released and the phase ends when
// the last one finishes (each notes its own finish time), so thread creation
// and joining stay out of the figure. MB/s is 1e6 bytes a second of input
// pages (pages * 4096, the zero padding of a partial last page included).
// Beside the wall clock each phase notes the CPU time the process spent in it
// (user + system, all threads). It leaves out the time a virtual CPU was
// stolen by the host, though not the slowdown a busy host inflicts on the
// CPU's work: it moves too, less than the wall clock.
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
// 1..256).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/input_file.h"
#include "cli/kernel_zram.h"
#include "cli/progress.h"
#include "cli/rss.h"
#include "codec/codec.h"
#include "uzram/async_engine.h"
#include "uzram/store.h"

namespace uzram::cli {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

constexpr unsigned kMaxThreads = 256;
constexpr unsigned kMaxRounds = 20;
constexpr uint64_t kChunkPages = 256;  // pages a phase's thread takes at a time: 1 MiB

struct BenchOptions {
  std::string input;
  std::string algo = "lz4";
  unsigned threads = 1;
  bool json = false;
  bool compare_kernel = false;
  bool async = false;  // write through an AsyncEngine with `threads` workers
  unsigned rounds = 5;
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
void add_tally(Tally& into, const Tally& t) {
  if (into.first_error.empty()) into.first_error = t.first_error;
  into.errors += t.errors;
  into.mismatches += t.mismatches;
}

// Folds `round` into `all`: keeps the faster phase of each kind and the first
// round's memory figures, and sums the failures of every round.
void add_round(SideResult& all, SideResult round) {
  if (all.rounds.empty()) {
    all = std::move(round);
    all.rounds = {{all.write, all.read}};
    return;
  }
  all.rounds.emplace_back(round.write, round.read);
  auto keep_faster = [](PhaseOutcome& best, const PhaseOutcome& next) {
    Tally sum = best.tally;
    add_tally(sum, next.tally);
    if (next.seconds < best.seconds) best = next;
    best.tally = std::move(sum);
  };
  keep_faster(all.write, round.write);
  keep_faster(all.read, round.read);
}

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "uzram bench: %s\n", message.c_str());
  throw CLI::RuntimeError(2);
}

// ---- parallel phases ----------------------------------------------------------

// User + system time of all the process's threads, in seconds.
double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Runs body(thread, tally, first_page, end_page) on `threads` threads over [0, pages)
// and times it as the file comment says. The threads take runs of
// kChunkPages from a shared cursor, not fixed halves: the pages of a real
// corpus differ in cost along the file (a static split of the Python heap
// left one writer idle for 15-30 % of the phase), and both sides get the same
// split. Each chunk is one O_DIRECT request of the kernel's side.
template <typename Body>
PhaseOutcome run_phase(unsigned threads, uint64_t pages, std::string_view name, Progress& progress, Body body) {
  std::vector<Tally> tallies(threads);
  std::vector<Clock::time_point> finished(threads);
  std::latch ready(threads);
  std::latch go(1);
  std::mutex mu;
  std::condition_variable all_done;
  unsigned running = threads;  // guarded by mu
  std::atomic<bool> abandon{false};  // thread creation failed: workers skip the body
  // The first page no thread has taken yet. Relaxed: a chunk only has to go
  // to one thread; what the threads wrote is read after join().
  std::atomic<uint64_t> cursor{0};

  std::vector<std::thread> workers;
  workers.reserve(threads);
  auto worker = [&](unsigned t) {
    ready.count_down();
    go.wait();
    if (!abandon.load(std::memory_order_relaxed)) {
      for (uint64_t first; (first = cursor.fetch_add(kChunkPages, std::memory_order_relaxed)) < pages;) {
        const uint64_t end = std::min(first + kChunkPages, pages);
        body(t, tallies[t], first, end);
        progress.add((end - first) * kPageSize);
      }
    }
    finished[t] = Clock::now();
    {
      std::lock_guard<std::mutex> lock(mu);
      --running;
    }
    all_done.notify_one();
  };
  try {
    for (unsigned t = 0; t < threads; ++t) workers.emplace_back(worker, t);
  } catch (...) {
    abandon.store(true);
    for (size_t t = workers.size(); t < threads; ++t) ready.count_down();
    go.count_down();
    for (std::thread& w : workers) w.join();
    throw;
  }
  ready.wait();
  progress.begin(name, pages * kPageSize);
  const double cpu_start = process_cpu_seconds();
  const Clock::time_point start = Clock::now();
  go.count_down();
  {
    std::unique_lock<std::mutex> lock(mu);
    while (running > 0) {
      if (progress.enabled()) {
        all_done.wait_for(lock, std::chrono::milliseconds(100));
        lock.unlock();
        progress.tick();
        lock.lock();
      } else {
        all_done.wait(lock);
      }
    }
  }
  for (std::thread& w : workers) w.join();
  PhaseOutcome out;
  out.cpu_seconds = process_cpu_seconds() - cpu_start;
  progress.end();

  out.seconds = std::chrono::duration<double>(*std::max_element(finished.begin(), finished.end()) - start).count();
  for (const Tally& t : tallies) add_tally(out.tally, t);
  return out;
}

void note_error(Tally& tally, uint64_t pages, const std::string& what) {
  if (tally.errors == 0) tally.first_error = what;
  tally.errors += pages;
}

// ---- uzram ------------------------------------------------------------------------

// A write phase stores every page of the input in the store. The synchronous
// one below calls Store::write from each thread; an asynchronous engine's
// phase (--async) takes the same arguments and returns the same outcome,
// timed from the first submission to the last completion.
using WritePhase = PhaseOutcome (*)(Store& store, const InputFile& input, unsigned threads, Progress& progress);

PhaseOutcome write_pages_sync(Store& store, const InputFile& input, unsigned threads, Progress& progress) {
  return run_phase(threads, input.pages(), "uzram write", progress, [&](unsigned, Tally& tally, uint64_t first, uint64_t end) {
    for (uint64_t p = first; p < end; ++p) {
      Status s = store.write(p, input.page(p));
      if (!s.is_ok()) note_error(tally, 1, fmt::format("write of page {}: {}", p, s.to_string()));
    }
  });
}

// The write phase of --async: this thread submits every page, in batches of
// the engine's max_batch, to an AsyncEngine whose `threads` workers compress
// and store them; a full queue blocks the submit. The input mapping is never
// written, so the stable-page promise holds. Timed from the first submission
// to the last completion (flush).
PhaseOutcome write_pages_async(Store& store, const InputFile& input, unsigned threads, Progress& progress) {
  // Counts failed pages; request_done runs on the engine's workers.
  class Done final : public WriteCompletion {
   public:
    explicit Done(Progress& progress) : progress_(progress) {}
    void request_done(const WriteRequest& r, const Status& s) noexcept override {
      if (s.is_ok()) return;
      std::lock_guard<std::mutex> lock(mu_);
      if (tally_.errors++ == 0) tally_.first_error = "write of page " + std::to_string(r.index) + ": " + s.to_string();
    }
    void batch_done(const BatchResult& b) noexcept override { progress_.add(b.requests * kPageSize); }
    Tally tally() {
      std::lock_guard<std::mutex> lock(mu_);
      return tally_;
    }

   private:
    Progress& progress_;
    std::mutex mu_;
    Tally tally_;  // guarded by mu_
  };

  EngineOptions engine_options;
  engine_options.workers = threads;
  Result<std::unique_ptr<AsyncEngine>> engine = AsyncEngine::create(store, engine_options);
  if (!engine) throw std::runtime_error("cannot start the writeback engine: " + engine.status().to_string());
  Done done(progress);
  std::vector<WriteRequest> batch;
  const size_t max_batch = (*engine)->options().max_batch;
  batch.reserve(max_batch);
  PhaseOutcome out;
  progress.begin("uzram write (async)", input.pages() * kPageSize);
  const double cpu_start = process_cpu_seconds();
  const Clock::time_point start = Clock::now();
  for (uint64_t p = 0; p < input.pages();) {
    batch.clear();
    for (; p < input.pages() && batch.size() < max_batch; ++p) batch.push_back({p, input.data(p), nullptr});
    Status s = (*engine)->submit(batch, &done, WhenFull::kBlock);
    if (!s.is_ok()) note_error(out.tally, batch.size(), fmt::format("submit of pages from {}: {}", batch[0].index, s.to_string()));
    if (p % (64 * max_batch) == 0) progress.tick();
  }
  (*engine)->flush();
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  out.cpu_seconds = process_cpu_seconds() - cpu_start;
  progress.end();
  add_tally(out.tally, done.tally());
  out.engine = (*engine)->stats();
  return out;
}

PhaseOutcome read_pages(Store& store, const InputFile& input, unsigned threads, Progress& progress) {
  return run_phase(threads, input.pages(), "uzram read", progress, [&](unsigned, Tally& tally, uint64_t first, uint64_t end) {
    alignas(kPageSize) std::byte buffer[kPageSize];
    for (uint64_t p = first; p < end; ++p) {
      Status s = store.read(p, PageBuffer(buffer, kPageSize));
      if (!s.is_ok()) {
        note_error(tally, 1, fmt::format("read of page {}: {}", p, s.to_string()));
      } else if (std::memcmp(buffer, input.data(p), kPageSize) != 0) {
        ++tally.mismatches;
      }
    }
  });
}

std::unique_ptr<Store> open_store(const BenchOptions& opts, const InputFile& input) {
  StoreOptions store_options;
  store_options.disksize = input.bytes();
  store_options.algorithm = opts.algo;
  Result<std::unique_ptr<Store>> opened = Store::open(store_options);
  if (!opened) {
    if (opened.status().code() == Status::Code::kInvalidArgument) usage_error(opened.status().to_string());
    throw std::runtime_error("cannot open the store: " + opened.status().to_string());
  }
  return std::move(opened).value();
}

SideResult run_uzram(const BenchOptions& opts, const InputFile& input, Progress& progress) {
  Result<uint64_t> rss_before = rss_anon_bytes();
  std::unique_ptr<Store> store = open_store(opts, input);
  SideResult r;
  r.algo = opts.algo;
  r.pages = input.pages();
  WritePhase write_phase = opts.async ? write_pages_async : write_pages_sync;
  r.write = write_phase(*store, input, opts.threads, progress);
  Result<uint64_t> rss_after = rss_anon_bytes();
  if (rss_before && rss_after) {
    r.rss_anon_delta_bytes = static_cast<int64_t>(*rss_after) - static_cast<int64_t>(*rss_before);
  }
  r.stats = store->stats();
  r.read = read_pages(*store, input, opts.threads, progress);
  return r;
}

// The baseline of --async: one thread calling Store::write on a fresh store.
PhaseOutcome run_sync1_write(const BenchOptions& opts, const InputFile& input, Progress& progress) {
  std::unique_ptr<Store> store = open_store(opts, input);
  return write_pages_sync(*store, input, 1, progress);
}

// ---- kernel zram ------------------------------------------------------------------

// Whole-request transfers of [first, end) pages at the device's same offsets.
// O_DIRECT needs page-aligned buffers and offsets: the mapped input is.
Status pwrite_all(int fd, const std::byte* data, uint64_t offset, uint64_t length) {
  while (length > 0) {
    ssize_t n = ::pwrite(fd, data, length, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(errno, fmt::format("pwrite at {}", offset));
    }
    if (n == 0) return Status::io_error(fmt::format("pwrite at {} wrote nothing", offset));
    data += n;
    offset += n;
    length -= n;
  }
  return Status::ok();
}

Status pread_all(int fd, std::byte* data, uint64_t offset, uint64_t length) {
  while (length > 0) {
    ssize_t n = ::pread(fd, data, length, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(errno, fmt::format("pread at {}", offset));
    }
    if (n == 0) return Status::io_error(fmt::format("pread at {}: end of device", offset));
    data += n;
    offset += n;
    length -= n;
  }
  return Status::ok();
}

struct AlignedFree {
  void operator()(std::byte* p) const noexcept { std::free(p); }
};

// The kernel's side. An error status means the comparison cannot be made
// (the reason is printed as "kernel zram skipped: ..."); failures of single
// requests are counted in the outcome instead.
Result<SideResult> run_kernel(const BenchOptions& opts, const InputFile& input, Progress& progress) {
  Result<codec::CodecSpec> spec = codec::parse_codec_spec(opts.algo);
  if (!spec) return spec.status();
  if (!spec->dict_path.empty()) return Status::unsupported("the comparison does not pass a zstd dictionary to the kernel");
  const std::string kernel_algo = kernel_algorithm_name(spec->name);

  Result<std::unique_ptr<ZramDevice>> claimed = ZramDevice::claim(0);
  if (!claimed) return claimed.status();
  std::unique_ptr<ZramDevice> device = std::move(claimed).value();  // resets the device when it goes
  // A level goes to the kernel only when the user named one: the default
  // levels of the two sides need not agree.
  const int level = opts.algo.find(':') != std::string::npos ? spec->level : 0;
  UZRAM_RETURN_IF_ERROR(device->set_algorithm(kernel_algo, level));
  UZRAM_RETURN_IF_ERROR(device->set_disksize(input.bytes()));
  Result<int> io = device->open_io();
  if (!io) return io.status();
  const int fd = *io;

  SideResult r;
  r.algo = kernel_algo;
  r.pages = input.pages();
  r.write = run_phase(opts.threads, input.pages(), "kernel write", progress,
                      [&](unsigned, Tally& tally, uint64_t first, uint64_t end) {
                        Status s = pwrite_all(fd, input.data(first), first * kPageSize, (end - first) * kPageSize);
                        if (!s.is_ok()) note_error(tally, end - first, s.to_string());
                      });
  Result<StoreStats> stats = device->stats();
  if (!stats) return stats.status();
  r.stats = *stats;
  // One 1 MiB buffer per reader, allocated before the clock starts.
  std::vector<std::unique_ptr<std::byte, AlignedFree>> buffers;
  for (unsigned t = 0; t < opts.threads; ++t) {
    buffers.emplace_back(static_cast<std::byte*>(std::aligned_alloc(kPageSize, kChunkPages * kPageSize)));
    if (!buffers.back()) return Status::from_errno(ENOMEM, "read buffers of the kernel's side");
  }
  r.read = run_phase(opts.threads, input.pages(), "kernel read", progress,
                     [&](unsigned t, Tally& tally, uint64_t first, uint64_t end) {
                       std::byte* buffer = buffers[t].get();
                       Status s = pread_all(fd, buffer, first * kPageSize, (end - first) * kPageSize);
                       if (!s.is_ok()) {
                         note_error(tally, end - first, s.to_string());
                         return;
                       }
                       for (uint64_t p = first; p < end; ++p) {
                         if (std::memcmp(buffer + (p - first) * kPageSize, input.data(p), kPageSize) != 0) {
                           ++tally.mismatches;
                         }
                       }
                     });
  return r;
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
  j.update(side_json(uz, opts.threads));
  j["rss_anon_delta_bytes"] = uz.rss_anon_delta_bytes ? Json(*uz.rss_anon_delta_bytes) : Json(nullptr);
  j["slot_table_bytes"] = uz.stats.slot_table_bytes;
  j["store_stats"] = Json::parse(to_json(uz.stats));
  j["async"] = opts.async;
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
      j["kernel"] = side_json(k, opts.threads);
      if (!c.kernel_skipped.empty()) j["kernel"]["stopped"] = c.kernel_skipped;
      ratios["write"] = ratio(mbps(uz, uz.write), mbps(k, k.write));
      ratios["read"] = ratio(mbps(uz, uz.read), mbps(k, k.read));
      ratios["mem_used"] =
          ratio(static_cast<double>(uz.stats.mem_used_total), static_cast<double>(k.stats.mem_used_total));
    } else {
      j["kernel"] = {{"skipped", c.kernel_skipped}};
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
                                input.pages(), input.bytes() / kMiB, opts.algo, opts.threads,
                                opts.threads == 1 ? "" : "s");
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
  if (k && !c.kernel_skipped.empty()) out += fmt::format("  kernel zram stopped {}\n", c.kernel_skipped);
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
  if (opts.threads == 0 || opts.threads > kMaxThreads) {
    usage_error(fmt::format("--threads must be 1..{}, not {}", kMaxThreads, opts.threads));
  }
  if (opts.rounds == 0 || opts.rounds > kMaxRounds) {
    usage_error(fmt::format("--rounds must be 1..{}, not {}", kMaxRounds, opts.rounds));
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
    Result<SideResult> k = run_kernel(opts, input, progress);
    if (!k) {
      c.kernel_skipped = std::string(k.status().message());
      if (round > 0) c.kernel_skipped = fmt::format("after {} round(s): {}", round, c.kernel_skipped);
      std::fprintf(stderr, "kernel zram skipped: %s\n", c.kernel_skipped.c_str());
      return;
    }
    if (!c.kernel) c.kernel.emplace();
    add_round(*c.kernel, std::move(k).value());
  };
  for (unsigned round = 0; round < opts.rounds; ++round) {
    const bool kernel_first = round % 2 == 1;
    if (kernel_first) kernel_round(round);
    add_round(c.uz, run_uzram(opts, input, progress));
    if (opts.async) {
      c.sync1_rounds.push_back(run_sync1_write(opts, input, progress));
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
  cmd->add_option("--algo,-a", opts->algo, "Compression algorithm, e.g. lz4, lzo, zstd:level=3")->capture_default_str();
  cmd->add_option("--threads,-t", opts->threads, "Parallel writers and readers, 1..256")->capture_default_str();
  cmd->add_flag("--json", opts->json, "Print one JSON object on stdout (progress and notes go to stderr)");
  cmd->add_flag("--compare-kernel", opts->compare_kernel,
                "Run the same input through /dev/zram0 too (root; zram0 must be unused; it is reset afterwards)");
  cmd->add_flag("--async", opts->async,
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
