// base:allocation from the slot table. See block_status.h.
#include "nbd/block_status.h"

#include <algorithm>

#include "nbd/protocol.h"
#include "uzram/store.h"

namespace uzram::nbd {

uint32_t page_allocation_flags(const Store& store, PageIndex index) noexcept {
  if (store.is_empty(index)) return kStateHole | kStateZero;
  if (store.is_zero(index)) return kStateZero;
  return 0;
}

std::vector<Extent> allocation_extents(uint64_t offset, uint32_t length, bool req_one, size_t max_extents,
                                       const std::function<uint32_t(PageIndex)>& page_flags) {
  std::vector<Extent> extents;
  const uint64_t end = offset + length;
  uint64_t pos = offset;
  const size_t limit = req_one ? 1 : std::max<size_t>(max_extents, 1);
  while (pos < end && extents.size() < limit) {
    const uint32_t flags = page_flags(pos / kPageSize);
    // Walk forward a page at a time while the flags stay the same; after the
    // first step `next` sits on a page boundary.
    uint64_t next = std::min(end, (pos / kPageSize + 1) * kPageSize);
    while (next < end && page_flags(next / kPageSize) == flags) next = std::min(end, next + kPageSize);
    extents.push_back(Extent{static_cast<uint32_t>(next - pos), flags});
    pos = next;
  }
  return extents;
}

std::string encode_block_status(uint32_t context_id, const std::vector<Extent>& extents) {
  std::string out;
  out.reserve(4 + 8 * extents.size());
  append_be32(&out, context_id);
  for (const Extent& e : extents) {
    append_be32(&out, e.length);
    append_be32(&out, e.flags);
  }
  return out;
}

}  // namespace uzram::nbd
