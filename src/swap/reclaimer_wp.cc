// Reclaimer, the write-protect path's own steps: copying protected pages for
// compression, and dropping stored pages from the program with MADV_DONTNEED
// (the self-zap protocol of space_core.h). See reclaimer.h.
#include <sys/uio.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "swap/reclaimer.h"

namespace uzram::swap {
namespace {
void say_once(std::atomic<bool>& said, const std::string& what) {
  if (!said.exchange(true)) std::fprintf(stderr, "uzram swap: %s\n", what.c_str());
}
std::atomic<bool> said_zap{false};
}  // namespace

// ---- WP path: copies ---------------------------------------------------------------

uint64_t Reclaimer::writeback_copies(std::vector<Run>& runs, std::vector<WriteRequest>* reqs) noexcept {
  PageTable& table = *core_.table;
  SwapCache& cache = *core_.cache;
  uint64_t copied_total = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    const Run& run = runs[r];
    PageId id = run.first;
    const PageId end = run.first + run.pages;
    while (id < end) {
      uint32_t len = 0;
      {
        MutexLock lock(&table.lock_of(id));
        auto evictable = [&](PageId p) {
          PageEntry e = table.get(p);
          return e.state() == PageState::kCached && !e.in_flight();
        };
        while (id < end && !evictable(id)) ++id;
        while (id + len < end && evictable(id + len)) ++len;
      }
      if (len == 0) break;
      SlotRun sr = cache.allocate(len);
      if (sr.count == 0) {
        core_.inactive.push(Run{id, static_cast<uint32_t>(end - id), PageTable::kNoSlot});
        for (size_t q = r + 1; q < runs.size(); ++q) core_.inactive.push(runs[q]);
        return copied_total;
      }
      uintptr_t addr = 0;
      uint32_t n = sr.count;
      {
        auto regions_lock = core_.regions.lock_shared();
        std::optional<Extent> ext = core_.regions.find_id_locked(id);
        if (ext) {
          addr = ext->addr_of(id);
          n = static_cast<uint32_t>(std::min<uint64_t>(n, ext->first + ext->pages - id));
        }
      }
      if (addr == 0) {  // unmapped meanwhile
        cache.free(sr.first, sr.count);
        id += sr.count;
        continue;
      }
      if (n < sr.count) cache.free(sr.first + n, sr.count - n);
      // Without the locks: a page the program zapped meanwhile faults, and
      // the fault thread must be free to serve it. process_vm_readv turns an
      // address unmapped meanwhile into an error instead of SIGSEGV.
      iovec local{cache.addr(sr.first), size_t{n} * kPageSize};
      iovec remote{reinterpret_cast<void*>(addr), size_t{n} * kPageSize};
      Result<size_t> got = os::read_own(std::span<const iovec>(&local, 1), std::span<const iovec>(&remote, 1));
      uint32_t copied = got ? static_cast<uint32_t>(*got / kPageSize) : 0;
      core_.add_resident(n);  // the copies are memory
      std::vector<uint32_t> unused;
      {
        auto regions_lock = core_.regions.lock_shared();
        std::optional<Extent> ext = core_.regions.find_id_locked(id);
        bool same = ext && ext->addr_of(id) == addr;
        MutexLock lock(&table.lock_of(id));
        for (uint32_t i = 0; i < n; ++i) {
          PageId pid = id + i;
          PageEntry e = table.get(pid);
          // Still write-protected and untouched since the copy: the copy is
          // the page. Anything else happened under the state's eyes.
          if (same && i < copied && e.state() == PageState::kCached && !e.in_flight()) {
            table.set(pid, e.with_state(PageState::kWriteback).with_in_flight(true));
            table.set_slot(pid, sr.first + i);
            reqs->push_back(WriteRequest{pid, cache.addr(sr.first + i), nullptr});
            ++copied_total;
          } else {
            unused.push_back(sr.first + i);
          }
        }
      }
      for (uint32_t s : unused) {
        (void)os::release(cache.addr(s), kPageSize);
        cache.free(s);
      }
      if (!unused.empty()) core_.sub_resident(static_cast<int64_t>(unused.size()));
      id += n;
    }
  }
  return copied_total;
}

// ---- WP path: dropping stored pages from the program --------------------------------

void Reclaimer::do_zaps() noexcept {
  if (core_.move_path()) return;
  std::vector<PageId> ids;
  {
    MutexLock lock(&zap_mu_);
    ids.swap(zaps_);
  }
  if (ids.empty()) return;
  std::sort(ids.begin(), ids.end());
  // VMA boundaries: one madvise per VMA gives one REMOVE event per
  // registration (see Core::add_self_zap). A VMA split after this snapshot
  // only makes an event go unclaimed, and its pages then stay in place.
  std::vector<std::pair<uintptr_t, uintptr_t>> vmas;
  if (Result<std::vector<std::pair<uintptr_t, uintptr_t>>> m = os::mappings(); m) vmas = std::move(*m);
  auto vma_end = [&](uintptr_t a) {
    auto it = std::upper_bound(vmas.begin(), vmas.end(), std::make_pair(a, UINTPTR_MAX));
    if (it == vmas.begin()) return a + kPageSize;
    --it;
    return a < it->second ? it->second : a + kPageSize;
  };
  PageTable& table = *core_.table;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i + 1;
    while (j < ids.size() && ids[j] == ids[j - 1] + 1 && PageTable::chunk_of(ids[j]) == PageTable::chunk_of(ids[i])) ++j;
    const PageId first = ids[i];
    uint64_t count = j - i;
    i = j;

    auto regions_lock = core_.regions.lock_shared();
    std::optional<Extent> ext = core_.regions.find_id_locked(first);
    if (!ext) continue;  // unmapped: release_pages() accounted for it
    count = std::min<uint64_t>(count, ext->first + ext->pages - first);
    // Ranges of pages still zapping, cut at VMA boundaries, registered under
    // the chunk lock: from here on no fault refills them before the zap.
    std::vector<std::pair<uintptr_t, uintptr_t>> pieces;
    {
      MutexLock lock(&table.lock_of(first));
      for (uint64_t k = 0; k < count;) {
        if (table.get(first + k).state() != PageState::kZapping) {
          ++k;
          continue;
        }
        uint64_t n = 1;
        while (k + n < count && table.get(first + k + n).state() == PageState::kZapping) ++n;
        uintptr_t a = ext->addr_of(first + k);
        const uintptr_t end = a + n * kPageSize;
        while (a < end) {
          uintptr_t b = std::min(end, vma_end(a));
          pieces.emplace_back(a, b);
          core_.add_self_zap(a, b);
          a = b;
        }
        k += n;
      }
    }
    // Each madvise blocks until a fault thread has read its event; that
    // thread finishes the zap and wakes the writers that slept on the pages.
    std::vector<bool> zapped(pieces.size(), false);
    for (size_t p = 0; p < pieces.size(); ++p) {
      Status st = os::release(reinterpret_cast<void*>(pieces[p].first), pieces[p].second - pieces[p].first);
      zapped[p] = st.is_ok();
      if (!st.is_ok()) say_once(said_zap, "dropping stored pages: " + st.to_string());
    }
    regions_lock.unlock();
    for (size_t p = 0; p < pieces.size(); ++p) {
      auto [a, b] = pieces[p];
      // A zap that succeeded had its event read: a fault thread applies it soon.
      bool done = core_.wait_self_zap(a, b, zapped[p] ? UINT64_MAX : 100'000'000ull);
      if (done) continue;
      // No event came: the pages still in memory stay (and lose their
      // stored copy), the others are swapped.
      const uint64_t n = (b - a) / kPageSize;
      std::vector<unsigned char> in_memory(n, 0);
      bool known = os::resident_pages(reinterpret_cast<void*>(a), b - a, in_memory.data()).is_ok();
      auto relock = core_.regions.lock_shared();
      std::optional<Extent> e = core_.regions.find_locked(a);
      if (!e) continue;
      const PageId id0 = e->id_of(a);
      MutexLock lock(&table.lock_of(id0));
      int64_t freed = 0;
      for (uint64_t k = 0; k < n; ++k) {
        PageEntry pe = table.get(id0 + k);
        if (pe.state() != PageState::kZapping) continue;
        core_.add_pending_free(-1);
        if (known && !(in_memory[k] & 1)) {
          table.set(id0 + k, pe.with_state(PageState::kSwapped));
          ++freed;
        } else {
          (void)core_.store.discard(id0 + k);
          table.set(id0 + k, pe.with_state(PageState::kResident));
          core_.active.push(Run{id0 + k, 1});
        }
      }
      if (freed > 0) core_.sub_resident(freed);
      (void)core_.uffd.wake(a, b - a);
    }
  }
}

}  // namespace uzram::swap
