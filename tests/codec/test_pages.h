// File: tests/codec/test_pages.h
//
// Pages to compress in the codec tests: made-up ones (zeros, one repeated
// word, English-like text, random bytes, JSON-like records) and real ones
// (this test's executable, this process's heap). All deterministic given
// their seed, except the real ones.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/fd.h"
#include "uzram/page.h"

namespace uzram::codec::testing {

using Bytes = std::vector<std::byte>;

// xorshift64*: small, fast, and the same everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }

 private:
  uint64_t s_;
};

inline Bytes to_bytes(const std::string& s, size_t size) {
  Bytes b(size);
  std::memcpy(b.data(), s.data(), std::min(size, s.size()));
  return b;
}

inline Bytes zero_page() { return Bytes(kPageSize); }

inline Bytes word_page(uint64_t word) {
  Bytes b(kPageSize);
  for (size_t i = 0; i < kPageSize; i += sizeof(word)) std::memcpy(b.data() + i, &word, sizeof(word));
  return b;
}

inline Bytes random_page(uint64_t seed, size_t size = kPageSize) {
  Rng rng(seed);
  Bytes b(size);
  for (size_t i = 0; i < size; i += 8) {
    const uint64_t v = rng.next();
    std::memcpy(b.data() + i, &v, std::min<size_t>(8, size - i));
  }
  return b;
}

// Sentences of common English words: compresses about 2x with lz4.
inline Bytes text_page(uint64_t seed, size_t size = kPageSize) {
  static const char* const kWords[] = {
      "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are",
      "as", "with", "his", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by",
      "word", "but", "not", "what", "all", "were", "we", "when", "your", "can", "said", "there",
      "use", "an", "each", "which", "she", "do", "how", "their", "if", "will", "up", "other",
      "about", "out", "many", "then", "them", "these", "so", "some", "her", "would", "make",
      "like", "him", "into", "time", "has", "look", "two", "more", "write", "go", "see", "number",
      "no", "way", "could", "people", "my", "than", "first", "water", "been", "call", "who",
      "oil", "its", "now", "find", "long", "down", "day", "did", "get", "come", "made", "may",
      "part", "memory", "page", "compressed", "kernel", "swap", "device", "stream", "buffer"};
  constexpr size_t kCount = sizeof(kWords) / sizeof(kWords[0]);
  Rng rng(seed);
  std::string s;
  bool sentence_start = true;
  while (s.size() < size) {
    std::string w = kWords[rng.below(kCount)];
    if (sentence_start) w[0] = static_cast<char>(w[0] - 'a' + 'A');
    s += w;
    sentence_start = rng.below(12) == 0;
    s += sentence_start ? ". " : (rng.below(9) == 0 ? ", " : " ");
  }
  return to_bytes(s, size);
}

// A JSON-like record, as an application's heap or a key-value store holds.
inline std::string record(Rng& rng) {
  static const char* const kCities[] = {"Berlin", "Lisbon", "Osaka", "Quito", "Nairobi", "Perth", "Oslo"};
  static const char* const kStates[] = {"active", "suspended", "pending", "closed"};
  std::string r = "{\"id\":" + std::to_string(rng.below(1000000)) + ",\"name\":\"user" +
                  std::to_string(rng.below(100000)) + "\",\"city\":\"" + kCities[rng.below(7)] +
                  "\",\"state\":\"" + kStates[rng.below(4)] + "\",\"balance\":" +
                  std::to_string(rng.below(100000)) + "." + std::to_string(rng.below(100)) +
                  ",\"tags\":[\"t" + std::to_string(rng.below(50)) + "\",\"t" +
                  std::to_string(rng.below(50)) + "\"]}\n";
  return r;
}

inline Bytes record_page(uint64_t seed) {
  Rng rng(seed);
  std::string s;
  while (s.size() < kPageSize) s += record(rng);
  return to_bytes(s, kPageSize);
}

// Up to max_pages pages of this test's executable, spread over the file.
inline std::vector<Bytes> executable_pages(size_t max_pages) {
  std::vector<Bytes> pages;
  Fd fd(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!fd) return pages;
  const off_t size = ::lseek(fd.get(), 0, SEEK_END);
  const size_t total = size > 0 ? static_cast<size_t>(size) / kPageSize : 0;
  const size_t step = std::max<size_t>(1, total / max_pages);
  for (size_t i = 0; i < total && pages.size() < max_pages; i += step) {
    Bytes page(kPageSize);
    if (::pread(fd.get(), page.data(), kPageSize, static_cast<off_t>(i * kPageSize)) ==
        static_cast<ssize_t>(kPageSize)) {
      pages.push_back(std::move(page));
    }
  }
  return pages;
}

// Up to max_pages pages of this process's heap holding a hash map of
// strings. Read through /proc/self/mem, which copies in the kernel: a
// memcpy would trip AddressSanitizer on the allocator's redzones.
inline std::vector<Bytes> heap_pages(size_t max_pages) {
  std::unordered_map<std::string, std::string> map;
  Rng rng(42);
  for (int i = 0; i < 20000; ++i) {
    map.emplace("session:" + std::to_string(rng.next()), record(rng));
  }
  std::set<uintptr_t> addrs;
  for (const auto& [key, value] : map) {
    addrs.insert(reinterpret_cast<uintptr_t>(value.data()) & ~uintptr_t{kPageSize - 1});
  }
  std::vector<Bytes> pages;
  Fd fd(::open("/proc/self/mem", O_RDONLY | O_CLOEXEC));
  if (!fd) return pages;
  const size_t step = std::max<size_t>(1, addrs.size() / max_pages);
  size_t k = 0;
  for (uintptr_t addr : addrs) {
    if (k++ % step != 0 || pages.size() >= max_pages) continue;
    Bytes page(kPageSize);
    if (::pread(fd.get(), page.data(), kPageSize, static_cast<off_t>(addr)) ==
        static_cast<ssize_t>(kPageSize)) {
      pages.push_back(std::move(page));
    }
  }
  return pages;
}

}  // namespace uzram::codec::testing
