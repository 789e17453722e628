// File: tests/writeback/mem_store.h
//
// MemStore: a plain in-memory Store for the engine's tests: pages kept whole,
// a configurable stable_writes(), a gate that holds every write until it is
// opened (to keep writes in flight as long as a test needs), and a log of the
// first word of every page written to each slot (to see the order in which
// versions reached the store). Maintenance calls are not supported.
//
// Thread safety: every method is thread-safe (one mutex per slot stripe,
// one for the gate and the log).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "uzram/store.h"

namespace uzram::writeback::testing {

class MemStore final : public Store {
 public:
  MemStore(uint64_t slots, bool stable) : pages_(slots), stable_(stable) {}

  uint64_t disksize() const noexcept override { return pages_.size() * kPageSize; }
  bool stable_writes() const noexcept override { return stable_; }

  Status write(PageIndex index, PageView page) noexcept override {
    if (index >= pages_.size()) return Status::out_of_range("mem store");
    {
      std::unique_lock<std::mutex> lock(gate_mu_);
      ++at_gate_;
      gate_cv_.notify_all();
      gate_cv_.wait(lock, [&] { return open_; });
      --at_gate_;
      if (active_[index]++ > 0) ++overlaps_;
    }
    // Widen the window in which a second write of the same slot could run.
    if (yield_in_write_.load(std::memory_order_relaxed)) std::this_thread::yield();
    uint64_t first;
    std::memcpy(&first, page.data(), 8);
    {
      std::lock_guard<std::mutex> lock(stripe(index));
      std::memcpy(pages_[index].data(), page.data(), kPageSize);
    }
    std::lock_guard<std::mutex> lock(gate_mu_);
    --active_[index];
    log_[index].push_back(first);
    ++writes_;
    return Status::ok();
  }

  Status read(PageIndex index, PageBuffer out) noexcept override {
    if (index >= pages_.size()) return Status::out_of_range("mem store");
    std::lock_guard<std::mutex> lock(stripe(index));
    std::memcpy(out.data(), pages_[index].data(), kPageSize);
    return Status::ok();
  }

  Status discard(PageIndex, uint64_t) noexcept override { return Status::unsupported("mem store"); }
  bool is_empty(PageIndex) const noexcept override { return false; }
  bool is_zero(PageIndex) const noexcept override { return false; }
  Status write_bytes(uint64_t, std::span<const std::byte>) noexcept override { return Status::unsupported("mem store"); }
  Status read_bytes(uint64_t, std::span<std::byte>) noexcept override { return Status::unsupported("mem store"); }
  Status zero_bytes(uint64_t, uint64_t) noexcept override { return Status::unsupported("mem store"); }
  uint64_t mark_idle(uint64_t) noexcept override { return 0; }
  Result<uint64_t> recompress(const RecompressOptions&) noexcept override { return Status::unsupported("mem store"); }
  Status set_backing_file(std::string_view) noexcept override { return Status::unsupported("mem store"); }
  void set_writeback_limit(bool, uint64_t) noexcept override {}
  uint64_t writeback_limit() const noexcept override { return 0; }
  Result<uint64_t> writeback(const WritebackOptions&) noexcept override { return Status::unsupported("mem store"); }
  uint64_t compact() noexcept override { return 0; }
  void set_mem_limit(uint64_t) noexcept override {}
  void reset_mem_used_max() noexcept override {}
  StoreStats stats() const noexcept override { return StoreStats{}; }

  // ---- test controls ----
  void close_gate() {
    std::lock_guard<std::mutex> lock(gate_mu_);
    open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard<std::mutex> lock(gate_mu_);
      open_ = true;
    }
    gate_cv_.notify_all();
  }
  // Waits until `n` writes are held at the closed gate.
  void wait_at_gate(size_t n) {
    std::unique_lock<std::mutex> lock(gate_mu_);
    gate_cv_.wait(lock, [&] { return at_gate_ >= n; });
  }
  size_t at_gate() {
    std::lock_guard<std::mutex> lock(gate_mu_);
    return at_gate_;
  }
  // First words of the pages written to `index`, in the order they were stored.
  std::vector<uint64_t> log(PageIndex index) {
    std::lock_guard<std::mutex> lock(gate_mu_);
    return log_[index];
  }
  uint64_t writes() {
    std::lock_guard<std::mutex> lock(gate_mu_);
    return writes_;
  }
  // Writes that began while another write of the same slot was inside write().
  uint64_t same_slot_overlaps() {
    std::lock_guard<std::mutex> lock(gate_mu_);
    return overlaps_;
  }
  void set_yield_in_write(bool on) { yield_in_write_.store(on, std::memory_order_relaxed); }

 private:
  std::mutex& stripe(PageIndex index) const noexcept { return stripes_[index % stripes_.size()]; }

  std::vector<std::array<std::byte, kPageSize>> pages_;  // guarded by stripe(index)
  mutable std::array<std::mutex, 16> stripes_;
  const bool stable_;
  std::mutex gate_mu_;  // guards the fields below
  std::condition_variable gate_cv_;
  bool open_ = true;
  size_t at_gate_ = 0;
  uint64_t writes_ = 0;
  uint64_t overlaps_ = 0;
  std::map<PageIndex, int> active_;  // writes inside write() per slot
  std::map<PageIndex, std::vector<uint64_t>> log_;
  std::atomic<bool> yield_in_write_{false};
};

// A page whose every 8-byte word is `word`.
inline std::array<std::byte, kPageSize> word_page(uint64_t word) {
  std::array<std::byte, kPageSize> p;
  for (size_t i = 0; i < kPageSize; i += 8) std::memcpy(p.data() + i, &word, 8);
  return p;
}

inline uint64_t first_word(const std::byte* page) {
  uint64_t w;
  std::memcpy(&w, page, 8);
  return w;
}

}  // namespace uzram::writeback::testing
