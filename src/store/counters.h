// File: src/store/counters.h
//
// StoreCounters: the statistics both Store implementations (StoreImpl,
// UnitStore) keep of their own (the pool keeps the memory figures), and
// their translation into StoreStats.
//
// Thread safety: relaxed atomics, each exact on its own; a stats() taken
// while writes run may see one write's effect on one counter and not yet on
// another, as zram's are.
#pragma once

#include <atomic>
#include <cstdint>

#include "pool/pool.h"
#include "uzram/store.h"

namespace uzram::store {

// The store's own statistics (the pool keeps the memory figures).
struct StoreCounters {
  // Changed by nearly every write and free, so kept together on one cache
  // line (a write updates two or three of them: one line moves between CPUs,
  // not three) and apart from StoreImpl's read-mostly fields (table_, pool_,
  // streams_), which every read loads and a write would otherwise invalidate.
  alignas(64) std::atomic<uint64_t> pages_stored{0};  // stored slots (orig_data_size / 4096)
  std::atomic<uint64_t> compr_data_size{0};
  std::atomic<uint64_t> same_pages{0};
  std::atomic<uint64_t> huge_pages{0};
  std::atomic<uint64_t> huge_pages_since{0};
  // Rare events.
  alignas(64) std::atomic<uint64_t> failed_reads{0};
  std::atomic<uint64_t> failed_writes{0};
  std::atomic<uint64_t> invalid_io{0};
  std::atomic<uint64_t> notify_free{0};
  std::atomic<uint64_t> recomp_pages{0};
  std::atomic<uint64_t> incompressible_pages{0};  // slots flagged now
  // Backing file. bd_count is decremented with release after the block is
  // returned, and read with acquire by set_backing_file (see writeback.cc).
  alignas(64) std::atomic<uint64_t> bd_count{0};
  std::atomic<uint64_t> bd_reads{0};
  std::atomic<uint64_t> bd_writes{0};
};

// Every StoreStats field but slots and slot_table_bytes, from the counters,
// the pool's figures and the memory limit.
StoreStats stats_from(const StoreCounters& counters, const pool::PoolStats& pool, uint64_t mem_limit) noexcept;

}  // namespace uzram::store
