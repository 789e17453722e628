// File: src/base/parse_size.h
//
// parse_size(): every SIZE a user types (uzram serve --size, swap-bench
// --limit, the swap options "limit=256M", ...):
// a decimal count of bytes with an optional binary suffix K, M, G or T
// (also KiB, MiB, ...; case-insensitive; 1K = 1024). "64M", "1G", "4096".
// Zero, signs, fractions, blanks inside, unknown suffixes and values past
// 2^60 bytes are errors with a message naming the text.
//
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <string_view>

#include "uzram/status.h"

namespace uzram {

inline constexpr uint64_t kMaxSizeArgument = uint64_t{1} << 60;

Result<uint64_t> parse_size(std::string_view text);

}  // namespace uzram
