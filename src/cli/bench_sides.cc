// The sides of `uzram bench` and their phases. See bench_sides.h.
#include "cli/bench_sides.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include "cli/kernel_zram.h"
#include "cli/rss.h"
#include "codec/codec.h"

namespace uzram::cli {
namespace {

using Clock = std::chrono::steady_clock;

// ---- parallel phases ----------------------------------------------------------

// User + system time of all the process's threads, in seconds.
double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Runs body(thread, tally, first_page, end_page) on `threads` threads over [0, pages)
// and times it as bench_sides.h says. The threads take runs of
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

std::unique_ptr<Store> open_store(const SideOptions& opts, const InputFile& input) {
  StoreOptions store_options;
  store_options.disksize = input.bytes();
  store_options.algorithm = opts.algo;
  Result<std::unique_ptr<Store>> opened = Store::open(store_options);
  if (!opened) throw std::runtime_error("cannot open the store: " + opened.status().to_string());
  return std::move(opened).value();
}

// ---- kernel zram ------------------------------------------------------------------

// Moves `length` bytes between `data` and the device at `offset` with
// op(fd, data, n, offset), pread or pwrite, until all are moved: a short
// transfer goes on where it stopped, EINTR retries. O_DIRECT needs
// page-aligned buffers and offsets: the mapped input and the read buffers are.
template <typename Byte, typename Op>
Status transfer_all(std::string_view what, Op op, int fd, Byte* data, uint64_t offset, uint64_t length) {
  while (length > 0) {
    const ssize_t n = op(fd, data, length, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(errno, fmt::format("{} at {}", what, offset));
    }
    if (n == 0) return Status::io_error(fmt::format("{} at {}: end of device", what, offset));
    data += n;
    offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  return Status::ok();
}

Status pwrite_all(int fd, const std::byte* data, uint64_t offset, uint64_t length) {
  return transfer_all("pwrite", ::pwrite, fd, data, offset, length);
}

Status pread_all(int fd, std::byte* data, uint64_t offset, uint64_t length) {
  return transfer_all("pread", ::pread, fd, data, offset, length);
}

struct AlignedFree {
  void operator()(std::byte* p) const noexcept { std::free(p); }
};

}  // namespace

// ---- results and sides --------------------------------------------------------------

void add_tally(Tally& into, const Tally& t) {
  if (into.first_error.empty()) into.first_error = t.first_error;
  into.errors += t.errors;
  into.mismatches += t.mismatches;
}

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

SideResult run_uzram(const SideOptions& opts, const InputFile& input, Progress& progress) {
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

PhaseOutcome run_sync1_write(const SideOptions& opts, const InputFile& input, Progress& progress) {
  std::unique_ptr<Store> store = open_store(opts, input);
  return write_pages_sync(*store, input, 1, progress);
}

Result<SideResult> run_kernel(const SideOptions& opts, const InputFile& input, Progress& progress) {
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

}  // namespace uzram::cli
