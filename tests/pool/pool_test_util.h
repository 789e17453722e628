// File: tests/pool/pool_test_util.h
//
// Helpers shared by the pool tests: deterministic byte patterns to fill and
// verify objects with, the process's anonymous resident size, and pinning
// the calling thread to one CPU (to steer its allocations to a class shard).
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace uzram::pool::testing {

// True in AddressSanitizer and ThreadSanitizer builds, where the stress
// tests take fewer steps to stay inside CI's time.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// Byte i of the pattern named `seed`: cheap, and different for nearby seeds
// and offsets, so that a swapped or shifted object is caught.
inline std::byte pattern_byte(uint64_t seed, size_t i) {
  uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  x *= 0x94D049BB133111EBull;
  return static_cast<std::byte>(x >> 56);
}

inline void fill(std::span<std::byte> bytes, uint64_t seed) {
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = pattern_byte(seed, i);
}

inline bool holds(std::span<const std::byte> bytes, uint64_t seed) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != pattern_byte(seed, i)) return false;
  }
  return true;
}

// RssAnon from /proc/self/status, in bytes; 0 when it cannot be read.
inline uint64_t rss_anon_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "RssAnon:") {
      uint64_t kib = 0;
      in >> kib;
      return kib * 1024;
    }
    std::getline(in, key);
  }
  return 0;
}

// The CPUs this thread may run on.
inline std::vector<int> allowed_cpus() {
  cpu_set_t set;
  std::vector<int> cpus;
  if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

// Two CPUs this thread may run on whose numbers differ in parity, so that
// with two class shards (shard = CPU % shards) they use different shards;
// none when there are no such two.
inline std::optional<std::pair<int, int>> cpus_of_different_parity() {
  const std::vector<int> cpus = allowed_cpus();
  for (int c : cpus) {
    if (c % 2 != cpus[0] % 2) return std::pair{cpus[0], c};
  }
  return std::nullopt;
}

// Runs the calling thread on one CPU at a time (move_to) until destroyed,
// then restores the CPU set it had when made. Made and destroyed on the
// thread it pins.
class CpuPin {
 public:
  CpuPin() { saved_ok_ = pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_) == 0; }
  explicit CpuPin(int cpu) : CpuPin() { move_to(cpu); }
  ~CpuPin() {
    if (saved_ok_) pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_);
  }
  CpuPin(const CpuPin&) = delete;
  CpuPin& operator=(const CpuPin&) = delete;

  // False when the kernel refused.
  bool move_to(int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ok_ = saved_ok_ && pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
    return ok_;
  }
  bool ok() const { return ok_; }

 private:
  cpu_set_t saved_{};
  bool saved_ok_ = false;
  bool ok_ = false;
};

}  // namespace uzram::pool::testing
