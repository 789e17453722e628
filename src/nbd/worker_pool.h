// File: src/nbd/worker_pool.h
//
// WorkerPool: a fixed set of threads running tasks from one FIFO queue; the
// NBD server runs its requests here, so that the store is driven by as many
// threads as asked (--threads) however many connections there are.
//
// The queue itself has no bound: each connection bounds what it submits
// (its in-flight limit), so the queue holds at most connections x that limit.
// A task must not block on a client (it never touches a socket): a slow
// client then slows only its own connection.
//
// Thread safety: submit() from any thread; stop() from one thread, once
// nothing submits any more (it runs what is queued, then joins).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "base/thread_annotations.h"

namespace uzram::nbd {

class WorkerPool {
 public:
  explicit WorkerPool(size_t threads);
  ~WorkerPool() { stop(); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void submit(std::function<void()> task);
  void stop();
  size_t threads() const noexcept { return threads_.size(); }

 private:
  void run();

  Mutex mu_;
  std::condition_variable_any cv_;                          // waits on mu_: work queued or stopping
  std::deque<std::function<void()>> queue_ UZRAM_GUARDED_BY(mu_);
  bool stopping_ UZRAM_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;                        // set in the constructor, joined by stop()
};

}  // namespace uzram::nbd
