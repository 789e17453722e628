// File: src/base/wait.h
//
// wait_on(): a condition-variable wait on a uzram::Mutex held by an enclosing
// MutexLock. The std::unique_lock adopts the lock for the wait and gives it
// back, so the thread-safety analysis sees the mutex held throughout.
#pragma once

#include <condition_variable>
#include <mutex>

#include "base/thread_annotations.h"

namespace uzram {

inline void wait_on(std::condition_variable& cv, Mutex& mu) UZRAM_REQUIRES(mu) {
  std::unique_lock<std::mutex> lock(mu.native(), std::adopt_lock);
  cv.wait(lock);
  lock.release();
}

}  // namespace uzram
