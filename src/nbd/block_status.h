// File: src/nbd/block_status.h
//
// The base:allocation metadata context, read from the Store's slot table:
// an empty slot is a hole that reads as zeros (NBD_STATE_HOLE | NBD_STATE_ZERO),
// a slot same-filled with zero bytes reads as zeros but is allocated
// (NBD_STATE_ZERO; what WRITE_ZEROES with NO_HOLE leaves), anything else is
// data (0). Pages are the granularity; the first and last extent are cut at
// the byte offsets of the request, so the answer is byte-exact.
//
// Thread safety: reads the slot table through Store's thread-safe queries;
// a slot written at the same time may be reported in either state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "uzram/page.h"

namespace uzram {
class Store;
}

namespace uzram::nbd {

struct Extent {
  uint32_t length = 0;
  uint32_t flags = 0;  // kStateHole, kStateZero
};

// At most this many descriptors in one reply (8 bytes each). The protocol
// lets the server describe less than was asked; clients ask again for the
// rest. It bounds the memory one BLOCK_STATUS request can make us hold.
inline constexpr size_t kMaxExtents = 16384;

// The base:allocation flags of one page of `store`.
uint32_t page_allocation_flags(const Store& store, PageIndex index) noexcept;

// Extents covering [offset, offset + length), or a prefix of it: at most
// max_extents of them, exactly one when req_one. Neighbouring pages with the
// same flags form one extent. REQUIRES: length > 0 and the range inside the
// export (the request parser checked it).
std::vector<Extent> allocation_extents(uint64_t offset, uint32_t length, bool req_one, size_t max_extents,
                                       const std::function<uint32_t(PageIndex)>& page_flags);

// The payload of an NBD_REPLY_TYPE_BLOCK_STATUS chunk: context id, then a
// (length, flags) pair per extent, big-endian.
std::string encode_block_status(uint32_t context_id, const std::vector<Extent>& extents);

}  // namespace uzram::nbd
