// FaultHandler: see fault_handler.h.
//
// Lock order here as everywhere in swap/: RegionMap (shared, or exclusive for
// UNMAP/REMAP), then one chunk lock, then leaves. A fault holds the shared
// RegionMap lock and its page's chunk lock from the lookup to the end of its
// ioctl, so that the page's state and its address cannot change meanwhile.
//
// The fault threads never touch memory swap/ manages: windows are staged in
// Worker::staging (our own memory) or come from Core::zeros, and the kernel
// copies or moves them (UFFDIO_COPY, UFFDIO_MOVE). Never dereference a
// region or swap-cache address here.
#include "swap/fault_handler.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace uzram::swap {
namespace {

constexpr uint32_t kMaxWindow = 512;  // readahead_order <= 9
// Streams whose window reached this many pages are read ahead of the
// program (run_prefetch).
constexpr uint32_t kPrefetchWindow = 16;
constexpr size_t kReadBatch = 16;

uintptr_t page_floor(uint64_t a) { return static_cast<uintptr_t>(a & ~uint64_t{kPageSize - 1}); }

void log_once(std::atomic<bool>& said, const char* what, int err) {
  if (!said.exchange(true)) std::fprintf(stderr, "uzram swap: %s: %s\n", what, std::strerror(err));
}
std::atomic<bool> said_read_error{false};
std::atomic<bool> said_install_error{false};

}  // namespace

Status FaultHandler::start(size_t threads) {
  if (threads == 0) threads = 1;
  Result<Fd> fd = os::make_eventfd();
  if (!fd) return fd.status();
  wake_fd_ = std::move(*fd);
  for (size_t i = 0; i < threads; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    Result<Mapping> staging = os::map_anonymous(size_t{core_.max_window} * kPageSize, true);
    if (!staging) {
      stop();
      return staging.status();
    }
    w->staging = std::move(*staging);
    w->backlog.reserve(64);
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    Worker* worker = w.get();
    threads_.emplace_back([this, worker] { run(worker); });
  }
  return Status::ok();
}

void FaultHandler::stop() noexcept {
  stop_.store(true, std::memory_order_relaxed);
  if (wake_fd_.valid()) os::signal_eventfd(wake_fd_.get());
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

// ---- the loop ------------------------------------------------------------------

void FaultHandler::run(Worker* w) noexcept {
  pthread_setname_np(pthread_self(), "uzram-fault");
  const uint64_t spin_ns = uint64_t{core_.options.spin_us} * 1000;
  uint64_t last = now_ns();
  while (!stop_.load(std::memory_order_relaxed)) {
    if (has_deferred_.load(std::memory_order_relaxed)) retry_deferred(*w);
    if (serve_batch(*w) > 0) {
      last = now_ns();
      continue;
    }
    if (has_deferred_.load(std::memory_order_relaxed)) {
      // An event is queued or its sender has not run yet: the retry succeeds
      // within microseconds.
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      continue;
    }
    // Busy-poll for a while after a fault: a sleeping thread takes 30-50 us
    // to wake on a virtualised guest (44 us a single-page fault asleep, 17 us
    // spinning, docs/swap.md). But only while no compression is in flight:
    // on two cores the spinning steals the CPU the workers need, and the
    // faults then wait for room (uniform random touches: 44 us spinning
    // against 21 us sleeping). One thread spins; the others sleep.
    if (w->index == 0 && now_ns() - last < spin_ns && core_.table->in_flight() == 0) {
      sched_yield();
      continue;
    }
    wait_readable(core_.uffd.fd(), wake_fd_.get(), 100);
  }
}

size_t FaultHandler::serve_batch(Worker& w) noexcept {
  UffdMessage msgs[kReadBatch];
  size_t n = 0;
  {
    MutexLock lock(&read_mu_);
    w.holds_read_mu = true;
    if (!w.backlog.empty()) {
      std::vector<UffdMessage> backlog;
      backlog.swap(w.backlog);
      wait_faults_in_progress(w);
      apply_in_order(w, backlog);
      w.holds_read_mu = false;
      return backlog.size();
    }
    Result<size_t> got = core_.uffd.read(msgs);
    if (!got) {
      w.holds_read_mu = false;
      log_once(said_read_error, "reading the userfaultfd", got.status().error_number());
      return 0;
    }
    const size_t read = *got;
    n = take_self_zaps(msgs, read);
    if (n == 0) {
      w.holds_read_mu = false;
      return read;
    }
    bool event = std::any_of(msgs, msgs + n, [](const UffdMessage& m) { return m.kind != UffdMessage::Kind::kFault; });
    if (event) {
      // Faults read before this batch by other threads go first.
      wait_faults_in_progress(w);
      apply_in_order(w, std::span<const UffdMessage>(msgs, n));
      w.holds_read_mu = false;
      return n;
    }
    w.holds_read_mu = false;
    faults_in_progress_.fetch_add(static_cast<int>(n), std::memory_order_relaxed);
  }
  for (size_t i = 0; i < n; ++i) {
    if (handle_fault(w, msgs[i]) == Outcome::kRetry) defer(msgs[i]);
  }
  // Counted as a fault in progress: an event waits for it.
  run_prefetch(w);
  faults_in_progress_.fetch_sub(static_cast<int>(n), std::memory_order_release);
  return n;
}

void FaultHandler::wait_faults_in_progress(Worker& w) noexcept {
  // A fault in progress may be waiting for room that only a zap we are to
  // read can make (WP path): read on meanwhile.
  while (faults_in_progress_.load(std::memory_order_acquire) > 0) {
    if (core_.move_path() || !pump_self_zaps(w)) std::this_thread::yield();
  }
}

size_t FaultHandler::take_self_zaps(UffdMessage* msgs, size_t n) noexcept {
  if (core_.move_path()) return n;
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    const UffdMessage& m = msgs[i];
    // A self-zap only turns zapping pages into swapped ones, which no fault
    // or event in between can have touched: it may be applied at once.
    if (m.kind == UffdMessage::Kind::kRemove && core_.claim_self_zap(page_floor(m.address), page_floor(m.end))) {
      finish_self_zap(page_floor(m.address), page_floor(m.end));
      core_.self_zap_done(page_floor(m.address), page_floor(m.end));
    } else {
      msgs[kept++] = m;
    }
  }
  return kept;
}

void FaultHandler::apply_in_order(Worker& w, std::span<const UffdMessage> msgs) noexcept {
  for (const UffdMessage& m : msgs) {
    if (m.kind == UffdMessage::Kind::kFault) {
      if (handle_fault(w, m) == Outcome::kRetry) defer(m);
    } else {
      handle_event(w, m);
    }
  }
}

void FaultHandler::defer(const UffdMessage& m) noexcept {
  MutexLock lock(&deferred_mu_);
  deferred_.push_back(m);
  has_deferred_.store(true, std::memory_order_relaxed);
}

void FaultHandler::retry_deferred(Worker& w) noexcept {
  // Under read_mu_: a retried fault must not overtake an event another
  // thread is applying.
  MutexLock read_lock(&read_mu_);
  w.holds_read_mu = true;
  std::vector<UffdMessage> list;
  {
    MutexLock lock(&deferred_mu_);
    list.swap(deferred_);
    has_deferred_.store(false, std::memory_order_relaxed);
  }
  for (const UffdMessage& m : list) {
    if (handle_fault(w, m) == Outcome::kRetry) defer(m);
  }
  w.holds_read_mu = false;
}

// ---- faults ----------------------------------------------------------------------

void FaultHandler::wait_for_room(Worker& w) noexcept {
  if (core_.move_path()) {
    (void)core_.wait_for_room(1);
    return;
  }
  // WP path: resident pages go only when a fault thread applies the REMOVE
  // of a zap, so this thread goes on reading while it waits: self-zaps are
  // finished at once, everything else is parked in order (Worker::backlog).
  // Pages being zapped count as gone already (Core::wait_for_room).
  const int64_t limit = static_cast<int64_t>(core_.limit_pages);
  auto used = [this] {
    return core_.resident() - static_cast<int64_t>(core_.table->count(PageState::kZapping));
  };
  if (used() < limit) return;
  core_.kick_reclaimer();
  bump(core_.counters.limit_waits);
  const uint64_t deadline = now_ns() + 20'000'000;
  while (used() >= limit && !core_.store_full() && now_ns() < deadline) {
    if (!pump_self_zaps(w)) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

bool FaultHandler::pump_self_zaps(Worker& w) noexcept {
  // The caller may hold read_mu_ (applying a batch in order) or not.
  std::unique_lock<std::mutex> own;
  if (!w.holds_read_mu) {
    own = std::unique_lock<std::mutex>(read_mu_.native(), std::try_to_lock);
    if (!own.owns_lock()) return false;  // another thread reads: it finishes the zaps
  }
  UffdMessage msgs[kReadBatch];
  Result<size_t> got = core_.uffd.read(msgs);
  size_t n = got ? *got : 0;
  size_t kept = take_self_zaps(msgs, n);
  w.backlog.insert(w.backlog.end(), msgs, msgs + kept);
  return n > 0;
}

FaultHandler::Outcome FaultHandler::handle_fault(Worker& w, const UffdMessage& m) noexcept {
  const uint64_t t0 = now_ns();
  const uintptr_t addr = page_floor(m.address);
  if (!m.wp) wait_for_room(w);
  Outcome out;
  {
    auto regions_lock = core_.regions.lock_shared();
    std::optional<Extent> ext = core_.regions.find_locked(addr);
    if (!ext) {
      // Not ours (any more): the tail an mremap grew, or a fault that raced
      // with unmap(). Plain zero-filled memory.
      out = zero_one(addr, false);
    } else {
      const PageId id = ext->id_of(addr);
      PageTable& table = *core_.table;
      MutexLock lock(&table.lock_of(id));
      const PageEntry e = table.get(id);
      if (!m.wp && !core_.move_path() && e.state() != PageState::kZapping && core_.in_self_zap(addr)) {
        // WP path: the reclaimer is zapping this range; a page the program
        // discarded meanwhile is refilled only after the zap (space_core.h).
        return Outcome::kRetry;
      }
      if (m.wp) {
        out = write_unprotect(addr, id);
      } else {
        switch (e.state()) {
          case PageState::kNever:
          case PageState::kSwapped:
            out = swap_in(w, addr, id, *ext);
            break;
          case PageState::kResident:
            // Either the message is stale (a window installed the page since)
            // and the copy finds it there, or the program zapped it and the
            // zeros are what it must read.
            out = zero_one(addr, true);
            break;
          case PageState::kCached:
          case PageState::kWriteback:
            if (core_.move_path()) {
              out = e.state() == PageState::kCached ? move_back(w, addr, id, *ext) : copy_from_slot(addr, id);
            } else {
              // WP path: the page should be in place. Missing means the
              // program discarded it and its event is on the way: zeros.
              int64_t freed = core_.release_page_locked(id, PageState::kNever);
              if (freed > 0) core_.sub_resident(freed);
              out = swap_in(w, addr, id, *ext);
            }
            break;
          case PageState::kZapping:
            out = Outcome::kServed;  // the zap's end wakes it (finish_self_zap)
            break;
          case PageState::kUnmapped:
            out = zero_one(addr, false);
            break;
          default:
            out = zero_one(addr, false);
        }
      }
    }
  }
  if (out == Outcome::kServed) core_.fault_latency.record(now_ns() - t0);
  return out;
}

FaultHandler::Stream& FaultHandler::stream_for(Worker& w, PageId id, uint32_t initial) noexcept {
  for (Stream& s : w.streams) {
    if (s.next == id) {
      // The stream went on through the whole window (and what was read ahead
      // of it): every page of it was used before this fault.
      bump(core_.counters.readahead_hits, s.readahead);
      s.window = std::min<uint32_t>(s.window * 2, core_.max_window);
      return s;
    }
  }
  Stream& s = w.streams[w.next_stream++ % std::size(w.streams)];
  s = Stream{id, std::min<uint32_t>(initial, core_.max_window), 0};
  return s;
}

uint32_t FaultHandler::fill_window(Worker& w, uintptr_t addr, PageId id, uint64_t max, UffdResult* result,
                                   uint32_t* swapped_in) noexcept {
  PageTable& table = *core_.table;
  uint32_t n = 0;
  bool any_swapped = false;
  while (n < max) {
    PageState st = table.get(id + n).state();
    if (st == PageState::kSwapped) {
      any_swapped = true;
    } else if (st != PageState::kNever) {
      break;
    }
    ++n;
  }
  *swapped_in = 0;
  *result = UffdResult::kDone;
  if (n == 0) return 0;
  const std::byte* src = core_.zeros.data();
  if (any_swapped) {
    std::byte* buf = w.staging.data();
    for (uint32_t i = 0; i < n; ++i) {
      std::byte* page = buf + size_t{i} * kPageSize;
      if (table.get(id + i).state() == PageState::kSwapped) {
        Status st = core_.store.read(id + i, PageBuffer(page, kPageSize));
        if (!st.is_ok()) {
          bump(core_.counters.failed_reads);
          std::memset(page, 0, kPageSize);
        }
      } else {
        std::memset(page, 0, kPageSize);
      }
    }
    src = buf;
  }
  PageFate fate[kMaxWindow];
  *result = install(addr, src, n, fate);
  uint32_t installed = 0;
  PageId discard_from = id;
  uint32_t discard_count = 0;
  for (; installed < n && fate[installed] != PageFate::kNot; ++installed) {
    PageId pid = id + installed;
    PageEntry e = table.get(pid);
    if (e.state() == PageState::kSwapped) {
      if (discard_count == 0) discard_from = pid;
      ++discard_count;
      ++*swapped_in;
    } else if (discard_count > 0) {
      (void)core_.store.discard(discard_from, discard_count);
      discard_count = 0;
    }
    table.set(pid, e.with_state(PageState::kResident));
  }
  if (discard_count > 0) (void)core_.store.discard(discard_from, discard_count);
  if (*swapped_in > 0) core_.clear_store_full();  // the store has room again
  if (installed > 0) {
    core_.add_resident(installed);
    core_.active.push(Run{id, installed});
  }
  return installed;
}

FaultHandler::Outcome FaultHandler::swap_in(Worker& w, uintptr_t addr, PageId id, const Extent& ext) noexcept {
  PageTable& table = *core_.table;
  const bool major = table.get(id).state() == PageState::kSwapped;
  // Zero windows start wider: first touches of fresh memory come in runs.
  Stream& s = stream_for(w, id, major ? 1 : 8);
  const PageId stop = std::min<PageId>(PageTable::chunk_end(id), ext.first + ext.pages);
  uint64_t limit = std::min<uint64_t>(s.window, stop - id);
  int64_t room = static_cast<int64_t>(core_.limit_pages) - core_.resident();
  limit = std::min<uint64_t>(limit, room > 1 ? static_cast<uint64_t>(room) : 1);

  UffdResult r;
  uint32_t swapped_in = 0;
  const uint32_t installed = fill_window(w, addr, id, limit, &r, &swapped_in);
  if (installed == 0) {
    if (r == UffdResult::kRetry) return Outcome::kRetry;
    log_once(said_install_error, "installing a page", EINVAL);
    (void)core_.uffd.wake(addr, kPageSize);
    return Outcome::kServed;
  }
  Counters& c = core_.counters;
  bump(major ? c.major_faults : c.minor_faults);
  bump(c.swap_ins, swapped_in);
  bump(c.zero_fill_pages, installed - swapped_in);
  bump(c.readahead_pages, installed - 1);
  // Pages read ahead earlier follow: the stream goes on after them.
  PageId next = id + installed;
  while (next < stop && next - id < 2 * core_.max_window && table.get(next).state() == PageState::kResident) ++next;
  s.next = next;
  s.readahead = installed - 1;
  (void)core_.uffd.wake(addr, size_t{installed} * kPageSize);
  // A stream at a wide window is read on ahead of the program once this
  // fault is served (run_prefetch), so that the program's next window is
  // being installed while it works through this one.
  if (s.window >= kPrefetchWindow && next < stop) {
    w.prefetch = Prefetch{true, static_cast<size_t>(&s - w.streams), ext.addr_of(next), next};
  }
  return Outcome::kServed;
}

void FaultHandler::run_prefetch(Worker& w) noexcept {
  if (!w.prefetch.pending) return;
  w.prefetch.pending = false;
  Stream& s = w.streams[w.prefetch.stream];
  const PageId marker = w.prefetch.id;
  if (s.next != marker) return;  // the stream moved on
  int64_t room = static_cast<int64_t>(core_.limit_pages) - core_.resident();
  if (room < static_cast<int64_t>(s.window)) return;  // read ahead never waits for room
  auto regions_lock = core_.regions.lock_shared();
  std::optional<Extent> ext = core_.regions.find_locked(w.prefetch.addr);
  if (!ext || ext->id_of(w.prefetch.addr) != marker) return;
  PageTable& table = *core_.table;
  MutexLock lock(&table.lock_of(marker));
  PageState st = table.get(marker).state();
  if (st != PageState::kNever && st != PageState::kSwapped) return;
  // The marker page stays out: the program's fault on it says it got here,
  // and costs one page, not a window.
  const PageId start = marker + 1;
  const PageId stop = std::min<PageId>(PageTable::chunk_end(marker), ext->first + ext->pages);
  if (start >= stop) return;
  uint64_t max = std::min<uint64_t>({s.window - 1u, stop - start, static_cast<uint64_t>(room)});
  UffdResult r;
  uint32_t swapped_in = 0;
  const uint32_t installed = fill_window(w, ext->addr_of(start), start, max, &r, &swapped_in);
  if (installed == 0) return;
  bump(core_.counters.swap_ins, swapped_in);
  bump(core_.counters.zero_fill_pages, installed - swapped_in);
  bump(core_.counters.readahead_pages, installed);
  s.readahead += installed;
  (void)core_.uffd.wake(ext->addr_of(start), size_t{installed} * kPageSize);
}

FaultHandler::Outcome FaultHandler::move_back(Worker& w, uintptr_t addr, PageId id, const Extent& ext) noexcept {
  PageTable& table = *core_.table;
  SwapCache& cache = *core_.cache;
  Stream& s = stream_for(w, id, 1);
  uint64_t limit = std::min<uint64_t>({s.window, PageTable::chunk_end(id) - id, ext.first + ext.pages - id});
  const uint32_t slot = table.slot(id);
  uint32_t n = 1;
  while (n < limit && table.get(id + n).state() == PageState::kCached && table.slot(id + n) == slot + n) ++n;

  // No copy: the page itself goes back (its write never started).
  UffdProgress p = core_.uffd.move(addr, cache.uaddr(slot), size_t{n} * kPageSize, /*dont_wake=*/true);
  uint32_t k = static_cast<uint32_t>(p.bytes / kPageSize);
  if (k == 0 && p.result == UffdResult::kRetry) return Outcome::kRetry;
  if (k == 0) {
    // The kernel would not move it (pinned, or a page already there): fall
    // back to a copy, then free the slot.
    UffdProgress c = core_.uffd.copy(addr, cache.addr(slot), kPageSize, /*dont_wake=*/true);
    if (c.result == UffdResult::kRetry && c.bytes == 0) return Outcome::kRetry;
    (void)os::release(cache.addr(slot), kPageSize);
    k = 1;
  }
  for (uint32_t i = 0; i < k; ++i) {
    table.set(id + i, table.get(id + i).with_state(PageState::kResident));
    table.set_slot(id + i, PageTable::kNoSlot);
  }
  cache.free(slot, k);
  core_.active.push(Run{id, k});
  bump(core_.counters.minor_faults);
  bump(core_.counters.refaults, k);
  bump(core_.counters.readahead_pages, k - 1);
  s.next = id + k;
  s.readahead = k - 1;
  (void)core_.uffd.wake(addr, size_t{k} * kPageSize);
  return Outcome::kServed;
}

FaultHandler::Outcome FaultHandler::copy_from_slot(uintptr_t addr, PageId id) noexcept {
  PageTable& table = *core_.table;
  const uint32_t slot = table.slot(id);
  // The page is being compressed from the slot: the program gets a copy and
  // the compression goes on undisturbed (its result is dropped as stale).
  UffdProgress p = core_.uffd.copy(addr, core_.cache->addr(slot), kPageSize, /*dont_wake=*/true);
  if (p.result == UffdResult::kRetry && p.bytes == 0) return Outcome::kRetry;
  if (p.done() || p.result == UffdResult::kExists) {
    table.set(id, table.get(id).with_state(PageState::kResident).with_stale(true));
    table.set_slot(id, PageTable::kNoSlot);
    if (p.done()) core_.add_resident(1);
    core_.active.push(Run{id, 1});
    bump(core_.counters.minor_faults);
    bump(core_.counters.refaults);
  }
  (void)core_.uffd.wake(addr, kPageSize);
  return Outcome::kServed;
}

FaultHandler::Outcome FaultHandler::write_unprotect(uintptr_t addr, PageId id) noexcept {
  PageTable& table = *core_.table;
  PageEntry e = table.get(id);
  switch (e.state()) {
    case PageState::kZapping:
      return Outcome::kServed;  // the zap's end wakes it
    case PageState::kResident:
    case PageState::kCached:
    case PageState::kWriteback: {
      UffdProgress p = core_.uffd.write_protect(addr, kPageSize, false, /*dont_wake=*/true);
      if (p.result == UffdResult::kRetry) return Outcome::kRetry;
      if (!p.done()) {
        (void)core_.uffd.wake(addr, kPageSize);
        return Outcome::kServed;
      }
      if (e.state() != PageState::kResident) {
        // Touched while inactive or under writeback: hot. Under writeback the
        // compression goes on from its copy and is dropped at completion.
        PageEntry next = e.with_state(PageState::kResident);
        if (e.state() == PageState::kWriteback) {
          next = next.with_stale(true);
          core_.add_pending_free(-1);  // the page stays: no zap at completion
        }
        table.set(id, next);
        table.set_slot(id, PageTable::kNoSlot);
        core_.active.push(Run{id, 1});
        bump(core_.counters.refaults);
      }
      bump(core_.counters.minor_faults);
      (void)core_.uffd.wake(addr, kPageSize);
      return Outcome::kServed;
    }
    default:
      // Not in place: a stale message. The thread retries its access.
      (void)core_.uffd.wake(addr, kPageSize);
      return Outcome::kServed;
  }
}

FaultHandler::Outcome FaultHandler::zero_one(uintptr_t addr, bool managed) noexcept {
  UffdProgress p = core_.uffd.copy(addr, core_.zeros.data(), kPageSize);
  if (p.result == UffdResult::kRetry && p.bytes == 0) return Outcome::kRetry;
  if (!p.done()) (void)core_.uffd.wake(addr, kPageSize);
  if (!managed && p.done()) bump(core_.counters.unmanaged_faults);
  if (managed && p.done()) bump(core_.counters.zero_fill_pages);
  return Outcome::kServed;
}

UffdResult FaultHandler::install(uintptr_t addr, const std::byte* src, uint32_t pages, PageFate* fate) noexcept {
  std::fill(fate, fate + pages, PageFate::kNot);
  uint32_t done = 0;
  while (done < pages) {
    // No wake yet: the caller wakes the window once its pages' states say
    // what they are (a woken thread could otherwise act on them first).
    UffdProgress p = core_.uffd.copy(addr + size_t{done} * kPageSize, src + size_t{done} * kPageSize,
                                     size_t{pages - done} * kPageSize, /*dont_wake=*/true);
    uint32_t k = static_cast<uint32_t>(p.bytes / kPageSize);
    std::fill(fate + done, fate + done + k, PageFate::kInstalled);
    done += k;
    if (p.done()) return UffdResult::kDone;
    if (p.result != UffdResult::kExists) return p.result;
    // Already there (a stale message, or another thread's window): keep it,
    // wake whoever waits on it, go on after it.
    fate[done] = PageFate::kExisted;
    (void)core_.uffd.wake(addr + size_t{done} * kPageSize, kPageSize);
    ++done;
  }
  return UffdResult::kDone;
}

// ---- events ------------------------------------------------------------------------

void FaultHandler::handle_event(Worker& w, const UffdMessage& m) noexcept {
  switch (m.kind) {
    case UffdMessage::Kind::kRemove:
      if (!core_.move_path() && core_.claim_self_zap(page_floor(m.address), page_floor(m.end))) {
        finish_self_zap(page_floor(m.address), page_floor(m.end));
        core_.self_zap_done(page_floor(m.address), page_floor(m.end));
      } else {
        bump(core_.counters.events_remove);
        release_range(page_floor(m.address), page_floor(m.end), PageState::kNever);
      }
      break;
    case UffdMessage::Kind::kUnmap: {
      bump(core_.counters.events_unmap);
      uintptr_t start = page_floor(m.address);
      std::vector<Extent> gone;
      {
        auto lock = lock_regions(w);
        gone = core_.regions.remove_locked(start, (page_floor(m.end) - start) / kPageSize);
      }
      for (const Extent& e : gone) core_.release_pages(e.first, e.pages, PageState::kUnmapped);
      break;
    }
    case UffdMessage::Kind::kRemap: {
      bump(core_.counters.events_remap);
      auto lock = lock_regions(w);
      (void)core_.regions.move_locked(page_floor(m.from), page_floor(m.to), m.len / kPageSize);
      break;
    }
    default:
      break;
  }
}

void FaultHandler::release_range(uintptr_t start, uintptr_t end, PageState to) noexcept {
  auto lock = core_.regions.lock_shared();
  for (const Extent& e : core_.regions.overlapping_locked(start, end)) core_.release_pages(e.first, e.pages, to);
}

void FaultHandler::finish_self_zap(uintptr_t start, uintptr_t end) noexcept {
  PageTable& table = *core_.table;
  int64_t freed = 0;
  {
    auto lock = core_.regions.lock_shared();
    for (const Extent& e : core_.regions.overlapping_locked(start, end)) {
      for (PageId id = e.first; id < e.first + e.pages;) {
        PageId stop = std::min(e.first + e.pages, PageTable::chunk_end(id));
        MutexLock chunk(&table.lock_of(id));
        for (; id < stop; ++id) {
          PageEntry pe = table.get(id);
          if (pe.state() != PageState::kZapping) continue;
          table.set(id, pe.with_state(PageState::kSwapped));
          ++freed;
        }
      }
    }
  }
  core_.add_pending_free(-freed);
  if (freed > 0) core_.sub_resident(freed);
  // Threads that wrote to a page while it was being zapped slept until now.
  (void)core_.uffd.wake(start, end - start);
}

std::unique_lock<std::shared_mutex> FaultHandler::lock_regions(Worker& w) noexcept {
  if (core_.move_path()) return core_.regions.lock_exclusive();
  for (;;) {
    auto lock = core_.regions.try_lock_exclusive();
    if (lock.owns_lock()) return lock;
    // The reclaimer may hold the shared lock across a zap and wait for us to
    // read its REMOVE event: read on, finish self-zaps, park the rest.
    UffdMessage msgs[kReadBatch];
    Result<size_t> got = core_.uffd.read(msgs);
    size_t n = got ? *got : 0;
    if (n == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      continue;
    }
    size_t kept = take_self_zaps(msgs, n);
    w.backlog.insert(w.backlog.end(), msgs, msgs + kept);
  }
}

}  // namespace uzram::swap
