// File: src/codec/backends.h
//
// The codec backends, one .cc file each as the kernel's zcomp has one
// backend_<algo>.c each: lz4.cc, lz4hc.cc, zstd.cc, lzo.cc, deflate.cc.
// codec.cc's registry is the only caller of the factories; it hands them a
// spec whose name is theirs, whose level is resolved and in range, and whose
// dict_path is empty unless the backend takes a dictionary.
//
// Thread safety: the factories may be called from any thread.
#pragma once

#include <climits>
#include <cstddef>
#include <memory>
#include <new>
#include <span>
#include <utility>

#include "codec/codec.h"

namespace uzram::codec::internal {

Result<std::unique_ptr<Codec>> make_lz4_codec(const CodecSpec& spec);
Result<std::unique_ptr<Codec>> make_lz4hc_codec(const CodecSpec& spec);
Result<std::unique_ptr<Codec>> make_zstd_codec(const CodecSpec& spec);
Result<std::unique_ptr<Codec>> make_lzo_codec(const CodecSpec& spec);
Result<std::unique_ptr<Codec>> make_deflate_codec(const CodecSpec& spec);

// LZ4 block decompression, shared by lz4 and lz4hc (one format).
bool lz4_decompress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept;

// The part every backend's Codec shares: it holds its spec.
class BasicCodec : public Codec {
 public:
  explicit BasicCodec(CodecSpec spec) : spec_(std::move(spec)) {}
  const CodecSpec& spec() const noexcept final { return spec_; }

 private:
  const CodecSpec spec_;
};

// Setup-time allocation without exceptions: nullptr when memory is short
// (the caller turns it into a kNoSpace Status).
template <typename T, typename... Args>
std::unique_ptr<T> new_nothrow(Args&&... args) {
  return std::unique_ptr<T>(new (std::nothrow) T(std::forward<Args>(args)...));
}
inline std::unique_ptr<std::byte[]> new_bytes(size_t n) {
  return std::unique_ptr<std::byte[]>(new (std::nothrow) std::byte[n]);
}

// The libraries take int (lz4) or unsigned (zlib) sizes. A capacity is
// clamped (the output cannot exceed it anyway); an input that does not fit
// the type is the caller's to reject.
inline int clamp_to_int(size_t n) noexcept { return n > size_t{INT_MAX} ? INT_MAX : static_cast<int>(n); }

inline const char* chars(std::span<const std::byte> s) noexcept {
  return reinterpret_cast<const char*>(s.data());
}
inline char* chars(std::span<std::byte> s) noexcept { return reinterpret_cast<char*>(s.data()); }

// Allocation failure while creating a context.
Status out_of_memory(std::string_view what);

}  // namespace uzram::codec::internal
