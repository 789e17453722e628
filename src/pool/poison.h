// File: src/pool/poison.h
//
// AddressSanitizer poisoning of pool memory. Under ASan the bytes of a
// zspage that are not the caller's are poisoned: a free object except its
// link word, the tail of an allocated object past its asked size, and the
// zspage's waste. A store that writes past what it mapped (the 2016 zram
// overrun of shared/seed) then stops at the faulting write instead of
// corrupting a neighbour. Without ASan these compile to nothing.
//
// Poison outlives munmap, so whoever carves memory unpoisons it first, and
// the arena unpoisons what it carved before unmapping (arena.cc).
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define UZRAM_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UZRAM_POOL_ASAN 1
#endif
#endif
#if defined(UZRAM_POOL_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace uzram::pool {

inline void poison(std::byte* p, size_t n) noexcept {
#if defined(UZRAM_POOL_ASAN)
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

inline void unpoison(std::byte* p, size_t n) noexcept {
#if defined(UZRAM_POOL_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

}  // namespace uzram::pool
