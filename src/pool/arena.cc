// Arena: page runs for zspages. See arena.h.
#include "pool/arena.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "base/wait.h"
#include "pool/os.h"
#include "pool/poison.h"

namespace uzram::pool {
namespace {

// A failed MADV_DONTNEED on our own mapping means the mapping is not what we
// think it is: a broken invariant, not an error to hand back.
void release_or_die(std::span<std::byte> range) noexcept {
  Status s = os::release(range);
  if (!s.is_ok()) {
    std::fprintf(stderr, "uzram pool: %s\n", s.to_string().c_str());
    std::abort();
  }
}

}  // namespace

Arena::~Arena() {
  // ASan poison outlives the mapping: clear it from every page ever carved.
  MutexLock l(&mu_);
  if (base_ != nullptr) unpoison(base_, size_t{next_} << kPageShift);
}

Status Arena::init(uint32_t pages) {
  if (pages < kMinPages || pages > kMaxPages) {
    return Status::invalid_argument("arena must hold 16 to 2^31 pages");
  }
  Result<Mapping> arena = os::reserve(size_t{pages} << kPageShift);
  if (!arena) return arena.status().with_context("pool arena");
  Result<Mapping> links = os::reserve(size_t{pages} * sizeof(uint32_t));
  if (!links) return links.status().with_context("pool arena free-run links");
  size_t bitmap_bytes = (size_t{pages} + 63) / 64 * sizeof(uint64_t);
  Result<Mapping> bitmap = os::reserve(bitmap_bytes);
  if (!bitmap) return bitmap.status().with_context("pool arena bitmap");
  map_ = std::move(*arena);
  links_map_ = std::move(*links);
  bitmap_map_ = std::move(*bitmap);
  base_ = map_.data();
  links_ = reinterpret_cast<uint32_t*>(links_map_.data());
  pages_ = pages;
  MutexLock l(&mu_);
  std::fill(std::begin(heads_), std::end(heads_), kNoPage);
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Free-run lists
// ---------------------------------------------------------------------------

void Arena::push_run(uint32_t length, uint32_t first) {
  link(first) = heads_[length];
  heads_[length] = first;
  free_pages_ += length;
}

uint32_t Arena::pop_run(uint32_t length) {
  uint32_t first = heads_[length];
  if (first != kNoPage) {
    heads_[length] = link(first);
    free_pages_ -= length;
  }
  return first;
}

uint32_t Arena::take_run(uint32_t length) {
  uint32_t first = pop_run(length);
  if (first != kNoPage) return first;
  for (uint32_t longer = length + 1; longer <= kMaxRun; ++longer) {
    first = pop_run(longer);
    if (first != kNoPage) {
      push_run(longer - length, first + length);
      return first;
    }
  }
  return kNoPage;
}

void Arena::push_range(uint32_t first, uint32_t end) {
  while (first < end) {
    uint32_t length = std::min(kMaxRun, end - first);
    push_run(length, first);
    first += length;
  }
}

void Arena::retire_tail() {
  if (next_ == pages_) return;
  // Spare pages hold memory; free runs must not.
  release_or_die({page_address(next_), size_t{populated_end_ - next_} << kPageShift});
  push_range(next_, pages_);
  next_ = populated_end_ = refill_end_ = pages_;
}

void Arena::coalesce() {
  auto* bits = reinterpret_cast<uint64_t*>(bitmap_map_.data());
  for (uint32_t length = 1; length <= kMaxRun; ++length) {
    for (uint32_t first = heads_[length]; first != kNoPage; first = link(first)) {
      for (uint32_t p = first; p < first + length; ++p) bits[p / 64] |= uint64_t{1} << (p % 64);
    }
    heads_[length] = kNoPage;
  }
  free_pages_ = 0;
  // Cut each maximal free range into runs of up to kMaxRun pages.
  uint32_t words = (pages_ + 63) / 64;
  uint32_t range_start = kNoPage;
  for (uint32_t w = 0; w < words; ++w) {
    uint64_t word = bits[w];
    if (word == 0 && range_start == kNoPage) continue;
    if (word == ~uint64_t{0} && range_start != kNoPage) continue;
    for (uint32_t b = 0; b < 64; ++b) {
      uint32_t p = w * 64 + b;
      bool free = (word >> b) & 1;
      if (free && range_start == kNoPage) range_start = p;
      if (!free && range_start != kNoPage) {
        push_range(range_start, p);
        range_start = kNoPage;
      }
    }
  }
  if (range_start != kNoPage) push_range(range_start, pages_);
  // Zero the bitmap and give its memory back in one call.
  release_or_die(bitmap_map_.span());
}

// ---------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------

Status Arena::refill(uint32_t end) {
  const uint32_t from = populated_end_;
  refill_end_ = end;
  const std::span<std::byte> range{page_address(from), size_t{end - from} << kPageShift};
  mu_.unlock();
  const Status s = os::populate(range);
  if (!s.is_ok()) release_or_die(range);  // it may be partly populated
  mu_.lock();
  if (s.is_ok()) populated_end_ = end;
  refill_end_ = populated_end_;
  refilled_.notify_all();
  return s;
}

Result<uint32_t> Arena::alloc_run(uint32_t pages) noexcept {
  uint32_t first;
  {
    MutexLock l(&mu_);
    for (;;) {
      if (populated_end_ - next_ >= pages) {  // spare window: no system call
        first = next_;
        next_ += pages;
        // Refill ahead, after the run is ours: a failure here is not this
        // caller's, and the next thread to find the window short reports it.
        if (populated_end_ - next_ < kPopulateBatch / 2 && refill_end_ == populated_end_ && populated_end_ < pages_) {
          (void)refill(std::min(pages_, populated_end_ + kPopulateBatch));
        }
        return first;
      }
      first = pop_run(pages);
      if (first != kNoPage) break;  // a recycled run: backed again below
      if (refill_end_ != populated_end_) {
        wait_on(refilled_, mu_);  // another thread is refilling the window
        continue;
      }
      if (next_ + pages <= pages_) {
        // The window is too short: refill it for this run and a batch after it.
        Status s = refill(std::min(pages_, next_ + std::max(pages, kPopulateBatch)));
        if (!s.is_ok()) return s.with_context("pool arena");
        continue;
      }
      retire_tail();
      first = take_run(pages);
      if (first == kNoPage) {
        coalesce();
        first = take_run(pages);
      }
      if (first == kNoPage) {
        return Status::no_space("pool arena of " + std::to_string(uint64_t{pages_} >> 8) +
                                " MiB has no run of " + std::to_string(pages) + " pages left");
      }
      break;
    }
  }
  // A recycled run was released when freed: back it again, outside mu_.
  std::span<std::byte> range{page_address(first), size_t{pages} << kPageShift};
  Status s = os::populate(range);
  if (!s.is_ok()) {
    release_or_die(range);  // it may be partly populated
    MutexLock l(&mu_);
    push_run(pages, first);
    return s.with_context("pool arena");
  }
  return first;
}

void Arena::free_run(uint32_t first, uint32_t pages) noexcept {
  // Release before publishing: once on a list, another thread may take and
  // populate the run, and a late MADV_DONTNEED would zero its new contents.
  release_or_die({page_address(first), size_t{pages} << kPageShift});
  MutexLock l(&mu_);
  push_run(pages, first);
}

uint32_t Arena::spare_pages() const noexcept {
  MutexLock l(&mu_);
  return populated_end_ - next_;
}

uint64_t Arena::free_run_pages() const noexcept {
  MutexLock l(&mu_);
  return free_pages_;
}

uint32_t Arena::carved_pages() const noexcept {
  MutexLock l(&mu_);
  return next_;
}

}  // namespace uzram::pool
