// File: src/base/thread_annotations.h
//
// Clang -Wthread-safety annotations (no-ops elsewhere), and the annotated
// Mutex and MutexLock that let the compiler check "guarded by" rules. CI
// builds once with clang and -Wthread-safety -Werror=thread-safety.
#pragma once

#include <mutex>

#if defined(__clang__)
#define UZRAM_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define UZRAM_THREAD_ANNOTATION(x)
#endif

#define UZRAM_CAPABILITY(x) UZRAM_THREAD_ANNOTATION(capability(x))
#define UZRAM_SCOPED_CAPABILITY UZRAM_THREAD_ANNOTATION(scoped_lockable)
#define UZRAM_GUARDED_BY(x) UZRAM_THREAD_ANNOTATION(guarded_by(x))
#define UZRAM_PT_GUARDED_BY(x) UZRAM_THREAD_ANNOTATION(pt_guarded_by(x))
#define UZRAM_REQUIRES(...) UZRAM_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define UZRAM_EXCLUDES(...) UZRAM_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define UZRAM_ACQUIRE(...) UZRAM_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define UZRAM_TRY_ACQUIRE(...) UZRAM_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define UZRAM_RELEASE(...) UZRAM_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define UZRAM_NO_THREAD_SAFETY_ANALYSIS UZRAM_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace uzram {

// std::mutex with capability annotations.
class UZRAM_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() UZRAM_ACQUIRE() { mu_.lock(); }
  void unlock() UZRAM_RELEASE() { mu_.unlock(); }
  [[nodiscard]] bool try_lock() UZRAM_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  std::mutex& native() { return mu_; }  // for std::condition_variable

 private:
  std::mutex mu_;
};

// Scoped lock of a Mutex; neither copyable nor movable.
class UZRAM_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) UZRAM_ACQUIRE(mu) : mu_(mu) { mu_->lock(); }
  ~MutexLock() UZRAM_RELEASE() { mu_->unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace uzram
