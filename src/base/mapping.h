// File: src/base/mapping.h
//
// Mapping: a move-only owner of a range of virtual memory, unmapped in its
// destructor. The layer that creates a mapping (pool/os.cc, the CLI for input
// files) calls mmap; Mapping only owns the result.
// Thread safety: a value type; the memory it owns is the caller's to share.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <span>
#include <utility>

namespace uzram {

class Mapping {
 public:
  Mapping() noexcept = default;
  // Takes ownership of [addr, addr + size), which mmap returned.
  Mapping(void* addr, size_t size) noexcept : addr_(static_cast<std::byte*>(addr)), size_(size) {}
  Mapping(Mapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(); }

  std::byte* data() const noexcept { return addr_; }
  size_t size() const noexcept { return size_; }
  std::span<std::byte> span() const noexcept { return {addr_, size_}; }
  bool valid() const noexcept { return addr_ != nullptr; }

  void reset() noexcept {
    if (addr_ != nullptr && size_ != 0) ::munmap(addr_, size_);
    addr_ = nullptr;
    size_ = 0;
  }

 private:
  std::byte* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace uzram
