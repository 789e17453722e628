// File: src/writeback/forwarding_store.h
//
// ForwardingStore: a Store that passes every call to another Store, and may
// report a different stable_writes(). With stable writes off it makes the
// AsyncEngine copy each page at submit (the engine's copy mode) in front of a
// store that does compress in place; `uzram stress --break-promise` and the
// tests use it so, and tests derive from it to slow down or watch writes.
//
// Thread safety: as the inner store's; the wrapper holds no state of its own
// beyond what its constructor sets. The inner store must outlive it.
#pragma once

#include "uzram/store.h"

namespace uzram::writeback {

class ForwardingStore : public Store {
 public:
  ForwardingStore(Store& inner, bool stable_writes) : inner_(inner), stable_(stable_writes) {}

  uint64_t disksize() const noexcept override { return inner_.disksize(); }
  bool stable_writes() const noexcept override { return stable_; }

  Status write(PageIndex index, PageView page) noexcept override { return inner_.write(index, page); }
  Status read(PageIndex index, PageBuffer out) noexcept override { return inner_.read(index, out); }
  Status discard(PageIndex index, uint64_t count) noexcept override { return inner_.discard(index, count); }
  bool is_empty(PageIndex index) const noexcept override { return inner_.is_empty(index); }
  bool is_zero(PageIndex index) const noexcept override { return inner_.is_zero(index); }

  Status write_bytes(uint64_t offset, std::span<const std::byte> data) noexcept override;
  Status read_bytes(uint64_t offset, std::span<std::byte> out) noexcept override;
  Status zero_bytes(uint64_t offset, uint64_t length) noexcept override;

  uint64_t mark_idle(uint64_t age_seconds) noexcept override;
  Result<uint64_t> recompress(const RecompressOptions& options) noexcept override;
  Status set_backing_file(std::string_view path) noexcept override;
  void set_writeback_limit(bool enabled, uint64_t pages) noexcept override;
  uint64_t writeback_limit() const noexcept override;
  Result<uint64_t> writeback(const WritebackOptions& options) noexcept override;
  uint64_t compact() noexcept override;
  void set_mem_limit(uint64_t bytes) noexcept override;
  void reset_mem_used_max() noexcept override;
  StoreStats stats() const noexcept override;

  Store& inner() const noexcept { return inner_; }

 private:
  Store& inner_;
  const bool stable_;
};

}  // namespace uzram::writeback
