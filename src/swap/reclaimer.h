// File: src/swap/reclaimer.h
//
// Reclaimer: the background thread that keeps the resident pages under the
// limit, and the completions of the writes it submits.
//
// One round, started when resident pages reach the high watermark (or by
// trim()), runs until the pages resident, less those that writes in flight
// will free, are at the low watermark:
//   deactivate  take the oldest runs off the active list; move each run of
//               evictable pages into swap-cache slots with ONE UFFDIO_MOVE
//               (WP path: write-protect it with one UFFDIO_WRITEPROTECT);
//               they join the inactive list, uncompressed.
//   writeback   take the oldest inactive runs; the pages not touched
//               meanwhile go to the engine in one batch (WP path: copied
//               into swap-cache slots first, and compressed from there).
// Completions (engine workers): a stored page becomes swapped and its slot is
// freed (MADV_DONTNEED of the batch's slots in runs, after the batch); WP
// path: its write-protected page is zapped by this thread (see
// Core::add_self_zap). A page that came back or was discarded during its
// write is stale: its store slot is discarded. A write the store refused
// (mem_limit) leaves the page resident, inactive, and pauses writeback.
//
// Thread safety: start/stop from one thread; trim() from any program thread;
// the completions run on engine workers and take one chunk lock at a time.
// Swap fault thread: never calls into the Reclaimer but kick().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "base/thread_annotations.h"
#include "swap/space_core.h"
#include "uzram/async_engine.h"

namespace uzram::swap {

class Reclaimer {
 public:
  explicit Reclaimer(Core& core) noexcept;
  ~Reclaimer();
  Reclaimer(const Reclaimer&) = delete;
  Reclaimer& operator=(const Reclaimer&) = delete;

  void start();
  // Stops the thread. REQUIRES: afterwards, engine.flush() before the
  // Reclaimer is destroyed (completions use its batches).
  void stop() noexcept;
  void kick() noexcept;

  // Evicts until at most `pages` are resident or nothing more can be
  // evicted, and waits for the writes. Program threads only.
  Status trim(uint64_t pages) noexcept;

 private:
  class Batch;  // a WriteCompletion per submitted batch

  void run() noexcept;
  void reclaim_to(uint64_t target) noexcept;
  uint64_t projected() const noexcept;
  uint64_t deactivate(uint64_t max_pages) noexcept;
  uint64_t writeback(uint64_t max_pages) noexcept;
  uint64_t writeback_copies(std::vector<Run>& runs, std::vector<WriteRequest>* reqs) noexcept;
  void submit(Batch* batch, std::vector<WriteRequest>& reqs) noexcept;
  void do_zaps() noexcept;
  void housekeeping() noexcept;
  void maybe_compact() noexcept;

  Batch* acquire_batch() noexcept;
  void recycle(Batch* batch) noexcept;
  // From Batch, on worker threads.
  void complete(Batch& batch, const WriteRequest& req, const Status& st) noexcept;
  void finish(Batch& batch) noexcept;

  Core& core_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  static constexpr uint64_t kBatchPages = 128;

  Mutex mu_;  // guards the doorbell and the trim handshake
  std::condition_variable cv_;  // waits on mu_.native()
  bool kicked_ UZRAM_GUARDED_BY(mu_) = false;
  uint64_t trim_target_ UZRAM_GUARDED_BY(mu_) = 0;
  uint64_t trim_requested_ UZRAM_GUARDED_BY(mu_) = 0;  // generation
  uint64_t trim_done_ UZRAM_GUARDED_BY(mu_) = 0;
  std::condition_variable trim_cv_;  // waits on mu_.native()

  Mutex batch_mu_;
  std::vector<std::unique_ptr<Batch>> batches_ UZRAM_GUARDED_BY(batch_mu_);
  std::vector<Batch*> free_batches_ UZRAM_GUARDED_BY(batch_mu_);

  Mutex zap_mu_;
  std::vector<PageId> zaps_ UZRAM_GUARDED_BY(zap_mu_);  // WP path: stored pages to drop from the program

  uint64_t last_housekeeping_ns_ = 0;  // reclaimer thread only
  uint64_t last_compact_ns_ = 0;       // reclaimer thread only
};

}  // namespace uzram::swap
