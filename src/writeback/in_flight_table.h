// File: src/writeback/in_flight_table.h
//
// InFlightTable: for every slot with a write in flight, the newest request
// submitted to it, the one being written to the store (if any), and one that
// waits for that write to finish. It is what makes two writes to one slot
// take effect in submit order, and what lets read() return the newest
// version of a slot whose write has not reached the store yet.
//
// The per-slot state machine (all under the slot's shard lock):
//   add(r)          newest = r                 (submit, before r is queued)
//   claim(r)        r != newest          -> r is superseded: complete it unwritten
//                   running != null      -> deferred = r (an older deferred one is
//                                           superseded); the running worker takes it
//                   else                 -> running = r: write it
//   finish(r)       running = deferred if deferred is still newest, else null
//                   (a stale deferred one is superseded); if newest == r the
//                   slot leaves the table.
// Hence at most one write per slot runs at a time, a write starts only while
// it is the newest, and a slot leaves the table only when its newest write
// has reached the store: the store never ends with an older version than the
// newest submitted one, and a reader that misses the table finds the newest
// version in the store.
//
// Why sharded open addressing and not std::unordered_map: insertion must not
// allocate on the submit fast path. Each shard's table grows (doubling) only
// when it is half full, so it stops allocating once it has seen its peak.
// Shards: 64, each taking runs of 32 consecutive slots (slot / 32 % 64), so
// that a submitted batch of consecutive slots, and a worker's batch popped
// from the queue, take one shard lock per run with add_all() / claim_all()
// instead of one per request; with a queue hundreds of requests deep, the
// submitter and the workers are on runs far apart, so on different locks.
//
// Thread safety: every method is thread-safe.
// Locking rule: Shard::mu is a leaf lock; read() copies one page under it
// (the only long hold, ~100 ns). Callers complete superseded requests after
// the call returns, never under the lock.
// Invariants (check_invariants()): for each entry, newest != null; deferred
// != null implies running != null; probe sequences have no holes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/thread_annotations.h"
#include "uzram/page.h"
#include "writeback/request.h"

namespace uzram::writeback {

class InFlightTable {
 public:
  InFlightTable();
  InFlightTable(const InFlightTable&) = delete;
  InFlightTable& operator=(const InFlightTable&) = delete;

  // Makes r the newest write of its slot. REQUIRES: r->index and r->page set.
  void add(Request* r) noexcept;
  // add() of every request of the list linked by next, in order, one shard
  // lock per run of requests that fall in the same shard.
  void add_all(Request* head) noexcept;

  enum class Claim : uint8_t { kRun, kSuperseded, kDeferred };
  struct ClaimResult {
    Claim claim;
    Request* superseded = nullptr;  // a request the caller completes unwritten (r itself, or an older deferred one)
  };
  ClaimResult claim(Request* r) noexcept;
  // out[i] = claim(rs[i]) for i < n, in order, one shard lock per run of
  // requests that fall in the same shard.
  void claim_all(Request* const* rs, size_t n, ClaimResult* out) noexcept;

  struct FinishResult {
    Request* next = nullptr;        // claimed for the caller: write it next
    Request* superseded = nullptr;  // a stale deferred request the caller completes unwritten
  };
  // REQUIRES: r was claimed with kRun (or handed over by finish) and its
  // store write has returned.
  FinishResult finish(Request* r) noexcept;

  // Copies the newest in-flight version of `index` into out; false when the
  // slot has no write in flight.
  bool read(PageIndex index, PageBuffer out) const noexcept;

  size_t size() const noexcept;  // slots in the table
  void check_invariants() const noexcept;

 private:
  struct Entry {
    PageIndex index;
    Request* newest;    // null: empty cell
    Request* running;   // the write now in the store's hands
    Request* deferred;  // the newest, popped while `running` ran; runs next
  };

  // Linear probing with backward-shift deletion (no tombstones).
  class SlotMap {
   public:
    SlotMap();
    Entry* find(PageIndex index) noexcept;
    const Entry* find(PageIndex index) const noexcept;
    Entry* find_or_insert(PageIndex index) noexcept;  // may grow: allocation, rare
    void erase(Entry* e) noexcept;
    size_t size() const noexcept { return size_; }
    void check() const noexcept;

   private:
    size_t home(PageIndex index) const noexcept;
    void grow() noexcept;
    std::vector<Entry> cells_;
    size_t mask_ = 0;
    size_t size_ = 0;
  };

  static constexpr size_t kShardBits = 6;
  static constexpr size_t kShards = size_t{1} << kShardBits;
  static constexpr size_t kRunBits = 5;  // runs of 32 consecutive slots share a shard

  struct alignas(64) Shard {
    mutable Mutex mu;
    SlotMap map UZRAM_GUARDED_BY(mu);
  };

  Shard& shard(PageIndex index) noexcept { return shards_[(index >> kRunBits) & (kShards - 1)]; }
  const Shard& shard(PageIndex index) const noexcept { return shards_[(index >> kRunBits) & (kShards - 1)]; }
  static ClaimResult claim_locked(Shard& s, Request* r) noexcept UZRAM_REQUIRES(s.mu);

  Shard shards_[kShards];
};

}  // namespace uzram::writeback
