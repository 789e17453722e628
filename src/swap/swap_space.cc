// SwapSpace: opening, regions, statistics. See include/uzram/swap_space.h and
// docs/swap.md.
//
// Objects of a space and their order of destruction (the reverse of the
// members' order below): the reclaimer is stopped and the engine flushed
// first (completions use the reclaimer's batches and the core), then every
// region is unregistered and unmapped (which wakes any thread still asleep
// in a fault), then the fault threads stop; the core, the engine and the
// store go last.
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include "swap/fault_handler.h"
#include "swap/reclaimer.h"
#include "swap/swap_space_impl.h"

namespace uzram::swap {
namespace {

// ---- fork: the regions are MADV_DONTFORK; say so when it happens ----------------
// The child of a fork() does not inherit the regions (touching one there is
// SIGSEGV, never stale or zero data); without DONTFORK it would inherit a
// copy that userfaultfd no longer serves, where every swapped page silently
// reads as zeros. See docs/swap.md, "fork".
std::mutex g_spaces_mu;
std::set<Core*> g_spaces;  // guarded by g_spaces_mu: open spaces

void warn_at_fork() {
  std::lock_guard lock(g_spaces_mu);
  uint64_t pages = 0;
  for (Core* c : g_spaces) pages += c->regions.mapped_pages();
  if (pages > 0) {
    std::fprintf(stderr,
                 "uzram: fork() with %llu KiB in swap regions: the child does not inherit them "
                 "(MADV_DONTFORK); touching one in the child raises SIGSEGV\n",
                 static_cast<unsigned long long>(pages * 4));
  }
}

void register_space(Core* c) {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(warn_at_fork, nullptr, nullptr); });
  std::lock_guard lock(g_spaces_mu);
  g_spaces.insert(c);
}

void unregister_space(Core* c) {
  std::lock_guard lock(g_spaces_mu);
  g_spaces.erase(c);
}

Status check_options(const SwapOptions& o) {
  if (o.limit < 16 * kPageSize) return Status::invalid_argument("limit: at least 64 KiB");
  if (!(o.high_watermark > 0 && o.high_watermark <= 1)) return Status::invalid_argument("high: in (0, 1]");
  if (!(o.low_watermark > 0 && o.low_watermark < o.high_watermark)) {
    return Status::invalid_argument("low: in (0, high)");
  }
  if (o.size < kPageSize) return Status::invalid_argument("size: at least one page");
  if (o.readahead_order > 9) return Status::invalid_argument("readahead: an order 0..9 (1..512 pages)");
  if (!(o.inactive_ratio >= 0 && o.inactive_ratio <= 0.5)) return Status::invalid_argument("inactive: in [0, 0.5]");
  if (o.fault_threads < 1 || o.fault_threads > 64) return Status::invalid_argument("fault_threads: 1..64");
  if (o.writeback_threads > 256) return Status::invalid_argument("writeback_threads: 0..256");
  return Status::ok();
}

class SpaceImpl final : public SwapSpace {
 public:
  SpaceImpl(std::unique_ptr<Store> store, std::unique_ptr<AsyncEngine> engine, std::unique_ptr<Core> core,
            std::string features)
      : store_(std::move(store)),
        engine_(std::move(engine)),
        core_(std::move(core)),
        faults_(*core_),
        reclaimer_(*core_),
        kernel_features_(std::move(features)) {}

  Status start() {
    UZRAM_RETURN_IF_ERROR(faults_.start(core_->options.fault_threads));
    reclaimer_.start();
    register_space(core_.get());
    return Status::ok();
  }

  ~SpaceImpl() override {
    unregister_space(core_.get());
    reclaimer_.stop();
    engine_->flush();
    for (const Extent& e : core_->regions.extents()) {
      (void)core_->uffd.unregister_range(reinterpret_cast<void*>(e.addr), e.pages * kPageSize);
      (void)os::unmap(reinterpret_cast<void*>(e.addr), e.pages * kPageSize);
    }
    faults_.stop();
  }

  Result<void*> map(size_t bytes) noexcept override {
    if (bytes == 0) return Status::invalid_argument("map of 0 bytes");
    const uint64_t pages = (bytes + kPageSize - 1) / kPageSize;
    Result<PageId> first = core_->regions.allocate(pages);
    if (!first) return first.status();
    Result<void*> addr = os::map_region(pages * kPageSize);
    if (!addr) {
      core_->regions.release(*first, pages);
      return addr.status();
    }
    uint32_t modes = Uffd::kMissing | (core_->move_path() ? 0u : static_cast<uint32_t>(Uffd::kWriteProtect));
    Status st = core_->uffd.register_range(*addr, pages * kPageSize, modes);
    if (!st.is_ok()) {
      (void)os::unmap(*addr, pages * kPageSize);
      core_->regions.release(*first, pages);
      return st.with_context("registering a region");
    }
    const uintptr_t a = reinterpret_cast<uintptr_t>(*addr);
    // An address the kernel just handed out can still be in our map when the
    // program's munmap or mremap of it has not been applied yet (its event
    // is read, not yet processed): wait for the fault thread.
    for (int tries = 0;; ++tries) {
      auto lock = core_->regions.lock_exclusive();
      if (!core_->regions.overlaps_locked(a, pages) || tries > 50000) {
        core_->regions.add_locked(a, pages, *first);
        break;
      }
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return *addr;
  }

  Status unmap(void* addr, size_t bytes) noexcept override {
    const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
    if (bytes == 0 || a % kPageSize != 0) {
      return Status::invalid_argument("unmap: the address must be page aligned and the length not 0");
    }
    const uint64_t pages = (bytes + kPageSize - 1) / kPageSize;
    std::vector<Extent> gone;
    {
      auto lock = core_->regions.lock_exclusive();
      if (!core_->regions.covers_locked(a, pages)) {
        return Status::invalid_argument("unmap: the range is not (all) mapped by this space");
      }
      gone = core_->regions.remove_locked(a, pages);
    }
    for (const Extent& e : gone) core_->release_pages(e.first, e.pages, PageState::kUnmapped);
    // Unregistered first, so that munmap sends no UNMAP event of ours.
    UZRAM_RETURN_IF_ERROR(core_->uffd.unregister_range(addr, pages * kPageSize));
    return os::unmap(addr, pages * kPageSize);
  }

  Status trim(uint64_t resident_bytes) noexcept override { return reclaimer_.trim(resident_bytes / kPageSize); }

  SwapStats stats() const noexcept override {
    const Core& c = *core_;
    const Counters& k = c.counters;
    auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    SwapStats s;
    s.path = c.path;
    s.kernel_features = kernel_features_;
    s.limit_bytes = c.limit_pages * kPageSize;
    s.mapped_bytes = c.regions.mapped_pages() * kPageSize;
    s.resident_bytes = static_cast<uint64_t>(std::max<int64_t>(0, c.resident())) * kPageSize;
    s.resident_peak_bytes = static_cast<uint64_t>(std::max<int64_t>(0, c.resident_peak())) * kPageSize;
    s.cached_pages = c.table->count(PageState::kCached);
    s.writeback_pages = c.table->count(PageState::kWriteback);
    s.swapped_pages = c.table->count(PageState::kSwapped) + c.table->count(PageState::kZapping);
    StoreStats st = c.store.stats();
    s.stored_bytes = st.orig_data_size;
    s.compressed_bytes = st.compr_data_size;
    s.store_mem_bytes = st.mem_used_total;
    s.store_mem_peak_bytes = st.mem_used_max;
    s.major_faults = get(k.major_faults);
    s.minor_faults = get(k.minor_faults);
    s.zero_fill_pages = get(k.zero_fill_pages);
    s.refaults = get(k.refaults);
    s.readahead_pages = get(k.readahead_pages);
    s.readahead_hits = get(k.readahead_hits);
    s.swap_ins = get(k.swap_ins);
    s.swap_outs = get(k.swap_outs);
    s.stale_writes = get(k.stale_writes);
    s.store_full = get(k.store_full);
    s.limit_waits = get(k.limit_waits);
    s.events_remove = get(k.events_remove);
    s.events_unmap = get(k.events_unmap);
    s.events_remap = get(k.events_remap);
    s.unmanaged_faults = get(k.unmanaged_faults);
    LatencySummary lat = c.fault_latency.summary();
    s.fault_latency = SwapLatency{lat.count, lat.p50_ns, lat.p99_ns, lat.max_ns};
    return s;
  }

  const SwapOptions& options() const noexcept override { return core_->options; }
  SwapPath path() const noexcept override { return core_->path; }
  Core& core() noexcept { return *core_; }

 private:
  std::unique_ptr<Store> store_;
  std::unique_ptr<AsyncEngine> engine_;
  std::unique_ptr<Core> core_;
  FaultHandler faults_;
  Reclaimer reclaimer_;
  const std::string kernel_features_;
};

}  // namespace

Result<std::unique_ptr<SwapSpace>> open_space(const SwapOptions& options, std::unique_ptr<Store> store) {
  UZRAM_RETURN_IF_ERROR(check_options(options));
  Result<UffdFeatures> offered = Uffd::probe();
  if (!offered) return offered.status();
  SwapPath path = options.path;
  if (path == SwapPath::kAuto) path = offered->move ? SwapPath::kMove : SwapPath::kWriteProtect;
  if (path == SwapPath::kMove && !offered->move) {
    return Status::unsupported("path=move: this kernel has no UFFDIO_MOVE (Linux 6.8+); use path=wp");
  }
  if (path == SwapPath::kWriteProtect && !offered->write_protect) {
    return Status::unsupported("this kernel has neither UFFDIO_MOVE nor userfaultfd write-protection (Linux 5.7+)");
  }
  if (!offered->event_remove || !offered->event_unmap || !offered->event_remap) {
    return Status::unsupported("this kernel lacks the userfaultfd REMOVE/UNMAP/REMAP events");
  }

  Result<Uffd> program = Uffd::open(UffdRequest{true, path == SwapPath::kMove, path == SwapPath::kWriteProtect, false});
  if (!program) return program.status();
  Uffd cache_fd;
  if (path == SwapPath::kMove) {
    Result<Uffd> c = Uffd::open(UffdRequest{false, true, false, true});
    if (!c) return c.status();
    cache_fd = std::move(*c);
  }
  Result<std::unique_ptr<PageTable>> table = PageTable::create(store->slots());
  if (!table) return table.status();
  // Every resident page could sit in the cache at once (a limit of pages all
  // inactive), plus the writes in flight; the range costs address space only.
  uint64_t limit_pages = std::max<uint64_t>(1, options.limit / kPageSize);
  uint64_t slots = std::min<uint64_t>(limit_pages + 8192, UINT32_MAX - 1);
  Result<std::unique_ptr<SwapCache>> cache = SwapCache::create(static_cast<uint32_t>(slots));
  if (!cache) return cache.status();
  if (path == SwapPath::kMove) {
    UZRAM_RETURN_IF_ERROR(cache_fd.register_range((*cache)->base(), (*cache)->bytes(), Uffd::kMissing));
  }
  Result<Mapping> zeros = os::map_zeros((size_t{1} << options.readahead_order) * kPageSize);
  if (!zeros) return zeros.status();

  EngineOptions eo;
  eo.workers = options.writeback_threads;
  // Evictions in flight stay resident in the swap cache until written, so
  // the queue stays short here (the default suits throughput, not a
  // resident limit): 256 records, 1 MiB of pages.
  eo.queue_depth = 256;
  Result<std::unique_ptr<AsyncEngine>> engine = AsyncEngine::create(*store, eo);
  if (!engine) return engine.status();

  auto core = std::make_unique<Core>(options, path, *store, **engine, std::move(*program), std::move(cache_fd),
                                     std::move(*table), std::move(*cache), std::move(*zeros));
  auto space = std::make_unique<SpaceImpl>(std::move(store), std::move(*engine), std::move(core),
                                           offered->to_string());
  UZRAM_RETURN_IF_ERROR(space->start());
  return std::unique_ptr<SwapSpace>(std::move(space));
}

Core& core_of(SwapSpace& space) { return static_cast<SpaceImpl&>(space).core(); }

}  // namespace uzram::swap

namespace uzram {

Result<std::unique_ptr<SwapSpace>> SwapSpace::open(const SwapOptions& options) {
  UZRAM_RETURN_IF_ERROR(swap::check_options(options));
  StoreOptions so;
  // Whole chunks, so that the last region's chunk is in range.
  so.disksize = (options.size + (swap::PageTable::kChunkPages * kPageSize) - 1) /
                (swap::PageTable::kChunkPages * kPageSize) * (swap::PageTable::kChunkPages * kPageSize);
  so.algorithm = options.algorithm;
  so.mem_limit = options.mem_limit;
  Result<std::unique_ptr<Store>> store = Store::open(so);
  if (!store) return store.status().with_context("opening the store");
  if (!options.backing_file.empty()) {
    UZRAM_RETURN_IF_ERROR((*store)->set_backing_file(options.backing_file).with_context("backing_file"));
  }
  return swap::open_space(options, std::move(*store));
}

}  // namespace uzram
