// File: tests/swap/swap_test_util.h
//
// Helpers for swap/'s tests: page patterns that compress but are not
// same-filled, a space opener for either stable-page path, a Store wrapper
// that can hold writes at a gate (to keep pages under writeback as long as a
// test needs), and a watchdog that fails a test that hangs instead of letting
// it sleep in a fault for ever.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "swap/swap_space_impl.h"
#include "uzram/store.h"
#include "uzram/swap_space.h"

namespace uzram::swap::testing {

inline uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Page `index` of version `version`: a few words that name it, then a
// repeating low-entropy pattern (compresses about 4:1, never same-filled).
inline void fill_page(std::byte* p, uint64_t index, uint64_t version) {
  uint64_t* w = reinterpret_cast<uint64_t*>(p);
  uint64_t seed = mix(index * 1315423911u + version);
  for (size_t i = 0; i < kPageSize / 8; ++i) w[i] = (i < 8) ? mix(seed + i) : (seed >> (i % 32)) & 0xff0f;
  w[0] = index;
  w[1] = version;
}

inline bool check_page(const std::byte* p, uint64_t index, uint64_t version) {
  alignas(8) std::byte want[kPageSize];
  fill_page(want, index, version);
  return std::memcmp(p, want, kPageSize) == 0;
}

inline bool is_zero_page(const std::byte* p) {
  for (size_t i = 0; i < kPageSize; ++i) {
    if (p[i] != std::byte{0}) return false;
  }
  return true;
}

// Aborts the process (with a message) when a test runs longer than it may:
// a bug in fault serving leaves a thread asleep for ever otherwise.
class Watchdog {
 public:
  explicit Watchdog(int seconds) : thread_([this, seconds] {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return done_; })) {
        std::fprintf(stderr, "watchdog: %s ran past %d s; aborting\n",
                     ::testing::UnitTest::GetInstance()->current_test_info()->name(), seconds);
        std::abort();
      }
    }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// A Store that forwards to a real one, and can hold every write at a gate.
class GatedStore final : public Store {
 public:
  explicit GatedStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  void close_gate() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Waits until `n` writes sleep at the closed gate.
  void wait_at_gate(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return at_gate_ >= n; });
  }

  uint64_t disksize() const noexcept override { return inner_->disksize(); }
  bool stable_writes() const noexcept override { return inner_->stable_writes(); }
  Status write(PageIndex index, PageView page) noexcept override {
    {
      std::unique_lock lock(mu_);
      ++at_gate_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      --at_gate_;
    }
    return inner_->write(index, page);
  }
  Status read(PageIndex index, PageBuffer out) noexcept override { return inner_->read(index, out); }
  Status discard(PageIndex index, uint64_t count) noexcept override { return inner_->discard(index, count); }
  bool is_empty(PageIndex index) const noexcept override { return inner_->is_empty(index); }
  bool is_zero(PageIndex index) const noexcept override { return inner_->is_zero(index); }
  Status write_bytes(uint64_t o, std::span<const std::byte> d) noexcept override { return inner_->write_bytes(o, d); }
  Status read_bytes(uint64_t o, std::span<std::byte> d) noexcept override { return inner_->read_bytes(o, d); }
  Status zero_bytes(uint64_t o, uint64_t l) noexcept override { return inner_->zero_bytes(o, l); }
  uint64_t mark_idle(uint64_t a) noexcept override { return inner_->mark_idle(a); }
  Result<uint64_t> recompress(const RecompressOptions& o) noexcept override { return inner_->recompress(o); }
  Status set_backing_file(std::string_view p) noexcept override { return inner_->set_backing_file(p); }
  void set_writeback_limit(bool e, uint64_t p) noexcept override { inner_->set_writeback_limit(e, p); }
  uint64_t writeback_limit() const noexcept override { return inner_->writeback_limit(); }
  Result<uint64_t> writeback(const WritebackOptions& o) noexcept override { return inner_->writeback(o); }
  uint64_t compact() noexcept override { return inner_->compact(); }
  void set_mem_limit(uint64_t b) noexcept override { inner_->set_mem_limit(b); }
  void reset_mem_used_max() noexcept override { inner_->reset_mem_used_max(); }
  StoreStats stats() const noexcept override { return inner_->stats(); }

 private:
  std::unique_ptr<Store> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int at_gate_ = 0;
};

// Options for a small space: `limit_pages` resident at most, room for
// `size_pages`, on the given path.
inline SwapOptions small_options(SwapPath path, uint64_t limit_pages, uint64_t size_pages = 16384) {
  SwapOptions o;
  o.path = path;
  o.limit = limit_pages * kPageSize;
  o.size = size_pages * kPageSize;
  o.writeback_threads = 2;
  o.spin_us = 0;  // the tests share two cores
  return o;
}

inline std::unique_ptr<SwapSpace> open_or_die(const SwapOptions& o) {
  Result<std::unique_ptr<SwapSpace>> s = SwapSpace::open(o);
  if (!s) {
    ADD_FAILURE() << "SwapSpace::open: " << s.status().to_string();
    return nullptr;
  }
  return std::move(*s);
}

inline std::string path_param_name(const ::testing::TestParamInfo<SwapPath>& info) {
  return info.param == SwapPath::kMove ? "Move" : "WriteProtect";
}

// True when this kernel offers the path (MOVE needs Linux 6.8).
inline bool kernel_has(SwapPath path) {
  SwapOptions o = small_options(path, 64, 1024);
  return SwapSpace::open(o).has_value();
}

}  // namespace uzram::swap::testing
