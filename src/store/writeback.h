// File: src/store/writeback.h
//
// Backing: a BackingDevice and the bitmap of its blocks in use, as zram keeps
// bitmap next to its backing_dev.
//
// Thread safety: thread-safe. The bitmap is guarded by mu_, a leaf lock that
// may be taken under a slot lock. The device is used without mu_ (see
// backing_file.h).
// Invariants: used_ == number of set bits; a set bit is a block that one slot
// (kWriteback) or one in-flight writeback batch owns.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/thread_annotations.h"
#include "store/backing_file.h"

namespace uzram::store {

class Backing {
 public:
  explicit Backing(std::unique_ptr<BackingDevice> device);
  Backing(const Backing&) = delete;
  Backing& operator=(const Backing&) = delete;

  BackingDevice& device() const noexcept { return *device_; }

  // Takes a free block, searching on from the last one taken so that a batch
  // gets consecutive blocks (one pwritev each run). False when all are used.
  [[nodiscard]] bool alloc_block(uint64_t* block) noexcept UZRAM_EXCLUDES(mu_);
  // Returns a block taken by a writeback batch that did not use it.
  void free_block(uint64_t block) noexcept UZRAM_EXCLUDES(mu_);
  // Returns the block of a slot that left the file: punches it first (a
  // regular file gives the space back), and only then clears its bit, so that
  // the punch can never hit a block that another slot has just been given.
  void discard_block(uint64_t block) noexcept UZRAM_EXCLUDES(mu_);

  uint64_t blocks_used() const noexcept UZRAM_EXCLUDES(mu_);
  bool block_in_use(uint64_t block) const noexcept UZRAM_EXCLUDES(mu_);

 private:
  // First free block in [from, to), or `to` when there is none.
  uint64_t find_free(uint64_t from, uint64_t to) const noexcept UZRAM_REQUIRES(mu_);

  const std::unique_ptr<BackingDevice> device_;
  mutable Mutex mu_;
  std::vector<uint64_t> bitmap_ UZRAM_GUARDED_BY(mu_);  // bit i set: block i in use
  uint64_t next_ UZRAM_GUARDED_BY(mu_) = 0;             // where the next search starts
  uint64_t used_ UZRAM_GUARDED_BY(mu_) = 0;
};

}  // namespace uzram::store
