// File: src/writeback/versioned_page.cc
#include "writeback/versioned_page.h"

#include <cstring>

namespace uzram::writeback {
namespace {

uint64_t splitmix64(uint64_t& state) noexcept {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr size_t kWords = kPageSize / 8;
constexpr size_t kChunkWords = 8;  // 64-byte runs

void fill_words(uint64_t tag, uint64_t* w) noexcept {
  uint64_t state = tag;
  const uint64_t h = splitmix64(state);
  w[0] = tag;
  const unsigned style = h & 15;
  if (style == 0) {  // same-filled: one repeated word
    for (size_t i = 1; i < kWords; ++i) w[i] = tag;
    return;
  }
  if (style == 1) {  // incompressible
    for (size_t i = 1; i < kWords; ++i) w[i] = splitmix64(state);
    return;
  }
  // A mix: each 64-byte run is random with probability random_256 / 256,
  // else a repeated pattern word.
  const unsigned random_256 = static_cast<unsigned>((h >> 8) & 255);
  const uint64_t pattern = splitmix64(state);
  for (size_t c = 0; c < kWords; c += kChunkWords) {
    const bool random = (splitmix64(state) & 255) < random_256;
    for (size_t i = c == 0 ? 1 : c; i < c + kChunkWords; ++i) w[i] = random ? splitmix64(state) : pattern;
  }
}

}  // namespace

void fill_versioned_page(PageIndex slot, uint32_t version, PageBuffer out) noexcept {
  uint64_t w[kWords];
  fill_words(slot << 32 | version, w);
  std::memcpy(out.data(), w, kPageSize);
}

std::optional<uint32_t> versioned_page_version(PageIndex slot, PageView page) noexcept {
  uint64_t tag;
  std::memcpy(&tag, page.data(), 8);
  if (tag == 0) {
    for (std::byte b : page) {
      if (b != std::byte{0}) return std::nullopt;
    }
    return 0;
  }
  const uint32_t version = static_cast<uint32_t>(tag);
  if ((tag >> 32) != slot || version == 0) return std::nullopt;
  uint64_t w[kWords];
  fill_words(tag, w);
  if (std::memcmp(w, page.data(), kPageSize) != 0) return std::nullopt;
  return version;
}

}  // namespace uzram::writeback
