// The lzo backend: LZO1X-1, the kernel's "lzo" (backend_lzo.c). The kernel's
// default "lzo-rle" is its own extension of the format and is not here.
//
// lzo1x_1_compress has no output limit: it needs a dst of the worst-case
// size. When the caller's dst is shorter, the page is compressed into a
// bounce buffer of that size held by the context and copied out only if it
// fits. The store compresses into a two-page scratch, which is always large
// enough, so its pages take the direct path.
#include <lzo/lzo1x.h>

#include <cstring>

#include "codec/backends.h"
#include "uzram/page.h"

namespace uzram::codec::internal {
namespace {

// LZO1X-1's documented worst case for incompressible input (LZO FAQ).
constexpr size_t worst_compressed_size(size_t n) { return n + n / 16 + 64 + 3; }

class LzoContext final : public CodecContext {
 public:
  LzoContext(std::unique_ptr<std::byte[]> wrkmem, std::unique_ptr<std::byte[]> bounce)
      : wrkmem_(std::move(wrkmem)), bounce_(std::move(bounce)) {}

  // Cost: lzo1x_1_compress clears its 16384-entry dictionary in the work
  // memory on each call, as the kernel's does. codec_bench on the 2-core
  // VM: ~3.5 us a page of Python heap, ~8 us a page of executables.
  size_t compress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept override {
    if (dst.size() >= worst_compressed_size(src.size())) {
      return compress_into(src, dst.data());
    }
    if (src.size() > kPageSize) return compress_large_bounced(src, dst);
    const size_t n = compress_into(src, bounce_.get());
    if (n == 0 || n > dst.size()) return 0;
    std::memcpy(dst.data(), bounce_.get(), n);
    return n;
  }

  bool decompress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept override {
    if (src.empty()) return false;
    // Checks every read against src_len and every write against dst_len;
    // LZO_E_INPUT_NOT_CONSUMED (trailing bytes) is a failure here too.
    lzo_uint out_len = dst.size();
    const int rc = lzo1x_decompress_safe(reinterpret_cast<const lzo_bytep>(src.data()), src.size(),
                                         reinterpret_cast<lzo_bytep>(dst.data()), &out_len, nullptr);
    return rc == LZO_E_OK && out_len == dst.size();
  }

 private:
  // REQUIRES: out has worst_compressed_size(src.size()) bytes.
  size_t compress_into(std::span<const std::byte> src, std::byte* out) noexcept {
    lzo_uint out_len = 0;
    const int rc = lzo1x_1_compress(reinterpret_cast<const lzo_bytep>(src.data()), src.size(),
                                    reinterpret_cast<lzo_bytep>(out), &out_len, wrkmem_.get());
    return rc == LZO_E_OK ? out_len : 0;
  }

  // Larger than a page and a short dst: not the store's case. Allocates a
  // bounce buffer for the one call; without memory the input counts as
  // incompressible, which is always a safe answer.
  [[gnu::noinline]] size_t compress_large_bounced(std::span<const std::byte> src,
                                                  std::span<std::byte> dst) noexcept {
    std::unique_ptr<std::byte[]> tmp = new_bytes(worst_compressed_size(src.size()));
    if (!tmp) return 0;
    const size_t n = compress_into(src, tmp.get());
    if (n == 0 || n > dst.size()) return 0;
    std::memcpy(dst.data(), tmp.get(), n);
    return n;
  }

  const std::unique_ptr<std::byte[]> wrkmem_;  // LZO1X_1_MEM_COMPRESS bytes (128 KiB)
  const std::unique_ptr<std::byte[]> bounce_;  // worst_compressed_size(kPageSize) bytes
};

class LzoCodec final : public BasicCodec {
 public:
  using BasicCodec::BasicCodec;

  Result<std::unique_ptr<CodecContext>> new_context() const override {
    std::unique_ptr<std::byte[]> wrkmem = new_bytes(LZO1X_1_MEM_COMPRESS);
    std::unique_ptr<std::byte[]> bounce = new_bytes(worst_compressed_size(kPageSize));
    if (!wrkmem || !bounce) return out_of_memory("lzo work memory");
    std::unique_ptr<CodecContext> ctx = new_nothrow<LzoContext>(std::move(wrkmem), std::move(bounce));
    if (!ctx) return out_of_memory("lzo context");
    return ctx;
  }
};

}  // namespace

Result<std::unique_ptr<Codec>> make_lzo_codec(const CodecSpec& spec) {
  // lzo_init() checks that the library was built for this ABI; once per
  // process (a function-local static is initialised exactly once).
  static const int init_rc = lzo_init();
  if (init_rc != LZO_E_OK) return Status::internal("lzo: lzo_init() failed: library and header disagree");
  std::unique_ptr<Codec> codec = new_nothrow<LzoCodec>(spec);
  if (!codec) return out_of_memory("lzo codec");
  return codec;
}

}  // namespace uzram::codec::internal
