// File: src/swap/fault_handler.h
//
// FaultHandler: the threads that read the program uffd, serve page faults and
// apply the program's events (REMOVE, UNMAP, REMAP) to the page table.
//
// What a fault gets, by the state of its page (page_table.h):
//   never, swapped  a window of up to 2^k pages (readahead, grown while the
//                   faults are sequential) is decompressed into a staging
//                   buffer, or taken from a mapping of zeros, and installed
//                   with ONE UFFDIO_COPY: 64 pages cost ~3 us a page against
//                   20-50 us for one (shared/design/anchors.md).
//   cached          MOVE path: moved back from its swap-cache slot, no copy
//                   (a refault: the page is hot). WP path: a write fault is
//                   write-unprotected in place.
//   writeback       never waits for the compression: MOVE path: a copy of the
//                   slot (UFFDIO_COPY); WP path: unprotected in place, the
//                   compression goes on from its copy. Either way the
//                   compressed copy becomes stale and is dropped at completion.
//   zapping         WP path: left asleep; the end of the zap wakes it.
//
// Ordering (why events are processed under read_mu_): the kernel lets a
// program's madvise or munmap go on as soon as its event has been READ. A
// fault read after an event must see the event applied, or it could install
// a page's old contents after the program discarded it. So a thread reads
// messages holding read_mu_, and when a batch holds an event it keeps
// read_mu_ while it waits for the faults other threads read earlier and then
// applies the batch in order. With one fault thread (the default) all of
// this is plain program order.
//
// EAGAIN (mmap_changing): while an event is queued and unread, installs fail
// with EAGAIN; such a fault is deferred, the events are read, and it is
// retried.
//
// Thread safety: start() and stop() from one thread; the rest runs on the
// handler's threads.
// Swap fault thread: these ARE the fault threads. They never touch memory
// that swap/ manages (regions, swap-cache slots): every access to it goes
// through an ioctl, so they can never fault on themselves.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "base/fd.h"
#include "base/thread_annotations.h"
#include "swap/space_core.h"

namespace uzram::swap {

class FaultHandler {
 public:
  explicit FaultHandler(Core& core) noexcept : core_(core) {}
  ~FaultHandler() { stop(); }
  FaultHandler(const FaultHandler&) = delete;
  FaultHandler& operator=(const FaultHandler&) = delete;

  Status start(size_t threads);
  // Stops and joins the threads. Faults not served stay asleep: unregister
  // the ranges first (that wakes them).
  void stop() noexcept;

 private:
  // A sequential stream of faults: where the next fault of it would be, and
  // the window its next fault gets.
  struct Stream {
    PageId next = ~PageId{0};
    uint32_t window = 1;
    uint32_t readahead = 0;  // pages installed beyond the faulting one last time
  };
  // Read-ahead of a stream, due once the faults of a batch are served.
  struct Prefetch {
    bool pending = false;
    size_t stream = 0;   // index in Worker::streams
    uintptr_t addr = 0;  // of `id`
    PageId id = 0;       // the marker: the stream's next page, left out
  };
  struct Worker {
    size_t index = 0;
    Mapping staging;                   // max_window pages: decompressed windows
    Stream streams[8];
    size_t next_stream = 0;
    Prefetch prefetch;
    std::vector<UffdMessage> backlog;  // read while waiting (WP path), not yet applied
    bool holds_read_mu = false;        // this thread holds read_mu_ (applying in order)
  };
  enum class Outcome : uint8_t { kServed, kRetry };
  enum class PageFate : uint8_t { kNot, kInstalled, kExisted };

  void run(Worker* w) noexcept;
  // Reads and applies one batch; returns the messages read.
  size_t serve_batch(Worker& w) noexcept;
  void apply_in_order(Worker& w, std::span<const UffdMessage> msgs) noexcept UZRAM_REQUIRES(read_mu_);
  void wait_faults_in_progress(Worker& w) noexcept UZRAM_REQUIRES(read_mu_);
  // WP path: finishes the self-zap REMOVEs among msgs[0..n) and removes them;
  // returns how many messages are left.
  size_t take_self_zaps(UffdMessage* msgs, size_t n) noexcept;
  void retry_deferred(Worker& w) noexcept;
  void defer(const UffdMessage& m) noexcept;

  Outcome handle_fault(Worker& w, const UffdMessage& m) noexcept;
  // Over the limit, waits (bounded) for the reclaimer to make room.
  void wait_for_room(Worker& w) noexcept;
  // WP path: reads messages, finishes self-zaps at once and parks the rest
  // in order. Returns false when nothing could be read.
  bool pump_self_zaps(Worker& w) noexcept;
  Outcome swap_in(Worker& w, uintptr_t addr, PageId id, const Extent& ext) noexcept;
  // Installs up to `max` never-written or swapped pages from `id`, in one
  // UFFDIO_COPY, and updates their states; does not wake. Returns the pages
  // installed (0: *result says why). REQUIRES: id's chunk lock; the window
  // inside the chunk and the extent.
  uint32_t fill_window(Worker& w, uintptr_t addr, PageId id, uint64_t max, UffdResult* result,
                       uint32_t* swapped_in) noexcept;
  // Installs the window after a sequential stream's marker page (see
  // swap_in): the program works through its pages meanwhile.
  void run_prefetch(Worker& w) noexcept;
  Outcome move_back(Worker& w, uintptr_t addr, PageId id, const Extent& ext) noexcept;
  Outcome copy_from_slot(uintptr_t addr, PageId id) noexcept;
  Outcome write_unprotect(uintptr_t addr, PageId id) noexcept;
  Outcome zero_one(uintptr_t addr, bool managed) noexcept;
  // UFFDIO_COPY of a window, stepping over pages that are already there.
  UffdResult install(uintptr_t addr, const std::byte* src, uint32_t pages, PageFate* fate) noexcept;

  void handle_event(Worker& w, const UffdMessage& m) noexcept;
  void release_range(uintptr_t start, uintptr_t end, PageState to) noexcept;
  void finish_self_zap(uintptr_t start, uintptr_t end) noexcept;
  // RegionMap's exclusive lock; on the WP path, reads and parks messages
  // while the reclaimer holds the shared lock across a zap (see space_core.h).
  std::unique_lock<std::shared_mutex> lock_regions(Worker& w) noexcept;

  Stream& stream_for(Worker& w, PageId id, uint32_t initial) noexcept;

  Core& core_;
  Fd wake_fd_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<Worker>> workers_;
  Mutex read_mu_;  // held while reading messages, and while applying a batch with an event
  std::atomic<int> faults_in_progress_{0};  // faults read and not yet served or deferred
  Mutex deferred_mu_;
  std::vector<UffdMessage> deferred_ UZRAM_GUARDED_BY(deferred_mu_);
  std::atomic<bool> has_deferred_{false};
};

}  // namespace uzram::swap
