// The lz4 backend: LZ4 block format at acceleration 1, the kernel's default
// (backend_lz4.c). The block decoder here also serves lz4hc, whose output is
// the same format.
#include <lz4.h>

#include "codec/backends.h"

namespace uzram::codec::internal {
namespace {

class Lz4Context final : public CodecContext {
 public:
  explicit Lz4Context(std::unique_ptr<std::byte[]> state) : state_(std::move(state)) {}

  // Cost: LZ4_compress_fast_extState clears its 16 KiB hash table on every
  // call, and still beats LZ4_resetStream_fast + LZ4_compress_fast_continue
  // (the exported form of the _fastReset variant) on 4 KiB pages: 600 against
  // 495 MB/s on one core of the 2-core VM over a Python-heap corpus, because
  // the small-input path uses a 16-bit table and no dictionary checks.
  // codec_bench: ~3 us a page of Python heap, ~8 us a page of executables.
  size_t compress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept override {
    if (src.size() > LZ4_MAX_INPUT_SIZE) return 0;
    // With dstCapacity below LZ4_compressBound the library runs in its
    // limited-output mode: it stops, and returns 0, before writing past
    // dstCapacity.
    const int n = LZ4_compress_fast_extState(state_.get(), chars(src), chars(dst),
                                             static_cast<int>(src.size()), clamp_to_int(dst.size()),
                                             /*acceleration=*/1);
    return n > 0 ? static_cast<size_t>(n) : 0;
  }

  bool decompress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept override {
    return lz4_decompress(src, dst);
  }

 private:
  const std::unique_ptr<std::byte[]> state_;  // LZ4_sizeofState() bytes, 8-aligned
};

class Lz4Codec final : public BasicCodec {
 public:
  using BasicCodec::BasicCodec;

  Result<std::unique_ptr<CodecContext>> new_context() const override {
    std::unique_ptr<std::byte[]> state = new_bytes(static_cast<size_t>(LZ4_sizeofState()));
    if (!state) return out_of_memory("lz4 compression state");
    std::unique_ptr<CodecContext> ctx = new_nothrow<Lz4Context>(std::move(state));
    if (!ctx) return out_of_memory("lz4 context");
    return ctx;
  }
};

}  // namespace

bool lz4_decompress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept {
  if (src.empty() || src.size() > size_t{INT_MAX} || dst.size() > size_t{INT_MAX}) return false;
  // LZ4_decompress_safe never reads past src nor writes past dst, whatever
  // src holds; it returns the bytes decoded, negative on malformed input.
  const int n = LZ4_decompress_safe(chars(src), chars(dst), static_cast<int>(src.size()),
                                    static_cast<int>(dst.size()));
  return n >= 0 && static_cast<size_t>(n) == dst.size();
}

Result<std::unique_ptr<Codec>> make_lz4_codec(const CodecSpec& spec) {
  std::unique_ptr<Codec> codec = new_nothrow<Lz4Codec>(spec);
  if (!codec) return out_of_memory("lz4 codec");
  return codec;
}

}  // namespace uzram::codec::internal
