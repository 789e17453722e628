// File: include/uzram/page.h
//
// The unit every layer of uzram deals in: a 4 KiB page, and the index of a
// page-sized slot in a store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace uzram {

inline constexpr size_t kPageSize = 4096;
inline constexpr size_t kPageShift = 12;

// Index of a page-sized slot in a Store (byte offset / kPageSize).
using PageIndex = uint64_t;

using PageView = std::span<const std::byte, kPageSize>;  // a page to read from
using PageBuffer = std::span<std::byte, kPageSize>;      // a page to fill

}  // namespace uzram
