// Size class geometry. See size_class.h.
#include "pool/size_class.h"

#include <algorithm>
#include <cassert>

namespace uzram::pool {

uint32_t pages_per_zspage_for(uint32_t class_size, uint32_t max_pages) noexcept {
  uint32_t best = 1;
  uint64_t best_waste = kPageSize % class_size;
  for (uint32_t pages = 2; pages <= max_pages; ++pages) {
    uint64_t waste = (uint64_t{pages} * kPageSize) % class_size;
    // waste / (pages * 4096) < best_waste / (best * 4096), in integers.
    if (waste * best < best_waste * pages) {
      best = pages;
      best_waste = waste;
    }
  }
  return best;
}

SizeClassTable::SizeClassTable(uint32_t max_pages_per_zspage) {
  assert(max_pages_per_zspage >= 1 && max_pages_per_zspage <= kMaxPagesPerZspage);
  // Largest first, so that a raw class can merge into the one above it.
  std::array<uint32_t, kRawClasses> from_top{};
  std::vector<ClassGeometry> descending;
  for (uint32_t raw = kRawClasses; raw-- > 0;) {
    ClassGeometry g;
    g.size = kMinClassSize + raw * kClassDelta;
    g.pages_per_zspage = pages_per_zspage_for(g.size, max_pages_per_zspage);
    g.objs_per_zspage = g.pages_per_zspage * static_cast<uint32_t>(kPageSize) / g.size;
    bool merge = !descending.empty() && descending.back().pages_per_zspage == g.pages_per_zspage &&
                 descending.back().objs_per_zspage == g.objs_per_zspage;
    if (!merge) descending.push_back(g);
    from_top[raw] = static_cast<uint32_t>(descending.size() - 1);
  }
  classes_.assign(descending.rbegin(), descending.rend());
  uint32_t last = static_cast<uint32_t>(classes_.size() - 1);
  for (uint32_t raw = 0; raw < kRawClasses; ++raw) raw_class_[raw] = static_cast<uint8_t>(last - from_top[raw]);

  huge_class_size_ = 0;
  for (uint32_t size = 1; size <= kPageSize; ++size) {
    uint32_t need = std::min<uint32_t>(size + kObjHeaderSize, kPageSize);
    uint32_t raw = need <= kMinClassSize ? 0 : (need - kMinClassSize + kClassDelta - 1) / kClassDelta;
    payload_class_[size] = raw_class_[raw];
    if (huge_class_size_ == 0 && classes_[raw_class_[raw]].huge()) huge_class_size_ = size;
  }
  payload_class_[0] = payload_class_[1];
}

}  // namespace uzram::pool
