// File: src/writeback/forwarding_store.cc
#include "writeback/forwarding_store.h"

namespace uzram::writeback {

Status ForwardingStore::write_bytes(uint64_t offset, std::span<const std::byte> data) noexcept {
  return inner_.write_bytes(offset, data);
}
Status ForwardingStore::read_bytes(uint64_t offset, std::span<std::byte> out) noexcept {
  return inner_.read_bytes(offset, out);
}
Status ForwardingStore::zero_bytes(uint64_t offset, uint64_t length) noexcept {
  return inner_.zero_bytes(offset, length);
}
uint64_t ForwardingStore::mark_idle(uint64_t age_seconds) noexcept { return inner_.mark_idle(age_seconds); }
Result<uint64_t> ForwardingStore::recompress(const RecompressOptions& options) noexcept {
  return inner_.recompress(options);
}
Status ForwardingStore::set_backing_file(std::string_view path) noexcept { return inner_.set_backing_file(path); }
void ForwardingStore::set_writeback_limit(bool enabled, uint64_t pages) noexcept {
  inner_.set_writeback_limit(enabled, pages);
}
uint64_t ForwardingStore::writeback_limit() const noexcept { return inner_.writeback_limit(); }
Result<uint64_t> ForwardingStore::writeback(const WritebackOptions& options) noexcept {
  return inner_.writeback(options);
}
uint64_t ForwardingStore::compact() noexcept { return inner_.compact(); }
void ForwardingStore::set_mem_limit(uint64_t bytes) noexcept { inner_.set_mem_limit(bytes); }
void ForwardingStore::reset_mem_used_max() noexcept { inner_.reset_mem_used_max(); }
StoreStats ForwardingStore::stats() const noexcept { return inner_.stats(); }

}  // namespace uzram::writeback
