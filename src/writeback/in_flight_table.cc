// File: src/writeback/in_flight_table.cc
//
// Locks: InFlightTable::Shard::mu, one per shard, each a leaf; never two at once.
#include "writeback/in_flight_table.h"

#include <cassert>
#include <cstdlib>
#include <cstring>

namespace uzram::writeback {

// ---- SlotMap ---------------------------------------------------------------

namespace {
constexpr size_t kInitialCells = 16;
}  // namespace

InFlightTable::SlotMap::SlotMap() : cells_(kInitialCells, Entry{0, nullptr, nullptr, nullptr}), mask_(kInitialCells - 1) {}

size_t InFlightTable::SlotMap::home(PageIndex index) const noexcept {
  // Bits kRunBits.. (kRunBits + kShardBits) chose the shard; mix all of them
  // (Fibonacci hashing), the shard's too: it costs nothing.
  const uint64_t h = index * 0x9E3779B97F4A7C15ull;
  return static_cast<size_t>(h >> 32) & mask_;
}

InFlightTable::Entry* InFlightTable::SlotMap::find(PageIndex index) noexcept {
  for (size_t i = home(index);; i = (i + 1) & mask_) {
    Entry& e = cells_[i];
    if (e.newest == nullptr) return nullptr;
    if (e.index == index) return &e;
  }
}

const InFlightTable::Entry* InFlightTable::SlotMap::find(PageIndex index) const noexcept {
  return const_cast<SlotMap*>(this)->find(index);
}

InFlightTable::Entry* InFlightTable::SlotMap::find_or_insert(PageIndex index) noexcept {
  if (2 * (size_ + 1) > cells_.size()) grow();
  for (size_t i = home(index);; i = (i + 1) & mask_) {
    Entry& e = cells_[i];
    if (e.newest == nullptr) {
      e = Entry{index, nullptr, nullptr, nullptr};
      ++size_;
      return &e;  // the caller sets newest before releasing the lock
    }
    if (e.index == index) return &e;
  }
}

void InFlightTable::SlotMap::erase(Entry* e) noexcept {
  size_t hole = static_cast<size_t>(e - cells_.data());
  cells_[hole].newest = nullptr;
  --size_;
  // Backward shift: move later members of the probe run into the hole when
  // their home does not lie cyclically in (hole, i].
  for (size_t i = (hole + 1) & mask_; cells_[i].newest != nullptr; i = (i + 1) & mask_) {
    const size_t h = home(cells_[i].index);
    const bool stays = hole <= i ? (hole < h && h <= i) : (hole < h || h <= i);
    if (stays) continue;
    cells_[hole] = cells_[i];
    cells_[i].newest = nullptr;
    hole = i;
  }
}

void InFlightTable::SlotMap::grow() noexcept {
  std::vector<Entry> old(cells_.size() * 2, Entry{0, nullptr, nullptr, nullptr});
  old.swap(cells_);
  mask_ = cells_.size() - 1;
  for (const Entry& e : old) {
    if (e.newest == nullptr) continue;
    size_t i = home(e.index);
    while (cells_[i].newest != nullptr) i = (i + 1) & mask_;
    cells_[i] = e;
  }
}

void InFlightTable::SlotMap::check() const noexcept {
  size_t n = 0;
  for (size_t i = 0; i < cells_.size(); ++i) {
    const Entry& e = cells_[i];
    if (e.newest == nullptr) continue;
    ++n;
    if (e.deferred != nullptr && e.running == nullptr) std::abort();
    if (e.newest->index != e.index) std::abort();
    // Every cell from home to i is occupied: lookups reach it.
    for (size_t j = home(e.index); j != i; j = (j + 1) & mask_) {
      if (cells_[j].newest == nullptr) std::abort();
    }
  }
  if (n != size_) std::abort();
}

// ---- InFlightTable ---------------------------------------------------------

InFlightTable::InFlightTable() = default;

void InFlightTable::add(Request* r) noexcept {
  Shard& s = shard(r->index);
  MutexLock lock(&s.mu);
  s.map.find_or_insert(r->index)->newest = r;
}

void InFlightTable::add_all(Request* head) noexcept {
  for (Request* r = head; r != nullptr;) {
    Shard& s = shard(r->index);
    MutexLock lock(&s.mu);
    do {
      s.map.find_or_insert(r->index)->newest = r;
      r = r->next;
    } while (r != nullptr && &shard(r->index) == &s);
  }
}

InFlightTable::ClaimResult InFlightTable::claim(Request* r) noexcept {
  Shard& s = shard(r->index);
  MutexLock lock(&s.mu);
  return claim_locked(s, r);
}

void InFlightTable::claim_all(Request* const* rs, size_t n, ClaimResult* out) noexcept {
  for (size_t i = 0; i < n;) {
    Shard& s = shard(rs[i]->index);
    MutexLock lock(&s.mu);
    do {
      out[i] = claim_locked(s, rs[i]);
      ++i;
    } while (i < n && &shard(rs[i]->index) == &s);
  }
}

InFlightTable::ClaimResult InFlightTable::claim_locked(Shard& s, Request* r) noexcept {
  Entry* e = s.map.find(r->index);
  if (e == nullptr || e->newest != r) return {Claim::kSuperseded, r};
  if (e->running != nullptr) {
    Request* older = e->deferred;
    e->deferred = r;
    return {Claim::kDeferred, older};
  }
  e->running = r;
  return {Claim::kRun, nullptr};
}

InFlightTable::FinishResult InFlightTable::finish(Request* r) noexcept {
  Shard& s = shard(r->index);
  MutexLock lock(&s.mu);
  Entry* e = s.map.find(r->index);
  assert(e != nullptr && e->running == r);
  FinishResult out;
  Request* d = e->deferred;
  e->deferred = nullptr;
  e->running = nullptr;
  if (d != nullptr) {
    if (e->newest == d) {
      e->running = d;
      out.next = d;
    } else {
      out.superseded = d;
    }
  }
  if (e->newest == r) {
    // r was the newest when it started and nothing newer came: the store now
    // holds the newest version, so readers may go to it.
    assert(d == nullptr);
    s.map.erase(e);
  }
  return out;
}

bool InFlightTable::read(PageIndex index, PageBuffer out) const noexcept {
  const Shard& s = shard(index);
  MutexLock lock(&s.mu);
  const Entry* e = s.map.find(index);
  if (e == nullptr) return false;
  std::memcpy(out.data(), e->newest->page, kPageSize);
  return true;
}

size_t InFlightTable::size() const noexcept {
  size_t n = 0;
  for (const Shard& s : shards_) {
    MutexLock lock(&s.mu);
    n += s.map.size();
  }
  return n;
}

void InFlightTable::check_invariants() const noexcept {
  for (const Shard& s : shards_) {
    MutexLock lock(&s.mu);
    s.map.check();
  }
}

}  // namespace uzram::writeback
