// RunQueue: see run_queue.h.
#include "swap/run_queue.h"

namespace uzram::swap {

void RunQueue::push(const Run& run) noexcept {
  if (run.pages == 0) return;
  MutexLock lock(&mu_);
  runs_.push_back(run);
  pages_ += run.pages;
}

uint64_t RunQueue::pop(uint64_t pages, std::vector<Run>* out) noexcept {
  MutexLock lock(&mu_);
  uint64_t taken = 0;
  while (taken < pages && !runs_.empty()) {
    out->push_back(runs_.front());
    taken += runs_.front().pages;
    runs_.pop_front();
  }
  pages_ -= taken;
  return taken;
}

uint64_t RunQueue::pages() const noexcept {
  MutexLock lock(&mu_);
  return pages_;
}

bool RunQueue::empty() const noexcept {
  MutexLock lock(&mu_);
  return runs_.empty();
}

}  // namespace uzram::swap
