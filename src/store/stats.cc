// Statistics (zram's mm_stat, io_stat, bd_stat), their JSON form, the
// memory-limit and compaction controls, and the invariant check.
//
// Counters are relaxed atomics: each is exact on its own, but a stats() taken
// while writes run may see one write's effect on one counter and not yet on
// another, as zram's are.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "store/store_impl.h"

namespace uzram {

std::string to_json(const StoreStats& s) {
  nlohmann::ordered_json j;
  j["orig_data_size"] = s.orig_data_size;
  j["compr_data_size"] = s.compr_data_size;
  j["mem_used_total"] = s.mem_used_total;
  j["mem_limit"] = s.mem_limit;
  j["mem_used_max"] = s.mem_used_max;
  j["same_pages"] = s.same_pages;
  j["pages_compacted"] = s.pages_compacted;
  j["huge_pages"] = s.huge_pages;
  j["huge_pages_since"] = s.huge_pages_since;
  j["failed_reads"] = s.failed_reads;
  j["failed_writes"] = s.failed_writes;
  j["invalid_io"] = s.invalid_io;
  j["notify_free"] = s.notify_free;
  j["bd_count"] = s.bd_count;
  j["bd_reads"] = s.bd_reads;
  j["bd_writes"] = s.bd_writes;
  j["recomp_pages"] = s.recomp_pages;
  j["incompressible_pages"] = s.incompressible_pages;
  j["slots"] = s.slots;
  j["slot_table_bytes"] = s.slot_table_bytes;
  return j.dump();
}

namespace store {
namespace {

inline void add(std::atomic<uint64_t>& c, int sign, uint64_t v) noexcept {
  if (sign > 0) {
    c.fetch_add(v, std::memory_order_relaxed);
  } else {
    c.fetch_sub(v, std::memory_order_relaxed);
  }
}

[[noreturn]] void invariant_failed(const std::string& what) {
  std::fprintf(stderr, "uzram store: invariant broken: %s\n", what.c_str());
  std::abort();
}

}  // namespace

// +1 when a state is published, -1 when release() takes it away.
void StoreImpl::account(SlotWord w, int sign) noexcept {
  if (!w.stored()) return;
  add(counters_.pages_stored, sign, 1);
  if (w.test(SlotFlag::kSame)) {
    add(counters_.same_pages, sign, 1);
  } else if (w.test(SlotFlag::kWriteback)) {
    if (sign > 0) {
      counters_.bd_count.fetch_add(1, std::memory_order_relaxed);
    } else {
      counters_.bd_count.fetch_sub(1, std::memory_order_release);  // pairs with set_backing_device's acquire
    }
  } else {
    add(counters_.compr_data_size, sign, w.size());
    if (w.test(SlotFlag::kHuge)) {
      add(counters_.huge_pages, sign, 1);
      if (sign > 0) counters_.huge_pages_since.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (w.test(SlotFlag::kIncompressible)) add(counters_.incompressible_pages, sign, 1);
}

StoreStats stats_from(const StoreCounters& c, const pool::PoolStats& ps, uint64_t mem_limit) noexcept {
  const auto get = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  StoreStats s;
  s.orig_data_size = get(c.pages_stored) * kPageSize;
  s.compr_data_size = get(c.compr_data_size);
  s.mem_used_total = ps.pages_held * kPageSize;
  s.mem_limit = mem_limit;
  s.mem_used_max = ps.pages_max * kPageSize;
  s.same_pages = get(c.same_pages);
  s.pages_compacted = ps.pages_compacted;
  s.huge_pages = get(c.huge_pages);
  s.huge_pages_since = get(c.huge_pages_since);
  s.failed_reads = get(c.failed_reads);
  s.failed_writes = get(c.failed_writes);
  s.invalid_io = get(c.invalid_io);
  s.notify_free = get(c.notify_free);
  s.bd_count = get(c.bd_count);
  s.bd_reads = get(c.bd_reads);
  s.bd_writes = get(c.bd_writes);
  s.recomp_pages = get(c.recomp_pages);
  s.incompressible_pages = get(c.incompressible_pages);
  return s;
}

StoreStats StoreImpl::stats() const noexcept {
  StoreStats s = stats_from(counters_, pool_->stats(), mem_limit_.load(std::memory_order_relaxed));
  s.slots = table_->size();
  s.slot_table_bytes = table_->bytes();
  return s;
}

uint64_t StoreImpl::compact() noexcept { return pool_->compact(); }

void StoreImpl::set_mem_limit(uint64_t bytes) noexcept {
  mem_limit_.store(bytes, std::memory_order_relaxed);
  pool_->set_max_pages(static_cast<size_t>((bytes + kPageSize - 1) / kPageSize));
}

void StoreImpl::reset_mem_used_max() noexcept { pool_->reset_pages_max(); }

SlotInfo StoreImpl::slot_info(PageIndex index) const noexcept {
  SlotInfo info;
  if (index >= table_->size()) return info;
  const SlotWord w = table_->peek(index);
  info.stored = w.stored();
  info.same = w.test(SlotFlag::kSame);
  info.huge = w.test(SlotFlag::kHuge);
  info.idle = w.test(SlotFlag::kIdle);
  info.writeback = w.test(SlotFlag::kWriteback);
  info.wb_compressed = w.test(SlotFlag::kWbCompressed);
  info.incompressible = w.test(SlotFlag::kIncompressible);
  info.size = w.size();
  info.priority = w.priority();
  info.atime = w.atime();
  return info;
}

void StoreImpl::check_invariants() const {
  uint64_t stored = 0, same = 0, huge = 0, on_file = 0, incompressible = 0, in_pool = 0, compr = 0;
  MutexLock l(&wb_mu_);
  for (PageIndex i = 0; i < table_->size(); ++i) {
    const std::string at = "slot " + std::to_string(i) + ": ";
    const uint64_t raw = (*table_)[i].word.load(std::memory_order_acquire);
    const uint64_t value = (*table_)[i].value.load(std::memory_order_relaxed);
    if (raw & kSlotLockBits) invariant_failed(at + "locked while the store is quiet");
    const SlotWord w(raw);
    if (w.test(SlotFlag::kUnderWriteback)) invariant_failed(at + "under writeback while no writeback runs");
    if (!w.stored()) {
      if (value != 0) invariant_failed(at + "empty with a value");
      continue;
    }
    ++stored;
    if (w.test(SlotFlag::kIncompressible)) ++incompressible;
    if (w.test(SlotFlag::kSame)) {
      ++same;
      if (w.size() != 0 || w.test(SlotFlag::kHuge) || w.test(SlotFlag::kWriteback)) invariant_failed(at + "same-filled with other state");
      continue;
    }
    if (w.test(SlotFlag::kWriteback)) {
      ++on_file;
      if (!backing_ || !backing_->block_in_use(value)) invariant_failed(at + "on a block the backing bitmap does not hold");
      if (w.test(SlotFlag::kHuge) || w.test(SlotFlag::kIdle)) invariant_failed(at + "written back yet huge or idle");
      if (!w.test(SlotFlag::kWbCompressed) && w.size() != kPageSize) invariant_failed(at + "raw block of the wrong size");
      if (w.test(SlotFlag::kWbCompressed) && streams_[w.priority()] == nullptr) invariant_failed(at + "unknown codec priority");
      continue;
    }
    ++in_pool;
    compr += w.size();
    if (value == 0) invariant_failed(at + "in the pool without a handle");
    if (pool_->object_size(pool::Handle{value}) != w.size()) invariant_failed(at + "size differs from its object's");
    if (w.test(SlotFlag::kHuge)) {
      ++huge;
      if (w.size() != kPageSize || w.priority() != 0) invariant_failed(at + "huge but not a raw page");
    } else {
      if (w.size() >= huge_size_) invariant_failed(at + "compressed object at or above the huge size");
      if (streams_[w.priority()] == nullptr) invariant_failed(at + "unknown codec priority");
    }
  }
  const auto expect = [](const char* what, uint64_t counted, uint64_t found) {
    if (counted != found) {
      invariant_failed(std::string(what) + " counts " + std::to_string(counted) + " but the table holds " +
                       std::to_string(found));
    }
  };
  const auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  expect("pages_stored", get(counters_.pages_stored), stored);
  expect("same_pages", get(counters_.same_pages), same);
  expect("huge_pages", get(counters_.huge_pages), huge);
  expect("bd_count", get(counters_.bd_count), on_file);
  expect("incompressible_pages", get(counters_.incompressible_pages), incompressible);
  expect("compr_data_size", get(counters_.compr_data_size), compr);
  const pool::PoolStats ps = pool_->stats();
  expect("the pool's objects", ps.objects, in_pool);
  expect("the pool's object_bytes", ps.object_bytes, compr);
  expect("the backing bitmap", backing_ ? backing_->blocks_used() : 0, on_file);
  pool_->check_invariants();
}

}  // namespace store
}  // namespace uzram
