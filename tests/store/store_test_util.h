// File: tests/store/store_test_util.h
//
// Helpers for the store's tests: page makers (text-like, random, same-filled,
// low-entropy), a store opener, and FakeBackingDevice, an in-memory backing
// device that can be told to fail (memenv's idea, for the store's one OS wall).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/backing_file.h"
#include "store/store_impl.h"
#include "uzram/store.h"

namespace uzram::store::testing {

struct alignas(kPageSize) Page {
  std::array<std::byte, kPageSize> bytes{};
  PageView view() const { return PageView(bytes); }
  PageBuffer buf() { return PageBuffer(bytes); }
  bool operator==(const Page& o) const { return bytes == o.bytes; }
};

inline uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Words of a small vocabulary, like the text and small structures of a
// process heap: compresses 2-4x with lz4, better with zstd.
inline Page text_page(uint64_t seed) {
  static const char* const kWords[] = {"alpha ", "beta ", "gamma ", "delta ", "store ", "page ", "slot ",
                                       "zram ", "memory ", "compress ", "{\"key\": ", "42, ", "value\n", "idle "};
  Page p;
  uint64_t s = seed;
  size_t off = 0;
  while (off < kPageSize) {
    s = mix(s);
    const char* w = kWords[s % (sizeof(kWords) / sizeof(kWords[0]))];
    const size_t n = std::min(std::strlen(w), kPageSize - off);
    std::memcpy(p.bytes.data() + off, w, n);
    off += n;
  }
  return p;
}

// Incompressible: stored huge.
inline Page random_page(uint64_t seed) {
  Page p;
  uint64_t s = seed;
  for (size_t off = 0; off < kPageSize; off += 8) {
    s = mix(s);
    std::memcpy(p.bytes.data() + off, &s, 8);
  }
  return p;
}

// Random bytes of 16 values: no repeats for lz4 to find (huge with lz4), but
// 4 bits of entropy a byte, which zstd's entropy coder halves.
inline Page nibble_page(uint64_t seed) {
  Page p;
  uint64_t s = seed;
  for (size_t off = 0; off < kPageSize; ++off) {
    if (off % 16 == 0) s = mix(s);
    p.bytes[off] = static_cast<std::byte>((s >> (4 * (off % 16))) & 0xF);
  }
  return p;
}

// The first `random_bytes` bytes random, the rest text: compresses to about
// random_bytes plus a few hundred bytes, so sizes across every size class
// can be had.
inline Page mixed_page(uint64_t seed, size_t random_bytes) {
  Page p = text_page(seed);
  const Page r = random_page(seed ^ 0xABCDEF);
  std::memcpy(p.bytes.data(), r.bytes.data(), std::min(random_bytes, kPageSize));
  return p;
}

inline Page same_page(uint64_t pattern) {
  Page p;
  for (size_t off = 0; off < kPageSize; off += 8) std::memcpy(p.bytes.data() + off, &pattern, 8);
  return p;
}

inline std::unique_ptr<StoreImpl> open_store(const StoreOptions& options) {
  Result<std::unique_ptr<StoreImpl>> s = StoreImpl::create(options);
  EXPECT_TRUE(s.has_value()) << s.status().to_string();
  return s ? std::move(*s) : nullptr;
}

inline StoreOptions options_for(uint64_t pages, std::string algorithm = "lz4") {
  StoreOptions o;
  o.disksize = pages * kPageSize;
  o.algorithm = std::move(algorithm);
  o.streams = 2;
  return o;
}

inline Page read_page(Store& s, PageIndex i) {
  Page p;
  Status st = s.read(i, p.buf());
  EXPECT_TRUE(st.is_ok()) << "page " << i << ": " << st.to_string();
  return p;
}

// An in-memory BackingDevice. Thread-safe. It can fail writes (EIO, ENOSPC)
// and counts punches; blocks never written read as zeros.
class FakeBackingDevice final : public BackingDevice {
 public:
  explicit FakeBackingDevice(uint64_t blocks) : data_(blocks * kPageSize), punched_(blocks, false), path_("fake") {}

  uint64_t blocks() const noexcept override { return data_.size() / kPageSize; }
  const std::string& path() const noexcept override { return path_; }

  Status pread(uint64_t block, std::span<std::byte> out) noexcept override {
    std::lock_guard l(mu_);
    if (read_error_ != 0) return Status::from_errno(read_error_, "fake read");
    if ((block + out.size() / kPageSize) > blocks() || out.size() % kPageSize) return Status::io_error("fake: bad read", EIO);
    std::memcpy(out.data(), data_.data() + block * kPageSize, out.size());
    return Status::ok();
  }

  Status pwritev(uint64_t first, std::span<const std::span<const std::byte>> pages) noexcept override {
    std::lock_guard l(mu_);
    ++write_calls_;
    if (first + pages.size() > blocks()) return Status::io_error("fake: write past the end", EIO);
    for (size_t i = 0; i < pages.size(); ++i) {
      if (pages[i].size() != kPageSize) return Status::io_error("fake: not a block", EIO);
      if (write_error_ != 0 && writes_before_error_ == 0) return Status::from_errno(write_error_, "fake write");
      if (writes_before_error_ > 0) --writes_before_error_;
      std::memcpy(data_.data() + (first + i) * kPageSize, pages[i].data(), kPageSize);
      punched_[first + i] = false;
      ++blocks_written_;
    }
    return Status::ok();
  }

  Status punch(uint64_t block) noexcept override {
    std::lock_guard l(mu_);
    std::memset(data_.data() + block * kPageSize, 0, kPageSize);
    punched_[block] = true;
    ++punches_;
    return Status::ok();
  }

  // Every write fails with `err` after `after` more blocks were written.
  void fail_writes(int err, uint64_t after = 0) {
    std::lock_guard l(mu_);
    write_error_ = err;
    writes_before_error_ = after;
  }
  void fail_reads(int err) {
    std::lock_guard l(mu_);
    read_error_ = err;
  }
  uint64_t punches() const {
    std::lock_guard l(mu_);
    return punches_;
  }
  uint64_t blocks_written() const {
    std::lock_guard l(mu_);
    return blocks_written_;
  }
  uint64_t write_calls() const {
    std::lock_guard l(mu_);
    return write_calls_;
  }
  std::vector<std::byte> block(uint64_t b) const {
    std::lock_guard l(mu_);
    return {data_.begin() + b * kPageSize, data_.begin() + (b + 1) * kPageSize};
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::byte> data_;
  std::vector<bool> punched_;
  std::string path_;
  int write_error_ = 0;
  uint64_t writes_before_error_ = 0;
  int read_error_ = 0;
  uint64_t punches_ = 0;
  uint64_t blocks_written_ = 0;
  uint64_t write_calls_ = 0;
};

// Installs a fake device and returns a pointer to it (the store owns it).
inline FakeBackingDevice* attach_fake(StoreImpl& s, uint64_t blocks) {
  auto dev = std::make_unique<FakeBackingDevice>(blocks);
  FakeBackingDevice* raw = dev.get();
  Status st = s.set_backing_device(std::move(dev));
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return raw;
}

}  // namespace uzram::store::testing
