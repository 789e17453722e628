// ZsPage descriptors and their table. See zspage.h.
#include "pool/zspage.h"

#include "pool/os.h"

namespace uzram::pool {

Status ZsPageTable::init(uint32_t pages) {
  Result<Mapping> m = os::reserve(size_t{pages} * sizeof(ZsPage));
  if (!m) return m.status().with_context("pool zspage descriptors");
  map_ = std::move(*m);
  // Zero-filled memory is a valid descriptor array: pin 0, nothing live.
  descs_ = reinterpret_cast<ZsPage*>(map_.data());
  return Status::ok();
}

void carve_zspage(ZsPage& z, std::byte* start, size_t pages_bytes, uint16_t class_index,
                  uint32_t class_size, uint32_t objs) noexcept {
  z.prev = kNoPage;
  z.next = kNoPage;
  z.huge_handle = 0;
  z.class_index = class_index;
  z.inuse = 0;
  z.free_head = 0;
  z.group = 0;
  z.live = 0;
  unpoison(start, pages_bytes);  // poison of an earlier mapping at this address
  for (uint32_t i = 0; i < objs; ++i) {
    std::byte* obj = start + size_t{i} * class_size;
    store_word(obj, i + 1 < objs ? i + 1 : kNoObj);
    poison(obj + sizeof(uint32_t), class_size - sizeof(uint32_t));
  }
  poison(start + size_t{objs} * class_size, pages_bytes - size_t{objs} * class_size);
}

}  // namespace uzram::pool
