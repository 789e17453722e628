// The lz4hc backend: LZ4 block format from the high-compression match
// finder, levels 1-12 (9 by default, as the kernel's backend_lz4hc.c).
// Levels 1-9 walk hash chains, deeper with each level; 10-12 use the
// optimal parser. Decompression is lz4's (lz4.cc).
#include <lz4.h>
#include <lz4hc.h>

#include "codec/backends.h"

namespace uzram::codec::internal {
namespace {

class Lz4hcContext final : public CodecContext {
 public:
  Lz4hcContext(std::unique_ptr<std::byte[]> state, int level) : state_(std::move(state)), level_(level) {}

  // Cost: the call clears its 256 KiB state (hash and chain tables) before
  // each page, as the kernel's LZ4_compress_HC does, then searches for
  // matches as deep as the level says. At levels 10-12 the optimal parser
  // of liblz4 (built with LZ4HC_HEAPMODE=1) also mallocs a 64 KiB table per
  // call; when that fails it returns 0, which is "incompressible" here.
  size_t compress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept override {
    if (src.size() > LZ4_MAX_INPUT_SIZE) return 0;
    // Below LZ4_compressBound the library limits its output to dstCapacity
    // and returns 0 when the block does not fit.
    const int n = LZ4_compress_HC_extStateHC(state_.get(), chars(src), chars(dst),
                                             static_cast<int>(src.size()), clamp_to_int(dst.size()),
                                             level_);
    return n > 0 ? static_cast<size_t>(n) : 0;
  }

  bool decompress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept override {
    return lz4_decompress(src, dst);
  }

 private:
  const std::unique_ptr<std::byte[]> state_;  // LZ4_sizeofStateHC() bytes, pointer-aligned
  const int level_;
};

class Lz4hcCodec final : public BasicCodec {
 public:
  using BasicCodec::BasicCodec;

  Result<std::unique_ptr<CodecContext>> new_context() const override {
    std::unique_ptr<std::byte[]> state = new_bytes(static_cast<size_t>(LZ4_sizeofStateHC()));
    if (!state) return out_of_memory("lz4hc compression state");
    std::unique_ptr<CodecContext> ctx = new_nothrow<Lz4hcContext>(std::move(state), spec().level);
    if (!ctx) return out_of_memory("lz4hc context");
    return ctx;
  }
};

}  // namespace

Result<std::unique_ptr<Codec>> make_lz4hc_codec(const CodecSpec& spec) {
  std::unique_ptr<Codec> codec = new_nothrow<Lz4hcCodec>(spec);
  if (!codec) return out_of_memory("lz4hc codec");
  return codec;
}

}  // namespace uzram::codec::internal
