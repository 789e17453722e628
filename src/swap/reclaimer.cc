// Reclaimer: see reclaimer.h.
//
// Locks taken here, outermost first: RegionMap (shared, only around an ioctl
// or a madvise on program addresses), one chunk lock, then leaves (the swap
// cache, the run queues, a Batch's mu). engine.submit() may block for room in
// the queue, so it is called holding no lock at all: the completions that
// make room take chunk locks.
#include "swap/reclaimer.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>

namespace uzram::swap {
namespace {

// The wait of a condition variable on a uzram::Mutex held by a MutexLock: the
// unique_lock adopts it and gives it back, so the thread-safety analysis sees
// the mutex held throughout (writeback/wait.h does the same).
template <typename Duration>
void wait_for(std::condition_variable& cv, Mutex& mu, Duration d) UZRAM_REQUIRES(mu) {
  std::unique_lock<std::mutex> lock(mu.native(), std::adopt_lock);
  cv.wait_for(lock, d);
  lock.release();
}

void say_once(std::atomic<bool>& said, const std::string& what) {
  if (!said.exchange(true)) std::fprintf(stderr, "uzram swap: %s\n", what.c_str());
}
std::atomic<bool> said_submit{false};
std::atomic<bool> said_slot{false};

constexpr uint64_t kHousekeepingNs = 100'000'000;
// While reclaim runs without a pause, the pool is checked for holes this
// often: a busy random phase grows it by about a tenth in a second.
constexpr uint64_t kCompactNs = 20'000'000;

}  // namespace

class Reclaimer::Batch final : public WriteCompletion {
 public:
  explicit Batch(Reclaimer& owner) noexcept : owner_(owner) {}
  void request_done(const WriteRequest& req, const Status& st) noexcept override { owner_.complete(*this, req, st); }
  void batch_done(const BatchResult&) noexcept override { owner_.finish(*this); }

  // Filled by complete() on any worker, drained by finish().
  Mutex mu;
  std::vector<uint32_t> release_slots UZRAM_GUARDED_BY(mu);  // slots to empty and free
  std::vector<Run> requeue UZRAM_GUARDED_BY(mu);             // refused by the store: inactive again
  std::vector<PageId> zaps UZRAM_GUARDED_BY(mu);             // WP path: stored, to drop from the program
  int64_t pending UZRAM_GUARDED_BY(mu) = 0;                  // change of Core's pending free

 private:
  Reclaimer& owner_;
};

Reclaimer::Reclaimer(Core& core) noexcept : core_(core) {}

Reclaimer::~Reclaimer() { stop(); }

void Reclaimer::start() {
  core_.set_reclaim_kick([](void* self) { static_cast<Reclaimer*>(self)->kick(); }, this);
  thread_ = std::thread([this] { run(); });
}

void Reclaimer::stop() noexcept {
  stop_.store(true, std::memory_order_relaxed);
  kick();
  if (thread_.joinable()) thread_.join();
  // A trim() waiting now would wait for ever.
  MutexLock lock(&mu_);
  trim_done_ = trim_requested_;
  trim_cv_.notify_all();
}

void Reclaimer::kick() noexcept {
  MutexLock lock(&mu_);
  kicked_ = true;
  cv_.notify_one();
}

Status Reclaimer::trim(uint64_t pages) noexcept {
  MutexLock lock(&mu_);
  if (stop_.load(std::memory_order_relaxed)) return Status::busy("the space is closing");
  trim_target_ = pages;
  uint64_t gen = ++trim_requested_;
  kicked_ = true;
  cv_.notify_one();
  while (trim_done_ < gen) wait_for(trim_cv_, mu_, std::chrono::milliseconds(100));
  return Status::ok();
}

// ---- the loop ------------------------------------------------------------------

void Reclaimer::run() noexcept {
  pthread_setname_np(pthread_self(), "uzram-reclaim");
  while (!stop_.load(std::memory_order_relaxed)) {
    uint64_t trim_gen = 0;
    uint64_t trim_target = 0;
    {
      MutexLock lock(&mu_);
      if (!kicked_ && trim_requested_ == trim_done_) wait_for(cv_, mu_, std::chrono::milliseconds(50));
      kicked_ = false;
      if (trim_requested_ != trim_done_) {
        trim_gen = trim_requested_;
        trim_target = trim_target_;
      }
    }
    if (stop_.load(std::memory_order_relaxed)) break;
    if (now_ns() - last_housekeeping_ns_ > kHousekeepingNs) housekeeping();
    do_zaps();
    if (trim_gen != 0) {
      // Twice: the first flush may leave zaps that free more, and the pages
      // refused by a full store are retried once.
      for (int round = 0; round < 2; ++round) {
        reclaim_to(trim_target);
        core_.engine.flush();
        do_zaps();
      }
      MutexLock lock(&mu_);
      trim_done_ = trim_gen;
      trim_cv_.notify_all();
      continue;
    }
    if (core_.resident() >= static_cast<int64_t>(core_.high_pages)) {
      reclaim_to(core_.low_pages);
      maybe_compact();
    }
  }
}

uint64_t Reclaimer::projected() const noexcept {
  int64_t p = core_.resident() - core_.pending_free();
  // WP path: every write in flight also frees the copy it compresses from.
  if (!core_.move_path()) p -= static_cast<int64_t>(core_.table->in_flight());
  return p > 0 ? static_cast<uint64_t>(p) : 0;
}

void Reclaimer::reclaim_to(uint64_t target) noexcept {
  int idle_rounds = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    uint64_t now = projected();
    if (now <= target) return;
    if (core_.store_full()) return;
    uint64_t need = now - target;
    uint64_t progress = 0;
    uint64_t inactive = core_.table->count(PageState::kCached);
    bool active_empty = core_.active.empty();
    if (inactive < core_.inactive_target + kBatchPages && !active_empty) {
      progress += deactivate(std::min<uint64_t>(kBatchPages, need + core_.inactive_target));
      inactive = core_.table->count(PageState::kCached);
    }
    if (inactive > core_.inactive_target || active_empty || core_.inactive_target == 0) {
      progress += writeback(std::min<uint64_t>(kBatchPages, need));
    }
    do_zaps();
    if (now_ns() - last_compact_ns_ > kCompactNs) {
      last_compact_ns_ = now_ns();
      maybe_compact();
    }
    if (progress > 0) {
      idle_rounds = 0;
      continue;
    }
    // Nothing to take now: wait for writes in flight to complete, or give up
    // when there are none (everything left is pinned, in flight or hot).
    if (core_.table->in_flight() == 0 || ++idle_rounds > 2000) return;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// ---- deactivation ------------------------------------------------------------------

uint64_t Reclaimer::deactivate(uint64_t max_pages) noexcept {
  std::vector<Run> runs;
  core_.active.pop(max_pages, &runs);
  std::vector<Run> again;  // back to the active tail
  PageTable& table = *core_.table;
  SwapCache& cache = *core_.cache;
  uint64_t done = 0;
  bool cache_full = false;
  for (const Run& run : runs) {
    if (cache_full) {
      again.push_back(run);
      continue;
    }
    auto regions_lock = core_.regions.lock_shared();
    std::optional<Extent> ext = core_.regions.find_id_locked(run.first);
    if (!ext) continue;  // unmapped meanwhile
    PageId end = std::min<PageId>(run.first + run.pages, ext->first + ext->pages);
    if (run.first + run.pages > end) again.push_back(Run{end, static_cast<uint32_t>(run.first + run.pages - end)});
    MutexLock lock(&table.lock_of(run.first));
    PageId id = run.first;
    while (id < end) {
      PageEntry e = table.get(id);
      if (e.state() != PageState::kResident) {
        ++id;
        continue;
      }
      if (e.in_flight()) {  // its previous write has not completed: later
        again.push_back(Run{id, 1});
        ++id;
        continue;
      }
      uint32_t len = 1;
      while (id + len < end && table.get(id + len).state() == PageState::kResident && !table.get(id + len).in_flight()) {
        ++len;
      }
      if (core_.move_path()) {
        SlotRun sr = cache.allocate(len);
        if (sr.count == 0) {
          cache_full = true;
          again.push_back(Run{id, static_cast<uint32_t>(end - id)});
          break;
        }
        // One ioctl for the run: the program faults on these pages from now on.
        UffdProgress p = core_.cache_uffd.move(cache.uaddr(sr.first), ext->addr_of(id), size_t{sr.count} * kPageSize);
        uint32_t k = static_cast<uint32_t>(p.bytes / kPageSize);
        for (uint32_t i = 0; i < k; ++i) {
          table.set(id + i, table.get(id + i).with_state(PageState::kCached));
          table.set_slot(id + i, sr.first + i);
        }
        core_.inactive.push(Run{id, k, sr.first});
        done += k;
        uint32_t unused_from = sr.first + k;
        if (!p.done()) {
          if (p.result == UffdResult::kExists) {
            // A slot we think empty holds a page: never hand it out again.
            say_once(said_slot, "swap cache slot found occupied; it is left unused");
            ++unused_from;
          }
          // Pinned, shared, or gone behind our back: not now.
          again.push_back(Run{id + k, 1});
          bump(core_.counters.unmovable);
          ++k;
        }
        if (unused_from < sr.first + sr.count) cache.free(unused_from, sr.first + sr.count - unused_from);
        id += k;
      } else {
        UffdProgress p = core_.uffd.write_protect(ext->addr_of(id), size_t{len} * kPageSize, true);
        if (!p.done()) {
          // EAGAIN: an event is queued; the fault thread applies it first.
          again.push_back(Run{id, static_cast<uint32_t>(end - id)});
          if (p.result != UffdResult::kRetry) bump(core_.counters.unmovable);
          break;
        }
        for (uint32_t i = 0; i < len; ++i) table.set(id + i, table.get(id + i).with_state(PageState::kCached));
        core_.inactive.push(Run{id, len, PageTable::kNoSlot});
        done += len;
        id += len;
      }
    }
  }
  for (const Run& r : again) core_.active.push(r);
  return done;
}

// ---- writeback ---------------------------------------------------------------------

uint64_t Reclaimer::writeback(uint64_t max_pages) noexcept {
  std::vector<Run> runs;
  core_.inactive.pop(max_pages, &runs);
  if (runs.empty()) return 0;
  std::vector<WriteRequest> reqs;
  reqs.reserve(max_pages + PageTable::kChunkPages);
  PageTable& table = *core_.table;
  if (core_.move_path()) {
    for (const Run& run : runs) {
      MutexLock lock(&table.lock_of(run.first));
      for (uint32_t i = 0; i < run.pages; ++i) {
        PageId id = run.first + i;
        PageEntry e = table.get(id);
        // Touched since (moved back), discarded, or in a newer run: skip.
        if (e.state() != PageState::kCached || e.in_flight() || table.slot(id) != run.slot + i) continue;
        table.set(id, e.with_state(PageState::kWriteback).with_in_flight(true));
        reqs.push_back(WriteRequest{id, core_.cache->addr(table.slot(id)), nullptr});
      }
    }
  } else {
    writeback_copies(runs, &reqs);
  }
  if (reqs.empty()) return 0;
  uint64_t n = reqs.size();
  submit(acquire_batch(), reqs);
  return n;
}

void Reclaimer::submit(Batch* batch, std::vector<WriteRequest>& reqs) noexcept {
  core_.add_pending_free(static_cast<int64_t>(reqs.size()));
  Status st = core_.engine.submit(reqs, batch, WhenFull::kBlock);
  if (st.is_ok()) return;
  say_once(said_submit, "writeback submit failed: " + st.to_string());
  // Nothing was queued: every page goes back to the inactive list as it was.
  core_.add_pending_free(-static_cast<int64_t>(reqs.size()));
  PageTable& table = *core_.table;
  int64_t copies = 0;
  for (const WriteRequest& r : reqs) {
    MutexLock lock(&table.lock_of(r.index));
    PageEntry e = table.get(r.index);
    uint32_t slot = core_.cache->slot_of(r.page);
    if (core_.move_path()) {
      table.set(r.index, e.with_state(PageState::kCached).with_in_flight(false));
      core_.inactive.push(Run{r.index, 1, slot});
    } else {
      table.set(r.index, e.with_state(PageState::kCached).with_in_flight(false));
      table.set_slot(r.index, PageTable::kNoSlot);
      (void)os::release(core_.cache->addr(slot), kPageSize);
      core_.cache->free(slot);
      ++copies;
      core_.inactive.push(Run{r.index, 1, PageTable::kNoSlot});
    }
  }
  if (copies > 0) core_.sub_resident(copies);
  recycle(batch);
  core_.note_store_full();  // pause writeback rather than spin on the error
}

// ---- completions (engine workers) ---------------------------------------------------

void Reclaimer::complete(Batch& b, const WriteRequest& req, const Status& st) noexcept {
  PageTable& table = *core_.table;
  const PageId id = req.index;
  const uint32_t slot = core_.cache->slot_of(req.page);
  const bool move = core_.move_path();
  bool release_slot = true;
  Run requeue{};
  bool zap = false;
  int64_t pending = 0;
  {
    MutexLock lock(&table.lock_of(id));
    PageEntry e = table.get(id);
    PageEntry next = e.with_in_flight(false).with_stale(false);
    const bool current = e.state() == PageState::kWriteback && !e.stale();
    if (current && st.is_ok()) {
      bump(core_.counters.swap_outs);
      table.set_slot(id, PageTable::kNoSlot);
      if (move) {
        next = next.with_state(PageState::kSwapped);
        pending = -1;  // its slot is freed below
      } else {
        next = next.with_state(PageState::kZapping);  // pending until the zap
        zap = true;
      }
    } else if (current) {
      // The store refused it (mem_limit): the page stays resident, inactive,
      // and writeback pauses. Nothing is lost.
      core_.note_store_full();
      pending = -1;
      next = next.with_state(PageState::kCached);
      if (move) {
        release_slot = false;  // it stays in its slot
        requeue = Run{id, 1, slot};
      } else {
        table.set_slot(id, PageTable::kNoSlot);
        requeue = Run{id, 1, PageTable::kNoSlot};
      }
    } else {
      // Stale: the page came back or was discarded while it was written.
      if (st.is_ok()) (void)core_.store.discard(id);
      bump(core_.counters.stale_writes);
      if (move) pending = -1;  // WP path: adjusted when the state changed
    }
    table.set(id, next);
  }
  MutexLock lock(&b.mu);
  if (release_slot) b.release_slots.push_back(slot);
  if (requeue.pages > 0) b.requeue.push_back(requeue);
  if (zap) b.zaps.push_back(id);
  b.pending += pending;
}

void Reclaimer::finish(Batch& b) noexcept {
  std::vector<uint32_t> slots;
  std::vector<Run> requeue;
  std::vector<PageId> zaps;
  int64_t pending = 0;
  {
    MutexLock lock(&b.mu);
    slots.swap(b.release_slots);
    requeue.swap(b.requeue);
    zaps.swap(b.zaps);
    pending = b.pending;
    b.pending = 0;
  }
  // Empty the slots in runs: one madvise for consecutive slots.
  std::sort(slots.begin(), slots.end());
  SwapCache& cache = *core_.cache;
  for (size_t i = 0; i < slots.size();) {
    size_t j = i + 1;
    while (j < slots.size() && slots[j] == slots[j - 1] + 1) ++j;
    uint32_t count = static_cast<uint32_t>(j - i);
    (void)os::release(cache.addr(slots[i]), size_t{count} * kPageSize);
    cache.free(slots[i], count);
    i = j;
  }
  core_.add_pending_free(pending);
  if (!slots.empty()) core_.sub_resident(static_cast<int64_t>(slots.size()));
  for (const Run& r : requeue) core_.inactive.push(r);
  if (!zaps.empty()) {
    MutexLock lock(&zap_mu_);
    zaps_.insert(zaps_.end(), zaps.begin(), zaps.end());
  }
  if (!zaps.empty() || !requeue.empty()) kick();
  recycle(&b);
}

Reclaimer::Batch* Reclaimer::acquire_batch() noexcept {
  MutexLock lock(&batch_mu_);
  if (!free_batches_.empty()) {
    Batch* b = free_batches_.back();
    free_batches_.pop_back();
    return b;
  }
  batches_.push_back(std::make_unique<Batch>(*this));
  return batches_.back().get();
}

void Reclaimer::recycle(Batch* batch) noexcept {
  MutexLock lock(&batch_mu_);
  free_batches_.push_back(batch);
}

// ---- housekeeping -------------------------------------------------------------------

void Reclaimer::maybe_compact() noexcept {
  // Swap-ins free objects all over the pool's zspages, and only writes of the
  // same size class refill the holes. Compact when the pool holds a
  // sixteenth more than its data (zram leaves this to a shrinker under
  // memory pressure; we have no such signal, and peak memory counts).
  StoreStats st = core_.store.stats();
  if (st.mem_used_total > st.compr_data_size + st.compr_data_size / 16 + (1u << 20)) {
    (void)core_.store.compact();
  }
}

void Reclaimer::housekeeping() noexcept {
  last_housekeeping_ns_ = now_ns();
  PageTable& table = *core_.table;
  // Ids of regions unmapped whole go back to the free list once no write of
  // theirs is in flight; their entries and store slots are reset first.
  (void)core_.regions.reclaim_retired([&](PageId first, uint64_t pages) {
    if (!table.quiet(first, pages)) return false;
    for (PageId id = first; id < first + pages;) {
      PageId stop = std::min(first + pages, PageTable::chunk_end(id));
      MutexLock lock(&table.lock_of(id));
      for (; id < stop; ++id) table.set(id, PageEntry(PageState::kNever));
    }
    (void)core_.store.discard(first, pages);
    return true;
  });
  // The active list keeps hints of pages that left it; when they outnumber
  // the resident pages, sift them out.
  uint64_t resident = table.count(PageState::kResident);
  if (core_.active.pages() > 2 * resident + 4096) {
    std::vector<Run> runs;
    core_.active.pop(UINT64_MAX, &runs);
    for (const Run& r : runs) {
      MutexLock lock(&table.lock_of(r.first));
      bool any = false;
      for (uint32_t i = 0; i < r.pages && !any; ++i) any = table.get(r.first + i).state() == PageState::kResident;
      if (any) core_.active.push(r);
    }
  }
  maybe_compact();
  // Second tier: with a backing file, a store near its mem_limit writes its
  // coldest pages to the file instead of refusing writes.
  if (!core_.options.backing_file.empty() && core_.options.mem_limit > 0) {
    StoreStats st = core_.store.stats();
    if (core_.store_full() || st.mem_used_total * 10 >= core_.options.mem_limit * 9) {
      (void)core_.store.mark_idle(0);
      WritebackOptions wb;
      wb.select = SlotSelect::kIdle;
      wb.max_pages = 4096;
      Result<uint64_t> written = core_.store.writeback(wb);
      if (written && *written > 0) core_.clear_store_full();
    }
  }
}

}  // namespace uzram::swap
